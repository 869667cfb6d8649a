//! A bot's decision-making: from what a player can see (their own position
//! and the other living players) to that tick's [`Input`].
//!
//! Deterministic for a given seed and sequence of observations, so a bot's
//! play can be replayed, and pure, so headless bots (from snapshots) and a
//! server filling seats (from its own world) can share it.

use crate::geom::Vec2;
use crate::sim::Input;
use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};
use std::f32::consts::PI;

/// How far a bot sees and shoots, in units.
const SHOOT_RANGE: f32 = 600.0;

/// Distance from the arena edge at which a wandering bot turns back.
const EDGE_MARGIN: f32 = 120.0;

/// A wandering, opportunistically shooting bot.
#[derive(Debug)]
pub struct Brain {
    rng: ChaCha8Rng,
    heading: f32,
    /// Decisions left before the heading changes.
    keep_heading: u32,
}

impl Brain {
    /// A bot whose choices follow from `seed`.
    pub fn new(seed: u64) -> Self {
        Brain {
            rng: ChaCha8Rng::seed_from_u64(seed),
            heading: 0.0,
            keep_heading: 0,
        }
    }

    /// A uniform number in `0..1`.
    fn unit(&mut self) -> f32 {
        (self.rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32
    }

    /// Decides one tick's input. `arena` is the arena's size; `enemies` are
    /// the positions of the other living players.
    pub fn decide(
        &mut self,
        me: Vec2,
        arena: Vec2,
        enemies: impl IntoIterator<Item = Vec2>,
        tick_rate: u16,
    ) -> Input {
        let near_edge = me.x < EDGE_MARGIN
            || me.y < EDGE_MARGIN
            || me.x > arena.x - EDGE_MARGIN
            || me.y > arena.y - EDGE_MARGIN;
        if near_edge {
            let to_centre = arena * 0.5 - me;
            self.heading = to_centre.y.atan2(to_centre.x) + (self.unit() - 0.5);
            self.keep_heading = u32::from(tick_rate);
        } else if self.keep_heading == 0 {
            self.heading = (self.unit() * 2.0 - 1.0) * PI;
            self.keep_heading = u32::from(tick_rate) * (1 + self.rng.next_u32() % 3);
        } else {
            self.keep_heading -= 1;
        }
        let nearest = enemies
            .into_iter()
            .map(|p| (p, (p - me).length_sq()))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .filter(|(_, d)| *d < SHOOT_RANGE * SHOOT_RANGE);
        let (aim, fire) = match nearest {
            Some((target, _)) => {
                let d = target - me;
                // A little aim error so not every shot lands.
                (d.y.atan2(d.x) + (self.unit() - 0.5) * 0.2, true)
            }
            None => (self.heading, false),
        };
        let aim = wrap_angle(aim);
        let dir = Vec2::from_angle(self.heading);
        // Values are finite and in range by construction.
        Input::new(dir.x.clamp(-1.0, 1.0), dir.y.clamp(-1.0, 1.0), aim, fire).unwrap_or_default()
    }
}

/// An angle brought into `-π..=π`.
pub fn wrap_angle(a: f32) -> f32 {
    let wrapped = (a + PI).rem_euclid(2.0 * PI) - PI;
    wrapped.clamp(-PI, PI)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_and_observations_give_the_same_inputs() {
        let arena = Vec2::new(2000.0, 2000.0);
        let run = |seed| {
            let mut brain = Brain::new(seed);
            (0..200)
                .map(|t| {
                    let me = Vec2::new(500.0 + t as f32, 700.0);
                    brain.decide(me, arena, [Vec2::new(900.0, 700.0)], 30)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn it_shoots_at_enemies_in_range_and_not_beyond() {
        let mut brain = Brain::new(1);
        let arena = Vec2::new(2000.0, 2000.0);
        let me = Vec2::new(1000.0, 1000.0);
        let input = brain.decide(me, arena, [Vec2::new(1300.0, 1000.0)], 30);
        assert!(input.fire);
        assert!(input.aim.abs() < 0.11, "aims roughly right: {}", input.aim);
        let input = brain.decide(me, arena, [Vec2::new(1700.0, 1000.0)], 30);
        assert!(!input.fire);
    }

    #[test]
    fn near_the_edge_it_heads_back_in() {
        let mut brain = Brain::new(3);
        let input = brain.decide(Vec2::new(30.0, 1000.0), Vec2::new(2000.0, 2000.0), [], 30);
        assert!(input.move_dir.x > 0.8, "{:?}", input.move_dir);
    }

    #[test]
    fn wrap_angle_stays_in_range() {
        for a in [-10.0f32, -PI, 0.0, 3.5, 100.0] {
            let w = wrap_angle(a);
            assert!((-PI..=PI).contains(&w), "{a} -> {w}");
        }
    }
}
