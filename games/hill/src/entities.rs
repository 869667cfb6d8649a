//! What the hill replicates (PROTOCOL.md, "King of the hill"): every body,
//! and the field's score, holder and clock. Everyone sees everything.

use crate::sim::{Spec, World};
use skirmish_shared::replication::{Field, Frame, Kind, Mirror, Quant, Schema};

/// A body: `team`, `x`, `y`; its id is the player's roster id.
pub const PLAYER: u8 = 0;
/// The field (id 0): `score_0`, `score_1` (ticks each team held the hill
/// alone), `holder` (0 nobody, else the holding team + 1), `ends_at` (the
/// tick the clock runs out).
pub const FIELD: u8 = 1;

/// Positions travel in steps of 1/8 unit.
pub const POSITION_STEP: f32 = 0.125;

/// The hill's schema for matches of `spec` (positions within its field).
pub fn schema(spec: &Spec) -> Schema {
    let field = &spec.rules.field;
    let axis = |max: f32| Quant::Fixed {
        min: 0.0,
        max,
        step: POSITION_STEP,
    };
    let ticks = Quant::Uint { bits: 24 };
    Schema {
        kinds: vec![
            Kind::new(
                "player",
                vec![
                    Field::new("team", Quant::Uint { bits: 1 }),
                    Field::new("x", axis(field.width)),
                    Field::new("y", axis(field.height)),
                ],
            ),
            Kind::new(
                "field",
                vec![
                    Field::new("score_0", ticks),
                    Field::new("score_1", ticks),
                    Field::new("holder", Quant::Uint { bits: 2 }),
                    Field::new("ends_at", Quant::Uint { bits: 32 }),
                ],
            ),
        ],
    }
}

/// Writes the field after a step into `frame`; `axes` are the schema's `x`
/// and `y` quantisers.
pub fn write(world: &World, axes: (Quant, Quant), frame: &mut Frame) {
    for p in world.players() {
        frame.push(
            PLAYER,
            u32::from(p.id.0),
            &[
                u32::from(p.team.0),
                axes.0.quantize(p.x),
                axes.1.quantize(p.y),
            ],
        );
    }
    let [a, b] = world.scores();
    let holder = world.holder().map_or(0, |t| u32::from(t.0) + 1);
    let spec = world.spec();
    let ends_at = spec.ticks(spec.rules.match_rules.duration_s as f32);
    frame.push(FIELD, 0, &[a, b, holder, ends_at]);
}

/// A body as a client reads it from a decoded snapshot, in field units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlayerState {
    /// Roster id.
    pub id: u16,
    /// 0 or 1.
    pub team: u8,
    /// Position.
    pub x: f32,
    /// Position.
    pub y: f32,
}

/// The bodies of a decoded snapshot, in id order (`schema` is the one
/// `joined` carried).
pub fn players(mirror: &Mirror, schema: &Schema) -> Vec<PlayerState> {
    let fields = &schema.kinds[usize::from(PLAYER)].fields;
    let (x, y) = (fields[1].quant, fields[2].quant);
    mirror
        .of_kind(PLAYER)
        .map(|e| PlayerState {
            id: e.key.id() as u16,
            team: e.fields[0] as u8,
            x: x.dequantize(e.fields[1]),
            y: y.dequantize(e.fields[2]),
        })
        .collect()
}

/// The field of a decoded snapshot: each team's score in ticks and the
/// holding team, if any.
pub fn field(mirror: &Mirror) -> Option<([u32; 2], Option<u8>)> {
    let f = mirror.of_kind(FIELD).next()?;
    let holder = f.fields[2].checked_sub(1).map(|t| t as u8);
    Some(([f.fields[0], f.fields[1]], holder))
}
