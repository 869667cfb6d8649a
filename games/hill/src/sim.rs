//! The hill's simulation: bodies that move and shove on an open field, and
//! the hill in its middle that a team alone on it holds.
//!
//! Deterministic like the arena's: the same rules, tick rate, seed and
//! inputs give the same states bit for bit on a given build. Randomness
//! (spawn points) comes from one ChaCha8 stream drawn as raw `u64`s.

use crate::rules::Rules;
use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use skirmish_shared::game::{Control, EntityId, TeamId, Tick};
use std::sync::Arc;

/// The two teams' ids.
pub const TEAMS: [TeamId; 2] = [TeamId(0), TeamId(1)];

/// The rules with the tick rate they are stepped at.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// The rules.
    pub rules: Rules,
    /// Steps per second.
    pub tick_rate: u16,
}

impl Spec {
    /// Seconds per tick.
    pub fn dt(&self) -> f32 {
        1.0 / f32::from(self.tick_rate)
    }

    /// Seconds as ticks, rounded up (saturating).
    pub fn ticks(&self, seconds: f32) -> Tick {
        (seconds * f32::from(self.tick_rate))
            .ceil()
            .min(Tick::MAX as f32) as Tick
    }

    /// The centre of the field (and of the hill).
    pub fn centre(&self) -> (f32, f32) {
        (self.rules.field.width / 2.0, self.rules.field.height / 2.0)
    }
}

/// One participant's validated controls for a tick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// Wanted direction, length at most 1.
    pub(crate) move_x: f32,
    pub(crate) move_y: f32,
    /// Shove enemies in reach (when the cooldown allows).
    pub(crate) shove: bool,
}

impl Input {
    /// Controls from values already checked by the wire decoder
    /// (finite, each axis in `-1..=1`); a diagonal is scaled to length 1.
    pub fn new(move_x: f32, move_y: f32, shove: bool) -> Self {
        let len = (move_x * move_x + move_y * move_y).sqrt();
        let scale = if len > 1.0 { 1.0 / len } else { 1.0 };
        Input {
            move_x: move_x * scale,
            move_y: move_y * scale,
            shove,
        }
    }

    /// The wanted direction, length at most 1.
    pub fn direction(&self) -> (f32, f32) {
        (self.move_x, self.move_y)
    }

    /// Whether the shove button is held.
    pub fn shove(&self) -> bool {
        self.shove
    }
}

/// A body on the field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Player {
    /// Stable within the match.
    pub id: EntityId,
    /// Its team.
    pub team: TeamId,
    /// Centre.
    pub x: f32,
    pub y: f32,
    vx: f32,
    vy: f32,
    /// Ticks on the hill while its team held it.
    pub hill_ticks: u32,
    /// Enemies shoved.
    pub shoves: u32,
    next_shove: Tick,
    input: Input,
}

/// A [`World`] as [`World::save`] writes it: everything but the spec, the
/// generator as its seed, stream and position.
#[derive(Serialize, Deserialize)]
struct Saved {
    rng_seed: [u8; 32],
    rng_stream: u64,
    rng_word_pos: u128,
    tick: Tick,
    players: Vec<Player>,
    scores: [u32; 2],
    holder: Option<TeamId>,
}

/// The state of one hill match.
#[derive(Debug)]
pub struct World {
    spec: Arc<Spec>,
    rng: ChaCha8Rng,
    tick: Tick,
    players: Vec<Player>,
    /// Ticks each team held the hill alone.
    scores: [u32; 2],
    holder: Option<TeamId>,
}

impl World {
    /// A match at tick 0 with nobody in it.
    pub fn new(spec: Arc<Spec>, seed: u64) -> Self {
        World {
            spec,
            rng: ChaCha8Rng::seed_from_u64(seed),
            tick: 0,
            players: Vec::new(),
            scores: [0; 2],
            holder: None,
        }
    }

    /// The spec the match runs by.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// The tick the match is at.
    pub fn tick(&self) -> Tick {
        self.tick
    }

    /// Everyone, in join order.
    pub fn players(&self) -> &[Player] {
        &self.players
    }

    /// Ticks each team held the hill alone.
    pub fn scores(&self) -> [u32; 2] {
        self.scores
    }

    /// The team alone on the hill after the last tick.
    pub fn holder(&self) -> Option<TeamId> {
        self.holder
    }

    /// Ticks until the clock runs out.
    pub fn ticks_left(&self) -> Tick {
        let spec = self.spec();
        spec.ticks(spec.rules.match_rules.duration_s as f32)
            .saturating_sub(self.tick)
    }

    /// Why the match is over, if it is.
    pub fn end(&self) -> Option<&'static str> {
        let spec = self.spec();
        let to_win = spec.ticks(spec.rules.match_rules.score_to_win_s as f32);
        if self.scores.iter().any(|&s| s >= to_win) {
            Some("captured")
        } else if self.ticks_left() == 0 {
            Some("time_up")
        } else {
            None
        }
    }

    /// Adds `id` to `team` (or to the smaller team), at a spawn point on
    /// its team's side; `None` if the match is full.
    pub fn add(&mut self, id: EntityId, team: Option<TeamId>) -> Option<TeamId> {
        if let Some(p) = self.players.iter().find(|p| p.id == id) {
            return Some(p.team);
        }
        if self.players.len() >= usize::from(self.spec().rules.match_rules.max_players) {
            return None;
        }
        let team = team.filter(|t| TEAMS.contains(t)).unwrap_or_else(|| {
            let on = |t: TeamId| self.players.iter().filter(|p| p.team == t).count();
            if on(TEAMS[1]) < on(TEAMS[0]) {
                TEAMS[1]
            } else {
                TEAMS[0]
            }
        });
        let (w, h, r) = {
            let rules = &self.spec().rules;
            (rules.field.width, rules.field.height, rules.player.radius)
        };
        // Each team spawns in its fifth of the field, at random heights.
        let (lo, hi) = if team == TEAMS[0] {
            (2.0 * r, w * 0.2)
        } else {
            (w * 0.8, w - 2.0 * r)
        };
        let x = lo + (hi - lo) * unit(&mut self.rng);
        let y = 2.0 * r + (h - 4.0 * r) * unit(&mut self.rng);
        self.players.push(Player {
            id,
            team,
            x,
            y,
            vx: 0.0,
            vy: 0.0,
            hill_ticks: 0,
            shoves: 0,
            next_shove: 0,
            input: Input::default(),
        });
        Some(team)
    }

    /// Takes `id` out of the match.
    pub fn remove(&mut self, id: EntityId) {
        self.players.retain(|p| p.id != id);
    }

    /// Steps one tick: new inputs replace held ones, then velocities,
    /// shoves, movement, bodies pushed apart, and the hill.
    pub fn step(&mut self, inputs: &[Control<Input>]) {
        if self.end().is_some() {
            return;
        }
        self.tick += 1;
        for control in inputs {
            if let Some(p) = self.players.iter_mut().find(|p| p.id == control.id) {
                p.input = control.input;
            }
        }
        let spec = Arc::clone(&self.spec);
        let (rules, dt) = (&spec.rules, spec.dt());
        for p in &mut self.players {
            let (wx, wy) = (
                p.input.move_x * rules.player.max_speed,
                p.input.move_y * rules.player.max_speed,
            );
            let (dx, dy) = (wx - p.vx, wy - p.vy);
            let len = (dx * dx + dy * dy).sqrt();
            let most = rules.player.acceleration * dt;
            let k = if len > most { most / len } else { 1.0 };
            p.vx += dx * k;
            p.vy += dy * k;
        }
        self.shoves(&spec);
        let r = rules.player.radius;
        for p in &mut self.players {
            p.x = (p.x + p.vx * dt).clamp(r, rules.field.width - r);
            p.y = (p.y + p.vy * dt).clamp(r, rules.field.height - r);
        }
        self.separate(r, rules);
        self.score_hill(rules);
    }

    /// Every shover whose cooldown allows pushes each enemy in reach away.
    fn shoves(&mut self, spec: &Spec) {
        let s = &spec.rules.shove;
        let reach = 2.0 * spec.rules.player.radius + s.reach;
        for i in 0..self.players.len() {
            let me = &self.players[i];
            if !me.input.shove || self.tick < me.next_shove {
                continue;
            }
            let (mx, my, team) = (me.x, me.y, me.team);
            let mut hits = 0;
            for other in self.players.iter_mut().filter(|o| o.team != team) {
                let (dx, dy) = (other.x - mx, other.y - my);
                let d = (dx * dx + dy * dy).sqrt();
                if d <= reach {
                    // Bodies on the same spot are pushed along +x.
                    let (ux, uy) = if d > 1e-3 {
                        (dx / d, dy / d)
                    } else {
                        (1.0, 0.0)
                    };
                    other.vx += ux * s.impulse;
                    other.vy += uy * s.impulse;
                    hits += 1;
                }
            }
            let me = &mut self.players[i];
            me.shoves += hits;
            me.next_shove = self.tick.saturating_add(spec.ticks(s.cooldown_s));
        }
    }

    /// One pass pushing overlapping bodies apart, each by half the overlap.
    fn separate(&mut self, r: f32, rules: &Rules) {
        let n = self.players.len();
        for i in 0..n {
            for j in i + 1..n {
                let (dx, dy) = (
                    self.players[j].x - self.players[i].x,
                    self.players[j].y - self.players[i].y,
                );
                let d = (dx * dx + dy * dy).sqrt();
                let overlap = 2.0 * r - d;
                if overlap <= 0.0 {
                    continue;
                }
                let (ux, uy) = if d > 1e-3 {
                    (dx / d, dy / d)
                } else {
                    (1.0, 0.0)
                };
                let half = overlap / 2.0;
                for (idx, sign) in [(i, -1.0), (j, 1.0)] {
                    let p = &mut self.players[idx];
                    p.x = (p.x + sign * ux * half).clamp(r, rules.field.width - r);
                    p.y = (p.y + sign * uy * half).clamp(r, rules.field.height - r);
                }
            }
        }
    }

    /// A team alone on the hill scores the tick, and so do its players on it.
    fn score_hill(&mut self, rules: &Rules) {
        let (cx, cy) = (rules.field.width / 2.0, rules.field.height / 2.0);
        let on_hill = |p: &Player| {
            let (dx, dy) = (p.x - cx, p.y - cy);
            dx * dx + dy * dy <= rules.hill.radius * rules.hill.radius
        };
        let present: Vec<bool> = TEAMS
            .iter()
            .map(|&t| self.players.iter().any(|p| p.team == t && on_hill(p)))
            .collect();
        self.holder = match present.as_slice() {
            [true, false] => Some(TEAMS[0]),
            [false, true] => Some(TEAMS[1]),
            _ => None,
        };
        if let Some(team) = self.holder {
            self.scores[usize::from(team.0)] += 1;
            for p in self
                .players
                .iter_mut()
                .filter(|p| p.team == team && on_hill(p))
            {
                p.hill_ticks += 1;
            }
        }
    }

    /// The team placements: 1 for the higher score, both 1 on a tie.
    pub fn placement(&self, team: TeamId) -> u8 {
        let mine = self.scores[usize::from(team.0)];
        let theirs = self.scores[1 - usize::from(team.0)];
        if mine >= theirs { 1 } else { 2 }
    }

    /// The whole state, to continue later with [`World::restore`].
    pub fn save(&self) -> Vec<u8> {
        let saved = Saved {
            rng_seed: self.rng.get_seed(),
            rng_stream: self.rng.get_stream(),
            rng_word_pos: self.rng.get_word_pos(),
            tick: self.tick,
            players: self.players.clone(),
            scores: self.scores,
            holder: self.holder,
        };
        postcard::to_stdvec(&saved).expect("a world always serialises")
    }

    /// A world from [`World::save`]'s bytes, stepped with `spec`.
    pub fn restore(spec: Arc<Spec>, bytes: &[u8]) -> Result<Self, String> {
        let saved: Saved = postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
        if saved.players.len() > usize::from(spec.rules.match_rules.max_players) {
            return Err("the save has more players than the rules allow".into());
        }
        let mut rng = ChaCha8Rng::from_seed(saved.rng_seed);
        rng.set_stream(saved.rng_stream);
        rng.set_word_pos(saved.rng_word_pos);
        Ok(World {
            spec,
            rng,
            tick: saved.tick,
            players: saved.players,
            scores: saved.scores,
            holder: saved.holder,
        })
    }

    /// A 64-bit FNV-1a hash of everything that evolves, to compare replays.
    pub fn state_hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut mix = |v: u32| {
            for b in v.to_le_bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        mix(self.tick);
        mix(self.scores[0]);
        mix(self.scores[1]);
        mix(self.holder.map_or(u32::MAX, |t| u32::from(t.0)));
        for p in &self.players {
            for v in [p.x, p.y, p.vx, p.vy] {
                mix(v.to_bits());
            }
            mix(u32::from(p.id.0));
            mix(u32::from(p.team.0));
            mix(p.hill_ticks);
            mix(p.shoves);
            mix(p.next_shove);
            mix(p.input.move_x.to_bits());
            mix(p.input.move_y.to_bits());
            mix(u32::from(p.input.shove));
        }
        h
    }
}

/// A uniform number in `0..1` from the raw generator output.
fn unit(rng: &mut ChaCha8Rng) -> f32 {
    (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32
}
