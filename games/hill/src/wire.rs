//! The hill's part of the wire protocol (PROTOCOL.md section 13): its
//! `joined.setup`, `snapshot.state` and `input.input`.

use crate::rules::Rules;
use crate::sim::{Input, Player, World};
use serde::{Deserialize, Serialize};
use skirmish_shared::game::{GameData, InputError};
use skirmish_shared::proto::ServerMsg;

/// Positions travel as `u16` in units of 1/8 of a field unit.
pub const POSITION_SCALE: f32 = 8.0;

/// `joined.setup`: what a client needs to draw the field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    /// Field width, units.
    pub width: f32,
    /// Field height, units.
    pub height: f32,
    /// The hill's radius; it is centred in the field.
    pub hill_radius: f32,
    /// Body radius.
    pub player_radius: f32,
    /// How far beyond touching a shove reaches.
    pub shove_reach: f32,
    /// Seconds of holding the hill alone that win.
    pub score_to_win_s: u32,
}

impl Setup {
    /// The setup of a match played by `rules`.
    pub fn of(rules: &Rules) -> Self {
        Setup {
            width: rules.field.width,
            height: rules.field.height,
            hill_radius: rules.hill.radius,
            player_radius: rules.player.radius,
            shove_reach: rules.shove.reach,
            score_to_win_s: rules.match_rules.score_to_win_s,
        }
    }

    /// The hill's setup in a `joined` message, if it is one.
    pub fn of_joined(msg: &ServerMsg) -> Option<Setup> {
        match msg {
            ServerMsg::Joined { setup, .. } => setup.to().ok(),
            _ => None,
        }
    }
}

/// One body in the state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlayerView {
    /// Id from the roster.
    pub id: u16,
    /// 0 or 1.
    pub team: u8,
    /// x in 1/8 units.
    pub x: u16,
    /// y in 1/8 units.
    pub y: u16,
}

impl PlayerView {
    fn of(p: &Player) -> Self {
        let q = |v: f32| (v * POSITION_SCALE).round().clamp(0.0, f32::from(u16::MAX)) as u16;
        PlayerView {
            id: p.id.0,
            team: p.team.0,
            x: q(p.x),
            y: q(p.y),
        }
    }
}

/// `snapshot.state`: the field after a tick.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Ticks until the clock runs out.
    pub ticks_left: u32,
    /// Ticks each team has held the hill alone.
    pub scores: [u32; 2],
    /// The team alone on the hill now, if any.
    pub holder: Option<u8>,
    /// Everyone, in join order.
    pub players: Vec<PlayerView>,
}

impl State {
    /// The state of `world`.
    pub fn of(world: &World) -> Self {
        State {
            ticks_left: world.ticks_left(),
            scores: world.scores(),
            holder: world.holder().map(|t| t.0),
            players: world.players().iter().map(PlayerView::of).collect(),
        }
    }

    /// The hill's state in a `snapshot` message, if it is one.
    pub fn of_snapshot(msg: &ServerMsg) -> Option<State> {
        match msg {
            ServerMsg::Snapshot { state, .. } => state.to().ok(),
            _ => None,
        }
    }
}

/// `input.input`: `[move_x, move_y, shove]`.
pub fn input_data(move_x: f32, move_y: f32, shove: bool) -> GameData {
    use rmpv::Value;
    GameData(Value::Array(vec![
        Value::F32(move_x),
        Value::F32(move_y),
        Value::Boolean(shove),
    ]))
}

/// Reads and checks `input.input`: an array of two numbers, each in
/// `-1..=1` (integers or floats), and a boolean.
pub fn decode_input(data: &GameData) -> Result<Input, InputError> {
    use rmpv::Value;
    let malformed = || InputError::Malformed("input must be [move_x, move_y, shove]".into());
    let Value::Array(fields) = &data.0 else {
        return Err(malformed());
    };
    let [x, y, Value::Boolean(shove)] = fields.as_slice() else {
        return Err(malformed());
    };
    let axis = |v: &Value, name: &'static str| -> Result<f32, InputError> {
        let v = match v {
            Value::F32(f) => *f,
            Value::F64(f) => *f as f32,
            Value::Integer(i) => i.as_f64().ok_or_else(malformed)? as f32,
            _ => return Err(malformed()),
        };
        if !v.is_finite() {
            Err(InputError::NotFinite(name))
        } else if v.abs() > 1.0 + 1e-3 {
            Err(InputError::OutOfRange(name))
        } else {
            Ok(v.clamp(-1.0, 1.0))
        }
    };
    Ok(Input::new(axis(x, "move_x")?, axis(y, "move_y")?, *shove))
}
