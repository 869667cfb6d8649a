//! [`GameSpec`]: the rules, map and tick rate of a match, checked together,
//! with the per-tick quantities and arena queries the world steps with.

use super::movement::Movement;
use crate::geom::Vec2;
use crate::rules::{AssetError, Map, Rules};
use skirmish_shared::check::InvalidField;
use skirmish_shared::game::TICK_RATE_RANGE;

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

/// The most steps [`GameSpec::slide`] cuts one tick's move into. Each step
/// is at most half a body radius, so nothing tunnels through a thin wall;
/// [`GameSpec::new`] refuses a top speed that would need more steps than
/// this, which bounds the work of a tick.
pub const MAX_SLIDE_STEPS: u32 = 16;

impl GameSpec {
    /// Checks the rules and the map on their own (as [`Rules::validate`] and
    /// [`Map::validate`] do when they are loaded) and together with the tick
    /// rate: the tick rate must be in [`TICK_RATE_RANGE`], and a player at
    /// top speed may cross at most [`MAX_SLIDE_STEPS`] half-radii in one
    /// tick, so [`GameSpec::slide`] never needs more steps than that.
    ///
    /// Projectiles have no such limit: their hits are swept along the whole
    /// segment a tick moves them, so no speed skips a body or a wall.
    pub fn new(rules: Rules, map: Map, tick_rate: u16) -> Result<Self, AssetError> {
        if !TICK_RATE_RANGE.contains(&tick_rate) {
            return Err(AssetError::Invalid(InvalidField {
                file: "(server config)".into(),
                field: "tick_rate".into(),
                reason: format!("must be in {TICK_RATE_RANGE:?}, got {tick_rate}"),
            }));
        }
        rules.validate("(rules)")?;
        map.validate("(map)", &rules)?;
        let p = &rules.player;
        let per_tick = p.max_speed / f32::from(tick_rate);
        let allowed = MAX_SLIDE_STEPS as f32 * p.radius * 0.5;
        if per_tick > allowed {
            return Err(AssetError::Invalid(InvalidField {
                file: "(rules with the server's tick_rate)".into(),
                field: "player.max_speed".into(),
                reason: format!(
                    "{} units/s at {tick_rate} Hz is {per_tick} units a tick; at most {allowed} \
                     ({MAX_SLIDE_STEPS} half-radii) is allowed: lower player.max_speed, raise \
                     player.radius or the tick rate",
                    p.max_speed
                ),
            }));
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
    /// Validated rules keep every duration under `3600 × 128` ticks; a
    /// nonsense value saturates (`as` casts do) rather than wrapping.
    pub fn ticks(&self, seconds: f32) -> u32 {
        ((seconds * f32::from(self.tick_rate)).round() as u32).max(1)
    }

    /// The tick `duration` ticks after `tick`. Saturates, so a deadline
    /// past `u32::MAX` means "never" instead of wrapping to the past.
    pub fn after(tick: u32, duration: u32) -> u32 {
        tick.saturating_add(duration)
    }

    /// The most ticks a shot is judged back in time (lag compensation):
    /// `lag_compensation.max_rewind_ms` in whole ticks, rounded down so no
    /// rewind is longer than the rules allow.
    pub fn rewind_ticks(&self) -> u32 {
        self.rules.lag_compensation.max_rewind_ms * u32::from(self.tick_rate) / 1000
    }

    /// The tick at which the match clock runs out.
    pub fn match_ticks(&self) -> u32 {
        self.rules
            .match_rules
            .duration_s
            .saturating_mul(u32::from(self.tick_rate))
    }

    /// How a body of `radius` moves in this arena (a player's:
    /// [`GameSpec::movement`]).
    pub fn movement_of(&self, radius: f32) -> Movement<'_> {
        let p = &self.rules.player;
        Movement {
            radius,
            max_speed: p.max_speed,
            acceleration: p.acceleration,
            friction: p.friction,
            dt: self.dt(),
            width: self.map.width,
            height: self.map.height,
            obstacles: &self.map.obstacles,
        }
    }

    /// How a player moves in this arena.
    pub fn movement(&self) -> Movement<'_> {
        self.movement_of(self.rules.player.radius)
    }

    /// Moves a circle of `radius` by `vel * dt`, sliding along obstacles and
    /// arena walls ([`Movement::slide`]).
    pub fn slide(&self, pos: Vec2, vel: Vec2, radius: f32) -> (Vec2, Vec2) {
        self.movement_of(radius).slide(pos, vel)
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
