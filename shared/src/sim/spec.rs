//! [`GameSpec`]: the rules, map and tick rate of a match, checked together,
//! with the per-tick quantities and arena queries the world steps with.

use crate::geom::Vec2;
use crate::rules::{AssetError, Map, Rules, TICK_RATE_RANGE};

/// Everything a [`super::World`] needs besides its seed and inputs. Shared by
/// every match of a node behind an `Arc`.
#[derive(Clone, Debug, PartialEq)]
pub struct GameSpec {
    /// The rules.
    pub rules: Rules,
    /// The arena.
    pub map: Map,
    /// Steps per second.
    pub tick_rate: u16,
}

impl GameSpec {
    /// Checks the combination (the tick rate range, and that nothing moves
    /// fast enough to skip a whole body in one tick).
    pub fn new(rules: Rules, map: Map, tick_rate: u16) -> Result<Self, AssetError> {
        if !TICK_RATE_RANGE.contains(&tick_rate) {
            return Err(AssetError::Invalid {
                file: "(server config)".into(),
                field: "tick_rate".into(),
                reason: format!("must be in {TICK_RATE_RANGE:?}, got {tick_rate}"),
            });
        }
        Ok(GameSpec {
            rules,
            map,
            tick_rate,
        })
    }

    /// Seconds per tick.
    pub fn dt(&self) -> f32 {
        1.0 / f32::from(self.tick_rate)
    }

    /// A duration in whole ticks, rounded to the nearest and at least one.
    pub fn ticks(&self, seconds: f32) -> u32 {
        ((seconds * f32::from(self.tick_rate)).round() as u32).max(1)
    }

    /// The tick at which the match clock runs out.
    pub fn match_ticks(&self) -> u32 {
        self.rules.match_rules.duration_s * u32::from(self.tick_rate)
    }

    /// Moves a circle by `vel * dt`, sliding along obstacles and arena walls.
    /// Returns the new position and the velocity with the components that
    /// pushed into a wall removed. The move is cut into steps of at most half
    /// the radius so nothing tunnels through a thin wall.
    pub fn slide(&self, mut pos: Vec2, mut vel: Vec2, radius: f32) -> (Vec2, Vec2) {
        let travel = vel * self.dt();
        let n_steps = (travel.length() / (radius * 0.5)).ceil().max(1.0) as u32;
        let step = travel * (1.0 / n_steps as f32);
        for _ in 0..n_steps {
            pos += step;
            for obstacle in &self.map.obstacles {
                if let Some(push) = obstacle.push_out_circle(pos, radius) {
                    pos += push;
                    let normal = push * (1.0 / push.length());
                    let into = vel.dot(normal);
                    if into < 0.0 {
                        vel -= normal * into;
                    }
                }
            }
            let (max_x, max_y) = (self.map.width - radius, self.map.height - radius);
            if pos.x < radius || pos.x > max_x {
                pos.x = pos.x.clamp(radius, max_x);
                vel.x = 0.0;
            }
            if pos.y < radius || pos.y > max_y {
                pos.y = pos.y.clamp(radius, max_y);
                vel.y = 0.0;
            }
        }
        (pos, vel)
    }

    /// Where along `from..to` a circle of `radius` first meets an obstacle,
    /// as a fraction in `0..=1`; leaving the arena counts as a hit at the end
    /// of the segment.
    pub fn wall_hit(&self, from: Vec2, to: Vec2, radius: f32) -> Option<f32> {
        let mut first = self
            .map
            .obstacles
            .iter()
            .filter_map(|o| o.segment_hit(from, to, radius))
            .min_by(f32::total_cmp);
        let outside = to.x < 0.0 || to.y < 0.0 || to.x > self.map.width || to.y > self.map.height;
        if outside && first.is_none() {
            first = Some(1.0);
        }
        first
    }
}
