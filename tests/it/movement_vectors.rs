//! The shared test vectors for the browser's prediction:
//! `assets/web/test/vectors/movement.json`, written from the arena's own
//! simulation. Each scenario is the arena's `joined.setup` as the node
//! sends it (MessagePack arrays, as JSON), the tick rate, a player's spawn, 1,000 ticks of
//! stick input (runs in the eight directions and at odd angles, part
//! strokes, and coasting with no key held) and where the node put the
//! player (position and velocity) after each tick. The browser's unit tests
//! (`npm --prefix assets/web test`) replay every input with
//! `assets/web/src/movement.js` and fail on any drift, so prediction cannot
//! part from the rules the node runs. Both scenarios run into arena edges
//! and obstacles and slide along them, which this test checks.
//!
//! This test fails when the file differs from what the code writes now;
//! `SKIRMISH_WRITE_VECTORS=1 cargo nextest run -p skirmish-tests vectors`
//! writes it afresh.

use serde_json::{Value, json};
use skirmish_arena::ArenaMatch;
use skirmish_arena::geom::Vec2;
use skirmish_arena::sim::{GameSpec, Input};
use skirmish_shared::game::{Control, EntityId, Game};
use std::sync::Arc;

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../assets/web/test/vectors/movement.json"
);

/// Ticks per scenario.
const TICKS: usize = 1_000;

/// A small deterministic generator (xorshift), so the vectors are the same
/// on every machine and every version of every crate.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..1`.
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// 1,000 ticks of stick input: runs of 10 to 70 ticks each, in one of the
/// eight key directions (mostly), at an odd angle and strength, or with no
/// key held.
fn inputs(seed: u64) -> Vec<(f32, f32)> {
    let mut rng = Xorshift(seed);
    let mut out = Vec::with_capacity(TICKS);
    while out.len() < TICKS {
        let run = 10 + (rng.next() % 61) as usize;
        let input = match rng.next() % 10 {
            0 => (0.0, 0.0),
            1 | 2 => {
                let angle = rng.unit() * std::f32::consts::TAU;
                let strength = 0.2 + 0.8 * rng.unit();
                (angle.cos() * strength, angle.sin() * strength)
            }
            _ => {
                let keys = [
                    (1.0, 0.0),
                    (1.0, 1.0),
                    (0.0, 1.0),
                    (-1.0, 1.0),
                    (-1.0, 0.0),
                    (-1.0, -1.0),
                    (0.0, -1.0),
                    (1.0, -1.0),
                ];
                keys[(rng.next() % 8) as usize]
            }
        };
        out.extend(std::iter::repeat_n(input, run));
    }
    out.truncate(TICKS);
    out
}

/// Whether a circle at `pos` touches an arena edge, and whether it touches
/// an obstacle (within a unit).
fn contacts(spec: &GameSpec, pos: Vec2) -> (bool, bool) {
    let r = spec.rules.player.radius + 1.0;
    let map = &spec.map;
    let edge = pos.x < r || pos.y < r || pos.x > map.width - r || pos.y > map.height - r;
    let obstacle = map.obstacles.iter().any(|o| o.overlaps_circle(pos, r));
    (edge, obstacle)
}

/// One scenario: a lone player on the arena's map driven by `seed`'s
/// inputs; its states, and how many ticks it spent against an edge and an
/// obstacle.
fn scenario(spec: &Arc<GameSpec>, seed: u64) -> (Value, usize, usize) {
    let mut game = ArenaMatch::new(Arc::clone(spec), seed);
    let id = EntityId(1);
    game.admit(id, None).expect("room for one");
    // The wire form (`joined.setup`'s arrays), for the client's own parser.
    let setup = serde_json::to_value(&game.setup().0).expect("the setup as JSON");
    let start = game.world().player(id).expect("admitted").pos;
    let inputs = inputs(seed);
    let (mut edges, mut obstacles) = (0, 0);
    let states: Vec<[f32; 4]> = inputs
        .iter()
        .map(|&(x, y)| {
            let input = Input::new(x, y, 0.0, false).expect("a valid input");
            game.step(&[Control::new(id, input)]);
            let p = game.world().player(id).expect("still here");
            let (edge, obstacle) = contacts(spec, p.pos);
            edges += usize::from(edge);
            obstacles += usize::from(obstacle);
            [p.pos.x, p.pos.y, p.vel.x, p.vel.y]
        })
        .collect();
    let value = json!({
        "seed": seed,
        "setup": setup,
        "tick_rate": spec.tick_rate,
        "start": [start.x, start.y],
        "inputs": inputs.iter().map(|&(x, y)| [x, y]).collect::<Vec<_>>(),
        "states": states,
    });
    (value, edges, obstacles)
}

fn vectors() -> Value {
    let assets = skirmish_tests::assets_dir();
    let spec = Arc::new(skirmish_arena::load(&assets, 30, None).expect("the arena's files"));
    let scenarios: Vec<Value> = [7, 1_234_567]
        .into_iter()
        .map(|seed| {
            let (value, edges, obstacles) = scenario(&spec, seed);
            assert!(
                edges >= 20 && obstacles >= 20,
                "seed {seed} slides along edges ({edges} ticks) and obstacles ({obstacles})"
            );
            value
        })
        .collect();
    json!({ "scenarios": scenarios })
}

#[test]
fn the_browser_movement_vectors_are_what_the_arena_computes() {
    crate::vectors::committed_as_written(PATH, &vectors());
}
