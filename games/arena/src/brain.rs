//! A bot's decision-making: from what a player can see (their own position
//! and the other living players) to that tick's [`Input`].
//!
//! Deterministic for a given seed and sequence of observations, so a bot's
//! play can be replayed, and pure, so headless bots (from snapshots) and a
//! server filling seats (from its own world) share it. Bots aim with the
//! simulation's own geometry: they hold fire when a wall is in the way.

use crate::geom::{Rect, Vec2};
use crate::rules::Map;
use crate::sim::Input;
use crate::wire::MapView;
use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};
use std::f32::consts::{FRAC_PI_2, PI};

/// How far a bot sees and shoots, in units.
const SHOOT_RANGE: f32 = 600.0;

/// Distance from the arena edge at which a wandering bot turns back.
const EDGE_MARGIN: f32 = 120.0;

/// How far ahead a bot looks for walls in its way.
const LOOK_AHEAD: f32 = 80.0;

/// The body radius bots steer with (the shipped rules' player radius).
const BODY_RADIUS: f32 = 20.0;

/// How an aggressive bot keeps its distance while fighting.
const CLOSE_IN: f32 = 250.0;

/// How a bot plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Behavior {
    /// Roams at random and shoots whoever comes into range.
    Wander,
    /// Hunts the nearest player, circling them at close range.
    Aggressive,
    /// Walks to a spot of its choosing and holds it.
    Camper,
}

impl Behavior {
    /// Every behaviour, for mixing.
    pub const ALL: [Behavior; 3] = [Behavior::Wander, Behavior::Aggressive, Behavior::Camper];
}

/// What a bot knows of the arena: its size and walls.
#[derive(Clone, Debug, PartialEq)]
pub struct Arena {
    /// Width and height.
    pub size: Vec2,
    /// Walls.
    pub obstacles: Vec<Rect>,
}

impl Arena {
    /// From the server's own map.
    pub fn of_map(map: &Map) -> Self {
        Arena {
            size: Vec2::new(map.width, map.height),
            obstacles: map.obstacles.clone(),
        }
    }

    /// From the map a client receives in `joined`.
    pub fn of_view(map: &MapView) -> Self {
        Arena {
            size: Vec2::new(map.width, map.height),
            obstacles: map
                .obstacles
                .iter()
                .map(|&[x, y, w, h]| Rect { x, y, w, h })
                .collect(),
        }
    }

    /// Whether a circle of `radius` travels from `from` to `to` without
    /// touching a wall.
    pub fn clear(&self, from: Vec2, to: Vec2, radius: f32) -> bool {
        self.obstacles
            .iter()
            .all(|o| o.segment_hit(from, to, radius).is_none())
    }

    fn inside(&self, p: Vec2, margin: f32) -> bool {
        p.x >= margin && p.y >= margin && p.x <= self.size.x - margin && p.y <= self.size.y - margin
    }
}

/// One bot's mind.
#[derive(Debug)]
pub struct Brain {
    behavior: Behavior,
    rng: ChaCha8Rng,
    heading: f32,
    /// Decisions left before the heading changes.
    keep_heading: u32,
    /// Which way an aggressive bot circles its target.
    circle: f32,
    /// A camper's chosen spot.
    post: Option<Vec2>,
}

impl Brain {
    /// A bot of the given behaviour whose choices follow from `seed`.
    pub fn new(behavior: Behavior, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let circle = if rng.next_u32() % 2 == 0 { 1.0 } else { -1.0 };
        Brain {
            behavior,
            rng,
            heading: 0.0,
            keep_heading: 0,
            circle,
            post: None,
        }
    }

    /// The behaviour.
    pub fn behavior(&self) -> Behavior {
        self.behavior
    }

    /// A uniform number in `0..1`.
    fn unit(&mut self) -> f32 {
        (self.rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32
    }

    /// Decides one tick's input. `enemies` are the positions of the other
    /// living players.
    pub fn decide(&mut self, me: Vec2, arena: &Arena, enemies: &[Vec2], tick_rate: u16) -> Input {
        let nearest = enemies
            .iter()
            .map(|&p| (p, (p - me).length_sq()))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(p, d)| (p, d.sqrt()));
        let wanted = match self.behavior {
            Behavior::Wander => Some(self.wander(me, arena, tick_rate)),
            Behavior::Aggressive => match nearest {
                Some((target, dist)) => {
                    let to = target - me;
                    let toward = to.y.atan2(to.x);
                    Some(if dist > CLOSE_IN {
                        toward
                    } else {
                        toward + self.circle * FRAC_PI_2
                    })
                }
                None => Some(self.wander(me, arena, tick_rate)),
            },
            Behavior::Camper => {
                let post = match self.post {
                    Some(post) => post,
                    None => self.choose_post(arena),
                };
                let to = post - me;
                (to.length() > BODY_RADIUS).then(|| to.y.atan2(to.x))
            }
        };
        let move_dir = match wanted {
            Some(angle) => self.steer(me, arena, angle),
            None => Vec2::ZERO,
        };
        // Shoot the nearest enemy in range with a clear line, with a little
        // aim error so not every shot lands.
        let target = nearest.filter(|&(p, d)| d < SHOOT_RANGE && arena.clear(me, p, 4.0));
        let (aim, fire) = match target {
            Some((p, _)) => {
                let d = p - me;
                (d.y.atan2(d.x) + (self.unit() - 0.5) * 0.2, true)
            }
            None => (wanted.unwrap_or(self.heading), false),
        };
        // Values are finite and in range by construction.
        Input::new(
            move_dir.x.clamp(-1.0, 1.0),
            move_dir.y.clamp(-1.0, 1.0),
            wrap_angle(aim),
            fire,
        )
        .unwrap_or_default()
    }

    /// A heading that changes every few seconds and turns back from edges.
    fn wander(&mut self, me: Vec2, arena: &Arena, tick_rate: u16) -> f32 {
        if !arena.inside(me, EDGE_MARGIN) {
            let to_centre = arena.size * 0.5 - me;
            self.heading = to_centre.y.atan2(to_centre.x) + (self.unit() - 0.5);
            self.keep_heading = u32::from(tick_rate);
        } else if self.keep_heading == 0 {
            self.heading = (self.unit() * 2.0 - 1.0) * PI;
            self.keep_heading = u32::from(tick_rate) * (1 + self.rng.next_u32() % 3);
        } else {
            self.keep_heading -= 1;
        }
        self.heading
    }

    /// A direction close to `angle` that is not straight into a wall.
    fn steer(&mut self, me: Vec2, arena: &Arena, angle: f32) -> Vec2 {
        for turn in [
            0.0,
            FRAC_PI_2 * 0.5,
            -FRAC_PI_2 * 0.5,
            FRAC_PI_2,
            -FRAC_PI_2,
        ] {
            let dir = Vec2::from_angle(angle + turn * self.circle);
            if arena.clear(me, me + dir * LOOK_AHEAD, BODY_RADIUS) {
                return dir;
            }
        }
        // Boxed in: try a random way out next time.
        self.keep_heading = 0;
        Vec2::from_angle(angle + PI)
    }

    /// A random open spot away from the edges.
    fn choose_post(&mut self, arena: &Arena) -> Vec2 {
        let margin = EDGE_MARGIN * 2.0;
        let mut spot = arena.size * 0.5;
        for _ in 0..32 {
            let candidate = Vec2::new(
                margin + self.unit() * (arena.size.x - 2.0 * margin).max(0.0),
                margin + self.unit() * (arena.size.y - 2.0 * margin).max(0.0),
            );
            if arena
                .obstacles
                .iter()
                .all(|o| !o.overlaps_circle(candidate, BODY_RADIUS * 2.0))
            {
                spot = candidate;
                break;
            }
        }
        self.post = Some(spot);
        spot
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

    fn open() -> Arena {
        Arena {
            size: Vec2::new(2000.0, 2000.0),
            obstacles: Vec::new(),
        }
    }

    #[test]
    fn the_same_seed_and_observations_give_the_same_inputs() {
        for behavior in Behavior::ALL {
            let run = |seed| {
                let mut brain = Brain::new(behavior, seed);
                (0..200)
                    .map(|t| {
                        brain.decide(
                            Vec2::new(500.0 + t as f32, 700.0),
                            &open(),
                            &[Vec2::new(900.0, 700.0)],
                            30,
                        )
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(run(5), run(5), "{behavior:?}");
            assert_ne!(run(5), run(6), "{behavior:?}");
        }
    }

    #[test]
    fn it_shoots_at_enemies_in_range_and_not_beyond() {
        let mut brain = Brain::new(Behavior::Wander, 1);
        let me = Vec2::new(1000.0, 1000.0);
        let input = brain.decide(me, &open(), &[Vec2::new(1300.0, 1000.0)], 30);
        assert!(input.fire());
        assert!(
            input.aim().abs() < 0.11,
            "aims roughly right: {}",
            input.aim()
        );
        let input = brain.decide(me, &open(), &[Vec2::new(1700.0, 1000.0)], 30);
        assert!(!input.fire());
    }

    #[test]
    fn it_holds_fire_when_a_wall_is_in_the_way() {
        let walled = Arena {
            size: Vec2::new(2000.0, 2000.0),
            obstacles: vec![Rect {
                x: 1100.0,
                y: 900.0,
                w: 40.0,
                h: 200.0,
            }],
        };
        let mut brain = Brain::new(Behavior::Camper, 1);
        let input = brain.decide(
            Vec2::new(1000.0, 1000.0),
            &walled,
            &[Vec2::new(1300.0, 1000.0)],
            30,
        );
        assert!(!input.fire());
    }

    #[test]
    fn aggressive_bots_close_in_and_wanderers_turn_back_from_edges() {
        let mut hunter = Brain::new(Behavior::Aggressive, 2);
        let input = hunter.decide(
            Vec2::new(500.0, 1000.0),
            &open(),
            &[Vec2::new(1400.0, 1000.0)],
            30,
        );
        assert!(
            input.move_dir().x > 0.9,
            "heads for the target: {:?}",
            input.move_dir()
        );
        let mut wanderer = Brain::new(Behavior::Wander, 3);
        let input = wanderer.decide(Vec2::new(30.0, 1000.0), &open(), &[], 30);
        assert!(input.move_dir().x > 0.8, "{:?}", input.move_dir());
    }

    #[test]
    fn campers_reach_their_post_and_stay() {
        let mut camper = Brain::new(Behavior::Camper, 4);
        let arena = open();
        let mut me = Vec2::new(1000.0, 1000.0);
        for _ in 0..600 {
            let input = camper.decide(me, &arena, &[], 30);
            me += input.move_dir() * 10.0;
        }
        let input = camper.decide(me, &arena, &[], 30);
        assert_eq!(input.move_dir(), Vec2::ZERO, "holding the post at {me:?}");
    }

    #[test]
    fn wrap_angle_stays_in_range() {
        for a in [-10.0f32, -PI, 0.0, 3.5, 100.0] {
            let w = wrap_angle(a);
            assert!((-PI..=PI).contains(&w), "{a} -> {w}");
        }
    }
}
