//! An arena match's tick as the engine runs it, in two parts: the step
//! with every player's input, and replication (the frame written and kept
//! once, then each player's snapshot message: its delta against the tick it
//! acknowledged, the one before, within the rules' view radius).
//!
//! Lag compensation's cost is the step three ways: as shipped (the history
//! kept, shots judged now), with every shot rewound 4 ticks (130 ms, as
//! from a browser behind a 100 ms round trip), and with
//! `lag_compensation.max_rewind_ms = 0` (no history kept).
//!
//! Run with `cargo bench -p skirmish-arena --bench sim`.

use criterion::{Criterion, criterion_group, criterion_main};
use skirmish_arena::ArenaMatch;
use skirmish_arena::rules::{Map, Rules};
use skirmish_arena::sim::{GameSpec, Input};
use skirmish_shared::codec::write_snapshot;
use skirmish_shared::game::{Control, EntityId, Game};
use skirmish_shared::replication::Replicator;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn game(n_players: u16, max_rewind_ms: u32) -> ArenaMatch {
    let rules =
        Rules::from_toml(include_str!("../../../assets/rules.toml"), "rules.toml").expect("rules");
    let map = Map::from_toml(
        include_str!("../../../assets/maps/arena.toml"),
        "arena.toml",
        &rules,
    )
    .expect("map");
    let mut rules = rules;
    rules.match_rules.duration_s = 3600;
    rules.match_rules.kill_limit = 100_000;
    rules.match_rules.max_players = 64;
    rules.lag_compensation.max_rewind_ms = max_rewind_ms;
    let mut g = ArenaMatch::new(Arc::new(GameSpec::new(rules, map, 30).expect("spec")), 1);
    for id in 1..=n_players {
        g.admit(EntityId(id), None).expect("room");
    }
    g
}

/// Everyone moving in circles and firing, so projectiles and hits are
/// realistic; each shot judged `rewind` ticks back.
fn inputs(tick: u32, n_players: u16, rewind: u32) -> Vec<Control<Input>> {
    (1..=n_players)
        .map(|id| {
            let a = (tick as f32 * 0.05 + f32::from(id)).rem_euclid(std::f32::consts::TAU)
                - std::f32::consts::PI;
            let input = Input::new(a.cos(), a.sin(), a, true).expect("valid");
            Control::new(EntityId(id), input).rewound(rewind)
        })
        .collect()
}

/// How a bench plays: lag compensation's limit, and how far back shots
/// are judged.
#[derive(Clone, Copy)]
struct Setup {
    players: u16,
    max_rewind_ms: u32,
    rewind: u32,
}

impl Setup {
    fn inputs(self, tick: u32) -> Vec<Control<Input>> {
        inputs(tick, self.players, self.rewind)
    }

    /// A match in a steady state: 300 ticks in, with shots in flight.
    fn warm(self) -> ArenaMatch {
        let mut g = game(self.players, self.max_rewind_ms);
        for _ in 0..300 {
            g.step(&self.inputs(g.tick() + 1));
        }
        g
    }
}

/// Times `work` on a warm match, replacing a match that has ended (an hour
/// of ticks in) outside the timing.
fn timed(
    g: &mut ArenaMatch,
    setup: Setup,
    iters: u64,
    mut work: impl FnMut(&mut ArenaMatch, &[Control<Input>]),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        if g.end().is_some() {
            *g = setup.warm();
        }
        let inputs = setup.inputs(g.tick() + 1);
        let started = Instant::now();
        work(g, black_box(&inputs));
        total += started.elapsed();
    }
    total
}

fn bench(c: &mut Criterion) {
    for n in [16u16, 64] {
        let shipped = Setup {
            players: n,
            max_rewind_ms: 200,
            rewind: 0,
        };
        let ways = [
            ("", shipped),
            (
                "_rewound_4_ticks",
                Setup {
                    rewind: 4,
                    ..shipped
                },
            ),
            (
                "_no_history",
                Setup {
                    max_rewind_ms: 0,
                    ..shipped
                },
            ),
        ];
        for (name, setup) in ways {
            let mut g = setup.warm();
            c.bench_function(&format!("arena/step/{n}_players{name}"), |b| {
                b.iter_custom(|iters| timed(&mut g, setup, iters, |g, inputs| g.step(inputs)))
            });
        }
        replicate(c, shipped);
    }
}

fn replicate(c: &mut Criterion, setup: Setup) {
    let n = setup.players;
    let mut g = setup.warm();
    let mut rep = Replicator::new(Arc::new(ArenaMatch::schema(g.world().spec())));
    let mut delta = Vec::with_capacity(4096);
    let mut out = Vec::with_capacity(4096);
    let mut delta_bytes = 0;
    c.bench_function(&format!("arena/replicate/{n}_players"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                if g.end().is_some() {
                    // A new match: its ticks start again.
                    g = setup.warm();
                    rep = Replicator::new(Arc::clone(rep.schema()));
                }
                g.step(&setup.inputs(g.tick() + 1));
                let started = Instant::now();
                g.replicate(rep.frame_mut());
                rep.commit(g.tick());
                delta_bytes = 0;
                for id in 1..=n {
                    let viewer = EntityId(id);
                    delta.clear();
                    let base = rep.write(viewer, g.interest(viewer), &mut delta);
                    out.clear();
                    write_snapshot(g.tick(), u32::from(id), base, &delta, &mut out);
                    black_box(&out);
                    delta_bytes += out.len();
                    rep.ack(viewer, g.tick());
                }
                total += started.elapsed();
            }
            total
        })
    });
    println!(
        "arena, {n} players, {} shots in flight: {} bytes of snapshot messages a tick, {:.1} each",
        g.world().projectiles().len(),
        delta_bytes,
        delta_bytes as f64 / f64::from(n)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
