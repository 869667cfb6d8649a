//! What a game replicates: its kinds of entity, each with named fields and
//! how each field is quantised. A node sends the schema in `joined`, so one
//! decoder reads every game's snapshots.

use serde::{Deserialize, Serialize};
use std::f32::consts::TAU;

/// How one field travels: a whole number of a few bits.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "q", rename_all = "snake_case")]
pub enum Quant {
    /// Whole numbers `0 ..= 2^bits - 1` as they are (a flag is one bit).
    Uint {
        /// 1 to 32.
        bits: u8,
    },
    /// A number in `min ..= max` in steps of `step`: sent as
    /// `round((v - min) / step)`, in as few bits as that range needs.
    Fixed {
        /// The lowest value (sent as 0).
        min: f32,
        /// The highest value; larger values are sent as this.
        max: f32,
        /// The resolution; the error is at most half of it.
        step: f32,
    },
    /// An angle in radians, a whole turn in `2^bits` steps; sent as
    /// `round(a / 2π · 2^bits) mod 2^bits`, read back in `0 .. 2π`.
    Angle {
        /// 1 to 16.
        bits: u8,
    },
}

impl Quant {
    /// The bits a value takes on the wire.
    pub fn bits(&self) -> u8 {
        match *self {
            Quant::Uint { bits } | Quant::Angle { bits } => bits,
            Quant::Fixed { min, max, step } => bits_for(fixed_steps(min, max, step)),
        }
    }

    /// The largest wire value.
    pub fn max_wire(&self) -> u32 {
        match *self {
            Quant::Fixed { min, max, step } => fixed_steps(min, max, step),
            _ => mask(self.bits()),
        }
    }

    /// A value in its wire form, clamped into the field's range (NaN sends
    /// the lowest value).
    pub fn quantize(&self, v: f32) -> u32 {
        match *self {
            Quant::Uint { bits } => {
                if v.is_nan() || v <= 0.0 {
                    0
                } else {
                    (v.round() as u64).min(u64::from(mask(bits))) as u32
                }
            }
            Quant::Fixed { min, max, step } => {
                let steps = ((v - min) / step).round();
                if steps.is_nan() || steps <= 0.0 {
                    0
                } else {
                    (steps as u64).min(u64::from(fixed_steps(min, max, step))) as u32
                }
            }
            Quant::Angle { bits } => {
                let turns = if v.is_finite() { v / TAU } else { 0.0 };
                let scaled = (turns.rem_euclid(1.0) * (1u64 << bits) as f32).round() as u64;
                (scaled & u64::from(mask(bits))) as u32
            }
        }
    }

    /// A wire value read back.
    pub fn dequantize(&self, q: u32) -> f32 {
        match *self {
            Quant::Uint { .. } => q as f32,
            Quant::Fixed { min, step, .. } => min + q as f32 * step,
            Quant::Angle { bits } => q as f32 / (1u64 << bits) as f32 * TAU,
        }
    }

    /// Checks the quantisation makes sense: bits within 1 to 32 (16 for an
    /// angle), a finite range with `min < max` and a positive step that
    /// leaves at most 2^24 steps.
    pub fn check(&self) -> Result<(), String> {
        match *self {
            Quant::Uint { bits } if !(1..=32).contains(&bits) => {
                Err(format!("uint bits must be 1 to 32, not {bits}"))
            }
            Quant::Angle { bits } if !(1..=16).contains(&bits) => {
                Err(format!("angle bits must be 1 to 16, not {bits}"))
            }
            Quant::Fixed { min, max, step }
                if !(min.is_finite() && max.is_finite() && step.is_finite())
                    || min >= max
                    || step <= 0.0
                    || (max - min) / step > (1u32 << 24) as f32 =>
            {
                Err(format!(
                    "fixed needs finite min < max and a step leaving at most 2^24 steps, not {min}..{max} by {step}"
                ))
            }
            _ => Ok(()),
        }
    }
}

fn fixed_steps(min: f32, max: f32, step: f32) -> u32 {
    ((max - min) / step).ceil().max(1.0) as u32
}

/// The bits that hold every value up to `max`.
fn bits_for(max: u32) -> u8 {
    (32 - max.leading_zeros()).max(1) as u8
}

/// The lowest `bits` bits set.
pub(crate) fn mask(bits: u8) -> u32 {
    if bits >= 32 {
        u32::MAX
    } else {
        (1u32 << bits) - 1
    }
}

/// One replicated field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// As a client reads it, e.g. `x`.
    pub name: String,
    /// How it travels.
    pub quant: Quant,
}

impl Field {
    /// A field named `name` quantised by `quant`.
    pub fn new(name: &str, quant: Quant) -> Self {
        Field {
            name: name.to_owned(),
            quant,
        }
    }
}

/// One kind of entity (a player, a projectile, the match clock).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kind {
    /// As a client reads it, e.g. `player`.
    pub name: String,
    /// Its fields, in wire order.
    pub fields: Vec<Field>,
}

impl Kind {
    /// A kind named `name` with `fields`.
    pub fn new(name: &str, fields: Vec<Field>) -> Self {
        Kind {
            name: name.to_owned(),
            fields,
        }
    }
}

/// Every kind a game replicates; a kind's number is its index here.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// The kinds, at most [`Schema::MAX_KINDS`], each with at most
    /// [`Schema::MAX_FIELDS`] fields.
    pub kinds: Vec<Kind>,
}

impl Schema {
    /// Kinds a schema may have (a kind travels in 8 bits of an entity key).
    pub const MAX_KINDS: usize = 256;
    /// Fields a kind may have (its change mask is one `u32`).
    pub const MAX_FIELDS: usize = 32;

    /// Checks the limits and every field's quantisation.
    pub fn check(&self) -> Result<(), String> {
        if self.kinds.len() > Self::MAX_KINDS {
            return Err(format!(
                "{} kinds, at most {}",
                self.kinds.len(),
                Self::MAX_KINDS
            ));
        }
        for kind in &self.kinds {
            if kind.fields.is_empty() || kind.fields.len() > Self::MAX_FIELDS {
                return Err(format!(
                    "kind `{}` has {} fields, 1 to {} allowed",
                    kind.name,
                    kind.fields.len(),
                    Self::MAX_FIELDS
                ));
            }
            for field in &kind.fields {
                field
                    .quant
                    .check()
                    .map_err(|e| format!("{}.{}: {e}", kind.name, field.name))?;
            }
        }
        Ok(())
    }

    /// Checks that a game wrote `frame` by this schema: every entity and
    /// event of a kind the schema has, with its number of fields, each
    /// within its field's largest wire value.
    pub fn fits(&self, frame: &super::Frame) -> Result<(), String> {
        let entities = frame.iter().map(|e| (e.key.kind(), e.fields));
        for (kind, fields) in entities.chain(frame.events()) {
            let k = self
                .kinds
                .get(usize::from(kind))
                .ok_or_else(|| format!("no kind {kind}"))?;
            if fields.len() != k.fields.len() {
                return Err(format!(
                    "{}: {} fields, not {}",
                    k.name,
                    fields.len(),
                    k.fields.len()
                ));
            }
            for (value, field) in fields.iter().zip(&k.fields) {
                if *value > field.quant.max_wire() {
                    return Err(format!(
                        "{}.{} = {value}, above {}",
                        k.name,
                        field.name,
                        field.quant.max_wire()
                    ));
                }
            }
        }
        Ok(())
    }

    /// The number of a kind by name.
    pub fn kind(&self, name: &str) -> Option<u8> {
        self.kinds
            .iter()
            .position(|k| k.name == name)
            .map(|i| i as u8)
    }

    /// The index of a kind's field by name.
    pub fn field(&self, kind: u8, name: &str) -> Option<usize> {
        self.kinds
            .get(usize::from(kind))?
            .fields
            .iter()
            .position(|f| f.name == name)
    }

    /// How many fields a kind has (0 for a kind the schema lacks).
    pub fn width(&self, kind: u8) -> usize {
        self.kinds
            .get(usize::from(kind))
            .map_or(0, |k| k.fields.len())
    }
}

/// A schema as the encoder and decoder use it: the bits of every field of
/// every kind, worked out once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    kinds: Vec<Vec<u8>>,
}

impl Layout {
    /// The layout of `schema`.
    pub fn of(schema: &Schema) -> Layout {
        Layout {
            kinds: schema
                .kinds
                .iter()
                .map(|k| k.fields.iter().map(|f| f.quant.bits()).collect())
                .collect(),
        }
    }

    /// The bits of each field of `kind`, or `None` for a kind the schema
    /// lacks.
    #[inline]
    pub fn kind(&self, kind: u8) -> Option<&[u8]> {
        self.kinds.get(usize::from(kind)).map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fixed_fields_take_the_bits_their_range_needs() {
        let x = Quant::Fixed {
            min: 0.0,
            max: 2000.0,
            step: 0.125,
        };
        assert_eq!(x.max_wire(), 16_000);
        assert_eq!(x.bits(), 14);
        assert_eq!(x.quantize(-3.0), 0);
        assert_eq!(x.quantize(5000.0), 16_000);
        assert_eq!(x.quantize(f32::NAN), 0);
        assert_eq!(Quant::Uint { bits: 7 }.quantize(300.0), 127);
        assert_eq!(Quant::Angle { bits: 8 }.quantize(TAU), 0);
    }

    #[test]
    fn a_frame_fits_only_with_the_right_kinds_widths_and_values() {
        let schema = Schema {
            kinds: vec![Kind::new(
                "dot",
                vec![
                    Field::new("x", Quant::Uint { bits: 4 }),
                    Field::new("on", Quant::Uint { bits: 1 }),
                ],
            )],
        };
        let mut frame = super::super::Frame::default();
        frame.push(0, 1, &[15, 1]);
        frame.event(0, &[3, 0]);
        assert_eq!(schema.fits(&frame), Ok(()));
        for (kind, fields) in [(1u8, &[0u32, 0][..]), (0, &[1]), (0, &[16, 0])] {
            let mut bad = frame.clone();
            bad.push(kind, 2, fields);
            assert!(schema.fits(&bad).is_err(), "{kind} {fields:?}");
        }
    }

    #[test]
    fn bad_quantisations_are_refused() {
        assert!(Quant::Uint { bits: 0 }.check().is_err());
        assert!(Quant::Angle { bits: 17 }.check().is_err());
        let bad = Quant::Fixed {
            min: 1.0,
            max: 1.0,
            step: 0.1,
        };
        assert!(bad.check().is_err());
        let fine = Quant::Fixed {
            min: -1.0,
            max: 1.0,
            step: 0.01,
        };
        assert!(fine.check().is_ok());
    }

    proptest! {
        /// Every value within a field's range comes back within half a step
        /// (angles: half a step around the circle).
        #[test]
        fn a_round_trip_is_within_half_a_step(v in 0.0f32..2000.0, a in -10.0f32..10.0, n in 0u32..1000) {
            let x = Quant::Fixed { min: 0.0, max: 2000.0, step: 0.125 };
            prop_assert!((x.dequantize(x.quantize(v)) - v).abs() <= 0.0625 + 1e-3);
            let angle = Quant::Angle { bits: 10 };
            let back = angle.dequantize(angle.quantize(a));
            let diff = (back - a).rem_euclid(TAU);
            let step = TAU / 1024.0;
            prop_assert!(diff.min(TAU - diff) <= step / 2.0 + 1e-4);
            let count = Quant::Uint { bits: 10 };
            prop_assert_eq!(count.dequantize(count.quantize(n as f32)), n as f32);
        }
    }
}
