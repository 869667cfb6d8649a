//! Checks of values read from settings files (rules, maps, node and
//! matchmaking configuration), with errors that name the file, the field and
//! what would be accepted, because the person reading them is editing that
//! file.

use std::fmt::Display;
use std::ops::RangeInclusive;

/// A field of a settings file holds a value outside what it accepts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}: field `{field}`: {reason}")]
pub struct InvalidField {
    /// The file holding the bad value.
    pub file: String,
    /// The dotted path of the field, e.g. `limits.node_ttl_s` or `spawns[2]`.
    pub field: String,
    /// What is wrong and what would be accepted.
    pub reason: String,
}

/// Checks the fields of one file, stopping at the first failure.
#[derive(Clone, Copy, Debug)]
pub struct Check<'a> {
    file: &'a str,
}

impl<'a> Check<'a> {
    /// Checks fields of `file` (named in errors).
    pub fn new(file: &'a str) -> Self {
        Check { file }
    }

    /// `ok`, or `field` refused for `reason`.
    pub fn that(
        &self,
        ok: bool,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Result<(), InvalidField> {
        if ok {
            Ok(())
        } else {
            Err(InvalidField {
                file: self.file.to_owned(),
                field: field.into(),
                reason: reason.into(),
            })
        }
    }

    /// A number in `range`. NaN and infinities are in no range of finite
    /// bounds, so a float field is also refused when not finite.
    pub fn within<T>(
        &self,
        value: T,
        range: RangeInclusive<T>,
        field: &str,
    ) -> Result<(), InvalidField>
    where
        T: PartialOrd + Display,
    {
        self.that(
            range.contains(&value),
            field,
            format!(
                "must be in {}..={}, got {value}",
                range.start(),
                range.end()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_outside_the_range_name_the_file_field_and_range() {
        let c = Check::new("server.toml");
        assert_eq!(c.within(5_u32, 1..=10, "a"), Ok(()));
        assert_eq!(c.within(1.0_f32, 1.0..=10.0, "a"), Ok(()), "bounds are in");
        let err = c
            .within(0.5_f32, 1.0..=10.0, "limits.x")
            .expect_err("below");
        assert_eq!(
            err.to_string(),
            "server.toml: field `limits.x`: must be in 1..=10, got 0.5"
        );
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 11.0, -1.0] {
            assert!(c.within(bad, 1.0..=10.0, "x").is_err(), "{bad}");
        }
        assert!(c.within(11_u64, 1..=10, "x").is_err());
    }
}
