//! The authoritative game simulation: a [`World`] stepped one tick at a time
//! with that tick's inputs, returning what happened as [`Event`]s.
//!
//! The world knows nothing of time, sockets or threads. Given the same
//! [`GameSpec`], seed and input stream it produces the same states bit for bit
//! on a given build, which is what makes a match replayable from its seed; the
//! [`World::state_hash`] of two replays is compared in the tests.
//!
//! Randomness comes from one ChaCha8 stream seeded per match. Indices are drawn
//! from its raw `u64` output (see `pick`) rather than through `rand`'s
//! distributions, whose exact algorithms may change between `rand` releases.

mod history;
mod movement;
mod spec;

pub use history::{History, Past};
pub use movement::Movement;
pub use spec::{GameSpec, MAX_SLIDE_STEPS};

use crate::geom::{Vec2, segment_circle_hit};
use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
pub use skirmish_shared::game::{Control, EntityId, InputError, Tick};
use std::sync::Arc;

/// What one player asks for during a tick, already validated: the move vector
/// is no longer than 1 and the aim is a finite angle in `-π..=π`.
///
/// The fields are private so that [`Input::new`] (which checks them) and
/// [`Input::default`] (standing still) are the only ways to make one: no
/// client number reaches the simulation unchecked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// Desired direction of travel; its length (at most 1) scales acceleration.
    move_dir: Vec2,
    /// Facing angle in radians; 0 is +x, π/2 is +y (down).
    aim: f32,
    /// Whether the trigger is held; a shot leaves whenever the cooldown allows.
    fire: bool,
}

/// How far past a range limit a value may be and still count as rounding
/// error; such values are clamped rather than refused.
const RANGE_SLACK: f32 = 1e-3;

impl Input {
    /// Validates raw client values: each move axis in `-1..=1`, the aim in
    /// `-π..=π`, all finite. A diagonal move longer than 1 is scaled to 1 so
    /// moving diagonally is not faster.
    pub fn new(move_x: f32, move_y: f32, aim: f32, fire: bool) -> Result<Self, InputError> {
        let axis = |v: f32, name: &'static str| {
            if !v.is_finite() {
                Err(InputError::NotFinite(name))
            } else if v.abs() > 1.0 + RANGE_SLACK {
                Err(InputError::OutOfRange(name))
            } else {
                Ok(v.clamp(-1.0, 1.0))
            }
        };
        let move_dir =
            Vec2::new(axis(move_x, "move_x")?, axis(move_y, "move_y")?).clamp_length(1.0);
        if !aim.is_finite() {
            return Err(InputError::NotFinite("aim"));
        }
        if aim.abs() > std::f32::consts::PI + RANGE_SLACK {
            return Err(InputError::OutOfRange("aim"));
        }
        Ok(Input {
            move_dir,
            aim: aim.clamp(-std::f32::consts::PI, std::f32::consts::PI),
            fire,
        })
    }

    /// The desired direction of travel, no longer than 1.
    pub fn move_dir(&self) -> Vec2 {
        self.move_dir
    }

    /// The facing angle in radians, in `-π..=π`.
    pub fn aim(&self) -> f32 {
        self.aim
    }

    /// Whether the trigger is held.
    pub fn fire(&self) -> bool {
        self.fire
    }

    /// The same controls with the trigger held or not; a trigger is a
    /// plain bool, so this cannot make an invalid input.
    pub fn with_fire(self, fire: bool) -> Input {
        Input { fire, ..self }
    }
}

/// One player in the world.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Player {
    /// Stable within the match.
    pub id: EntityId,
    /// Centre of the body.
    pub pos: Vec2,
    /// Units per second.
    pub vel: Vec2,
    /// Facing angle in radians, from the latest input.
    pub aim: f32,
    /// 0 while dead.
    pub health: u8,
    /// Dead players neither move, shoot nor get hit, and wait for `respawn_at`.
    pub alive: bool,
    /// Kills scored this match.
    pub kills: u32,
    /// Times killed this match.
    pub deaths: u32,
    /// Points this match (one per kill in v1).
    pub score: u32,
    /// The tick at which a dead player comes back.
    respawn_at: Tick,
    /// The first tick at which this player may fire again.
    next_fire: Tick,
    /// The latest input, held until the next one arrives.
    input: Input,
    /// How many ticks behind its sender saw the world (lag compensation):
    /// shots the input fires are judged that far back.
    rewind: Tick,
}

/// A shot in flight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Projectile {
    /// Wraps at `u16::MAX`; far more than can be alive at once.
    pub id: u16,
    /// Who fired it; credited with the kill.
    pub owner: EntityId,
    /// Current centre.
    pub pos: Vec2,
    /// Units per second.
    pub vel: Vec2,
    /// Where it left the muzzle.
    pub origin: Vec2,
    /// The tick it was fired in (it moves in that tick already).
    pub fired: Tick,
    /// The tick after which it vanishes.
    expires: Tick,
    /// Lag compensation: it hits players where they were this many ticks
    /// before each tick of its flight (where its shooter saw them).
    pub rewind: Tick,
}

/// A health pack spot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthPack {
    /// Fixed by the map.
    pub pos: Vec2,
    /// `None` while the pack is there to pick up; otherwise when it returns.
    pub respawn_at: Option<Tick>,
}

impl HealthPack {
    /// Whether it can be picked up now.
    pub fn available(&self) -> bool {
        self.respawn_at.is_none()
    }
}

/// Why a match ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndReason {
    /// The match clock ran out.
    TimeUp,
    /// A player reached the kill limit.
    KillLimit,
}

/// Something that happened during a step, for clients and the match runner.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A projectile hit a player who survived or died of it.
    Hit {
        /// The player hit.
        target: EntityId,
        /// Who fired.
        attacker: EntityId,
        /// Health removed.
        damage: u8,
    },
    /// A player died.
    Kill {
        /// Who fired the last shot.
        killer: EntityId,
        /// Who died.
        victim: EntityId,
    },
    /// A player picked up a health pack.
    Pickup {
        /// Who picked it up.
        player: EntityId,
        /// Index into the map's health packs.
        pack: u8,
    },
    /// A dead player came back.
    Respawn {
        /// Who came back.
        player: EntityId,
    },
    /// The match is over; later steps change nothing.
    MatchEnd {
        /// Why.
        reason: EndReason,
    },
}

/// A player's final line in the results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    /// Who.
    pub id: EntityId,
    /// 1 is best; players tied on score and deaths share a placement.
    pub placement: u8,
    /// Kills scored.
    pub kills: u32,
    /// Times killed.
    pub deaths: u32,
    /// Points.
    pub score: u32,
}

/// Why a player could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The match has `max_players` already.
    #[error("the match is full")]
    Full,
    /// The id is taken in this match.
    #[error("the player is already in the match")]
    Duplicate,
    /// The match has ended.
    #[error("the match is over")]
    Over,
}

/// A [`World`] as [`World::save`] writes it: everything but the spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    rng_seed: [u8; 32],
    rng_stream: u64,
    rng_word_pos: u128,
    tick: Tick,
    players: Vec<Player>,
    projectiles: Vec<Projectile>,
    packs: Vec<HealthPack>,
    next_projectile: u16,
    outcome: Option<EndReason>,
    history: History,
}

/// The state of one match.
#[derive(Debug)]
pub struct World {
    spec: Arc<GameSpec>,
    rng: ChaCha8Rng,
    tick: Tick,
    /// In the order they joined; at most `max_players`.
    players: Vec<Player>,
    projectiles: Vec<Projectile>,
    packs: Vec<HealthPack>,
    next_projectile: u16,
    outcome: Option<EndReason>,
    /// The players after each of the last [`GameSpec::rewind_ticks`]
    /// steps, for lag compensation.
    history: History,
}

impl World {
    /// A new match at tick 0 with no players.
    pub fn new(spec: Arc<GameSpec>, seed: u64) -> Self {
        let packs = spec
            .map
            .health_packs
            .iter()
            .map(|&pos| HealthPack {
                pos,
                respawn_at: None,
            })
            .collect();
        World {
            spec,
            rng: ChaCha8Rng::seed_from_u64(seed),
            tick: 0,
            players: Vec::new(),
            projectiles: Vec::new(),
            packs,
            next_projectile: 0,
            outcome: None,
            history: History::default(),
        }
    }

    /// The rules, map and tick rate this world runs with.
    pub fn spec(&self) -> &GameSpec {
        &self.spec
    }

    /// The last tick stepped (0 before the first step).
    pub fn tick(&self) -> Tick {
        self.tick
    }

    /// Players in the order they joined.
    pub fn players(&self) -> &[Player] {
        &self.players
    }

    /// One player by id.
    pub fn player(&self, id: EntityId) -> Option<&Player> {
        self.players.iter().find(|p| p.id == id)
    }

    /// Shots in flight.
    pub fn projectiles(&self) -> &[Projectile] {
        &self.projectiles
    }

    /// Health pack spots, in map order.
    pub fn health_packs(&self) -> &[HealthPack] {
        &self.packs
    }

    /// Why the match ended, once it has.
    pub fn outcome(&self) -> Option<EndReason> {
        self.outcome
    }

    /// Ticks left on the match clock.
    pub fn ticks_left(&self) -> Tick {
        self.spec.match_ticks().saturating_sub(self.tick)
    }

    /// Adds a player at a spawn point chosen with the match RNG.
    pub fn add_player(&mut self, id: EntityId) -> Result<&Player, JoinError> {
        if self.outcome.is_some() {
            return Err(JoinError::Over);
        }
        if self.players.iter().any(|p| p.id == id) {
            return Err(JoinError::Duplicate);
        }
        if self.players.len() >= usize::from(self.spec.rules.match_rules.max_players) {
            return Err(JoinError::Full);
        }
        let pos = self.spawn_point();
        self.players.push(Player {
            id,
            pos,
            vel: Vec2::ZERO,
            aim: 0.0,
            health: self.spec.rules.player.max_health,
            alive: true,
            kills: 0,
            deaths: 0,
            score: 0,
            respawn_at: 0,
            next_fire: 0,
            input: Input::default(),
            rewind: 0,
        });
        Ok(&self.players[self.players.len() - 1])
    }

    /// Removes a player; their shots in flight stay and can still hit.
    pub fn remove_player(&mut self, id: EntityId) -> bool {
        let before = self.players.len();
        self.players.retain(|p| p.id != id);
        self.players.len() != before
    }

    /// Advances the world to `tick` (which must be the next one) with the
    /// inputs received for it, appending what happened to `events`. A player
    /// without an input this tick keeps their previous one (and how far back
    /// it was seen). Unknown ids are ignored. After the match has ended this
    /// does nothing.
    pub fn step(&mut self, tick: Tick, inputs: &[Control<Input>], events: &mut Vec<Event>) {
        debug_assert_eq!(
            Some(tick),
            self.tick.checked_add(1),
            "ticks are stepped in order"
        );
        if self.outcome.is_some() {
            return;
        }
        self.tick = tick;
        for control in inputs {
            if let Some(p) = self.players.iter_mut().find(|p| p.id == control.id) {
                p.input = control.input;
                p.aim = control.input.aim;
                // Past the limit the history holds nothing, and the shot is
                // judged now (`first_body`).
                p.rewind = control.rewind;
            }
        }
        self.respawn_players(events);
        self.respawn_packs();
        self.move_players();
        self.fire();
        self.move_projectiles(events);
        self.pick_up(events);
        self.check_end(events);
        self.history
            .record(&self.players, self.spec.rewind_ticks() as usize);
    }

    fn respawn_players(&mut self, events: &mut Vec<Event>) {
        for i in 0..self.players.len() {
            let p = &self.players[i];
            if p.alive || p.respawn_at > self.tick {
                continue;
            }
            let pos = self.spawn_point();
            let p = &mut self.players[i];
            p.pos = pos;
            p.vel = Vec2::ZERO;
            p.health = self.spec.rules.player.max_health;
            p.alive = true;
            events.push(Event::Respawn { player: p.id });
        }
    }

    fn respawn_packs(&mut self) {
        for pack in &mut self.packs {
            if pack.respawn_at.is_some_and(|t| t <= self.tick) {
                pack.respawn_at = None;
            }
        }
    }

    fn move_players(&mut self) {
        let spec = Arc::clone(&self.spec);
        let movement = spec.movement();
        for p in self.players.iter_mut().filter(|p| p.alive) {
            (p.pos, p.vel) = movement.step(p.pos, p.vel, p.input.move_dir);
        }
    }

    fn fire(&mut self) {
        let rules = &self.spec.rules;
        let cooldown = self.spec.ticks(rules.projectile.cooldown_s);
        let expires = GameSpec::after(self.tick, self.spec.ticks(rules.projectile.life_s));
        let muzzle = rules.player.radius + rules.projectile.radius + 1.0;
        for p in self.players.iter_mut() {
            if !p.alive || !p.input.fire || self.tick < p.next_fire {
                continue;
            }
            p.next_fire = GameSpec::after(self.tick, cooldown);
            let dir = Vec2::from_angle(p.input.aim);
            self.projectiles.push(Projectile {
                id: self.next_projectile,
                owner: p.id,
                pos: p.pos + dir * muzzle,
                vel: dir * rules.projectile.speed,
                origin: p.pos + dir * muzzle,
                fired: self.tick,
                expires,
                rewind: p.rewind,
            });
            self.next_projectile = self.next_projectile.wrapping_add(1);
        }
    }

    fn move_projectiles(&mut self, events: &mut Vec<Event>) {
        let spec = Arc::clone(&self.spec);
        let rules = &spec.rules;
        let dt = spec.dt();
        let hit_radius = rules.player.radius + rules.projectile.radius;
        let mut i = 0;
        while i < self.projectiles.len() {
            let shot = &self.projectiles[i];
            let from = shot.pos;
            let to = from + shot.vel * dt;
            // The earliest wall and the earliest body along this tick's path.
            let wall_t = spec.wall_hit(from, to, rules.projectile.radius);
            let body = self
                .first_body(shot, from, to, hit_radius)
                .filter(|&(t, _)| wall_t.is_none_or(|w| t <= w));
            if let Some((_, j)) = body {
                let attacker = shot.owner;
                self.projectiles.swap_remove(i);
                self.damage(j, attacker, rules.projectile.damage, events);
            } else if wall_t.is_some() || self.tick >= self.projectiles[i].expires {
                self.projectiles.swap_remove(i);
            } else {
                self.projectiles[i].pos = to;
                i += 1;
            }
        }
        // swap_remove shuffles; keep a stable order so snapshots and hashes
        // do not depend on removal history more than they must.
        self.projectiles
            .sort_unstable_by_key(|s| s.id.wrapping_sub(self.next_projectile));
    }

    /// The first body a shot meets moving from `from` to `to` this tick, as
    /// its distance along the way (0 to 1) and the player's index. Bodies
    /// are where they are now, or for a lag-compensated shot where they
    /// were `shot.rewind` steps ago; either way only players alive both
    /// then and now can be hit (nobody dies twice, nor is hit before their
    /// respawn). A shot rewinding further than the history holds (past the
    /// rules' limit, which is its depth) is judged now.
    fn first_body(
        &self,
        shot: &Projectile,
        from: Vec2,
        to: Vec2,
        radius: f32,
    ) -> Option<(f32, usize)> {
        let past = self.history.back(shot.rewind);
        let mut body: Option<(f32, usize)> = None;
        let mut consider = |t: Option<f32>, j: usize| {
            if let Some(t) = t
                && body.is_none_or(|(best, _)| t < best)
            {
                body = Some((t, j));
            }
        };
        let hittable = |id: EntityId| id != shot.owner;
        match past {
            Some(past) if shot.rewind > 0 => {
                for (k, was) in past.iter().enumerate() {
                    if !was.alive || !hittable(was.id) {
                        continue;
                    }
                    // Players keep their order between steps unless one
                    // joined or left since: look further only then.
                    let j = if self.players.get(k).is_some_and(|p| p.id == was.id) {
                        Some(k)
                    } else {
                        self.players.iter().position(|p| p.id == was.id)
                    };
                    if let Some(j) = j.filter(|&j| self.players[j].alive) {
                        consider(segment_circle_hit(from, to, was.pos, radius), j);
                    }
                }
            }
            _ => {
                for (j, p) in self.players.iter().enumerate() {
                    if p.alive && hittable(p.id) {
                        consider(segment_circle_hit(from, to, p.pos, radius), j);
                    }
                }
            }
        }
        body
    }

    fn damage(
        &mut self,
        target_idx: usize,
        attacker: EntityId,
        damage: u8,
        events: &mut Vec<Event>,
    ) {
        let respawn_at =
            GameSpec::after(self.tick, self.spec.ticks(self.spec.rules.player.respawn_s));
        let target = &mut self.players[target_idx];
        let dealt = damage.min(target.health);
        target.health -= dealt;
        let victim = target.id;
        events.push(Event::Hit {
            target: victim,
            attacker,
            damage: dealt,
        });
        if target.health > 0 {
            return;
        }
        target.alive = false;
        target.vel = Vec2::ZERO;
        target.deaths += 1;
        target.respawn_at = respawn_at;
        if let Some(killer) = self.players.iter_mut().find(|p| p.id == attacker) {
            killer.kills += 1;
            killer.score += 1;
        }
        events.push(Event::Kill {
            killer: attacker,
            victim,
        });
    }

    fn pick_up(&mut self, events: &mut Vec<Event>) {
        let rules = &self.spec.rules;
        let reach = rules.player.radius + rules.health_pack.radius;
        let back_at = GameSpec::after(self.tick, self.spec.ticks(rules.health_pack.respawn_s));
        for (idx, pack) in self.packs.iter_mut().enumerate() {
            if !pack.available() {
                continue;
            }
            let taker = self.players.iter_mut().find(|p| {
                p.alive
                    && p.health < rules.player.max_health
                    && (p.pos - pack.pos).length_sq() < reach * reach
            });
            if let Some(p) = taker {
                p.health = p
                    .health
                    .saturating_add(rules.health_pack.heal)
                    .min(rules.player.max_health);
                pack.respawn_at = Some(back_at);
                // Maps hold at most 255 packs (checked when loaded).
                events.push(Event::Pickup {
                    player: p.id,
                    pack: idx as u8,
                });
            }
        }
    }

    fn check_end(&mut self, events: &mut Vec<Event>) {
        let kill_limit = self.spec.rules.match_rules.kill_limit;
        let reason = if self.players.iter().any(|p| p.kills >= kill_limit) {
            EndReason::KillLimit
        } else if self.tick >= self.spec.match_ticks() {
            EndReason::TimeUp
        } else {
            return;
        };
        self.outcome = Some(reason);
        events.push(Event::MatchEnd { reason });
    }

    /// A spawn point away from living players where possible, chosen with the
    /// match RNG.
    fn spawn_point(&mut self) -> Vec2 {
        let spawns = &self.spec.map.spawns;
        let clearance = self.spec.rules.player.radius * 4.0;
        let free: Vec<Vec2> = spawns
            .iter()
            .copied()
            .filter(|s| {
                self.players
                    .iter()
                    .all(|p| !p.alive || (p.pos - *s).length_sq() > clearance * clearance)
            })
            .collect();
        let choices = if free.is_empty() {
            spawns.as_slice()
        } else {
            free.as_slice()
        };
        choices[pick(&mut self.rng, choices.len())]
    }

    /// The final standings: by score, then fewer deaths; equal players share
    /// a placement (1, 2, 2, 4).
    pub fn standings(&self) -> Vec<Standing> {
        let mut order: Vec<&Player> = self.players.iter().collect();
        order.sort_by(|a, b| b.score.cmp(&a.score).then(a.deaths.cmp(&b.deaths)));
        let mut standings: Vec<Standing> = Vec::with_capacity(order.len());
        for (i, p) in order.iter().enumerate() {
            let placement = match standings.last() {
                Some(prev) if prev.score == p.score && prev.deaths == p.deaths => prev.placement,
                // At most 64 players, so the index fits.
                _ => (i + 1) as u8,
            };
            standings.push(Standing {
                id: p.id,
                placement,
                kills: p.kills,
                deaths: p.deaths,
                score: p.score,
            });
        }
        standings
    }

    /// Everything that evolves, to continue the match later with
    /// [`World::restore`] exactly as if it had never stopped.
    pub fn save(&self) -> Saved {
        Saved {
            rng_seed: self.rng.get_seed(),
            rng_stream: self.rng.get_stream(),
            rng_word_pos: self.rng.get_word_pos(),
            tick: self.tick,
            players: self.players.clone(),
            projectiles: self.projectiles.clone(),
            packs: self.packs.clone(),
            next_projectile: self.next_projectile,
            outcome: self.outcome,
            history: self.history.clone(),
        }
    }

    /// The world [`World::save`] saved, with `spec` (which the save does
    /// not hold: every match of a node shares it). A save is the node's own
    /// output, so its values are trusted; only its shape is checked, and that
    /// it fits the spec.
    pub fn restore(spec: Arc<GameSpec>, saved: Saved) -> Result<Self, String> {
        if saved.packs.len() != spec.map.health_packs.len() {
            return Err(format!(
                "the save has {} health packs, the map {}",
                saved.packs.len(),
                spec.map.health_packs.len()
            ));
        }
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
            projectiles: saved.projectiles,
            packs: saved.packs,
            next_projectile: saved.next_projectile,
            outcome: saved.outcome,
            history: saved.history,
        })
    }

    /// A 64-bit FNV-1a hash of everything that evolves, to compare replays.
    pub fn state_hash(&self) -> u64 {
        let mut h = Fnv::default();
        h.u32(self.tick);
        for p in &self.players {
            h.u32(u32::from(p.id.0));
            h.vec(p.pos);
            h.vec(p.vel);
            h.u32(p.aim.to_bits());
            h.u32(u32::from(p.health));
            h.u32(u32::from(p.alive));
            h.u32(p.kills);
            h.u32(p.deaths);
            h.u32(p.score);
            h.u32(p.respawn_at);
            h.u32(p.next_fire);
            h.u32(p.rewind);
        }
        for s in &self.projectiles {
            h.u32(u32::from(s.id));
            h.u32(u32::from(s.owner.0));
            h.vec(s.pos);
            h.vec(s.vel);
            h.u32(s.expires);
            h.u32(s.rewind);
        }
        for pack in &self.packs {
            h.u32(pack.respawn_at.map_or(u32::MAX, |t| t));
        }
        h.u32(u32::from(self.next_projectile));
        h.0
    }
}

/// A uniform index below `n` from the raw generator output (Lemire's
/// multiply-shift; the bias is below 2^-58 for any `n` we use).
fn pick(rng: &mut ChaCha8Rng, n: usize) -> usize {
    ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize
}

/// 64-bit FNV-1a.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn u32(&mut self, v: u32) {
        for b in v.to_le_bytes() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn vec(&mut self, v: Vec2) {
        self.u32(v.x.to_bits());
        self.u32(v.y.to_bits());
    }
}

#[cfg(test)]
mod tests;
