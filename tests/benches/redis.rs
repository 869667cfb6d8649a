//! Redis-backed paths, against a real `redis-server` the bench starts on a
//! free port: recording a 16-player match on every leaderboard and period
//! (one after another, and 32 in flight), and a bus message from one node
//! to another (publish to delivery).
//!
//! Run with `cargo bench -p skirmish-tests --bench redis`.

use criterion::{Criterion, criterion_group, criterion_main};
use skirmish_server::bus::{Bus, Payload, RedisBus, Topic};
use skirmish_server::leaderboard::{
    LeaderboardConfig, Leaderboards, MatchSubmission, PlayerResult, RedisLeaderboards,
};
use skirmish_server::lobby::LobbyMessage;
use skirmish_server::redis_conn;
use skirmish_shared::proto::NodeId;
use skirmish_shared::proto::{MatchId, PlayerId};
use skirmish_tests::redis::RedisServer;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn submission(match_id: u64) -> MatchSubmission {
    MatchSubmission {
        match_id: MatchId(match_id),
        players: (0..16u64)
            .map(|i| PlayerResult {
                // Players recur across matches, as they do in a real deployment.
                player_id: PlayerId((match_id * 7 + i) % 5_000),
                name: format!("player{i}"),
                stats: [
                    ("kills".to_owned(), (i % 5) as i64),
                    ("score".to_owned(), (i % 5) as i64),
                ]
                .into(),
                rating: Some(1000 + i as i32),
            })
            .collect(),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn bench(c: &mut Criterion) {
    let redis = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = redis_conn::client(&redis.url()).expect("client");
    let conn = runtime
        .block_on(redis_conn::commands(&client))
        .expect("connect");
    let boards = Arc::new(RedisLeaderboards::new(
        conn,
        "bench",
        LeaderboardConfig::default(),
    ));
    let next_match = Arc::new(AtomicU64::new(1));

    c.bench_function("leaderboard_submit/16_players_one_at_a_time", |b| {
        b.to_async(&runtime).iter(|| {
            let boards = Arc::clone(&boards);
            let id = next_match.fetch_add(1, Ordering::Relaxed);
            async move {
                assert!(
                    boards
                        .submit(&submission(id), now_ms())
                        .await
                        .expect("submitted")
                );
            }
        })
    });

    c.bench_function("leaderboard_submit/16_players_32_in_flight", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let boards = Arc::clone(&boards);
            let next_match = Arc::clone(&next_match);
            async move {
                let started = Instant::now();
                let mut tasks = tokio::task::JoinSet::new();
                let per_task = iters.div_ceil(32);
                for _ in 0..32 {
                    let boards = Arc::clone(&boards);
                    let next_match = Arc::clone(&next_match);
                    tasks.spawn(async move {
                        for _ in 0..per_task {
                            let id = next_match.fetch_add(1, Ordering::Relaxed);
                            boards
                                .submit(&submission(id), now_ms())
                                .await
                                .expect("submitted");
                        }
                    });
                }
                while tasks.join_next().await.is_some() {}
                started
                    .elapsed()
                    .mul_f64(iters as f64 / (per_task * 32) as f64)
            }
        })
    });

    let (a, _) = runtime
        .block_on(RedisBus::connect(&client, "bench", &NodeId::from("node-a")))
        .expect("bus a");
    let (b_bus, deliveries) = runtime
        .block_on(RedisBus::connect(&client, "bench", &NodeId::from("node-b")))
        .expect("bus b");
    let topic = Topic::Room("bench".into());
    runtime
        .block_on(b_bus.subscribe(&topic))
        .expect("subscribe");
    let deliveries = Arc::new(tokio::sync::Mutex::new(deliveries));
    let a = Arc::new(a);
    c.bench_function("bus/publish_to_delivery_across_nodes", |b| {
        b.to_async(&runtime).iter(|| {
            let (a, deliveries, topic) = (Arc::clone(&a), Arc::clone(&deliveries), topic.clone());
            async move {
                let msg = Payload::of(&LobbyMessage::Typing {
                    room: "bench".into(),
                    player_id: PlayerId(1),
                    name: "a".into(),
                });
                let mut rx = deliveries.lock().await;
                a.publish(&topic, msg);
                tokio::time::timeout(Duration::from_secs(5), rx.recv())
                    .await
                    .expect("delivered in time");
            }
        })
    });
    drop(redis);
}

criterion_group!(benches, bench);
criterion_main!(benches);
