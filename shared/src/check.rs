//! Reading settings files (a game's rules and maps, the node's and
//! matchmaking's configuration) and checking their values, with errors that
//! name the file, the field and what would be accepted, because the person
//! reading them is editing that file.

use serde::de::DeserializeOwned;
use std::fmt::Display;
use std::ops::RangeInclusive;
use std::path::Path;

/// Why a settings file was refused: it could not be read, it is not TOML of
/// the expected shape, or a value is out of its range.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read at all.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file that was being read.
        file: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Not valid TOML, or not the expected shape; the message names the key
    /// and the line.
    #[error("{file}: {message}")]
    Parse {
        /// The file that was being parsed.
        file: String,
        /// The parser's description, naming the key and position.
        message: String,
    },
    /// A value outside what is accepted.
    #[error(transparent)]
    Invalid(#[from] InvalidField),
}

/// Reads a settings file: its name for errors, and its text.
pub fn read(path: &Path) -> Result<(String, String), SettingsError> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((file, text)),
        Err(source) => Err(SettingsError::Io { file, source }),
    }
}

/// Parses a settings file's TOML text; `file` names it in errors.
pub fn parse_toml<T: DeserializeOwned>(text: &str, file: &str) -> Result<T, SettingsError> {
    toml::from_str(text).map_err(|e| SettingsError::Parse {
        file: file.to_owned(),
        message: e.to_string().trim_end().replace('\n', " | "),
    })
}

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
