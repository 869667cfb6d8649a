//! The soak: three nodes on one Redis, bots queueing for 4-player matches
//! on all of them for a while, and two faults on the way: the Redis is
//! killed and started again three seconds later (it keeps what it
//! acknowledged, as a production Redis with an append-only file does), and
//! one node is killed and started again on its data directory. At the end
//! every match the bots saw completed has its result on the boards exactly
//! once (an applied marker each, and the kills board's total is the bots'
//! kills in those matches: server bots that backfill a match are not on the
//! boards), the bots saw no errors but the faults' own, and each node's
//! memory (RSS) over the run is printed.
//!
//! Two minutes in CI. The hour, with a few hundred bots:
//!
//! ```sh
//! SKIRMISH_SOAK_S=3600 SKIRMISH_SOAK_BOTS=300 SKIRMISH_SOAK_MATCH_S=30 \
//!   cargo test --release -p skirmish-tests --test it soak -- --nocapture
//! ```

use redis::AsyncCommands;
use skirmish_client_sim::swarm::{BehaviorChoice, SwarmConfig, run_swarm};
use skirmish_tests::redis::RedisServer;
use skirmish_tests::{ChildNode, test_matchmaking};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::Instant;

const PREFIX: &str = "soak";
/// Errors that are the faults themselves: connecting to the killed node,
/// and `unavailable` answers while Redis is down.
const FAULT_ERRORS: [&str; 2] = ["connect", "server_unavailable"];

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_soaks_through_a_redis_restart_and_a_node_kill() {
    let run = Duration::from_secs(setting("SKIRMISH_SOAK_S", 120));
    let bots = setting("SKIRMISH_SOAK_BOTS", 36) as u32;
    let match_s = setting("SKIRMISH_SOAK_MATCH_S", 15);
    let mut redis = RedisServer::start_persistent();
    let exe = env!("CARGO_BIN_EXE_skirmish-test-node");
    let raw = format!(
        "match_seconds = {match_s}\nmatchmaking = {:?}\n",
        test_matchmaking().display().to_string()
    );
    let mut nodes: Vec<ChildNode> = ["soak-a", "soak-b", "soak-c"]
        .iter()
        .map(|id| ChildNode::start_raw(exe, &redis.url(), id, PREFIX, 3.0, &raw, None))
        .collect();
    let urls: Vec<String> = nodes.iter().map(ChildNode::url).collect();

    let started = Instant::now();
    let swarm = tokio::spawn(run_swarm(SwarmConfig {
        urls,
        bots,
        ramp_per_s: 20.0,
        duration: run,
        seed: 7,
        behavior: BehaviorChoice::Mixed,
        chat_every: Some(Duration::from_secs(20)),
        queue: Some("bots".into()),
        progress: false,
        transport: Default::default(),
        finish_matches: true,
    }));

    // The faults, at fixed shares of the run, and the memory every few
    // seconds.
    let at = |share: f64| started + run.mul_f64(share);
    let faults = [at(0.30), at(0.50), at(0.56)];
    let sample_every = (run / 24).max(Duration::from_secs(5));
    let mut next_sample = started;
    // By node and process (a restarted node is a new process).
    let mut rss: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    let mut next_fault = 0;
    while !swarm.is_finished() {
        let now = Instant::now();
        if next_fault < faults.len() && now >= faults[next_fault] {
            let t = started.elapsed().as_secs_f64();
            match next_fault {
                0 => {
                    println!("{t:>5.0} s: Redis killed, started again 3 s later");
                    redis.stop();
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    redis.restart();
                }
                1 => {
                    println!("{t:>5.0} s: node soak-c killed");
                    nodes[2].kill();
                }
                _ => {
                    println!("{t:>5.0} s: node soak-c started again");
                    nodes[2].restart();
                }
            }
            next_fault += 1;
        }
        if now >= next_sample {
            next_sample += sample_every;
            for (node, name) in nodes.iter().zip(["soak-a", "soak-b", "soak-c"]) {
                if let Some(kib) = rss_kib(node.pid()) {
                    rss.entry(format!("{name} (pid {})", node.pid()))
                        .or_default()
                        .push((started.elapsed().as_secs(), kib));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let report = swarm.await.expect("the swarm ran");
    println!("{}", report.table());

    // The results: wait for every outbox to empty onto the boards.
    let completed: BTreeMap<&String, i64> = report
        .matches
        .iter()
        .filter(|(_, m)| m.completed)
        .map(|(id, m)| (id, m.kills))
        .collect();
    let client = redis::Client::open(redis.url()).expect("a Redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis");
    let deadline = Instant::now() + Duration::from_secs(60);
    let applied = loop {
        let keys: Vec<String> = conn
            .keys(format!("{PREFIX}:{{lb}}:applied:*"))
            .await
            .expect("read the applied markers");
        let applied: BTreeSet<String> = keys
            .iter()
            .filter_map(|k| k.rsplit(':').next().map(str::to_owned))
            .collect();
        if completed.keys().all(|id| applied.contains(*id)) || Instant::now() > deadline {
            break applied;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let board: Vec<(String, f64)> = conn
        .zrange_withscores(format!("{PREFIX}:{{lb}}:board:kills:all"), 0, -1)
        .await
        .expect("read the kills board");
    let board_kills: i64 = board
        .iter()
        .map(|(_, score)| (-score / 2_147_483_648.0).floor() as i64)
        .sum();
    let match_kills: i64 = completed.values().sum();

    println!("RSS over the run, by node process (seconds: KiB):");
    let warm = run.as_secs() / 5;
    for (name, series) in &rss {
        let line: Vec<String> = series.iter().map(|(s, kib)| format!("{s}:{kib}")).collect();
        println!("  {name}: {}", line.join(" "));
        // Growth after warm-up: from the first sample a fifth of the run in
        // (or the process's first, for the restarted node) to the last.
        if let (Some(first), Some(last)) = (
            series.iter().find(|(s, _)| *s >= warm).or(series.first()),
            series.last(),
        ) {
            println!(
                "  {name}: {:+} KiB from {} s to {} s",
                last.1 as i64 - first.1 as i64,
                first.0,
                last.0
            );
        }
    }
    println!(
        "matches completed (seen by bots): {}, results applied: {}, kills in matches: {match_kills}, on the board: {board_kills}",
        completed.len(),
        applied.len()
    );

    let lost: Vec<&&String> = completed
        .keys()
        .filter(|id| !applied.contains(**id))
        .collect();
    assert!(lost.is_empty(), "results lost for {lost:?}");
    let unseen: Vec<&String> = applied
        .iter()
        .filter(|id| !completed.contains_key(id))
        .collect();
    assert!(
        unseen.is_empty(),
        "results for matches no bot saw complete: {unseen:?}"
    );
    assert_eq!(board_kills, match_kills, "every match's kills counted once");
    assert!(
        completed.len() >= 4,
        "too few matches to judge: {}",
        completed.len()
    );
    let unexpected: BTreeMap<&String, &u64> = report
        .errors_by_kind
        .iter()
        .filter(|(kind, _)| !FAULT_ERRORS.contains(&kind.as_str()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "errors besides the faults': {unexpected:?}"
    );
}

/// A process's resident memory, from `/proc/PID/status`.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
