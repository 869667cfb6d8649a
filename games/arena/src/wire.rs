//! The arena's part of the wire protocol: what its `joined.setup`,
//! `snapshot.state` and `input.input` hold (PROTOCOL.md, "The arena"), the
//! views that turn simulation state into them, and quick readers for bots.
//!
//! Positions travel quantised to 1/8 unit as `u16`, angles to 1/10,000
//! radian as `i16`.

use crate::rules::{Map, Rules};
use crate::sim::{EndReason, Event, Input, Player, Projectile};
use serde::{Deserialize, Serialize};
use skirmish_shared::codec::{MAX_DEPTH, encode_into, snapshot_header};
use skirmish_shared::game::{GameData, InputError};
use skirmish_shared::proto::ServerMsg;
use std::io::Cursor;

/// Positions travel as `u16` in units of 1/8 arena unit.
pub const POSITION_SCALE: f32 = 8.0;

/// Aim angles travel as `i16` in units of 1/10,000 radian.
pub const ANGLE_SCALE: f32 = 10_000.0;

/// The arena as a client draws it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapView {
    /// Shown to players.
    pub name: String,
    /// Arena width in units.
    pub width: f32,
    /// Arena height in units.
    pub height: f32,
    /// Walls as `[x, y, w, h]`.
    pub obstacles: Vec<[f32; 4]>,
    /// Health pack positions as `[x, y]`, indexed like `Snapshot.packs`.
    pub health_packs: Vec<[f32; 2]>,
}

/// The rules a client needs to draw the match.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RulesView {
    /// Player body radius.
    pub player_radius: f32,
    /// Projectile radius.
    pub projectile_radius: f32,
    /// Health pack radius.
    pub pack_radius: f32,
    /// Full health.
    pub max_health: u8,
    /// Kills that end the match.
    pub kill_limit: u32,
    /// Most players in the match.
    pub max_players: u8,
    /// Top speed, units per second.
    pub max_speed: f32,
    /// How fast velocity turns towards the wanted one while moving, units
    /// per second squared.
    pub acceleration: f32,
    /// Fraction of velocity lost per second while no move key is held.
    pub friction: f32,
    /// Projectile speed, units per second.
    pub projectile_speed: f32,
    /// Projectile lifetime, seconds.
    pub projectile_life_s: f32,
    /// Seconds between two shots of one player.
    pub fire_cooldown_s: f32,
}

/// One player in a snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlayerView {
    /// Id from the roster.
    pub id: u16,
    /// x in 1/8 units.
    pub x: u16,
    /// y in 1/8 units.
    pub y: u16,
    /// Aim in 1/10,000 radians.
    pub aim: i16,
    /// 0 means dead (waiting to respawn).
    pub health: u8,
    /// Kills this match.
    pub kills: u32,
    /// Deaths this match.
    pub deaths: u32,
    /// Score this match.
    pub score: u32,
}

/// One projectile in a snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectileView {
    /// Stable while it flies (wraps at 65535).
    pub id: u16,
    /// x in 1/8 units.
    pub x: u16,
    /// y in 1/8 units.
    pub y: u16,
}

/// Something that happened during a tick.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum EventView {
    /// A projectile hit a player.
    Hit {
        /// Who was hit.
        target: u16,
        /// Who fired.
        attacker: u16,
        /// Health removed.
        damage: u8,
    },
    /// A player died.
    Kill {
        /// Who fired the last shot.
        killer: u16,
        /// Who died.
        victim: u16,
    },
    /// A player picked up a health pack.
    Pickup {
        /// Who.
        player: u16,
        /// Index into `MapView.health_packs`.
        pack: u8,
    },
    /// A player respawned.
    Respawn {
        /// Who.
        player: u16,
    },
}

/// Converts an arena coordinate to its wire form.
pub fn quantize_pos(v: f32) -> u16 {
    (v * POSITION_SCALE).round().clamp(0.0, f32::from(u16::MAX)) as u16
}

/// Converts a wire coordinate back to arena units.
pub fn dequantize_pos(q: u16) -> f32 {
    f32::from(q) / POSITION_SCALE
}

/// Converts an angle in `-π..=π` to its wire form.
pub fn quantize_angle(a: f32) -> i16 {
    (a * ANGLE_SCALE)
        .round()
        .clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16
}

/// Converts a wire angle back to radians.
pub fn dequantize_angle(q: i16) -> f32 {
    f32::from(q) / ANGLE_SCALE
}

impl MapView {
    /// The client's view of a map.
    pub fn of(map: &Map) -> Self {
        MapView {
            name: map.name.clone(),
            width: map.width,
            height: map.height,
            obstacles: map.obstacles.iter().map(|o| [o.x, o.y, o.w, o.h]).collect(),
            health_packs: map.health_packs.iter().map(|p| [p.x, p.y]).collect(),
        }
    }
}

impl RulesView {
    /// The client's view of the rules.
    pub fn of(rules: &Rules) -> Self {
        RulesView {
            player_radius: rules.player.radius,
            projectile_radius: rules.projectile.radius,
            pack_radius: rules.health_pack.radius,
            max_health: rules.player.max_health,
            kill_limit: rules.match_rules.kill_limit,
            max_players: rules.match_rules.max_players,
            max_speed: rules.player.max_speed,
            acceleration: rules.player.acceleration,
            friction: rules.player.friction,
            projectile_speed: rules.projectile.speed,
            projectile_life_s: rules.projectile.life_s,
            fire_cooldown_s: rules.projectile.cooldown_s,
        }
    }
}

impl PlayerView {
    /// A player's state on the wire.
    pub fn of(p: &Player) -> Self {
        PlayerView {
            id: p.id.0,
            x: quantize_pos(p.pos.x),
            y: quantize_pos(p.pos.y),
            aim: quantize_angle(p.aim),
            health: p.health,
            kills: p.kills,
            deaths: p.deaths,
            score: p.score,
        }
    }
}

impl ProjectileView {
    /// A projectile on the wire.
    pub fn of(s: &Projectile) -> Self {
        ProjectileView {
            id: s.id,
            x: quantize_pos(s.pos.x),
            y: quantize_pos(s.pos.y),
        }
    }
}

impl EventView {
    /// The client's view of a simulation event; `None` for events sent as
    /// messages of their own (the match end).
    pub fn of(e: &Event) -> Option<Self> {
        Some(match *e {
            Event::Hit {
                target,
                attacker,
                damage,
            } => EventView::Hit {
                target: target.0,
                attacker: attacker.0,
                damage,
            },
            Event::Kill { killer, victim } => EventView::Kill {
                killer: killer.0,
                victim: victim.0,
            },
            Event::Pickup { player, pack } => EventView::Pickup {
                player: player.0,
                pack,
            },
            Event::Respawn { player } => EventView::Respawn { player: player.0 },
            Event::MatchEnd { .. } => return None,
        })
    }
}

/// `joined.setup`: what a client needs to draw the arena.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    /// The arena to draw.
    pub map: MapView,
    /// Sizes and limits a client needs to draw and predict.
    pub rules: RulesView,
}

impl Setup {
    /// The arena's setup in a `joined` message, if it is one.
    pub fn of_joined(msg: &ServerMsg) -> Option<Setup> {
        match msg {
            ServerMsg::Joined { setup, .. } => setup.to().ok(),
            _ => None,
        }
    }
}

/// `snapshot.state`: the whole arena after a tick.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Ticks until the match clock runs out.
    pub ticks_left: u32,
    /// Every player, in join order.
    pub players: Vec<PlayerView>,
    /// Every shot in flight.
    pub projectiles: Vec<ProjectileView>,
    /// Whether each of the map's health packs is there to pick up.
    pub packs: Vec<bool>,
    /// What happened during this tick.
    pub events: Vec<EventView>,
}

impl State {
    /// The arena's state in a `snapshot` message, if it is one.
    pub fn of_snapshot(msg: &ServerMsg) -> Option<State> {
        match msg {
            ServerMsg::Snapshot { state, .. } => state.to().ok(),
            _ => None,
        }
    }

    /// Encodes the state as one MessagePack value, exactly as
    /// [`skirmish_shared::codec::encode`] would, without building the views
    /// twice: the match writes this once per tick for every player.
    pub fn write(
        out: &mut Vec<u8>,
        ticks_left: u32,
        players: &[PlayerView],
        projectiles: &[ProjectileView],
        packs: &[bool],
        events: &[EventView],
    ) {
        // Writes into a Vec cannot fail.
        let _ = rmp::encode::write_array_len(out, 5);
        encode_into(&ticks_left, out);
        encode_into(players, out);
        encode_into(projectiles, out);
        encode_into(packs, out);
        encode_into(events, out);
    }
}

/// `input.input`: one tick's controls as a client sends them,
/// `[move_x, move_y, aim, fire]`.
pub fn input_data(move_x: f32, move_y: f32, aim: f32, fire: bool) -> GameData {
    use rmpv::Value;
    GameData(Value::Array(vec![
        Value::F32(move_x),
        Value::F32(move_y),
        Value::F32(aim),
        Value::Boolean(fire),
    ]))
}

/// Reads and validates `input.input`. Numbers may be integers or floats
/// (JavaScript encoders write whole numbers as integers); anything but an
/// array of three numbers and a boolean is malformed.
pub fn decode_input(data: &GameData) -> Result<Input, InputError> {
    use rmpv::Value;
    let malformed = || InputError::Malformed("input must be [move_x, move_y, aim, fire]".into());
    let Value::Array(fields) = &data.0 else {
        return Err(malformed());
    };
    let number = |v: &Value| -> Option<f32> {
        match v {
            Value::F32(f) => Some(*f),
            Value::F64(f) => Some(*f as f32),
            Value::Integer(i) => i.as_f64().map(|f| f as f32),
            _ => None,
        }
    };
    let [x, y, aim, Value::Boolean(fire)] = fields.as_slice() else {
        return Err(malformed());
    };
    let (Some(x), Some(y), Some(aim)) = (number(x), number(y), number(aim)) else {
        return Err(malformed());
    };
    Input::new(x, y, aim, *fire)
}

/// The players of a snapshot, decoded without the rest of the message, or
/// `None` for any other message (or a malformed snapshot). Decoding a whole
/// message builds a value for every field first; a bot that reads positions
/// from many snapshots a second skips that.
pub fn snapshot_players(bytes: &[u8]) -> Option<Vec<PlayerView>> {
    use serde::de::IgnoredAny;
    /// A snapshot's state with everything but the players skipped.
    #[derive(Deserialize)]
    struct Players(
        IgnoredAny,
        Vec<PlayerView>,
        IgnoredAny,
        IgnoredAny,
        IgnoredAny,
    );
    /// A snapshot's array with the state read as [`Players`].
    #[derive(Deserialize)]
    struct Snapshot(IgnoredAny, IgnoredAny, IgnoredAny, Players);
    snapshot_header(bytes)?;
    let mut de = rmp_serde::Deserializer::new(Cursor::new(bytes));
    de.set_max_depth(MAX_DEPTH);
    let snapshot = <Snapshot as Deserialize>::deserialize(&mut de).ok()?;
    (de.position() == bytes.len() as u64).then_some(snapshot.3.1)
}

/// The wire name of an end reason.
pub fn end_reason(reason: EndReason) -> &'static str {
    match reason {
        EndReason::TimeUp => "time_up",
        EndReason::KillLimit => "kill_limit",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use skirmish_shared::codec::{decode_server, encode, write_snapshot};

    fn player_view() -> impl Strategy<Value = PlayerView> {
        (
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
            any::<i16>(),
            any::<u8>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
        )
            .prop_map(|(id, x, y, aim, health, kills, deaths, score)| PlayerView {
                id,
                x,
                y,
                aim,
                health,
                kills,
                deaths,
                score,
            })
    }

    fn event_view() -> impl Strategy<Value = EventView> {
        prop_oneof![
            (any::<u16>(), any::<u16>(), any::<u8>()).prop_map(|(target, attacker, damage)| {
                EventView::Hit {
                    target,
                    attacker,
                    damage,
                }
            }),
            (any::<u16>(), any::<u16>())
                .prop_map(|(killer, victim)| EventView::Kill { killer, victim }),
            (any::<u16>(), any::<u8>())
                .prop_map(|(player, pack)| EventView::Pickup { player, pack }),
            any::<u16>().prop_map(|player| EventView::Respawn { player }),
        ]
    }

    fn state() -> impl Strategy<Value = State> {
        (
            any::<u32>(),
            vec(player_view(), 0..8),
            vec((any::<u16>(), any::<u16>(), any::<u16>()), 0..8),
            vec(any::<bool>(), 0..6),
            vec(event_view(), 0..4),
        )
            .prop_map(|(ticks_left, players, projectiles, packs, events)| State {
                ticks_left,
                players,
                projectiles: projectiles
                    .into_iter()
                    .map(|(id, x, y)| ProjectileView { id, x, y })
                    .collect(),
                packs,
                events,
            })
    }

    proptest! {
        /// What the match writes once a tick is what encoding the state
        /// gives, and a snapshot around it decodes back to it.
        #[test]
        fn the_written_state_encodes_like_the_state_and_decodes_back(state in state(), tick in any::<u32>(), ack in any::<u32>()) {
            let mut written = Vec::new();
            State::write(&mut written, state.ticks_left, &state.players, &state.projectiles, &state.packs, &state.events);
            prop_assert_eq!(&written, &encode(&state));
            let mut bytes = Vec::new();
            write_snapshot(tick, ack, &written, &mut bytes);
            let msg = decode_server(&bytes).expect("a snapshot");
            prop_assert_eq!(State::of_snapshot(&msg), Some(state.clone()));
            prop_assert_eq!(snapshot_players(&bytes), Some(state.players));
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_quick_reader(bytes in vec(any::<u8>(), 0..256)) {
            let _ = snapshot_players(&bytes);
        }
    }

    #[test]
    fn quantization_is_within_half_a_step() {
        for v in [0.0f32, 0.06, 20.0, 999.99, 1999.9, 8000.0] {
            assert!((dequantize_pos(quantize_pos(v)) - v).abs() <= 0.5 / POSITION_SCALE);
        }
        for a in [
            -std::f32::consts::PI,
            -1.0,
            0.0,
            0.123_45,
            std::f32::consts::PI,
        ] {
            assert!((dequantize_angle(quantize_angle(a)) - a).abs() <= 0.5 / ANGLE_SCALE + 1e-6);
        }
        assert_eq!(quantize_pos(-5.0), 0);
    }
}
