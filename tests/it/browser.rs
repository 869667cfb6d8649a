//! The browser client end to end, in real headless Chromium driven by
//! playwright-core: log in, play, hold W for a second and see the player
//! move up, aim with the mouse and fire along the aim, with no error on the
//! page's console (`tests/browser/e2e.mjs`); two players on two nodes chat, are
//! matched across them, see their rating and its change on the results
//! screen, and find themselves on the leaderboards with their kills and
//! rating (`tests/browser/lobby.mjs`); a player picks king of the hill,
//! plays it against a server bot in the hill's own view and reads its
//! results (`tests/browser/hill.mjs`); the admin dashboard refuses a page
//! without its token and, with it, lists the live nodes and draws its
//! charts (`tests/browser/admin.mjs`). Leaves screenshots in
//! `target/test-artifacts/`.
//!
//! The node plays on `tests/fixtures/e2e-map.toml`, where every spawn point
//! has open space above it, so holding W always moves the player whichever
//! spawn the match picks (on the shipped map some spawns are under a wall).

use skirmish_arena::rules::{Map, Rules};
use skirmish_server::Config;
use skirmish_tests::proxy::LagProxy;
use skirmish_tests::{TestNode, artifacts_dir, assets_dir, fixture, repo_dir, test_config};
use std::process::Stdio;
use std::time::Duration;

/// Open space above every spawn of the e2e map: far more than the 180 units
/// `e2e.mjs` needs to see a second of walking up.
const ROOM_ABOVE_SPAWNS: f32 = 500.0;

/// The e2e map loads and validates with the shipped rules, as the node will
/// load it, and nothing (arena edge or obstacle) is within
/// [`ROOM_ABOVE_SPAWNS`] above any spawn point.
#[test]
fn the_e2e_map_is_valid_and_every_spawn_has_room_above() {
    let rules = Rules::load(&assets_dir().join("rules.toml")).expect("shipped rules");
    let map = Map::load(&fixture("e2e-map.toml"), &rules).expect("the e2e map is valid");
    let r = rules.player.radius;
    for (i, spawn) in map.spawns.iter().enumerate() {
        let mut room = spawn.y - r;
        for o in &map.obstacles {
            let in_column = spawn.x + r > o.x && spawn.x - r < o.x + o.w;
            if in_column && o.y + o.h <= spawn.y {
                room = room.min(spawn.y - r - (o.y + o.h));
            }
            assert!(
                !(in_column && o.y < spawn.y && o.y + o.h > spawn.y),
                "spawns[{i}] is beside an obstacle in its column"
            );
        }
        assert!(
            room >= ROOM_ABOVE_SPAWNS,
            "spawns[{i}] at ({}, {}) has only {room} units above it",
            spawn.x,
            spawn.y
        );
    }
}

/// Runs one of `tests/browser/*.mjs` with `args` (flags and their values;
/// an empty value passes the flag alone) and `--artifacts`,
/// within `within`, and checks it passed and saved `shots` (removed first,
/// so an earlier run's screenshot does not count). Prints what it measured.
async fn run_script(script: &str, args: &[(&str, String)], shots: &[&str], within: Duration) {
    for shot in shots {
        let _ = std::fs::remove_file(artifacts_dir().join(shot));
    }
    let mut command = tokio::process::Command::new("node");
    command.arg(repo_dir().join("tests/browser").join(script));
    for (flag, value) in args {
        // An empty value: a flag on its own.
        command.arg(flag);
        if !value.is_empty() {
            command.arg(value);
        }
    }
    let run = command
        .arg("--artifacts")
        .arg(artifacts_dir())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(within, run)
        .await
        .expect("the browser test finishes in time")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // The measurements, for whoever reads the log.
    println!("{stdout}");
    for shot in shots {
        assert!(artifacts_dir().join(shot).exists(), "{shot} was saved");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_in_chromium_logs_in_plays_and_moves() {
    let repo = repo_dir();
    assert!(
        repo.join("assets/web/dist/app.js").exists(),
        "the browser client is not built: run scripts/test.sh (or npm --prefix assets/web ci && npm --prefix assets/web run build)"
    );
    assert!(
        repo.join("tests/browser/node_modules/playwright-core")
            .exists(),
        "playwright-core is not installed: run scripts/test.sh (or npm --prefix tests/browser ci)"
    );
    e2e(test_config(), "e2e-playing.png", &[])
        .await
        .stop()
        .await;
}

/// Runs `e2e.mjs` with `flags` against a node started from `config` on the
/// e2e map (matches of a minute), saving the screenshot `shot`; returns
/// the node, still running.
async fn e2e(mut config: Config, shot: &str, flags: &[(&str, String)]) -> TestNode {
    config.match_seconds = Some(60);
    let node = TestNode::start_on(config, &fixture("e2e-map.toml")).await;
    let mut args = vec![
        ("--url", format!("{}/", node.url())),
        ("--shot", shot.to_owned()),
    ];
    args.extend_from_slice(flags);
    run_script("e2e.mjs", &args, &[shot], Duration::from_secs(120)).await;
    node
}

/// Prediction with latency on the wire: the page reaches the node through
/// a delay proxy (75 ms each way plus up to 10 ms of jitter). Pressing W
/// moves the drawn player on the next animation frame, the node's position
/// follows a round trip later, and once the keys are let go the two agree;
/// `latency.mjs` prints the page's corrections over a walk (README
/// "Play feels local").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_behind_150_ms_the_own_player_moves_on_the_next_frame() {
    let mut config = test_config();
    config.match_seconds = Some(60);
    let node = TestNode::start_on(config, &fixture("e2e-map.toml")).await;
    let proxy = LagProxy::start(
        node.addr,
        Duration::from_millis(75),
        Duration::from_millis(10),
    )
    .await;
    let args = [
        ("--url", format!("{}/", proxy.url())),
        ("--rtt-ms", "150".to_owned()),
    ];
    run_script(
        "latency.mjs",
        &args,
        &["latency.png"],
        Duration::from_secs(90),
    )
    .await;
    node.stop().await;
}

/// The same over HTTPS and WSS, with a certificate from a test authority
/// (which Chromium is told to accept: it does not know the authority).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_in_chromium_plays_over_https_and_wss() {
    let ca = skirmish_tests::tls::TestCa::new();
    let (cert, key, _) = ca.issue("node");
    let mut config = test_config();
    config.tls_cert = Some(cert);
    config.tls_key = Some(key);
    let flags = [("--ignore-https-errors", String::new())];
    let node = e2e(config, "e2e-tls.png", &flags).await;
    assert!(node.url().starts_with("https://"));
    node.stop().await;
}

/// The same over WebTransport: the node offers it with a self-signed
/// certificate, which Chromium accepts by its hash; the page says it is on
/// it, and holding W moves the player. The page reaches it through a UDP
/// proxy holding each datagram 20 ms, so inputs wait for their
/// acknowledgement and each repeats the ones before it, which the node
/// must accept. (Loss is left to `prediction::`: a lost handshake packet
/// could push the page past its 3 s WebTransport deadline.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_in_chromium_plays_over_webtransport() {
    let mut config = skirmish_tests::wt_config();
    config.match_seconds = Some(60);
    let node = TestNode::start_on(config, &fixture("e2e-map.toml")).await;
    let proxy = LagProxy::start_udp(
        node.wt_offer().await.1,
        Duration::from_millis(20),
        Duration::ZERO,
        0.0,
    )
    .await;
    let args = [
        ("--url", format!("{}/", node.url())),
        ("--shot", "e2e-webtransport.png".to_owned()),
        ("--quic", String::new()),
        ("--transport", "webtransport".into()),
        ("--wt-port", proxy.addr().port().to_string()),
    ];
    run_script(
        "e2e.mjs",
        &args,
        &["e2e-webtransport.png"],
        Duration::from_secs(120),
    )
    .await;
    let metrics = node.metrics().await;
    assert!(
        metrics.contains("skirmish_connections_by_transport{transport=\"wt\"}"),
        "the node counted a WebTransport player"
    );
    // Its input datagrams, each repeating the ones before it, were all
    // accepted.
    let refused: Vec<_> = metrics
        .lines()
        .filter(|l| l.starts_with("skirmish_client_errors_total{"))
        .collect();
    assert!(
        refused.is_empty(),
        "the node refused some of it: {refused:?}"
    );
    node.stop().await;
}

/// With WebTransport offered on a port that is closed, the same page plays
/// over the WebSocket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_webtransport_port_closed_the_page_plays_over_websocket() {
    let flags = [
        ("--quic", String::new()),
        ("--wt-port-closed", String::new()),
        ("--transport", "websocket".into()),
    ];
    let node = e2e(skirmish_tests::wt_config(), "e2e-fallback.png", &flags).await;
    node.stop().await;
}

/// Matchmaking where a mode of two starts at once, for the lobby test.
const DUEL_FFA: &str = r#"
ticket_ttl_s = 3.0
lease_ttl_s = 1.5
round_interval_ms = 100
join_window_s = 15.0

[[modes]]
id = "ffa"
min_players = 2
target_players = 2
max_players = 2
rating_window = 1000.0
rating_window_growth_per_s = 0.0
rating_window_max = 1000.0
start_below_target_after_s = 0.0
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_players_in_chromium_on_two_nodes_chat_and_are_matched_across_them() {
    let redis = skirmish_tests::redis::RedisServer::start();
    let settings = skirmish_tests::TempDir::new("browser-mm");
    let mm = settings.path().join("matchmaking.toml");
    std::fs::write(&mm, DUEL_FFA).expect("write matchmaking settings");
    let mut nodes = Vec::new();
    for id in ["node-a", "node-b"] {
        let mut config = skirmish_tests::cluster_config(&redis.url(), id, "browser-lobby");
        config.matchmaking = mm.clone();
        // Short matches: the test waits for one to end.
        config.match_seconds = Some(10);
        nodes.push(TestNode::start(config).await);
    }
    run_script(
        "lobby.mjs",
        &[
            ("--url-a", format!("{}/", nodes[0].url())),
            ("--url-b", format!("{}/", nodes[1].url())),
        ],
        &["lobby-a.png", "lobby-b.png", "lobby-results-b.png"],
        Duration::from_secs(150),
    )
    .await;
    for node in nodes {
        node.stop().await;
    }
}

/// King of the hill, one against one, starting at once with a server bot.
const HILL_1V1: &str = r#"
ticket_ttl_s = 3.0
lease_ttl_s = 1.5
round_interval_ms = 100
join_window_s = 15.0

[[modes]]
id = "ffa"
game = "arena"
min_players = 2
target_players = 2
max_players = 2
rating_window = 1000.0
rating_window_growth_per_s = 0.0
rating_window_max = 1000.0
start_below_target_after_s = 0.0

[[modes]]
id = "hill"
game = "hill"
teams = 2
min_players = 2
target_players = 2
max_players = 2
rating_window = 1000.0
rating_window_growth_per_s = 0.0
rating_window_max = 1000.0
start_below_target_after_s = 0.0
backfill_after_s = 0.2
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_in_chromium_picks_the_hill_and_plays_it_in_its_own_view() {
    let settings = skirmish_tests::TempDir::new("browser-hill");
    let mut config = test_config();
    config.matchmaking = skirmish_tests::matchmaking_file(HILL_1V1, &settings);
    config.match_seconds = Some(8);
    let node = TestNode::start(config).await;
    run_script(
        "hill.mjs",
        &[("--url", format!("{}/", node.url()))],
        &["hill-playing.png", "hill-results.png"],
        Duration::from_secs(120),
    )
    .await;
    node.stop().await;
}

/// A player whose node is killed mid-match carries on at the other node of
/// the cluster, in its lobby, told the match was lost (`failover.mjs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_in_chromium_whose_node_dies_carries_on_at_another() {
    let redis = skirmish_tests::redis::RedisServer::start();
    let survivor = TestNode::start(skirmish_tests::cluster_config(
        &redis.url(),
        "survivor",
        "browser-failover",
    ))
    .await;
    let mut victim = skirmish_tests::ChildNode::start(
        env!("CARGO_BIN_EXE_skirmish-test-node"),
        &redis.url(),
        "victim",
        "browser-failover",
        1.5,
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while skirmish_tests::live_nodes(&survivor.url()).await != ["survivor", "victim"] {
        assert!(
            std::time::Instant::now() < deadline,
            "the victim never registered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    run_script(
        "failover.mjs",
        &[
            ("--victim", format!("{}/", victim.url())),
            ("--victim-pid", victim.pid().to_string()),
            ("--survivor", survivor.url()),
        ],
        &["failover-lobby.png"],
        Duration::from_secs(90),
    )
    .await;
    victim.kill();
    survivor.stop().await;
}

/// `GET /api/admin/cluster` at `node` with `token` (none: no header): the
/// status and the JSON body.
async fn admin_view(node: &TestNode, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = skirmish_tests::http().get(format!("{}/api/admin/cluster", node.url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("GET /api/admin/cluster");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

/// The admin dashboard on two nodes of one Redis: its API refuses a
/// missing or wrong token (401) and a node without one (403), and answers
/// both nodes with their stats; the public node list carries no stats; and
/// in Chromium (`tests/browser/admin.mjs`) the page is refused without the
/// token and with it lists both nodes and draws every chart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_dashboard_lists_the_live_nodes_and_draws_its_charts() {
    let redis = skirmish_tests::redis::RedisServer::start();
    let token = "the-admin-token-of-the-tests";
    let mut config = skirmish_tests::cluster_config(&redis.url(), "node-a", "admin");
    config.admin_token = Some(token.into());
    let a = TestNode::start(config).await;
    let b = TestNode::start(skirmish_tests::cluster_config(
        &redis.url(),
        "node-b",
        "admin",
    ))
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while skirmish_tests::live_nodes(&a.url()).await != ["node-a", "node-b"] {
        assert!(tokio::time::Instant::now() < deadline, "both nodes listed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_eq!(admin_view(&a, None).await.0, 401);
    let (status, body) = admin_view(&a, Some("the-admin-token-of-the-test")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, body) = admin_view(&b, Some(token)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("admin_disabled"))
    );
    let (status, body) = admin_view(&a, Some(token)).await;
    assert_eq!(status, 200, "{body}");
    let nodes = body["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 2, "{body}");
    for node in nodes {
        assert!(node["stats"]["ticks"].is_u64(), "stats of {node}");
    }
    let public = crate::results::get_json_pub(format!("{}/api/nodes", a.url())).await;
    assert!(
        public["nodes"][0].get("stats").is_none(),
        "no stats in public: {public}"
    );

    // Someone to see on node A.
    let player = skirmish_tests::Player::connect(&a, "watched").await;
    let args = [
        ("--url", a.url()),
        ("--token", token.to_owned()),
        ("--nodes", "node-a,node-b".to_owned()),
        ("--busy", "node-a".to_owned()),
    ];
    run_script("admin.mjs", &args, &["admin.png"], Duration::from_secs(90)).await;
    drop(player);
    a.stop().await;
    b.stop().await;
}
