//! Plane geometry for the arena: vectors, axis-aligned rectangles and the few
//! intersection tests the simulation needs.
//!
//! Everything is `f32` and uses only IEEE-754 basic operations (`+ - * /` and
//! `sqrt`), which are exactly rounded, so a given build produces bit-identical
//! results from the same inputs. Trigonometry happens once per input, at the
//! edge (see [`Vec2::from_angle`]).

use serde::{Deserialize, Serialize};
use std::ops::{Add, AddAssign, Mul, Neg, Sub, SubAssign};

/// A point or a displacement in arena units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Vec2 {
    /// Horizontal, growing to the right.
    pub x: f32,
    /// Vertical, growing downwards (screen convention).
    pub y: f32,
}

impl Vec2 {
    /// The zero vector.
    pub const ZERO: Vec2 = Vec2 { x: 0.0, y: 0.0 };

    /// A vector from its components.
    pub const fn new(x: f32, y: f32) -> Self {
        Vec2 { x, y }
    }

    /// The unit vector pointing at `angle` radians (0 is +x, π/2 is +y).
    pub fn from_angle(angle: f32) -> Self {
        let (sin, cos) = angle.sin_cos();
        Vec2 { x: cos, y: sin }
    }

    /// The dot product.
    pub fn dot(self, other: Vec2) -> f32 {
        self.x * other.x + self.y * other.y
    }

    /// The squared length; cheaper than [`Vec2::length`] for comparisons.
    pub fn length_sq(self) -> f32 {
        self.dot(self)
    }

    /// The Euclidean length.
    pub fn length(self) -> f32 {
        self.length_sq().sqrt()
    }

    /// This vector scaled down so its length is at most `max`.
    pub fn clamp_length(self, max: f32) -> Vec2 {
        let len_sq = self.length_sq();
        if len_sq > max * max {
            self * (max / len_sq.sqrt())
        } else {
            self
        }
    }

    /// Whether both components are finite (neither NaN nor infinite).
    pub fn is_finite(self) -> bool {
        self.x.is_finite() && self.y.is_finite()
    }
}

impl Add for Vec2 {
    type Output = Vec2;
    fn add(self, rhs: Vec2) -> Vec2 {
        Vec2::new(self.x + rhs.x, self.y + rhs.y)
    }
}

impl AddAssign for Vec2 {
    fn add_assign(&mut self, rhs: Vec2) {
        *self = *self + rhs;
    }
}

impl Sub for Vec2 {
    type Output = Vec2;
    fn sub(self, rhs: Vec2) -> Vec2 {
        Vec2::new(self.x - rhs.x, self.y - rhs.y)
    }
}

impl SubAssign for Vec2 {
    fn sub_assign(&mut self, rhs: Vec2) {
        *self = *self - rhs;
    }
}

impl Mul<f32> for Vec2 {
    type Output = Vec2;
    fn mul(self, rhs: f32) -> Vec2 {
        Vec2::new(self.x * rhs, self.y * rhs)
    }
}

impl Neg for Vec2 {
    type Output = Vec2;
    fn neg(self) -> Vec2 {
        Vec2::new(-self.x, -self.y)
    }
}

/// An axis-aligned rectangle: `x`, `y` is the top-left corner.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rect {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width, positive.
    pub w: f32,
    /// Height, positive.
    pub h: f32,
}

impl Rect {
    /// The right edge.
    pub fn right(&self) -> f32 {
        self.x + self.w
    }

    /// The bottom edge.
    pub fn bottom(&self) -> f32 {
        self.y + self.h
    }

    /// The point of the rectangle (edge or interior) closest to `p`.
    pub fn closest_point(&self, p: Vec2) -> Vec2 {
        Vec2::new(
            p.x.clamp(self.x, self.right()),
            p.y.clamp(self.y, self.bottom()),
        )
    }

    /// Whether a circle overlaps the rectangle.
    pub fn overlaps_circle(&self, center: Vec2, radius: f32) -> bool {
        (center - self.closest_point(center)).length_sq() < radius * radius
    }

    /// The displacement that moves a circle just out of the rectangle, or
    /// `None` when they do not overlap. The displacement is along the normal of
    /// the nearest face, so a circle sliding along a wall keeps its tangential
    /// motion.
    pub fn push_out_circle(&self, center: Vec2, radius: f32) -> Option<Vec2> {
        let closest = self.closest_point(center);
        let delta = center - closest;
        let dist_sq = delta.length_sq();
        if dist_sq >= radius * radius {
            return None;
        }
        if dist_sq > 0.0 {
            let dist = dist_sq.sqrt();
            return Some(delta * ((radius - dist) / dist));
        }
        // The centre is inside the rectangle: leave through the nearest face.
        let to_left = center.x - self.x;
        let to_right = self.right() - center.x;
        let to_top = center.y - self.y;
        let to_bottom = self.bottom() - center.y;
        let min = to_left.min(to_right).min(to_top).min(to_bottom);
        Some(if min == to_left {
            Vec2::new(-(to_left + radius), 0.0)
        } else if min == to_right {
            Vec2::new(to_right + radius, 0.0)
        } else if min == to_top {
            Vec2::new(0.0, -(to_top + radius))
        } else {
            Vec2::new(0.0, to_bottom + radius)
        })
    }

    /// The fraction `t` in `0..=1` of the segment `from + t * (to - from)` at
    /// which a circle of `radius` moving along it first touches the rectangle
    /// (the rectangle grown by `radius`, an approximation at the corners that
    /// errs towards a hit), or `None` when it never does.
    pub fn segment_hit(&self, from: Vec2, to: Vec2, radius: f32) -> Option<f32> {
        let d = to - from;
        let (mut t_min, mut t_max) = (0.0f32, 1.0f32);
        let axes = [
            (from.x, d.x, self.x - radius, self.right() + radius),
            (from.y, d.y, self.y - radius, self.bottom() + radius),
        ];
        for (origin, dir, lo, hi) in axes {
            if dir == 0.0 {
                if origin < lo || origin > hi {
                    return None;
                }
            } else {
                let (a, b) = ((lo - origin) / dir, (hi - origin) / dir);
                let (near, far) = if a < b { (a, b) } else { (b, a) };
                t_min = t_min.max(near);
                t_max = t_max.min(far);
                if t_min > t_max {
                    return None;
                }
            }
        }
        Some(t_min)
    }
}

/// The fraction `t` in `0..=1` of the segment `from + t * (to - from)` at which
/// it first comes within `radius` of `center`, or `None` when it never does.
pub fn segment_circle_hit(from: Vec2, to: Vec2, center: Vec2, radius: f32) -> Option<f32> {
    let d = to - from;
    let f = from - center;
    let c = f.length_sq() - radius * radius;
    if c <= 0.0 {
        return Some(0.0);
    }
    let a = d.length_sq();
    if a == 0.0 {
        return None;
    }
    let b = f.dot(d);
    let disc = b * b - a * c;
    if b >= 0.0 || disc < 0.0 {
        return None;
    }
    let t = (-b - disc.sqrt()) / a;
    (t <= 1.0).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOX: Rect = Rect {
        x: 100.0,
        y: 100.0,
        w: 50.0,
        h: 20.0,
    };

    #[test]
    fn clamp_length_keeps_short_vectors_and_shortens_long_ones() {
        assert_eq!(Vec2::new(0.3, 0.4).clamp_length(1.0), Vec2::new(0.3, 0.4));
        let v = Vec2::new(3.0, 4.0).clamp_length(1.0);
        assert!((v.length() - 1.0).abs() < 1e-6);
        assert!((v.x - 0.6).abs() < 1e-6);
    }

    #[test]
    fn push_out_moves_a_circle_to_the_nearest_face() {
        // Touching the left face from outside, 5 units deep.
        let push = BOX
            .push_out_circle(Vec2::new(85.0, 110.0), 20.0)
            .expect("overlap");
        assert_eq!(push, Vec2::new(-5.0, 0.0));
        // Centre inside, nearest to the top face (2 units in).
        let push = BOX
            .push_out_circle(Vec2::new(125.0, 102.0), 20.0)
            .expect("overlap");
        assert_eq!(push, Vec2::new(0.0, -22.0));
        assert_eq!(BOX.push_out_circle(Vec2::new(0.0, 0.0), 20.0), None);
    }

    #[test]
    fn segment_circle_hit_finds_the_first_contact() {
        let t = segment_circle_hit(
            Vec2::new(0.0, 0.0),
            Vec2::new(100.0, 0.0),
            Vec2::new(50.0, 0.0),
            10.0,
        );
        assert_eq!(t, Some(0.4));
        // Passing beside the circle.
        assert_eq!(
            segment_circle_hit(
                Vec2::ZERO,
                Vec2::new(100.0, 0.0),
                Vec2::new(50.0, 30.0),
                10.0
            ),
            None
        );
        // Moving away from it.
        assert_eq!(
            segment_circle_hit(
                Vec2::new(70.0, 0.0),
                Vec2::new(100.0, 0.0),
                Vec2::new(50.0, 0.0),
                10.0
            ),
            None
        );
        // Stopping short of it.
        assert_eq!(
            segment_circle_hit(Vec2::ZERO, Vec2::new(30.0, 0.0), Vec2::new(50.0, 0.0), 10.0),
            None
        );
    }

    #[test]
    fn segment_hit_finds_entry_into_the_grown_rectangle() {
        let t = BOX.segment_hit(Vec2::new(0.0, 110.0), Vec2::new(200.0, 110.0), 0.0);
        assert_eq!(t, Some(0.5));
        let t = BOX.segment_hit(Vec2::new(0.0, 110.0), Vec2::new(200.0, 110.0), 10.0);
        assert_eq!(t, Some(0.45));
        assert_eq!(
            BOX.segment_hit(Vec2::new(0.0, 0.0), Vec2::new(200.0, 0.0), 4.0),
            None
        );
        assert_eq!(
            BOX.segment_hit(Vec2::new(0.0, 110.0), Vec2::new(50.0, 110.0), 4.0),
            None
        );
    }
}
