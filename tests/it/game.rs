//! A whole match over real WebSockets: four scripted players on one node
//! play 300 ticks; movement follows inputs, a shot lands, results arrive.

use skirmish_arena::entities::ArenaEvent;
use skirmish_arena::wire::{Setup, input_data};
use skirmish_client_sim::Incoming;
use skirmish_shared::game::GameData;
use skirmish_shared::proto::{ClientMsg, ServerMsg};
use skirmish_tests::scripted::{play, pos, shooter as shooter_script};
use skirmish_tests::{Player, TestNode, open_map, test_config};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_players_play_a_300_tick_match() {
    let mut config = test_config();
    config.match_seconds = Some(10);
    let node = TestNode::start_on(config, &open_map()).await;

    let runner = Player::connect(&node, "runner").await;
    let climber = Player::connect(&node, "climber").await;
    let shooter = Player::connect(&node, "shooter").await;
    let target = Player::connect(&node, "target").await;

    // Runs right for two seconds, then stands.
    let mut ticks = 0;
    let runner = play(runner, move |_| {
        ticks += 1;
        if ticks <= 60 {
            (1.0, 0.0, 0.0, false)
        } else {
            (0.0, 0.0, 0.0, false)
        }
    });
    // Runs down for two seconds, then stands.
    let mut ticks = 0;
    let climber = play(climber, move |_| {
        ticks += 1;
        if ticks <= 60 {
            (0.0, 1.0, 0.0, false)
        } else {
            (0.0, 0.0, 0.0, false)
        }
    });
    // Closes in on the target and fires at it from 300 units.
    let shooter = play(shooter, shooter_script("target"));
    // Stands still.
    let target = play(target, |_| (0.0, 0.0, 0.0, false));

    let ((runner, _), (climber, _), (shooter, _), (target, _)) =
        tokio::time::timeout(Duration::from_secs(30), async {
            tokio::join!(runner, climber, shooter, target)
        })
        .await
        .expect("the match ends in time");

    // Everyone was in the same match, which ran to the clock.
    let logs = [&runner, &climber, &shooter, &target];
    for log in logs {
        assert_eq!(log.match_id, runner.match_id);
        let (reason, results) = log.end.as_ref().expect("results");
        assert_eq!(reason, "time_up");
        assert_eq!(results.len(), 4);
        assert_eq!(
            log.snapshots.last().expect("snapshots").0,
            300,
            "the last snapshot is tick 300"
        );
        assert!(
            log.snapshots.len() > 200,
            "snapshots arrived every tick or nearly: {}",
            log.snapshots.len()
        );
    }

    // Movement follows inputs: right for the runner, down for the climber.
    // Only the stretch before a first death counts: a stray shot can kill a
    // runner, and a respawn moves it to a spawn point.
    let run = first_life(&runner);
    let (start, furthest) = (
        run[0],
        run.iter()
            .copied()
            .fold(run[0], |a, b| if b.0 > a.0 { b } else { a }),
    );
    assert!(
        furthest.0 - start.0 > 300.0,
        "runner moved right: {start:?} -> {furthest:?}"
    );
    assert!(
        run.iter().all(|p| (p.1 - start.1).abs() < 1.0),
        "and not up or down: {run:?}"
    );
    let climb = first_life(&climber);
    let (start, furthest) = (
        climb[0],
        climb
            .iter()
            .copied()
            .fold(climb[0], |a, b| if b.1 > a.1 { b } else { a }),
    );
    assert!(
        furthest.1 - start.1 > 300.0,
        "climber moved down: {start:?} -> {furthest:?}"
    );
    assert!(
        climb.iter().all(|p| (p.0 - start.0).abs() < 1.0),
        "and not sideways: {climb:?}"
    );

    // Snapshots acknowledge the inputs the server applied.
    let last_ack = runner.snapshots.last().expect("snapshots").1;
    assert!(
        last_ack > 200 && last_ack <= runner.last_seq,
        "ack {last_ack} of {} inputs",
        runner.last_seq
    );
    assert!(
        runner.snapshots.windows(2).all(|w| w[0].1 <= w[1].1),
        "acks never go backwards"
    );

    // The shooter's shots landed on the target and took health off it.
    let hits: Vec<&ArenaEvent> = target
        .snapshots
        .iter()
        .flat_map(|s| &s.3)
        .filter(|e| matches!(e, ArenaEvent::Hit { target: t, attacker: a, .. } if *t == target.you && *a == shooter.you))
        .collect();
    assert!(!hits.is_empty(), "at least one shot landed");
    let lowest = (0..target.snapshots.len())
        .map(|i| target.me(i).health)
        .min()
        .expect("snapshots");
    assert!(lowest < 100, "the target lost health");

    // Results agree with the kills: only the shooter fired, so every death
    // (the target's, and any bystander's hit by a stray shot) is its kill.
    let (_, results) = target.end.as_ref().expect("results");
    let line = |name: &str| {
        results
            .iter()
            .find(|r| r.name == name)
            .expect("a result line")
    };
    let deaths: i64 = results.iter().map(|r| r.stat("deaths")).sum();
    assert_eq!(line("shooter").stat("kills"), deaths);
    // And they are the match's own counts: every line matches its player in
    // the last snapshot (tick 300, after which nothing happened).
    let last = &target.snapshots.last().expect("snapshots").2;
    for r in results {
        let p = last
            .iter()
            .find(|p| p.id == r.id)
            .unwrap_or_else(|| panic!("{} is in the last snapshot", r.name));
        assert_eq!(
            (r.stat("kills"), r.stat("deaths"), r.stat("score")),
            (i64::from(p.kills), i64::from(p.deaths), i64::from(p.score)),
            "{}'s result line",
            r.name
        );
    }
    assert!(
        results.windows(2).all(|w| w[0].placement <= w[1].placement),
        "best first"
    );
    assert_eq!(results[0].placement, 1);

    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_who_reconnects_gets_their_seat_back() {
    let mut config = test_config();
    config.match_seconds = Some(60);
    let node = TestNode::start_on(config, &open_map()).await;

    let mut first = Player::connect(&node, "flaky").await;
    let (match_id, you) = first.play_in().await;
    // The match runs a while before the drop, so a fresh match would show
    // (another id, tick 0).
    first
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Snapshot { tick, .. }) if *tick >= 15 => Some(()),
            _ => None,
        })
        .await;
    let token = first.session.token.clone();
    first.conn.drop_abruptly();

    // The same token again, within the grace time: same match, same seat.
    let mut conn = skirmish_client_sim::Connection::connect(&node.url(), &token)
        .await
        .expect("reconnect");
    let mut saw_welcome = false;
    let rejoined = loop {
        match skirmish_tests::recv(&mut conn).await {
            Incoming::Msg(ServerMsg::Welcome { resuming, .. }) => {
                assert!(resuming, "welcome says a joined follows");
                saw_welcome = true;
            }
            Incoming::Msg(ServerMsg::Joined {
                match_id,
                you,
                tick,
                ..
            }) => break (match_id, you, tick),
            other => panic!("expected welcome then joined, got {other:?}"),
        }
    };
    assert!(saw_welcome);
    assert_eq!(
        (rejoined.0, rejoined.1),
        (match_id, you),
        "the same match, the same seat"
    );
    assert!(rejoined.2 >= 15, "a match under way: tick {}", rejoined.2);
    // And the match goes on for them: snapshots flow, with them connected.
    let mut player = Player {
        session: first.session,
        conn,
    };
    player
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Roster { players }) => players
                .iter()
                .find(|p| p.id == you && p.connected)
                .map(|_| ()),
            _ => None,
        })
        .await;
    player
        .wait_for(|m| matches!(m, Incoming::Msg(ServerMsg::Snapshot { .. })).then_some(()))
        .await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connection_replaces_the_first() {
    let node = TestNode::start(test_config()).await;
    let mut first = Player::connect(&node, "twin").await;
    let mut second = skirmish_client_sim::Connection::connect(&node.url(), &first.session.token)
        .await
        .expect("connect");
    assert_eq!(
        first.closed_with().await,
        Some(skirmish_shared::proto::close::REPLACED)
    );
    second.close().await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_returns_to_the_lobby_and_play_finds_a_match_again() {
    let node = TestNode::start(test_config()).await;
    let mut player = Player::connect(&node, "wanderer").await;
    player.play().await;
    player.conn.send(&ClientMsg::Leave).await.expect("send");
    player
        .wait_for(|m| matches!(m, Incoming::Msg(ServerMsg::Left { .. })).then_some(()))
        .await;
    player.conn.send(&ClientMsg::Leave).await.expect("send");
    assert_eq!(player.next_error().await, "not_in_match");
    player.play().await;
    player.conn.send(&ClientMsg::Play).await.expect("send");
    assert_eq!(player.next_error().await, "already_in_match");
    node.stop().await;
}

/// A `leave` sent before the session has heard its player was seated (here
/// right behind `play`; in the wild, right after `joined`) leaves the match
/// once the seat is confirmed. Regression: it was refused with
/// `not_in_match` and the player stayed in the match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leave_right_behind_play_leaves_the_match_it_lands_in() {
    let node = TestNode::start(test_config()).await;
    let mut player = Player::connect(&node, "hasty").await;
    player.conn.send(&ClientMsg::Play).await.expect("send play");
    player
        .conn
        .send(&ClientMsg::Leave)
        .await
        .expect("send leave");
    let joined = player
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Joined { match_id, .. }) => Some(*match_id),
            Incoming::Msg(ServerMsg::Error { code, .. }) => panic!("refused: {code}"),
            _ => None,
        })
        .await;
    let left = player
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Left { match_id }) => Some(*match_id),
            Incoming::Msg(ServerMsg::Error { code, .. }) => panic!("refused: {code}"),
            _ => None,
        })
        .await;
    assert_eq!(left, joined);
    // Back in the lobby: playing again works.
    player.play().await;
    node.stop().await;
}

/// PROTOCOL.md section 7: "The node shuts down: closed with 1001; its
/// matches end as `abandoned`", in that order for a player in a match
/// (regression: the close came first, and `match_end` was lost behind it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_matches_as_abandoned_then_closes_with_1001() {
    let node = TestNode::start(test_config()).await;
    let mut player = Player::connect(&node, "leaver").await;
    let (match_id, _) = player.play_in().await;
    let mut idle = Player::connect(&node, "idler").await;
    let stopping = tokio::spawn(node.stop());
    let (ended, reason) = player
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::MatchEnd {
                match_id, reason, ..
            }) => Some((*match_id, reason.clone())),
            _ => None,
        })
        .await;
    assert_eq!((ended, reason.as_str()), (match_id, "abandoned"));
    assert_eq!(player.closed_with().await, Some(1001));
    assert_eq!(
        idle.closed_with().await,
        Some(1001),
        "a player in the lobby"
    );
    stopping.await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_normal_close_frees_the_seat_at_once() {
    let node = TestNode::start(test_config()).await;
    let mut stayer = Player::connect(&node, "stayer").await;
    stayer.play().await;
    let mut quitter = Player::connect(&node, "quitter").await;
    quitter.play().await;
    stayer
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Roster { players }) if players.len() == 2 => Some(()),
            _ => None,
        })
        .await;
    quitter.conn.close().await;
    // Well within the 10 s reconnect grace a dropped player would get.
    let roster = tokio::time::timeout(
        Duration::from_secs(3),
        stayer.wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Roster { players }) if players.len() == 1 => {
                Some(players.clone())
            }
            _ => None,
        }),
    )
    .await
    .expect("the seat was freed without waiting for the grace time");
    assert_eq!(roster[0].name, "stayer");
    node.stop().await;
}

/// Own positions in the snapshots before the first death.
fn first_life(log: &skirmish_tests::scripted::Log) -> Vec<(f32, f32)> {
    (0..log.snapshots.len())
        .map(|i| log.me(i))
        .take_while(|me| me.deaths == 0)
        .map(pos)
        .collect()
}

/// An input may repeat the ones before it (`earlier`, newest first): the
/// node takes those it never received from there and applies them first,
/// each on a tick of its own, oldest first. More than two is refused and
/// changes nothing, and so does a bad repeated one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_that_never_came_are_taken_from_a_later_ones_earlier_in_order() {
    let node = TestNode::start_on(test_config(), &open_map()).await;
    let mut player = Player::connect(&node, "lossy").await;
    player.conn.send(&ClientMsg::Play).await.expect("send play");
    let (me, setup) = player
        .wait_for(|m| match m {
            Incoming::Msg(msg @ ServerMsg::Joined { you, .. }) => {
                Some((*you, Setup::of_joined(msg).expect("the arena's setup")))
            }
            _ => None,
        })
        .await;
    // Seated once snapshots come; then input 1 stands still.
    let start = own_position_at(&mut player, me, 0).await;
    let standing = input_data(0.0, 0.0, 0.0, false);
    let input = |seq, input: &GameData, earlier| ClientMsg::Input {
        shown: None,
        earlier,
        seq,
        tick: 0,
        input: input.clone(),
    };
    player
        .conn
        .send(&input(1, &standing, Vec::new()))
        .await
        .expect("send");
    let at_1 = own_position_at(&mut player, me, 1).await;
    assert_eq!(at_1, start, "standing still");

    // Towards the middle on each axis, so no edge stops either move.
    let toward = |v: f32, size: f32| if v < size / 2.0 { 1.0 } else { -1.0 };
    let across = input_data(toward(start.0, setup.map.width), 0.0, 0.0, false);
    let down = input_data(0.0, toward(start.1, setup.map.height), 0.0, false);
    player
        .conn
        .send(&input(4, &standing, vec![down.clone(); 3]))
        .await
        .expect("send");
    assert_eq!(player.next_error().await, "out_of_range");
    // Inputs 2 (across) and 3 (down) never came; 4 stands and repeats them.
    player
        .conn
        .send(&input(4, &standing, vec![down.clone(), across.clone()]))
        .await
        .expect("send");
    let at_2 = own_position_at(&mut player, me, 2).await;
    let at_3 = own_position_at(&mut player, me, 3).await;
    own_position_at(&mut player, me, 4).await;
    assert!(
        (at_2.0 - at_1.0).abs() > 1.0 && at_2.1 == at_1.1,
        "input 2 went across: {at_1:?} then {at_2:?}"
    );
    assert!(
        (at_3.1 - at_2.1).abs() > 1.0,
        "input 3 went down: {at_2:?} then {at_3:?}"
    );

    // A bad repeated input refuses the whole message: input 5 is still new.
    let broken = input_data(f32::NAN, 0.0, 0.0, false);
    player
        .conn
        .send(&input(6, &across, vec![broken]))
        .await
        .expect("send");
    assert_eq!(player.next_error().await, "not_finite");
    player
        .conn
        .send(&input(5, &standing, Vec::new()))
        .await
        .expect("send");
    own_position_at(&mut player, me, 5).await;
    assert_eq!(node.metric("skirmish_inputs_recovered_total").await, 2.0);
    node.stop().await;
}

/// The own player's position in the first snapshot acknowledging input
/// `ack` (on a WebSocket every tick's snapshot arrives, so each ack is seen).
async fn own_position_at(player: &mut Player, me: u16, ack: u32) -> (f32, f32) {
    let seen = player
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Snapshot { ack: a, .. }) if *a >= ack => Some(*a),
            _ => None,
        })
        .await;
    assert_eq!(seen, ack, "each input is applied on a tick of its own");
    let players = skirmish_tests::arena_players(&player.conn).expect("an arena snapshot");
    let p = players.iter().find(|p| p.id == me).expect("the own player");
    (p.x, p.y)
}
