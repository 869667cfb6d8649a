//! Several games on one engine: a node serving the arena and the hill runs a
//! match of each at once, and a team match's results carry teams, the
//! game's named stats, a board fed by one of them, and team ratings.

use crate::results::{board_score, rating};
use skirmish_client_sim::Incoming;
use skirmish_shared::proto::{MatchId, ResultLine, ServerMsg};
use skirmish_tests::{Player, TempDir, TestNode, matchmaking_file, test_config};
use std::time::Duration;

/// A two-against-two hill mode that fills with server bots at once, and a
/// `battle` mode of the `arena-64` variant that starts with two players.
const HILL_2V2: &str = r#"
ticket_ttl_s = 5.0
lease_ttl_s = 3.0
round_interval_ms = 100
join_window_s = 10.0

[[modes]]
id = "ffa"
game = "arena"
min_players = 2
target_players = 16
max_players = 16
rating_window = 100.0
rating_window_growth_per_s = 25.0
rating_window_max = 1000.0
start_below_target_after_s = 15.0

[[modes]]
id = "hill"
game = "hill"
teams = 2
min_players = 4
target_players = 4
max_players = 4
rating_window = 100.0
rating_window_growth_per_s = 500.0
rating_window_max = 2000.0
start_below_target_after_s = 0.0
backfill_after_s = 0.5

[[modes]]
id = "battle"
game = "arena-64"
min_players = 2
target_players = 2
max_players = 64
rating_window = 100.0
rating_window_growth_per_s = 500.0
rating_window_max = 2000.0
start_below_target_after_s = 0.0
"#;

/// Joins the match `match_found` offers (on this node) and returns the
/// match and the game named in `joined`.
async fn join_found(player: &mut Player) -> (MatchId, String) {
    let (match_id, _, ticket, same_node) = player.match_found().await;
    assert!(same_node, "one node hosts everything here");
    player
        .conn
        .send(&skirmish_shared::proto::ClientMsg::JoinMatch { ticket })
        .await
        .expect("send join_match");
    let game = player
        .wait_for(|m| match m {
            Incoming::Msg(ServerMsg::Joined { game, .. }) => Some(game.clone()),
            _ => None,
        })
        .await;
    (match_id, game)
}

/// The game of the first snapshot past tick 30 (the match running).
/// (told by the kinds of entity its snapshots decode to: the arena's clock,
/// the hill's field).
async fn running(p: &mut Player) -> Option<&'static str> {
    p.wait_for(|m| match m {
        Incoming::Msg(ServerMsg::Snapshot { tick, .. }) if *tick > 30 => Some(()),
        _ => None,
    })
    .await;
    let replica = p.conn.replica()?;
    let (_, state) = replica.latest()?;
    let kinds = &replica.schema().kinds;
    let has = |name: &str| {
        state
            .iter()
            .any(|e| kinds[usize::from(e.key.kind())].name == name)
    };
    if has("player") && has("clock") {
        Some("arena")
    } else if has("player") && has("field") {
        Some("hill")
    } else {
        None
    }
}

/// The reason and results of `match_id`'s end, within 30 s.
async fn ends(p: &mut Player, match_id: MatchId) -> (String, Vec<ResultLine>) {
    tokio::time::timeout(
        Duration::from_secs(30),
        p.wait_for(|m| match m {
            Incoming::Msg(ServerMsg::MatchEnd {
                match_id: id,
                reason,
                results,
            }) if *id == match_id => Some((reason.clone(), results.clone())),
            _ => None,
        }),
    )
    .await
    .expect("the match ends")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_serving_both_games_runs_one_of_each_and_records_the_team_match() {
    let dir = TempDir::new("games");
    let mut config = test_config();
    config.matchmaking = matchmaking_file(HILL_2V2, &dir);
    config.match_seconds = Some(10);
    let node = TestNode::start(config).await;

    // One player in the arena by quick play (the node's first game)…
    let mut shooter = Player::connect(&node, "shooter").await;
    let (arena_match, _) = shooter.play_in().await;
    // …and two in the hill, queued for its team mode and filled with bots.
    let mut left = Player::connect(&node, "left").await;
    let mut right = Player::connect(&node, "right").await;
    left.queue("hill").await;
    right.queue("hill").await;
    let ((hill_match, left_game), (other, right_game)) =
        tokio::join!(join_found(&mut left), join_found(&mut right));
    assert_eq!(hill_match, other, "one hill match");
    assert_eq!((left_game.as_str(), right_game.as_str()), ("hill", "hill"));
    assert_ne!(arena_match, hill_match);

    // Both run at once: each player gets snapshots of their own game.
    let (a, h) = tokio::join!(running(&mut shooter), running(&mut left));
    assert_eq!(
        (a, h),
        (Some("arena"), Some("hill")),
        "snapshots of both games"
    );
    let health = crate::results::get_json_pub(format!("{}/healthz", node.url())).await;
    assert_eq!(health["matches"], 2, "{health}");

    // The hill match ends on its clock (or a capture); its results carry
    // teams and the hill's stats, and each player's line agrees with the
    // other's view.
    let ((reason, results), _) =
        tokio::join!(ends(&mut left, hill_match), ends(&mut right, hill_match));
    assert!(reason == "time_up" || reason == "captured", "{reason}");
    assert_eq!(results.len(), 4, "two players and two bots: {results:?}");
    let line = |name: &str| {
        results
            .iter()
            .find(|r| r.name == name)
            .expect("a line")
            .clone()
    };
    let (l, r) = (line("left"), line("right"));
    assert!(l.team.is_some() && r.team.is_some());
    assert_ne!(l.team, r.team, "balanced: one human on each team");
    for stat in ["hill_s", "shoves", "team_score_s"] {
        assert!(l.stats.contains_key(stat), "{stat} in {:?}", l.stats);
    }

    // Team ratings: each human moves with their team, zero-sum between the
    // two equal teams (both started at 1000), the winners up.
    let ((_, l_delta), (_, r_delta)) = tokio::join!(rating(&mut left), rating(&mut right));
    assert_eq!(l_delta + r_delta, 0, "{l_delta} {r_delta}");
    match l.placement.cmp(&r.placement) {
        std::cmp::Ordering::Less => assert_eq!((l_delta, r_delta), (16, -16)),
        std::cmp::Ordering::Greater => assert_eq!((l_delta, r_delta), (-16, 16)),
        std::cmp::Ordering::Equal => assert_eq!((l_delta, r_delta), (0, 0)),
    }
    // The hill's board takes its stat.
    assert_eq!(
        board_score(&node, "hill_time", &left.session.player_id).await,
        Some(l.stats["hill_s"])
    );
    node.stop().await;
}

/// The hill through `skirmish-bots`: bots queue for a two-against-two mode,
/// play it out with the hill's brain, and the results reach the boards once:
/// a rating per bot, moved with its team, and the hill's board.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_play_the_hill_through_matchmaking_and_their_results_are_recorded() {
    use skirmish_client_sim::swarm::{BehaviorChoice, SwarmConfig, run_swarm};
    let dir = TempDir::new("hill-bots");
    let mut config = test_config();
    config.matchmaking = matchmaking_file(HILL_2V2, &dir);
    config.match_seconds = Some(4);
    let node = TestNode::start(config).await;
    let report = run_swarm(SwarmConfig {
        urls: vec![node.url()],
        bots: 4,
        ramp_per_s: 100.0,
        duration: Duration::from_secs(7),
        seed: 3,
        behavior: BehaviorChoice::Mixed,
        chat_every: None,
        queue: Some("hill".into()),
        finish_matches: false,
        progress: false,
        transport: Default::default(),
    })
    .await;
    println!("{}", report.table());
    assert_eq!(report.errors, 0, "errors: {:?}", report.errors_by_kind);
    assert_eq!(
        report.bots_with_a_match, 4,
        "every bot finished a hill match"
    );
    assert!(
        report.inputs > 4 * 30,
        "the bots played: {} inputs",
        report.inputs
    );

    // One match of four was recorded once: four ratings, two teams moved
    // in opposite directions (or not at all on a draw).
    let ratings = crate::results::get_json_pub(format!(
        "{}/api/leaderboards/rating?period=all_time&limit=10",
        node.url()
    ))
    .await;
    assert_eq!(ratings["total"], 4, "{ratings}");
    let mut scores: Vec<i64> = ratings["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["score"].as_i64().expect("a score"))
        .collect();
    scores.sort();
    assert!(
        scores == [984, 984, 1016, 1016] || scores == [1000, 1000, 1000, 1000],
        "team ratings: {scores:?}"
    );
    let hill = crate::results::get_json_pub(format!(
        "{}/api/leaderboards/hill_time?period=all_time&limit=10",
        node.url()
    ))
    .await;
    assert_eq!(
        hill["total"], 4,
        "every player is on the hill's board: {hill}"
    );
    node.stop().await;
}

/// A board must take a stat some game the node serves reports: one naming
/// another stat stops the node at start, naming the board.
#[tokio::test]
async fn a_board_naming_a_stat_no_game_reports_is_refused_at_start() {
    let dir = TempDir::new("games-boards");
    let file = dir.path().join("leaderboards.toml");
    std::fs::write(
        &file,
        "[[boards]]\nid = \"laps\"\noperator = \"best\"\nsource = \"laps\"\n",
    )
    .expect("write the boards");
    let mut config = test_config();
    config.leaderboards = file;
    let games = skirmish_tests::test_games(&config, &config.assets.join("maps/arena.toml"));
    match skirmish_server::Server::bind(config, games).await {
        Err(skirmish_server::StartError::Config(e)) => {
            assert_eq!(e.field, "boards[0].source");
            assert!(e.reason.contains("reports the stat `laps`"), "{e}");
        }
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("a node started with a board no game feeds"),
    }
}

/// A matchmaking mode naming a variant (the shipped `arena-64`: the arena on
/// its own rules and a 4,000-unit map) plays that variant: its players are
/// told they play the arena, on the variant's map, while quick play runs
/// the arena's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mode_naming_a_variant_plays_the_game_on_the_variants_files() {
    let dir = TempDir::new("games-variant");
    let mut config = test_config();
    config.matchmaking = matchmaking_file(HILL_2V2, &dir);
    let node = TestNode::start(config).await;
    let width = |p: &Player| {
        let schema = p.conn.replica().expect("joined").schema();
        match schema.kinds[0].fields[0].quant {
            skirmish_shared::replication::Quant::Fixed { max, .. } => max,
            other => panic!("the arena's x is fixed-point, not {other:?}"),
        }
    };

    let mut a = Player::connect(&node, "a").await;
    let mut b = Player::connect(&node, "b").await;
    a.queue("battle").await;
    b.queue("battle").await;
    let ((battle, a_game), (other, b_game)) = tokio::join!(join_found(&mut a), join_found(&mut b));
    assert_eq!(battle, other, "one match");
    assert_eq!((a_game.as_str(), b_game.as_str()), ("arena", "arena"));
    assert_eq!(running(&mut a).await, Some("arena"));
    assert_eq!(width(&a), 4000.0, "the variant's map");

    let mut quick = Player::connect(&node, "quick").await;
    let (arena_match, _) = quick.play_in().await;
    assert_ne!(
        arena_match, battle,
        "quick play opens the arena's own match"
    );
    assert_eq!(running(&mut quick).await, Some("arena"));
    assert_eq!(width(&quick), 2000.0, "the arena's own map");
    node.stop().await;
}
