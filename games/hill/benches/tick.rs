//! One tick of a hill match, as the engine runs it: step with every
//! player's input, write the state once, and wrap it in a snapshot per
//! player.
//!
//! Run with `cargo bench -p skirmish-hill --bench tick`.

use criterion::{Criterion, criterion_group, criterion_main};
use skirmish_hill::HillMatch;
use skirmish_hill::rules::Rules;
use skirmish_hill::sim::{Input, Spec};
use skirmish_shared::codec::write_snapshot;
use skirmish_shared::game::{EntityId, Game};
use std::hint::black_box;
use std::sync::Arc;

fn game(n_players: u16) -> HillMatch {
    let mut rules =
        Rules::from_toml(include_str!("../../../assets/hill.toml"), "hill.toml").expect("rules");
    rules.match_rules.duration_s = 3600;
    rules.match_rules.score_to_win_s = 3600;
    rules.match_rules.max_players = 64;
    let mut g = HillMatch::new(
        Arc::new(Spec {
            rules,
            tick_rate: 30,
        }),
        1,
    );
    for id in 1..=n_players {
        g.admit(EntityId(id), None).expect("room");
    }
    g
}

/// Everyone heading for the middle along a slow spiral, shoving.
fn inputs(tick: u32, n: u16) -> Vec<(EntityId, Input)> {
    (1..=n)
        .map(|id| {
            let a = tick as f32 * 0.03 + f32::from(id);
            (EntityId(id), Input::new(a.cos(), a.sin(), true))
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    for n in [16u16, 64] {
        let mut g = game(n);
        for _ in 0..300 {
            g.step(&inputs(g.tick() + 1, n));
        }
        let mut state = Vec::with_capacity(1024);
        let mut out = Vec::with_capacity(1024);
        c.bench_function(&format!("hill/tick/{n}_players"), |b| {
            b.iter(|| {
                let inputs = inputs(g.tick() + 1, n);
                g.step(black_box(&inputs));
                state.clear();
                g.write_state(&mut state);
                for ack in 0..u32::from(n) {
                    out.clear();
                    write_snapshot(g.tick(), ack, &state, &mut out);
                    black_box(&out);
                }
            })
        });
        println!("hill, {n} players: snapshot {} bytes", out.len());
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
