//! What the arena replicates (PROTOCOL.md, "The arena"): its kinds of
//! entity with their quantised fields, written from the world each tick,
//! and who sees what (players and shots within the rules' view radius).

use crate::sim::{Event, GameSpec, World};
use skirmish_shared::game::EntityId;
use skirmish_shared::replication::{Field, Frame, Interest, Kind, Mirror, Quant, Schema};

/// A body: `x`, `y`, `aim`, `health`, `kills`, `deaths`, `score`; its id is
/// the player's roster id.
pub const PLAYER: u8 = 0;
/// A shot in flight: `x`, `y` (where it left the muzzle), `dir` (its
/// heading) and `at` (the low 16 bits of the tick before it was fired).
/// Shots fly straight at the rules' projectile speed, so a client places
/// one at tick `t` at `(x, y) + (cos dir, sin dir) · speed · (t − at) /
/// tick_rate` (with `t − at` taken modulo 2^16): its fields never change,
/// and a shot costs nothing after it appears.
pub const PROJECTILE: u8 = 1;
/// A health pack spot (id: its index in the map): `up`.
pub const PACK: u8 = 2;
/// The match clock (id 0): `ends_at`, the tick the clock runs out.
pub const CLOCK: u8 = 3;
/// Event: a shot hit someone: `target`, `attacker`, `damage`.
pub const HIT: u8 = 4;
/// Event: someone died: `killer`, `victim`.
pub const KILL: u8 = 5;
/// Event: someone picked up a pack: `player`, `pack`.
pub const PICKUP: u8 = 6;
/// Event: someone came back: `player`.
pub const RESPAWN: u8 = 7;

/// Positions travel in steps of 1/8 unit.
pub const POSITION_STEP: f32 = 0.125;

/// Bits of an aim angle: a turn in 1,024 steps.
pub const AIM_BITS: u8 = 10;

/// Bits of a shot's heading: a turn in 16,384 steps, so a shot is off by
/// at most 0.2 units per 1,000 flown.
pub const DIR_BITS: u8 = 14;

/// The arena's schema for matches of `spec` (positions within its map).
pub fn schema(spec: &GameSpec) -> Schema {
    let x = Quant::Fixed {
        min: 0.0,
        max: spec.map.width,
        step: POSITION_STEP,
    };
    let y = Quant::Fixed {
        min: 0.0,
        max: spec.map.height,
        step: POSITION_STEP,
    };
    let id = Quant::Uint { bits: 16 };
    let count = Quant::Uint { bits: 16 };
    let byte = Quant::Uint { bits: 8 };
    Schema {
        kinds: vec![
            Kind::new(
                "player",
                vec![
                    Field::new("x", x),
                    Field::new("y", y),
                    Field::new("aim", Quant::Angle { bits: AIM_BITS }),
                    Field::new("health", byte),
                    Field::new("kills", count),
                    Field::new("deaths", count),
                    Field::new("score", count),
                ],
            ),
            Kind::new(
                "projectile",
                vec![
                    Field::new("x", x),
                    Field::new("y", y),
                    Field::new("dir", Quant::Angle { bits: DIR_BITS }),
                    Field::new("at", Quant::Uint { bits: 16 }),
                ],
            ),
            Kind::new("pack", vec![Field::new("up", Quant::Uint { bits: 1 })]),
            Kind::new(
                "clock",
                vec![Field::new("ends_at", Quant::Uint { bits: 32 })],
            ),
            Kind::new(
                "hit",
                vec![
                    Field::new("target", id),
                    Field::new("attacker", id),
                    Field::new("damage", byte),
                ],
            ),
            Kind::new(
                "kill",
                vec![Field::new("killer", id), Field::new("victim", id)],
            ),
            Kind::new(
                "pickup",
                vec![Field::new("player", id), Field::new("pack", byte)],
            ),
            Kind::new("respawn", vec![Field::new("player", id)]),
        ],
    }
}

/// Quantisers for the fields the arena writes every tick, made once per
/// match from its schema.
#[derive(Clone, Copy, Debug)]
pub struct Quantizers {
    x: Quant,
    y: Quant,
    aim: Quant,
    dir: Quant,
}

impl Quantizers {
    /// The quantisers of `schema` (the arena's).
    pub fn of(schema: &Schema) -> Self {
        let player = &schema.kinds[usize::from(PLAYER)].fields;
        Quantizers {
            x: player[0].quant,
            y: player[1].quant,
            aim: player[2].quant,
            dir: schema.kinds[usize::from(PROJECTILE)].fields[2].quant,
        }
    }
}

/// Writes the world after a step, and that step's events, into `frame`.
pub fn write(world: &World, events: &[Event], q: &Quantizers, frame: &mut Frame) {
    let clamp16 = |v: u32| v.min(u32::from(u16::MAX));
    for p in world.players() {
        frame.push_at(
            PLAYER,
            u32::from(p.id.0),
            [p.pos.x, p.pos.y],
            &[
                q.x.quantize(p.pos.x),
                q.y.quantize(p.pos.y),
                q.aim.quantize(p.aim),
                u32::from(p.health),
                clamp16(p.kills),
                clamp16(p.deaths),
                clamp16(p.score),
            ],
        );
    }
    for s in world.projectiles() {
        // Placed where it is now: viewers see it while it is near them.
        frame.push_at(
            PROJECTILE,
            u32::from(s.id),
            [s.pos.x, s.pos.y],
            &[
                q.x.quantize(s.origin.x),
                q.y.quantize(s.origin.y),
                q.dir.quantize(s.vel.y.atan2(s.vel.x)),
                s.fired.wrapping_sub(1) & 0xffff,
            ],
        );
    }
    for (i, pack) in world.health_packs().iter().enumerate() {
        frame.push(PACK, i as u32, &[u32::from(pack.available())]);
    }
    frame.push(CLOCK, 0, &[world.spec().match_ticks()]);
    for e in events {
        match *e {
            Event::Hit {
                target,
                attacker,
                damage,
            } => frame.event(
                HIT,
                &[
                    u32::from(target.0),
                    u32::from(attacker.0),
                    u32::from(damage),
                ],
            ),
            Event::Kill { killer, victim } => {
                frame.event(KILL, &[u32::from(killer.0), u32::from(victim.0)]);
            }
            Event::Pickup { player, pack } => {
                frame.event(PICKUP, &[u32::from(player.0), u32::from(pack)]);
            }
            Event::Respawn { player } => frame.event(RESPAWN, &[u32::from(player.0)]),
            // Sent as `match_end`, a message of its own.
            Event::MatchEnd { .. } => {}
        }
    }
}

/// What `viewer` receives: players and shots within the rules' view
/// radius of its body; everything when the radius is 0 or it has no body.
pub fn interest(world: &World, viewer: EntityId) -> Interest {
    let radius = world.spec().rules.interest.view_radius;
    match world.player(viewer) {
        Some(p) if radius > 0.0 => Interest::Around {
            at: [p.pos.x, p.pos.y],
            radius,
        },
        _ => Interest::Everything,
    }
}

/// A body as a client reads it from a decoded snapshot, in arena units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlayerState {
    /// Roster id.
    pub id: u16,
    /// Position.
    pub x: f32,
    /// Position.
    pub y: f32,
    /// Aim, radians in `0..2π`.
    pub aim: f32,
    /// 0 while dead.
    pub health: u8,
    /// Kills this match.
    pub kills: u32,
    /// Deaths this match.
    pub deaths: u32,
    /// Score this match.
    pub score: u32,
}

/// The bodies of a decoded snapshot, in id order (`schema` is the one
/// `joined` carried).
pub fn players(mirror: &Mirror, schema: &Schema) -> Vec<PlayerState> {
    let fields = &schema.kinds[usize::from(PLAYER)].fields;
    let (x, y, aim) = (fields[0].quant, fields[1].quant, fields[2].quant);
    mirror
        .of_kind(PLAYER)
        .map(|e| PlayerState {
            id: e.key.id() as u16,
            x: x.dequantize(e.fields[0]),
            y: y.dequantize(e.fields[1]),
            aim: aim.dequantize(e.fields[2]),
            health: e.fields[3] as u8,
            kills: e.fields[4],
            deaths: e.fields[5],
            score: e.fields[6],
        })
        .collect()
}

/// Ticks left on the clock of a decoded snapshot of tick `tick`.
pub fn ticks_left(mirror: &Mirror, tick: u32) -> Option<u32> {
    let clock = mirror.of_kind(CLOCK).next()?;
    Some(clock.fields[0].saturating_sub(tick))
}

/// An event as a client reads it from a decoded snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArenaEvent {
    /// A shot hit someone.
    Hit {
        /// Who was hit.
        target: u16,
        /// Who fired.
        attacker: u16,
        /// Health removed.
        damage: u8,
    },
    /// Someone died.
    Kill {
        /// Who fired the last shot.
        killer: u16,
        /// Who died.
        victim: u16,
    },
    /// Someone picked up a health pack.
    Pickup {
        /// Who.
        player: u16,
        /// Which, by index in the map.
        pack: u8,
    },
    /// Someone came back.
    Respawn {
        /// Who.
        player: u16,
    },
}

/// The arena's events among a snapshot's `(sequence, kind, fields)`.
pub fn events(decoded: &[(u32, u8, Vec<u32>)]) -> Vec<ArenaEvent> {
    decoded
        .iter()
        .filter_map(|(_, kind, f)| {
            let id = |i: usize| f.get(i).map_or(0, |v| *v as u16);
            Some(match *kind {
                HIT => ArenaEvent::Hit {
                    target: id(0),
                    attacker: id(1),
                    damage: id(2) as u8,
                },
                KILL => ArenaEvent::Kill {
                    killer: id(0),
                    victim: id(1),
                },
                PICKUP => ArenaEvent::Pickup {
                    player: id(0),
                    pack: id(1) as u8,
                },
                RESPAWN => ArenaEvent::Respawn { player: id(0) },
                _ => return None,
            })
        })
        .collect()
}
