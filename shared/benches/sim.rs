//! Simulation and codec costs per tick: stepping a full 16-player match and
//! encoding its snapshots, the two things a node does every tick per match.
//!
//! Run with `cargo bench -p skirmish-shared --bench sim`.

use criterion::{Criterion, criterion_group, criterion_main};
use skirmish_shared::codec::SnapshotBody;
use skirmish_shared::proto::{EventView, PlayerView, ProjectileView};
use skirmish_shared::rules::{Map, Rules};
use skirmish_shared::sim::{EntityId, GameSpec, Input, World};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn world(n_players: u16) -> World {
    let rules =
        Rules::from_toml(include_str!("../../assets/rules.toml"), "rules.toml").expect("rules");
    let map = Map::from_toml(
        include_str!("../../assets/maps/arena.toml"),
        "arena.toml",
        &rules,
    )
    .expect("map");
    let mut rules = rules;
    rules.match_rules.duration_s = 3600;
    rules.match_rules.kill_limit = 100_000;
    rules.match_rules.max_players = 64;
    let mut w = World::new(Arc::new(GameSpec::new(rules, map, 30).expect("spec")), 1);
    for id in 0..n_players {
        w.add_player(EntityId(id)).expect("room");
    }
    w
}

/// Everyone moving in circles and firing, so projectiles and hits are
/// realistic.
fn inputs(tick: u32, n_players: u16) -> Vec<(EntityId, Input)> {
    (0..n_players)
        .map(|id| {
            let a = (tick as f32 * 0.05 + f32::from(id)).rem_euclid(std::f32::consts::TAU)
                - std::f32::consts::PI;
            let input = Input::new(a.cos(), a.sin(), a, true).expect("valid");
            (EntityId(id), input)
        })
        .collect()
}

/// A world in a steady state: 300 ticks in, with shots in flight.
fn warm(n_players: u16) -> World {
    let mut w = world(n_players);
    let mut events = Vec::new();
    for _ in 0..300 {
        let t = w.tick() + 1;
        w.step(t, &inputs(t, n_players), &mut events);
    }
    w
}

fn bench(c: &mut Criterion) {
    for n in [16u16, 64] {
        let mut w = warm(n);
        let mut events = Vec::new();
        c.bench_function(&format!("step/{n}_players"), |b| {
            // Timed per step, so replacing a world whose match has ended
            // (an hour of ticks in) is not counted.
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    if w.outcome().is_some() {
                        w = warm(n);
                    }
                    let t = w.tick() + 1;
                    let inputs = inputs(t, n);
                    events.clear();
                    let started = Instant::now();
                    w.step(t, black_box(&inputs), &mut events);
                    total += started.elapsed();
                }
                total
            })
        });

        let mut body = SnapshotBody::default();
        let mut out = Vec::with_capacity(4096);
        c.bench_function(&format!("snapshot_encode/{n}_players_each"), |b| {
            b.iter(|| {
                let players: Vec<PlayerView> = w.players().iter().map(PlayerView::of).collect();
                let shots: Vec<ProjectileView> =
                    w.projectiles().iter().map(ProjectileView::of).collect();
                let packs: Vec<bool> = w.health_packs().iter().map(|p| p.available()).collect();
                let evs: Vec<EventView> = events.iter().filter_map(EventView::of).collect();
                body.encode(w.ticks_left(), &players, &shots, &packs, &evs);
                for id in 0..u32::from(n) {
                    out.clear();
                    body.write_snapshot(w.tick(), id, &mut out);
                    black_box(&out);
                }
            })
        });
        println!(
            "{n} players: {} projectiles in flight, snapshot {} bytes",
            w.projectiles().len(),
            body.len() + 16
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
