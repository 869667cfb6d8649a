//! Matchmaking throughput and latency through three real nodes, in this
//! process, on one real `redis-server` the bench starts, with the shipped
//! settings (`assets/matchmaking.toml`: the `ffa` mode of 16, a round every
//! 250 ms). Tickets are queued through each node's own [`Matchmaking`]
//! (as a `queue` message would, without 10,000 WebSockets), spread evenly
//! over the nodes, with ratings spread over 800..1200. From there it is the
//! whole path: the lease holder forms and claims, picks the host from the
//! registry, the host opens the match and acknowledges over the bus, the
//! former commits, and the host sends `MatchFound` to each ticket's owning
//! node. A ticket counts as matched when its player's session (a stand-in
//! registered on the owning node for each player, as a connection would
//! be) has received that `match_found`; a ticket its node stopped owning
//! for any other reason (it lapsed, say) is not matched, and a mark the
//! run never reached is printed as such, never as a time.
//!
//! 1. 10,000 tickets queued at once: the time until every one is matched.
//! 2. A steady 100 tickets a second: time from queueing to matched, as
//!    percentiles, over the tickets queued in the first 60 s (arrivals go
//!    on until those are matched, so the last of them do not wait for a
//!    queue that has stopped filling).
//!
//! Run alone (it competes for the CPU) with
//! `cargo bench -p skirmish-tests --bench matchmaking`; it prints its
//! figures. It is not a criterion bench because each run is one long
//! measurement.
//!
//! [`Matchmaking`]: skirmish_server::matchmaking::Matchmaking

use skirmish_server::Server;
use skirmish_server::matchmaking::TicketPlayer;
use skirmish_server::node::Node;
use skirmish_server::node::SessionEvent;
use skirmish_server::outbox::Outbox;
use skirmish_shared::proto::{ModeId, PlayerId};
use skirmish_tests::cluster_config;
use skirmish_tests::redis::RedisServer;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The shipped node TTL (the tests use a shorter one).
const NODE_TTL_S: f32 = 6.0;

/// A reproducible spread of ratings over 800..1200.
fn rating(i: u64) -> i32 {
    800 + ((i.wrapping_mul(2_654_435_761) >> 7) % 401) as i32
}

/// The `q` quantile of sorted figures, in ms, or "n/a" when there are none.
fn percentile(sorted: &[f64], q: f64) -> String {
    if sorted.is_empty() {
        return "n/a".into();
    }
    format!(
        "{:.0}",
        sorted[((sorted.len() - 1) as f64 * q).round() as usize]
    )
}

/// When a mark was reached, or that it was not.
fn mark(at: Option<Duration>) -> String {
    at.map_or_else(|| "not reached".to_owned(), |d| format!("{d:.2?}"))
}

/// Three nodes serving in this process.
struct Cluster {
    nodes: Vec<Arc<Node>>,
    stops: Vec<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Cluster {
    async fn start(redis: &RedisServer, prefix: &str) -> Cluster {
        let (mut nodes, mut stops, mut tasks) = (Vec::new(), Vec::new(), Vec::new());
        for id in ["node-a", "node-b", "node-c"] {
            let mut config = cluster_config(&redis.url(), id, prefix);
            config.node_ttl_s = NODE_TTL_S;
            let map = config.assets.join("maps/arena.toml");
            let games = skirmish_tests::test_games(&config, &map);
            let server = Server::bind(config, games).await.expect("the node starts");
            nodes.push(server.node());
            let (stop, stopped) = oneshot::channel::<()>();
            stops.push(stop);
            tasks.push(tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stopped.await;
                };
                server.serve(shutdown).await.expect("the node serves");
            }));
        }
        // Every node registered and one holding the lease.
        let mut conn = redis::Client::open(redis.url())
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let live = nodes[0].registry.live().await.map_or(0, |l| l.len());
            let holder: Option<String> = redis::cmd("GET")
                .arg(format!("{prefix}:{{mm}}:lease"))
                .query_async(&mut conn)
                .await
                .expect("GET");
            if live == 3 && holder.is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "the cluster did not form");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Cluster {
            nodes,
            stops,
            tasks,
        }
    }

    async fn stop(self) {
        let Cluster {
            nodes,
            stops,
            tasks,
        } = self;
        drop(nodes);
        for stop in stops {
            let _ = stop.send(());
        }
        for task in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
    }
}

/// A queued ticket's player, as its session would see it.
struct Waiting {
    queued_at: Instant,
    /// What the node hands the player's session; `match_found` arrives
    /// here.
    events: mpsc::UnboundedReceiver<SessionEvent>,
}

/// Queues ticket `i` through node `i % 3`, with its player registered there
/// as a connection would be; returns its id and its player's events.
async fn queue(cluster: &Cluster, i: u64) -> (String, Waiting) {
    let node = &cluster.nodes[(i % 3) as usize];
    let player_id = PlayerId(1 + i);
    let (events_tx, events) = mpsc::unbounded_channel();
    // The kick receiver is dropped: nobody connects as these players again.
    drop(node.sessions.register(
        player_id,
        node.next_conn_id(),
        Arc::new(Outbox::new(64)),
        events_tx,
    ));
    let player = TicketPlayer {
        player_id,
        name: format!("p{i}"),
        node: node.node_id.clone(),
    };
    let queued_at = Instant::now();
    let ticket = node
        .matchmaking
        .enqueue(&ModeId::from("ffa"), vec![player], rating(i))
        .await
        .expect("queued");
    (ticket.id.into(), Waiting { queued_at, events })
}

/// Tickets waiting for their match.
type Outstanding = Arc<Mutex<HashMap<String, Waiting>>>;

/// Takes out the tickets whose player got `match_found`, with how long
/// each waited.
fn collect_matched(outstanding: &Outstanding, now: Instant) -> Vec<Duration> {
    let mut waiting = outstanding.lock().expect("lock");
    let mut matched = Vec::new();
    waiting.retain(|_, w| {
        while let Ok(event) = w.events.try_recv() {
            if let SessionEvent::MatchFound(_) = event {
                matched.push(now.duration_since(w.queued_at));
                return false;
            }
        }
        true
    });
    matched
}

async fn burst(redis: &RedisServer) {
    let cluster = Arc::new(Cluster::start(redis, "bench-burst").await);
    let outstanding: Outstanding = Arc::default();
    let started = Instant::now();
    let mut producers = Vec::new();
    for node in 0..3u64 {
        let (cluster, outstanding) = (Arc::clone(&cluster), Arc::clone(&outstanding));
        producers.push(tokio::spawn(async move {
            for i in (node..10_000).step_by(3) {
                let (id, waiting) = queue(&cluster, i).await;
                outstanding.lock().expect("lock").insert(id, waiting);
            }
        }));
    }
    for p in producers {
        p.await.expect("producer");
    }
    let queued_in = started.elapsed();
    let (mut matched, mut half, mut most) = (0usize, None, None);
    let mut poll = tokio::time::interval(Duration::from_millis(5));
    while matched < 10_000 && started.elapsed() < Duration::from_secs(120) {
        poll.tick().await;
        matched += collect_matched(&outstanding, Instant::now()).len();
        if matched >= 5_000 && half.is_none() {
            half = Some(started.elapsed());
        }
        if matched >= 9_900 && most.is_none() {
            most = Some(started.elapsed());
        }
    }
    let all = started.elapsed();
    let formed: u64 = cluster.nodes.iter().map(|n| n.matchmaking.formed()).sum();
    let per_node: Vec<u64> = cluster
        .nodes
        .iter()
        .map(|n| n.matchmaking.formed())
        .collect();
    println!("10,000 tickets queued at once over 3 nodes (queueing took {queued_in:.2?}):");
    let all = (matched == 10_000).then_some(all);
    println!(
        "  half matched after {}, 99% after {}, all after {} ({matched} of 10000 matched{})",
        mark(half),
        mark(most),
        mark(all),
        if matched < 10_000 {
            ", the rest not within 120 s"
        } else {
            ""
        },
    );
    println!("  {formed} matches hosted, per node {per_node:?}");
    match Arc::try_unwrap(cluster) {
        Ok(cluster) => cluster.stop().await,
        Err(_) => panic!("the cluster is still shared"),
    }
}

async fn steady(redis: &RedisServer) {
    let cluster = Arc::new(Cluster::start(redis, "bench-steady").await);
    let outstanding: Outstanding = Arc::default();
    let measured_for = Duration::from_secs(60);
    let started = Instant::now();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let producer = {
        let (cluster, outstanding, stop) = (
            Arc::clone(&cluster),
            Arc::clone(&outstanding),
            Arc::clone(&stop),
        );
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(10));
            let mut measured = 0u64;
            for i in 0u64.. {
                every.tick().await;
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let (id, waiting) = queue(&cluster, i).await;
                // Only tickets queued in the measured minute are timed.
                if waiting.queued_at.duration_since(started) < measured_for {
                    outstanding.lock().expect("lock").insert(id, waiting);
                    measured += 1;
                }
            }
            measured
        })
    };
    let mut waits: Vec<f64> = Vec::new();
    let mut poll = tokio::time::interval(Duration::from_millis(5));
    loop {
        poll.tick().await;
        waits.extend(
            collect_matched(&outstanding, Instant::now())
                .into_iter()
                .map(|d| d.as_secs_f64() * 1000.0),
        );
        let past = started.elapsed() > measured_for;
        if (past && outstanding.lock().expect("lock").is_empty())
            || started.elapsed() > measured_for * 2
        {
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let measured = producer.await.expect("producer");
    let unmatched = outstanding.lock().expect("lock").len();
    waits.sort_by(f64::total_cmp);
    println!(
        "A steady 100 tickets a second over 3 nodes; the {measured} queued in the first 60 s ({} matched, {unmatched} not):",
        waits.len()
    );
    println!(
        "  time to match ms: p50 {}  p90 {}  p99 {}  max {}",
        percentile(&waits, 0.5),
        percentile(&waits, 0.9),
        percentile(&waits, 0.99),
        percentile(&waits, 1.0),
    );
    match Arc::try_unwrap(cluster) {
        Ok(cluster) => cluster.stop().await,
        Err(_) => panic!("the cluster is still shared"),
    }
}

#[tokio::main]
async fn main() {
    let redis = RedisServer::start();
    burst(&redis).await;
    steady(&redis).await;
}
