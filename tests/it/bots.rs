//! The bot swarm against a real node: a clean run reports sensible figures,
//! and a bot whose connection is cut mid-match (by the node or by the
//! network) comes back and carries on.

use skirmish_arena::brain::Behavior;
use skirmish_client_sim::bot::{BotConfig, Live, run_bot};
use skirmish_client_sim::swarm::{BehaviorChoice, SwarmConfig, run_swarm};
use skirmish_tests::proxy::TcpProxy;
use skirmish_tests::{TestNode, test_config};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swarm_of_64_bots_plays_without_errors() {
    let mut config = test_config();
    config.match_seconds = Some(6);
    let node = TestNode::start(config).await;
    let report = run_swarm(SwarmConfig {
        urls: vec![node.url()],
        bots: 64,
        ramp_per_s: 64.0,
        duration: Duration::from_secs(20),
        seed: 7,
        behavior: BehaviorChoice::Mixed,
        chat_every: Some(Duration::from_secs(5)),
        queue: None,
        finish_matches: false,
        progress: false,
        transport: Default::default(),
    })
    .await;
    println!("{}", report.table());

    assert_eq!(report.bots, 64);
    assert_eq!(report.errors, 0, "errors: {:?}", report.errors_by_kind);
    assert_eq!(
        report.bots_with_a_match, 64,
        "every bot finished at least one match"
    );
    assert!(report.matches_completed >= 64);
    assert_eq!((report.disconnects, report.reconnects), (0, 0));
    assert!(report.chats > 0);
    // Plausible figures: 30 Hz snapshots, acknowledgements within a few ticks,
    // round trips well under a tick on loopback, the data flowing both ways.
    assert!(
        (25.0..45.0).contains(&report.snapshot_interval_ms.p50),
        "{:?}",
        report.snapshot_interval_ms
    );
    assert!(
        report.input_ack_ms.p50 > 0.0 && report.input_ack_ms.p50 < 200.0,
        "{:?}",
        report.input_ack_ms
    );
    assert!(
        report.rtt_ms.count > 64 && report.rtt_ms.p50 < 100.0,
        "{:?}",
        report.rtt_ms
    );
    assert!(
        report.time_to_match_ms.count >= 64,
        "{:?}",
        report.time_to_match_ms
    );
    assert!(
        report.bytes_down_per_bot_per_s > 1000.0,
        "{}",
        report.bytes_down_per_bot_per_s
    );
    assert!(
        report.bytes_up_per_bot_per_s > 100.0,
        "{}",
        report.bytes_up_per_bot_per_s
    );
    assert!(report.client_cpu_pct > 0.0);
    assert!(
        (19.0..30.0).contains(&report.duration_s),
        "{}",
        report.duration_s
    );
    // All 64 start within the first second and stay connected.
    assert!(
        (55.0..=64.0).contains(&report.mean_bots_connected),
        "{}",
        report.mean_bots_connected
    );
    let json = serde_json::to_value(&report).expect("serialises");
    for key in [
        "rtt_ms",
        "snapshot_interval_ms",
        "input_ack_ms",
        "time_to_match_ms",
    ] {
        let p = |q: &str| json[key][q].as_f64().unwrap_or_else(|| panic!("{key}.{q}"));
        assert!(
            p("p50") <= p("p90")
                && p("p90") <= p("p99")
                && p("p99") <= p("p999")
                && p("p999") <= p("max"),
            "{key} percentiles out of order: {}",
            json[key]
        );
    }
    node.stop().await;
}

/// How a test cuts the bot's connection mid-match.
enum Cut {
    /// The node drops it without a closing handshake.
    ByTheNode,
    /// A proxy between them drops both sides, as a network failure would.
    ByTheNetwork,
}

/// A bot is cut off mid-match, reconnects with backoff, gets its seat
/// back (not a new match) and finishes the match.
async fn a_cut_bot_comes_back_and_carries_on(cut: Cut) {
    let mut config = test_config();
    config.match_seconds = Some(8);
    let node = TestNode::start(config).await;
    let proxy = TcpProxy::start(node.addr).await;
    let live = std::sync::Arc::new(Live::default());
    let bot = BotConfig {
        base_url: match cut {
            Cut::ByTheNode => node.url(),
            Cut::ByTheNetwork => proxy.url(),
        },
        // No other node to fail over to: it comes back to the same one.
        nodes: Vec::new(),
        name: "survivor".into(),
        seed: 3,
        behavior: Behavior::Wander,
        until: Instant::now() + Duration::from_secs(12),
        chat: None,
        queue: None,
        finish_matches: false,
        transport: Default::default(),
    };
    let running = {
        let live = std::sync::Arc::clone(&live);
        tokio::spawn(async move { run_bot(&skirmish_tests::http(), &bot, &live).await })
    };

    let wait_in_match = |want: u32| {
        let live = std::sync::Arc::clone(&live);
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            while live.in_match.load(Ordering::Relaxed) != want {
                assert!(Instant::now() < deadline, "in_match never became {want}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_in_match(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    match cut {
        Cut::ByTheNode => {
            let players = node.node().sessions.players();
            assert_eq!(players.len(), 1, "the bot is the only one connected");
            assert!(node.node().sessions.drop_connection(players[0]));
        }
        Cut::ByTheNetwork => proxy.cut_all(),
    }
    wait_in_match(0).await;
    // Back within the reconnect grace, in its match again.
    wait_in_match(1).await;

    let outcome = running.await.expect("the bot ran");
    let stats = outcome.stats;
    assert_eq!((stats.disconnects, stats.reconnects), (1, 1));
    assert!(
        stats.matches_completed >= 1,
        "it finished the match it came back to"
    );
    // It asked to play once at the start and once after each match; the
    // reconnect resumed its seat instead of asking again.
    assert_eq!(
        stats.time_to_match.count(),
        1 + stats.matches_completed,
        "resumed, not re-queued"
    );
    assert_eq!(stats.total_errors(), 0, "{:?}", stats.errors);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_whose_connection_the_node_drops_mid_match_comes_back_and_carries_on() {
    a_cut_bot_comes_back_and_carries_on(Cut::ByTheNode).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_cut_off_by_the_network_mid_match_comes_back_and_carries_on() {
    a_cut_bot_comes_back_and_carries_on(Cut::ByTheNetwork).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swarm_queues_across_three_nodes_and_follows_redirects() {
    let redis = skirmish_tests::redis::RedisServer::start();
    let mut nodes = Vec::new();
    for id in ["node-a", "node-b", "node-c"] {
        let mut config = skirmish_tests::cluster_config(&redis.url(), id, "swarm3");
        config.matchmaking = skirmish_tests::test_matchmaking();
        config.match_seconds = Some(5);
        nodes.push(TestNode::start(config).await);
    }
    let report = run_swarm(SwarmConfig {
        urls: nodes.iter().map(TestNode::url).collect(),
        bots: 32,
        ramp_per_s: 64.0,
        duration: Duration::from_secs(20),
        seed: 11,
        behavior: BehaviorChoice::Mixed,
        chat_every: None,
        queue: Some("ffa".into()),
        finish_matches: false,
        progress: false,
        transport: Default::default(),
    })
    .await;
    println!("{}", report.table());
    assert_eq!(report.errors, 0, "errors: {:?}", report.errors_by_kind);
    assert_eq!(report.bots_with_a_match, 32, "every bot finished a match");
    assert!(
        report.redirects > 0,
        "bots on nodes other than the host followed the redirect"
    );
    assert!(report.time_to_match_ms.count >= 32);
    for node in nodes {
        node.stop().await;
    }
}

/// `skirmish-bots`' command line, in-process against a real node: a
/// threshold the run breaks exits with 2, one it keeps with 0, and a bad
/// argument with 1 (`client-sim/tests/cli.rs` checks the binary's own exit
/// codes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bots_command_line_exits_by_its_thresholds() {
    use skirmish_client_sim::cli::{EXIT_FAILED, EXIT_OK, EXIT_SLO_BROKEN, run};
    let mut config = test_config();
    config.match_seconds = Some(60);
    let node = TestNode::start(config).await;
    let url = node.url();
    let with_threshold = |ack_ms: &'static str| {
        let url = url.clone();
        async move {
            run([
                "skirmish-bots",
                "--url",
                &url,
                "--bots",
                "4",
                "--duration",
                "3",
                "--quick-play",
                "--quiet",
                "--max-error-rate",
                "0",
                "--max-p99-input-ack-ms",
                ack_ms,
            ])
            .await
        }
    };
    // Acknowledgements take a tick or so on loopback: never a microsecond,
    // always under ten seconds.
    assert_eq!(with_threshold("0.001").await, EXIT_SLO_BROKEN);
    assert_eq!(with_threshold("10000").await, EXIT_OK);
    assert_eq!(run(["skirmish-bots", "--bots", "lots"]).await, EXIT_FAILED);
    node.stop().await;
}
