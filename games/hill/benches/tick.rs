//! One tick of a hill match, as the engine runs it: step with every
//! player's input, write and keep the frame once, and each player's
//! snapshot message (its delta against the tick before, acknowledged).
//!
//! Run with `cargo bench -p skirmish-hill --bench tick`.

use criterion::{Criterion, criterion_group, criterion_main};
use skirmish_hill::HillMatch;
use skirmish_hill::rules::Rules;
use skirmish_hill::sim::{Input, Spec};
use skirmish_shared::codec::write_snapshot;
use skirmish_shared::game::{Control, EntityId, Game};
use skirmish_shared::replication::Replicator;
use std::hint::black_box;
use std::sync::Arc;

fn spec() -> Spec {
    let mut rules =
        Rules::from_toml(include_str!("../../../assets/hill.toml"), "hill.toml").expect("rules");
    rules.match_rules.duration_s = 3600;
    rules.match_rules.score_to_win_s = 3600;
    rules.match_rules.max_players = 64;
    Spec {
        rules,
        tick_rate: 30,
    }
}

fn game(n_players: u16) -> HillMatch {
    let mut g = HillMatch::new(Arc::new(spec()), 1);
    for id in 1..=n_players {
        g.admit(EntityId(id), None).expect("room");
    }
    g
}

/// Everyone heading for the middle along a slow spiral, shoving.
fn inputs(tick: u32, n: u16) -> Vec<Control<Input>> {
    (1..=n)
        .map(|id| {
            let a = tick as f32 * 0.03 + f32::from(id);
            Control::new(EntityId(id), Input::new(a.cos(), a.sin(), true))
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    for n in [16u16, 64] {
        let mut g = game(n);
        for _ in 0..300 {
            g.step(&inputs(g.tick() + 1, n));
        }
        let mut rep = Replicator::new(Arc::new(HillMatch::schema(&spec())));
        let mut delta = Vec::with_capacity(1024);
        let mut out = Vec::with_capacity(1024);
        c.bench_function(&format!("hill/tick/{n}_players"), |b| {
            b.iter(|| {
                let inputs = inputs(g.tick() + 1, n);
                g.step(black_box(&inputs));
                g.replicate(rep.frame_mut());
                rep.commit(g.tick());
                for id in 1..=n {
                    let viewer = EntityId(id);
                    delta.clear();
                    let base = rep.write(viewer, g.interest(viewer), &mut delta);
                    out.clear();
                    write_snapshot(g.tick(), u32::from(id), base, &delta, &mut out);
                    black_box(&out);
                    rep.ack(viewer, g.tick());
                }
            })
        });
        println!("hill, {n} players: snapshot message {} bytes", out.len());
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
