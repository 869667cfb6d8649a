//! How a living player moves in one tick: the one place these rules live.
//! The world steps every player with [`Movement::step`]; the bots predict
//! their own moves with it; the browser's `assets/web/src/movement.js` is
//! its port, held to it bit for bit by shared vectors
//! (`tests/it/movement_vectors.rs`). PROTOCOL.md section 12 says the same
//! in words.

use crate::geom::{Rect, Vec2};

use super::MAX_SLIDE_STEPS;

/// The sizes, speeds, walls and tick length a move needs.
#[derive(Clone, Copy, Debug)]
pub struct Movement<'a> {
    /// The body's radius.
    pub radius: f32,
    /// Top speed, units per second.
    pub max_speed: f32,
    /// How fast the velocity turns towards the wanted one, units/s².
    pub acceleration: f32,
    /// Fraction of the velocity lost per second with no direction held.
    pub friction: f32,
    /// Seconds per tick.
    pub dt: f32,
    /// The arena spans `0..width`.
    pub width: f32,
    /// The arena spans `0..height`.
    pub height: f32,
    /// The walls, in the map's order.
    pub obstacles: &'a [Rect],
}

impl Movement<'_> {
    /// One tick of a living player at `pos` moving at `vel` who wants to go
    /// `dir` (at most 1 long): the velocity turns towards `dir` at top speed
    /// (or friction slows it when `dir` is zero), then the body slides.
    pub fn step(&self, pos: Vec2, vel: Vec2, dir: Vec2) -> (Vec2, Vec2) {
        let mut vel = vel;
        if dir == Vec2::ZERO {
            let drag = (1.0 - self.friction * self.dt).max(0.0);
            vel = vel * drag;
        } else {
            // Steer towards the wanted velocity, at most `acceleration`
            // per second, so turning and stopping feel alike.
            let wanted = dir * self.max_speed;
            vel += (wanted - vel).clamp_length(self.acceleration * self.dt);
        }
        vel = vel.clamp_length(self.max_speed);
        if vel.length_sq() < 1e-4 {
            vel = Vec2::ZERO;
        }
        self.slide(pos, vel)
    }

    /// Moves the body by `vel * dt`, sliding along obstacles and arena
    /// walls. Returns the new position and the velocity with the components
    /// that pushed into a wall removed. The move is cut into steps of at
    /// most half the radius so nothing tunnels through a thin wall, and at
    /// most [`MAX_SLIDE_STEPS`] of them: a move longer than that (faster
    /// than any top speed `GameSpec::new` accepts) is cut short.
    pub fn slide(&self, mut pos: Vec2, mut vel: Vec2) -> (Vec2, Vec2) {
        let radius = self.radius;
        let half_radius = radius * 0.5;
        let travel = (vel * self.dt).clamp_length(MAX_SLIDE_STEPS as f32 * half_radius);
        let n_steps = ((travel.length() / half_radius).ceil() as u32).clamp(1, MAX_SLIDE_STEPS);
        let step = travel * (1.0 / n_steps as f32);
        for _ in 0..n_steps {
            pos += step;
            for obstacle in self.obstacles {
                if let Some(push) = obstacle.push_out_circle(pos, radius) {
                    pos += push;
                    let normal = push * (1.0 / push.length());
                    let into = vel.dot(normal);
                    if into < 0.0 {
                        vel -= normal * into;
                    }
                }
            }
            let (max_x, max_y) = (self.width - radius, self.height - radius);
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
}
