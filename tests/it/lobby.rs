//! The lobby end to end on real nodes and real WebSockets: chat limits and
//! validation, the typing throttle, the history a late joiner gets, and
//! presence and joins through a Redis that hangs, restarts empty, or is fed
//! quick changes.

use skirmish_arena::wire::input_data;
use skirmish_client_sim::{Connection, Incoming};
use skirmish_server::bus::{Bus, LocalHub, Topic};
use skirmish_server::lobby::LobbyMessage;
use skirmish_server::lobby::{PresenceWriter, RedisPresence};
use skirmish_server::redis_conn;
use skirmish_shared::proto::{ChatView, ClientMsg, NodeId, PlayerId, ServerMsg};
use skirmish_tests::redis::RedisServer;
use skirmish_tests::redis_cluster::{Setup, TestRedis};
use skirmish_tests::{Player, TestNode, WAIT, cluster_config, recv, test_config};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn chat(player: &mut Player, room: &str, text: &str) {
    player
        .conn
        .send(&ClientMsg::Chat {
            room: room.into(),
            text: text.to_owned(),
        })
        .await
        .expect("send chat");
}

/// Posts a line and says whether it was posted (it came back) or refused
/// as `chat_rate_limited`; any other error fails the test.
async fn try_chat(player: &mut Player, room: &str, text: &str) -> bool {
    chat(player, room, text).await;
    player
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Chat(line)) if line.text == text => Some(true),
            Incoming::Msg(ServerMsg::Error { code, .. }) => {
                assert_eq!(code.as_str(), "chat_rate_limited", "unexpected error");
                Some(false)
            }
            _ => None,
        })
        .await
}

fn chat_lines(seen: &[Incoming]) -> Vec<&ChatView> {
    seen.iter()
        .filter_map(|m| match m {
            Incoming::Msg(ServerMsg::Chat(line)) => Some(line),
            _ => None,
        })
        .collect()
}

/// A line id's order: `<ms>-<seq>`, compared as numbers.
fn id_key(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').expect("an id is <ms>-<seq>");
    (
        ms.parse().expect("ms is a number"),
        seq.parse().expect("seq is a number"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_past_the_burst_is_refused_and_reconnecting_does_not_refill_it() {
    // Regression: the chat rate belonged to the connection, so a player
    // could reconnect for a fresh burst. The steady rate here is one line
    // per 100 s, so nothing refills the bucket however slow the machine
    // (regression of the test: at the shipped one per 2 s, a run slower
    // than 6 s could not fail).
    let mut config = test_config();
    config.limits.chat_lines_per_s = 0.01;
    let node = TestNode::start(config).await;
    let mut ada = Player::connect(&node, "ada").await;
    let mut bob = Player::connect(&node, "bob").await;
    ada.join_room("tavern").await;
    bob.join_room("tavern").await;

    let started = Instant::now();
    for i in 0..5 {
        assert!(
            try_chat(&mut ada, "tavern", &format!("burst {i}")).await,
            "line {i} of the burst"
        );
    }
    assert!(
        !try_chat(&mut ada, "tavern", "one too many").await,
        "the sixth line at once is chat_rate_limited"
    );
    let seen = bob.drain(Duration::from_millis(500)).await;
    let texts: Vec<&str> = chat_lines(&seen).iter().map(|l| l.text.as_str()).collect();
    assert_eq!(
        texts,
        ["burst 0", "burst 1", "burst 2", "burst 3", "burst 4"],
        "the refused line was not posted"
    );

    // The same player on a new connection (the old one closed) has the
    // same bucket.
    ada.conn.close().await;
    ada.conn = Connection::connect(&node.url(), &ada.session.token)
        .await
        .expect("reconnect");
    ada.wait_for(|m| matches!(m, Incoming::Msg(ServerMsg::Welcome { .. })).then_some(()))
        .await;
    ada.join_room("tavern").await;
    let mut posted = 0;
    for i in 0..3 {
        if try_chat(&mut ada, "tavern", &format!("after reconnect {i}")).await {
            posted += 1;
        }
    }
    // A fresh bucket would have let all three through.
    let refilled = (started.elapsed().as_secs_f32() * 0.01).floor() as u32;
    assert!(
        posted <= refilled,
        "{posted} lines posted after reconnecting; the bucket refilled only {refilled} in {:?}",
        started.elapsed()
    );
    // Another player's bucket is their own.
    assert!(try_chat(&mut bob, "tavern", "bob's turn").await);
    node.stop().await;
}

/// Sends a lobby message.
async fn send(player: &mut Player, msg: ClientMsg) {
    player.conn.send(&msg).await.expect("send");
}

/// PROTOCOL.md section 6 over the wire: `invalid_room`, `too_many_rooms`
/// and `not_in_room`, each refusing one message and changing nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_limits_are_refused_with_their_codes_and_change_nothing() {
    let node = TestNode::start(test_config()).await;
    let mut ada = Player::connect(&node, "ada").await;
    for bad in ["Tavern", "", "has space", "a-very-long-room-name-over-24"] {
        send(&mut ada, ClientMsg::JoinRoom { room: bad.into() }).await;
        assert_eq!(ada.next_error().await, "invalid_room", "{bad:?}");
    }
    for i in 0..8 {
        ada.join_room(&format!("room{i}")).await;
    }
    send(
        &mut ada,
        ClientMsg::JoinRoom {
            room: "ninth".into(),
        },
    )
    .await;
    assert_eq!(ada.next_error().await, "too_many_rooms");
    // Joining a room again is not a ninth.
    let (members, _) = ada.join_room("room0").await;
    assert_eq!(members.len(), 1);

    for msg in [
        ClientMsg::Chat {
            room: "ninth".into(),
            text: "hello".into(),
        },
        ClientMsg::Typing {
            room: "ninth".into(),
        },
        ClientMsg::LeaveRoom {
            room: "ninth".into(),
        },
    ] {
        send(&mut ada, msg.clone()).await;
        assert_eq!(ada.next_error().await, "not_in_room", "{msg:?}");
    }
    // Nothing changed: still in eight rooms, chatting in one works, and
    // leaving one makes room for another.
    assert!(try_chat(&mut ada, "room3", "still here").await);
    send(
        &mut ada,
        ClientMsg::LeaveRoom {
            room: "room7".into(),
        },
    )
    .await;
    ada.wait_for(|m| match m {
        Incoming::Msg(ServerMsg::RoomLeft { room }) if room == "room7" => Some(()),
        _ => None,
    })
    .await;
    ada.join_room("ninth").await;
    node.stop().await;
}

/// PROTOCOL.md section 9: a `leave_room` sent before the `room_joined`
/// (which waits for Redis) cancels the join: `room_left`, and no
/// `room_joined` after it, while a join that is not left is answered once
/// Redis is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_a_room_before_its_answer_means_no_room_joined_follows() {
    let redis = RedisServer::start();
    let node = TestNode::start(cluster_config(&redis.url(), "node-a", "leave-early")).await;
    let mut ada = Player::connect(&node, "ada").await;
    redis.pause();
    send(
        &mut ada,
        ClientMsg::JoinRoom {
            room: "fleeting".into(),
        },
    )
    .await;
    send(
        &mut ada,
        ClientMsg::JoinRoom {
            room: "kept".into(),
        },
    )
    .await;
    send(
        &mut ada,
        ClientMsg::LeaveRoom {
            room: "fleeting".into(),
        },
    )
    .await;
    ada.wait_for(|m| match m {
        Incoming::Msg(ServerMsg::RoomLeft { room }) if room == "fleeting" => Some(()),
        Incoming::Msg(ServerMsg::RoomJoined { room, .. }) => {
            panic!("{room} answered during the outage")
        }
        _ => None,
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.resume();
    // The kept join is answered; the left one never is, even after the
    // history reads' longest backoff.
    let mut kept = false;
    for m in ada.drain(Duration::from_secs(4)).await {
        if let Incoming::Msg(ServerMsg::RoomJoined { room, .. }) = m {
            assert_eq!(room, "kept", "a room_joined after its room_left");
            kept = true;
        }
    }
    assert!(kept, "the join that was not left was never answered");
    node.stop().await;
}

/// PROTOCOL.md section 9: after `room_joined` come exactly the lines newer
/// than its history, in order, no gap and no repeat, for a player who joins
/// on another node while lines are being posted.
async fn a_joiner_gets_history_then_every_live_line_once_in_order(setup: Setup) {
    let redis = TestRedis::start(setup);
    let prefix = "gapless";
    let mut config = cluster_config(&redis.url(), "node-a", prefix);
    config.limits.chat_burst = 1000.0;
    config.limits.chat_lines_per_s = 100.0;
    config.limits.extra_messages_per_s = 1000.0;
    let a = TestNode::start(config).await;
    let b = TestNode::start(cluster_config(&redis.url(), "node-b", prefix)).await;
    let mut poster = Player::connect(&a, "poster").await;
    poster.join_room("stream").await;
    let mut joiner = Player::connect(&b, "joiner").await;

    // The poster posts as fast as the node takes lines until told to stop;
    // the joiner joins mid-stream, so lines arrive while its join is being
    // answered (the window a gap or a repeat would fall in).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let posting = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut n = 0;
            while n < 900 && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                chat(&mut poster, "stream", &format!("line {n:03}")).await;
                n += 1;
                if n % 10 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            (poster, n)
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (_, history) = joiner.join_room("stream").await;
    let mut texts: Vec<String> = history.iter().map(|l| l.text.clone()).collect();
    let read_line = |m: Incoming| match m {
        Incoming::Msg(ServerMsg::Chat(line)) => {
            assert_eq!(line.room, "stream");
            Some(line.text)
        }
        _ => None,
    };
    while texts.len() < history.len() + 50 {
        if let Some(text) = read_line(recv(&mut joiner.conn).await) {
            texts.push(text);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut poster, n) = posting.await.expect("posted");
    let last = format!("line {:03}", n - 1);
    while texts.last() != Some(&last) {
        if let Some(text) = read_line(recv(&mut joiner.conn).await) {
            texts.push(text);
        }
    }
    let errors: Vec<Incoming> = poster
        .drain(Duration::from_millis(200))
        .await
        .into_iter()
        .filter(|m| matches!(m, Incoming::Msg(ServerMsg::Error { .. })))
        .collect();
    assert!(errors.is_empty(), "every line was posted: {errors:?}");

    let first: usize = texts[0]["line ".len()..].parse().expect("a number");
    let expected: Vec<String> = (first..n).map(|i| format!("line {i:03}")).collect();
    assert_eq!(
        texts, expected,
        "history then live lines, no gap, no repeat"
    );
    assert!(
        !history.is_empty(),
        "the join came after some lines: {n} posted"
    );
    println!(
        "{} lines of history, then {} live ({n} posted)",
        history.len(),
        texts.len() - history.len()
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_chat_text_is_refused_as_invalid_text_and_posts_nothing() {
    let node = TestNode::start(test_config()).await;
    let mut ada = Player::connect(&node, "ada").await;
    let mut bob = Player::connect(&node, "bob").await;
    ada.join_room("tavern").await;
    bob.join_room("tavern").await;

    let too_long = "x".repeat(201);
    for bad in [too_long.as_str(), "bell\u{7}", "line\nbreak", "   "] {
        chat(&mut ada, "tavern", bad).await;
        assert_eq!(ada.next_error().await, "invalid_text", "{bad:?}");
    }
    // 200 characters (not bytes) is the limit, and it is fine.
    let longest = "é".repeat(200);
    assert!(try_chat(&mut ada, "tavern", &longest).await);
    let line = bob
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Chat(line)) => Some(line.clone()),
            _ => None,
        })
        .await;
    assert_eq!(
        line.text, longest,
        "the first line bob sees is the good one"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_is_relayed_to_others_at_most_once_per_two_seconds() {
    let node = TestNode::start(test_config()).await;
    let mut ada = Player::connect(&node, "ada").await;
    let mut bob = Player::connect(&node, "bob").await;
    ada.join_room("tavern").await;
    bob.join_room("tavern").await;

    let typing = ClientMsg::Typing {
        room: "tavern".into(),
    };
    let burst = Instant::now();
    for _ in 0..3 {
        ada.conn.send(&typing).await.expect("send typing");
    }
    assert!(
        burst.elapsed() < Duration::from_secs(1),
        "the burst was sent at once"
    );
    let typings = |seen: &[Incoming]| {
        seen.iter()
            .filter(|m| matches!(m, Incoming::Msg(ServerMsg::Typing { name, .. }) if name == "ada"))
            .count()
    };
    let seen = bob.drain(Duration::from_secs(1)).await;
    assert_eq!(typings(&seen), 1, "three at once relay once: {seen:?}");
    assert_eq!(
        typings(&ada.drain(Duration::from_millis(100)).await),
        0,
        "not echoed to the typist"
    );

    // After the interval, typing is relayed again.
    tokio::time::sleep(
        Duration::from_secs(2).saturating_sub(burst.elapsed()) + Duration::from_millis(200),
    )
    .await;
    ada.conn.send(&typing).await.expect("send typing");
    let seen = bob.drain(Duration::from_secs(1)).await;
    assert_eq!(typings(&seen), 1, "relayed again after 2 s: {seen:?}");
    node.stop().await;
}

async fn a_late_joiner_gets_exactly_the_last_50_lines_in_order(setup: Setup) {
    let redis = TestRedis::start(setup);
    let node = TestNode::start(cluster_config(&redis.url(), "node-a", "history50")).await;
    let mut watcher = Player::connect(&node, "watcher").await;
    watcher.join_room("tavern").await;

    // Twelve players post five lines each (each one's burst): 60 lines.
    let mut posters = Vec::new();
    for p in 0..12 {
        let mut poster = Player::connect(&node, &format!("poster{p}")).await;
        poster.join_room("tavern").await;
        posters.push(poster);
    }
    for (p, poster) in posters.iter_mut().enumerate() {
        for i in 0..5 {
            chat(poster, "tavern", &format!("line {p}.{i}")).await;
        }
    }
    let mut posted: Vec<ChatView> = Vec::new();
    while posted.len() < 60 {
        if let Incoming::Msg(ServerMsg::Chat(line)) = recv(&mut watcher.conn).await {
            posted.push(line);
        }
    }
    // Lines of different players may be announced in another order than
    // they were stored; the history's order is the stored one, by id.
    posted.sort_by_key(|l| id_key(&l.id));
    // One player's lines are stored in the order they were sent (regression:
    // each line was posted by a task of its own, and two could swap).
    for p in 0..12 {
        let mine: Vec<&str> = posted
            .iter()
            .map(|l| l.text.as_str())
            .filter(|t| t.starts_with(&format!("line {p}.")))
            .collect();
        let sent: Vec<String> = (0..5).map(|i| format!("line {p}.{i}")).collect();
        assert_eq!(mine, sent, "poster{p}'s lines in the order sent");
    }

    let mut late = Player::connect(&node, "late").await;
    let (_, history) = late.join_room("tavern").await;
    assert_eq!(history.len(), 50, "the last 50 lines");
    let ids = |lines: &[ChatView]| lines.iter().map(|l| l.id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&history),
        ids(&posted[10..]),
        "the newest 50, oldest first"
    );
    assert_eq!(
        history.iter().map(|l| &l.text).collect::<Vec<_>>(),
        posted[10..].iter().map(|l| &l.text).collect::<Vec<_>>()
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_waiting_on_a_hung_redis_holds_up_neither_its_player_nor_other_rooms() {
    // Regression: the session reader awaited the join, and the lobby task
    // awaited the room's subscription and presence read, so a Redis that
    // did not answer stalled the joiner's inputs and every room on the node
    // (a second or more per new room).
    let redis = RedisServer::start();
    let node = TestNode::start(cluster_config(&redis.url(), "node-a", "hung")).await;
    let mut ada = Player::connect(&node, "ada").await;
    let mut bob = Player::connect(&node, "bob").await;
    ada.join_room("tavern").await;
    bob.join_room("tavern").await;
    ada.play().await;

    redis.pause();
    // Seven rooms this node does not follow yet: each needs a subscription.
    let new_rooms: Vec<String> = (1..=7).map(|i| format!("new{i}")).collect();
    for room in &new_rooms {
        ada.conn
            .send(&ClientMsg::JoinRoom {
                room: room.as_str().into(),
            })
            .await
            .expect("send join_room");
    }
    // The player goes on playing meanwhile: pings are answered and inputs
    // applied.
    ada.conn
        .send(&ClientMsg::Ping { client_time: 1.0 })
        .await
        .expect("send ping");
    for seq in 1..=10 {
        ada.conn
            .send(&ClientMsg::Input {
                shown: None,
                earlier: Vec::new(),
                seq,
                tick: 0,
                input: input_data(0.0, 0.0, 0.0, false),
            })
            .await
            .expect("send input");
    }
    let mut answered_early = Vec::new();
    let (mut ponged, mut acked) = (false, false);
    while !(ponged && acked) {
        match recv(&mut ada.conn).await {
            Incoming::Msg(ServerMsg::Pong { .. }) => ponged = true,
            Incoming::Msg(ServerMsg::Snapshot { ack, .. }) if ack >= 10 => acked = true,
            Incoming::Msg(ServerMsg::RoomJoined { room, .. }) => answered_early.push(room),
            _ => {}
        }
    }
    // Another player joins a room the node follows: its members hear of it
    // at once, though the joiner's history must wait for Redis.
    let mut cyd = Player::connect(&node, "cyd").await;
    cyd.conn
        .send(&ClientMsg::JoinRoom {
            room: "tavern".into(),
        })
        .await
        .expect("send join_room");
    let count = bob
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Presence {
                name,
                joined: true,
                count,
                ..
            }) if name == "cyd" => Some(*count),
            _ => None,
        })
        .await;
    assert_eq!(count, 3);
    assert!(
        answered_early.is_empty(),
        "joins were answered before the room was followed: {answered_early:?}"
    );

    // When Redis answers again, every join is answered.
    redis.resume();
    let mut answered: HashSet<String> = HashSet::new();
    while !new_rooms.iter().all(|r| answered.contains(r)) {
        if let Incoming::Msg(ServerMsg::RoomJoined { room, members, .. }) =
            recv(&mut ada.conn).await
        {
            assert_eq!(
                members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
                ["ada"]
            );
            answered.insert(room.to_string());
        }
    }
    let members = cyd
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::RoomJoined { room, members, .. }) if room == "tavern" => {
                Some(members.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(
        members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        ["ada", "bob", "cyd"]
    );
    node.stop().await;
}

/// Who a player is told is in one room: its `room_joined`, then every
/// presence event.
#[derive(Debug)]
struct RoomView {
    room: String,
    members: BTreeSet<String>,
    count: u32,
}

impl RoomView {
    fn new(room: &str, members: &[skirmish_shared::proto::MemberView]) -> RoomView {
        RoomView {
            room: room.to_owned(),
            members: members.iter().map(|m| m.name.clone()).collect(),
            count: members.len() as u32,
        }
    }

    fn apply(&mut self, m: &Incoming) {
        match m {
            Incoming::Msg(ServerMsg::RoomJoined { room, members, .. }) if *room == *self.room => {
                *self = RoomView::new(room.as_str(), members);
            }
            Incoming::Msg(ServerMsg::Presence {
                room,
                name,
                joined,
                count,
                ..
            }) if *room == *self.room => {
                if *joined {
                    self.members.insert(name.clone());
                } else {
                    self.members.remove(name);
                }
                self.count = *count;
            }
            _ => {}
        }
    }

    fn is(&self, names: &[&str]) -> bool {
        self.members == names.iter().map(|n| (*n).to_owned()).collect()
            && self.count as usize == names.len()
    }
}

/// Reads `player`'s messages into `view` until it shows exactly `names`,
/// failing at `deadline`.
async fn settles(
    player: &mut Player,
    view: &mut RoomView,
    names: &[&str],
    deadline: tokio::time::Instant,
) {
    while !view.is(names) {
        match tokio::time::timeout_at(deadline, player.conn.recv()).await {
            Ok(Ok(m)) => view.apply(&m),
            Ok(Err(e)) => panic!("connection failed: {e}"),
            Err(_) => panic!("presence never settled on {names:?}: {view:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_agrees_on_every_node_again_after_redis_restarts_empty() {
    // Regression: presence was only ever expired, never written again or
    // read back, so after an empty restart (and the join and leave messages
    // the bus dropped meanwhile) nodes kept ghosts and missed members.
    let mut redis = RedisServer::start();
    let prefix = "presence-restart";
    let a = TestNode::start(cluster_config(&redis.url(), "node-a", prefix)).await;
    let b = TestNode::start(cluster_config(&redis.url(), "node-b", prefix)).await;
    let c = TestNode::start(cluster_config(&redis.url(), "node-c", prefix)).await;
    let mut ada = Player::connect(&a, "ada").await;
    let mut bob = Player::connect(&b, "bob").await;
    let mut bea = Player::connect(&b, "bea").await;
    let mut cyd = Player::connect(&c, "cyd").await;
    let mut views = Vec::new();
    for p in [&mut ada, &mut bob, &mut bea, &mut cyd] {
        let (members, _) = p.join_room("tavern").await;
        views.push(RoomView::new("tavern", &members));
    }
    let everyone = ["ada", "bea", "bob", "cyd"];
    let deadline = tokio::time::Instant::now() + WAIT;
    for (p, view) in [&mut ada, &mut bob, &mut bea, &mut cyd]
        .into_iter()
        .zip(&mut views)
    {
        settles(p, view, &everyone, deadline).await;
    }
    let [mut ada_view, _, mut bea_view, mut cyd_view] =
        <[RoomView; 4]>::try_from(views).expect("four views");

    // Redis goes away (with everything in it). Meanwhile bob leaves on B
    // and dan joins on C: their own nodes know at once, the others cannot.
    redis.stop();
    bob.conn
        .send(&ClientMsg::LeaveRoom {
            room: "tavern".into(),
        })
        .await
        .expect("send leave_room");
    bob.wait_for(|m| matches!(m, Incoming::Msg(ServerMsg::RoomLeft { .. })).then_some(()))
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    settles(&mut bea, &mut bea_view, &["ada", "bea", "cyd"], deadline).await;
    let mut dan = Player::connect(&c, "dan").await;
    dan.conn
        .send(&ClientMsg::JoinRoom {
            room: "tavern".into(),
        })
        .await
        .expect("send join_room");
    settles(
        &mut cyd,
        &mut cyd_view,
        &["ada", "bea", "bob", "cyd", "dan"],
        deadline,
    )
    .await;

    // The outage lasts past the registry's TTL, so the nodes also lose
    // sight of each other.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // An empty Redis comes back: every node writes its members again and
    // reads the others', and all agree within a few seconds.
    redis.restart();
    let restarted = Instant::now();
    let (members, _) = dan
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::RoomJoined {
                room,
                members,
                history,
            }) if room == "tavern" => Some((members.clone(), history.clone())),
            _ => None,
        })
        .await;
    let mut dan_view = RoomView::new("tavern", &members);
    let now_in = ["ada", "bea", "cyd", "dan"];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    settles(&mut ada, &mut ada_view, &now_in, deadline).await;
    settles(&mut bea, &mut bea_view, &now_in, deadline).await;
    settles(&mut cyd, &mut cyd_view, &now_in, deadline).await;
    settles(&mut dan, &mut dan_view, &now_in, deadline).await;
    println!(
        "presence agreed on all three nodes {:?} after the restart",
        restarted.elapsed()
    );
    for node in [a, b, c] {
        node.stop().await;
    }
}

fn presence_msg(player_id: PlayerId, joined: bool) -> LobbyMessage {
    LobbyMessage::Presence {
        room: "tavern".into(),
        player_id,
        name: "p".into(),
        node: "node-a".into(),
        joined,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_writes_land_in_order_and_again_after_redis_loses_them() {
    // Regression: each presence write ran in a task of its own, so a quick
    // join then leave could be stored as leave then join: a ghost.
    let mut redis = RedisServer::start();
    let client = redis_conn::client(&redis.url()).expect("client");
    let conn = redis_conn::commands(&client).await.expect("connect");
    let presence = RedisPresence::new(conn, "order", &"node-a".into(), Duration::from_secs(30));
    let (bus, mut deliveries) = LocalHub::default().connect(&"node-a".into());
    let room = Topic::Room("tavern".into());
    bus.subscribe(&room).await.expect("subscribe");
    let writer = PresenceWriter::start(presence.clone(), Arc::new(bus));

    let (stays, flickers) = (PlayerId(1), PlayerId(2));
    writer.add(&"tavern".into(), stays, "stays", presence_msg(stays, true));
    for _ in 0..100 {
        writer.add(
            &"tavern".into(),
            flickers,
            "flickers",
            presence_msg(flickers, true),
        );
        writer.remove(&"tavern".into(), flickers, presence_msg(flickers, false));
    }
    // Each change is announced once stored, in the order made.
    let mut announced = Vec::new();
    while announced.len() < 201 {
        let delivery = tokio::time::timeout(WAIT, deliveries.recv())
            .await
            .expect("announced in time")
            .expect("the bus delivers");
        if let Some(Ok(LobbyMessage::Presence {
            player_id, joined, ..
        })) = delivery.envelope.payload.open::<LobbyMessage>()
        {
            announced.push((player_id, joined));
        }
    }
    assert_eq!(announced[0], (stays, true));
    assert!(
        announced[1..]
            .chunks(2)
            .all(|pair| pair == [(flickers, true), (flickers, false)]),
        "announced out of order"
    );
    let node = [NodeId::from("node-a")];
    assert_eq!(
        presence
            .members(&"tavern".into(), &node)
            .await
            .expect("read"),
        [(stays, "stays".to_owned(), "node-a".into())],
        "no ghost"
    );

    // Redis restarts empty: the next refreshes write the membership again.
    redis.restart();
    let deadline = Instant::now() + WAIT;
    loop {
        writer.refresh(None);
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Ok(members) = presence.members(&"tavern".into(), &node).await
            && members == [(stays, "stays".to_owned(), "node-a".into())]
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "presence was never written again"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_of_live_nodes_do_not_leave_when_redis_restarts_empty() {
    // Regression: after an empty restart the first heartbeat lists only the
    // nodes that have heartbeated since; the lobby dropped every other
    // node's members at that list, and they left and rejoined every room.
    let mut redis = RedisServer::start();
    let prefix = "presence-flicker";
    let a = TestNode::start(cluster_config(&redis.url(), "node-a", prefix)).await;
    let c = TestNode::start(cluster_config(&redis.url(), "node-c", prefix)).await;
    let mut ada = Player::connect(&a, "ada").await;
    let mut cyd = Player::connect(&c, "cyd").await;
    let (members, _) = ada.join_room("tavern").await;
    let mut ada_view = RoomView::new("tavern", &members);
    cyd.join_room("tavern").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    settles(&mut ada, &mut ada_view, &["ada", "cyd"], deadline).await;

    redis.restart();
    // Watch ada's room for a few heartbeats (the test TTL is 1.5 s, a
    // heartbeat every 0.5 s): cyd never leaves it.
    let until = tokio::time::Instant::now() + Duration::from_secs(4);
    while let Ok(incoming) = tokio::time::timeout_at(until, recv(&mut ada.conn)).await {
        if let Incoming::Msg(ServerMsg::Presence {
            name,
            joined: false,
            ..
        }) = &incoming
        {
            panic!("{name} left the room while their node was alive");
        }
    }
    a.stop().await;
    c.stop().await;
}

on_each_redis!(
    a_joiner_gets_history_then_every_live_line_once_in_order,
    a_late_joiner_gets_exactly_the_last_50_lines_in_order,
);
