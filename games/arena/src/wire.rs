//! The arena's part of the wire protocol: what its `joined.setup` and
//! `input.input` hold (PROTOCOL.md, "The arena"). What it replicates in
//! snapshots is in `entities.rs`.

use crate::geom::Rect;
use crate::rules::{Map, Rules};
use crate::sim::{EndReason, Input, Movement};
use serde::{Deserialize, Serialize};
use skirmish_shared::game::{GameData, InputError};
use skirmish_shared::proto::ServerMsg;

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

/// The wire name of an end reason.
pub fn end_reason(reason: EndReason) -> &'static str {
    match reason {
        EndReason::TimeUp => "time_up",
        EndReason::KillLimit => "kill_limit",
    }
}

/// A client's copy of what [`Movement`] needs, made from `joined.setup`.
#[derive(Clone, Debug)]
pub struct ClientMovement {
    rules: RulesView,
    width: f32,
    height: f32,
    obstacles: Vec<Rect>,
    tick_rate: u16,
}

impl ClientMovement {
    /// From the arena's setup as a client receives it, for a match of
    /// `tick_rate`.
    pub fn new(map: &MapView, rules: &RulesView, tick_rate: u16) -> Self {
        ClientMovement {
            rules: rules.clone(),
            width: map.width,
            height: map.height,
            obstacles: map
                .obstacles
                .iter()
                .map(|&[x, y, w, h]| Rect { x, y, w, h })
                .collect(),
            tick_rate,
        }
    }

    /// The movement it describes.
    pub fn movement(&self) -> Movement<'_> {
        Movement {
            radius: self.rules.player_radius,
            max_speed: self.rules.max_speed,
            acceleration: self.rules.acceleration,
            friction: self.rules.friction,
            dt: 1.0 / f32::from(self.tick_rate),
            width: self.width,
            height: self.height,
            obstacles: &self.obstacles,
        }
    }
}
