//! Stopping a node as an orchestrator does (SIGTERM): it drains, lets its
//! running matches finish up to a deadline (then ends them as `abandoned`,
//! `match_end` before the close), writes every result once and exits 0.

use crate::results::board_score;
use skirmish_client_sim::{Connection, Incoming, login};
use skirmish_shared::proto::ServerMsg;
use skirmish_tests::redis::RedisServer;
use skirmish_tests::scripted::{play, shooter};
use skirmish_tests::{ChildNode, Player, TestNode, cluster_config, live_nodes, open_map};
use std::time::Duration;
use tokio::time::Instant;

/// The registry TTL of the node the tests stop.
const TTL_S: f32 = 1.5;

/// A node in this process to look through (the registry, the boards), and
/// one in its own process on the open map, to signal, with `raw` settings.
async fn pair(redis: &RedisServer, prefix: &str, raw: &str) -> (TestNode, ChildNode) {
    let observer = TestNode::start(cluster_config(&redis.url(), "observer", prefix)).await;
    let node = ChildNode::start_raw(
        env!("CARGO_BIN_EXE_skirmish-test-node"),
        &redis.url(),
        "draining",
        prefix,
        TTL_S,
        raw,
        Some(&open_map()),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while live_nodes(&observer.url()).await != ["draining", "observer"] {
        assert!(Instant::now() < deadline, "the node never registered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (observer, node)
}

/// The status of `GET /readyz`.
async fn ready_status(url: &str) -> u16 {
    skirmish_tests::http()
        .get(format!("{url}/readyz"))
        .send()
        .await
        .expect("GET /readyz")
        .status()
        .as_u16()
}

/// Waits until both players are seated in a running match on `url`.
async fn until_seated(url: &str, players: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let health: serde_json::Value = skirmish_tests::http()
            .get(format!("{url}/healthz"))
            .send()
            .await
            .expect("GET /healthz")
            .json()
            .await
            .expect("JSON");
        if health["players_in_matches"].as_u64() == Some(players) {
            return;
        }
        assert!(Instant::now() < deadline, "not seated: {health}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What a node that has just been signalled shows: not ready, out of the
/// registry, refusing newcomers.
async fn draining_is_visible(observer: &TestNode, url: &str) {
    // The signal takes a moment to arrive and be handled.
    let deadline = Instant::now() + Duration::from_secs(2);
    while ready_status(url).await != 503 {
        assert!(Instant::now() < deadline, "still ready after the signal");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while live_nodes(&observer.url()).await != ["observer"] {
        assert!(
            Instant::now() < deadline,
            "the draining node is still in the registry"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let newcomer = login(&skirmish_tests::http(), url, "late")
        .await
        .expect("tokens are still given");
    let Err(refused) = Connection::connect(url, &newcomer.token).await else {
        panic!("a newcomer was let in");
    };
    assert!(refused.to_string().contains("503"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_running_match_finish_records_it_once_and_exits_0() {
    let redis = RedisServer::start();
    let (observer, mut node) = pair(
        &redis,
        "drain-finish",
        "match_seconds = 6\nlimits = { drain_timeout_s = 30.0 }\n",
    )
    .await;
    let url = node.url();
    let shooter_player = Player::connect_to(&url, "shooter").await;
    let target_player = Player::connect_to(&url, "target").await;
    let duel = tokio::spawn(async move {
        tokio::join!(
            play(shooter_player, shooter("target")),
            play(target_player, |_| (0.0, 0.0, 0.0, false))
        )
    });
    until_seated(&url, 2).await;

    node.terminate();
    // Well inside the match: every check below runs while it plays on.
    let signalled = Instant::now();
    draining_is_visible(&observer, &url).await;
    let ((shot, mut shooter_player), (_, mut target_player)) =
        tokio::time::timeout(Duration::from_secs(30), duel)
            .await
            .expect("the match ends in time")
            .expect("both played");
    println!("the match ended {:?} after the signal", signalled.elapsed());
    let (reason, results) = shot.end.expect("a match_end");
    assert_ne!(reason, "abandoned", "the match ran to its end");

    // Every result is written, and once: each board holds what the match
    // reported (a second write would double the kills and move the
    // rating again).
    let kills = results
        .iter()
        .find(|r| r.name == "shooter")
        .expect("the shooter's line")
        .stat("kills");
    let shooter_id = shooter_player.session.player_id.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while board_score(&observer, "kills", &shooter_id).await != Some(kills) {
        assert!(Instant::now() < deadline, "the kills were not recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = node
        .exited_within(Duration::from_secs(10))
        .await
        .expect("the node exits once its match is over");
    assert!(status.success(), "exit status {status}");
    assert_eq!(
        board_score(&observer, "kills", &shooter_id).await,
        Some(kills),
        "recorded once"
    );
    for player in [&mut shooter_player, &mut target_player] {
        assert_eq!(
            player.closed_with().await,
            Some(1001),
            "closed as going away"
        );
    }
    observer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_match_still_running_at_the_drain_deadline_ends_abandoned_before_the_close() {
    let redis = RedisServer::start();
    let (observer, mut node) = pair(
        &redis,
        "drain-deadline",
        "match_seconds = 600\nlimits = { drain_timeout_s = 1.0 }\n",
    )
    .await;
    let url = node.url();
    let mut player = Player::connect_to(&url, "stayer").await;
    let (match_id, _) = player.play_in().await;
    until_seated(&url, 1).await;

    node.terminate();
    draining_is_visible(&observer, &url).await;
    // Snapshots keep coming during the drain; then the end, then the close.
    let mut snapshots = 0;
    let ended = loop {
        match skirmish_tests::recv(&mut player.conn).await {
            Incoming::Msg(ServerMsg::Snapshot { .. }) => snapshots += 1,
            Incoming::Msg(ServerMsg::MatchEnd {
                match_id: id,
                reason,
                ..
            }) if id == match_id => break reason,
            Incoming::Closed(frame) => panic!("closed before match_end: {frame:?}"),
            Incoming::Msg(_) => {}
        }
    };
    assert_eq!(ended, "abandoned");
    assert!(
        snapshots > 10,
        "the match played on while draining ({snapshots} snapshots)"
    );
    assert_eq!(player.closed_with().await, Some(1001));
    let status = node
        .exited_within(Duration::from_secs(10))
        .await
        .expect("the node exits after the deadline");
    assert!(status.success(), "exit status {status}");
    observer.stop().await;
}
