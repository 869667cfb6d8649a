//! Matchmaking throughput and latency against a real `redis-server` the
//! bench starts: three "nodes" (queue owners) share one queue in Redis and
//! one of them forms matches with the server's own round
//! ([`form_and_claim`]) every 250 ms, as the lease holder does.
//!
//! 1. 10,000 tickets queued at once (ratings spread over 800..1200): the
//!    time until every one is in a match.
//! 2. A steady 100 tickets a second for 60 s: time from queueing to being
//!    claimed for a match, as percentiles.
//!
//! Run with `cargo bench -p skirmish-tests --bench matchmaking` (it prints
//! its figures; it is not a criterion bench because each run is one long
//! measurement).

use skirmish_server::matchmaking::{
    MatchmakingConfig, QueueStore, RedisQueue, Ticket, TicketPlayer, form_and_claim,
};
use skirmish_server::node::unix_ms;
use skirmish_server::redis_conn;
use skirmish_shared::proto::PlayerId;
use skirmish_tests::redis::RedisServer;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SETTINGS: &str = include_str!("../../assets/matchmaking.toml");

/// A reproducible spread of ratings over 800..1200.
fn rating(i: u64) -> i32 {
    800 + ((i.wrapping_mul(2_654_435_761) >> 7) % 401) as i32
}

fn ticket(i: u64) -> Ticket {
    let node = format!("node-{}", i % 3);
    Ticket {
        id: format!("{i:016x}"),
        mode: "ffa".into(),
        players: vec![TicketPlayer {
            player_id: PlayerId(i),
            name: format!("p{i}"),
            node: node.clone(),
        }],
        rating: rating(i),
        enqueued_at_ms: unix_ms(),
        node,
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[tokio::main]
async fn main() {
    let settings =
        MatchmakingConfig::from_toml(SETTINGS, "matchmaking.toml", 16).expect("settings");
    let mode = settings.mode("ffa").expect("ffa").clone();
    let redis = RedisServer::start();
    let client = redis_conn::client(&redis.url()).expect("client");
    let conn = redis_conn::commands(&client).await.expect("connect");
    // Tickets live long enough for the bench: nobody refreshes them here.
    let ttl = Duration::from_secs(600);

    // 1. Ten thousand at once.
    let store: Arc<dyn QueueStore> = Arc::new(RedisQueue::new(conn.clone(), "bench-burst"));
    let queued = Instant::now();
    let mut producers = Vec::new();
    for node in 0..3u64 {
        let store = Arc::clone(&store);
        producers.push(tokio::spawn(async move {
            for i in (node..10_000).step_by(3) {
                store.enqueue(&ticket(i), ttl).await.expect("enqueue");
            }
        }));
    }
    for p in producers {
        p.await.expect("producer");
    }
    let enqueue_time = queued.elapsed();
    let started = Instant::now();
    let (mut matched, mut matches, mut rounds, mut busy) = (0usize, 0usize, 0u32, Duration::ZERO);
    let (mut half, mut most) = (None, None);
    let mut round = tokio::time::interval(settings.round_interval());
    while matched < 10_000 && started.elapsed() < Duration::from_secs(120) {
        round.tick().await;
        let t = Instant::now();
        let claimed = form_and_claim(store.as_ref(), &mode, unix_ms())
            .await
            .expect("round");
        busy += t.elapsed();
        rounds += 1;
        matches += claimed.len();
        matched += claimed.iter().map(|g| g.tickets.len()).sum::<usize>();
        if matched >= 5_000 && half.is_none() {
            half = Some(started.elapsed());
        }
        if matched >= 9_900 && most.is_none() {
            most = Some(started.elapsed());
        }
    }
    println!("10,000 tickets over 3 nodes (queued in {enqueue_time:.2?}):");
    println!(
        "  half in matches after {:.2?}, 99% after {:.2?}, all after {:.2?}",
        half.unwrap_or_default(),
        most.unwrap_or_default(),
        started.elapsed()
    );
    println!(
        "  {matched} players in {matches} matches over {rounds} rounds; {busy:.2?} spent forming and claiming"
    );

    // 2. A steady hundred a second.
    let store: Arc<dyn QueueStore> = Arc::new(RedisQueue::new(conn, "bench-steady"));
    let queued_at = Arc::new(std::sync::Mutex::new(std::collections::HashMap::<
        String,
        Instant,
    >::new()));
    let producer = {
        let (store, queued_at) = (Arc::clone(&store), Arc::clone(&queued_at));
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(10));
            for i in 0..6_000u64 {
                every.tick().await;
                let t = ticket(1_000_000 + i);
                queued_at
                    .lock()
                    .expect("lock")
                    .insert(t.id.clone(), Instant::now());
                store.enqueue(&t, ttl).await.expect("enqueue");
            }
        })
    };
    let mut waits: Vec<f64> = Vec::new();
    let mut round = tokio::time::interval(settings.round_interval());
    let started = Instant::now();
    while waits.len() < 6_000 && started.elapsed() < Duration::from_secs(180) {
        round.tick().await;
        let claimed = form_and_claim(store.as_ref(), &mode, unix_ms())
            .await
            .expect("round");
        let now = Instant::now();
        let queued_at = queued_at.lock().expect("lock");
        for t in claimed.iter().flat_map(|g| &g.tickets) {
            if let Some(at) = queued_at.get(&t.id) {
                waits.push(now.duration_since(*at).as_secs_f64() * 1000.0);
            }
        }
    }
    producer.await.expect("producer");
    waits.sort_by(f64::total_cmp);
    println!(
        "A steady 100 tickets a second for 60 s ({} matched):",
        waits.len()
    );
    println!(
        "  time to match ms: p50 {:.0}  p90 {:.0}  p99 {:.0}  max {:.0}",
        percentile(&waits, 0.5),
        percentile(&waits, 0.9),
        percentile(&waits, 0.99),
        waits.last().copied().unwrap_or(0.0)
    );
}
