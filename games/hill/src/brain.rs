//! The hill's bot: head for a spot on the hill, hold it, and shove enemies
//! who come close. Deterministic for its seed and what it sees.

use crate::sim::Input;
use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};

/// What a bot sees of the field: its own body, the hill, and its enemies.
#[derive(Debug)]
pub struct View<'a> {
    /// Own centre.
    pub me: (f32, f32),
    /// The hill's centre and radius.
    pub hill: ((f32, f32), f32),
    /// Enemy centres.
    pub enemies: &'a [(f32, f32)],
    /// How close (centre to centre) an enemy must be to be shoved.
    pub shove_range: f32,
}

/// One bot's memory.
#[derive(Debug)]
pub struct Brain {
    rng: ChaCha8Rng,
    /// Where on the hill it heads, relative to the centre.
    spot: (f32, f32),
    /// Ticks until it picks another spot.
    retarget_in: u32,
}

impl Brain {
    /// A bot seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Brain {
            rng: ChaCha8Rng::seed_from_u64(seed),
            spot: (0.0, 0.0),
            retarget_in: 0,
        }
    }

    /// This tick's controls.
    pub fn decide(&mut self, view: &View<'_>, tick_rate: u16) -> Input {
        let ((cx, cy), radius) = view.hill;
        if self.retarget_in == 0 {
            // A spot within the inner half of the hill, held for two seconds.
            let a = self.unit() * std::f32::consts::TAU;
            let d = self.unit() * radius * 0.5;
            self.spot = (a.cos() * d, a.sin() * d);
            self.retarget_in = 2 * u32::from(tick_rate);
        }
        self.retarget_in -= 1;
        let (tx, ty) = (cx + self.spot.0, cy + self.spot.1);
        let (dx, dy) = (tx - view.me.0, ty - view.me.1);
        let d = (dx * dx + dy * dy).sqrt();
        let (mx, my) = if d > 5.0 {
            (dx / d, dy / d)
        } else {
            (0.0, 0.0)
        };
        let shove = view.enemies.iter().any(|&(ex, ey)| {
            let (ax, ay) = (ex - view.me.0, ey - view.me.1);
            (ax * ax + ay * ay).sqrt() <= view.shove_range
        });
        Input::new(mx, my, shove)
    }

    fn unit(&mut self) -> f32 {
        (self.rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}
