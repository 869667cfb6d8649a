//! The hill's part of the wire protocol (PROTOCOL.md section 13): its
//! `joined.setup` and `input.input`. What it replicates in snapshots is in
//! `entities.rs`.

use crate::rules::Rules;
use crate::sim::Input;
use serde::{Deserialize, Serialize};
use skirmish_shared::game::{GameData, InputError};
use skirmish_shared::proto::ServerMsg;

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
