//! Matchmaking settings from `assets/matchmaking.toml`: the modes and how the
//! queue runs, validated with errors naming the file and field.

use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// One mode players queue for.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeConfig {
    /// Its name in `queue`, e.g. `ffa`.
    pub id: String,
    /// Fewest players a match may start with.
    pub min_players: usize,
    /// The match size to aim for.
    pub target_players: usize,
    /// Most players in a match.
    pub max_players: usize,
    /// A new ticket's rating window.
    pub rating_window: f64,
    /// How much the window grows per second waited.
    pub rating_window_growth_per_s: f64,
    /// The widest window.
    pub rating_window_max: f64,
    /// A short group starts once its oldest ticket has waited this long.
    pub start_below_target_after_s: f64,
    /// A ticket that has waited this long starts a match with server bots.
    #[serde(default)]
    pub backfill_after_s: Option<f64>,
}

/// The matchmaking settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchmakingConfig {
    /// Seconds a ticket lives without a refresh.
    pub ticket_ttl_s: f64,
    /// Seconds the match-forming lease lives without a renewal.
    pub lease_ttl_s: f64,
    /// Milliseconds between forming rounds.
    pub round_interval_ms: u64,
    /// Seconds a player sent to another node has to arrive.
    pub join_window_s: f64,
    /// The modes.
    pub modes: Vec<ModeConfig>,
}

/// Why the settings were refused.
#[derive(Debug, thiserror::Error)]
pub enum MatchmakingConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not TOML of the expected shape.
    #[error("{file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The parser's description, naming the key.
        message: String,
    },
    /// A value out of range.
    #[error("{file}: field `{field}`: {reason}")]
    Invalid {
        /// The file.
        file: String,
        /// The dotted field.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

impl MatchmakingConfig {
    /// Reads and validates the settings; `max_players` is the rules' match
    /// size, which no mode may exceed.
    pub fn load(path: &Path, max_players: usize) -> Result<Self, MatchmakingConfigError> {
        let file = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| MatchmakingConfigError::Read {
                file: file.clone(),
                source,
            })?;
        Self::from_toml(&text, &file, max_players)
    }

    /// Parses and validates settings from TOML text.
    pub fn from_toml(
        text: &str,
        file: &str,
        max_players: usize,
    ) -> Result<Self, MatchmakingConfigError> {
        let config: MatchmakingConfig =
            toml::from_str(text).map_err(|e| MatchmakingConfigError::Parse {
                file: file.to_owned(),
                message: e.to_string().trim_end().replace('\n', " | "),
            })?;
        config.validate(file, max_players)?;
        Ok(config)
    }

    fn validate(&self, file: &str, max_players: usize) -> Result<(), MatchmakingConfigError> {
        let bad = |field: String, reason: String| MatchmakingConfigError::Invalid {
            file: file.to_owned(),
            field,
            reason,
        };
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.ticket_ttl_s) {
            return Err(bad("ticket_ttl_s".into(), "must be positive".into()));
        }
        if !positive(self.lease_ttl_s) {
            return Err(bad("lease_ttl_s".into(), "must be positive".into()));
        }
        if self.round_interval_ms == 0 {
            return Err(bad("round_interval_ms".into(), "must be positive".into()));
        }
        if !positive(self.join_window_s) {
            return Err(bad("join_window_s".into(), "must be positive".into()));
        }
        if self.modes.is_empty() {
            return Err(bad("modes".into(), "needs at least one mode".into()));
        }
        for (i, m) in self.modes.iter().enumerate() {
            let field = |name: &str| format!("modes[{i}].{name}");
            let id_ok = !m.id.is_empty()
                && m.id.len() <= 32
                && m.id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !id_ok {
                return Err(bad(field("id"), "must be 1 to 32 of a-z, 0-9 and _".into()));
            }
            if self.modes[..i].iter().any(|other| other.id == m.id) {
                return Err(bad(field("id"), format!("`{}` is defined twice", m.id)));
            }
            if !(1 <= m.min_players
                && m.min_players <= m.target_players
                && m.target_players <= m.max_players)
            {
                return Err(bad(
                    field("min_players"),
                    "needs 1 <= min_players <= target_players <= max_players".into(),
                ));
            }
            if m.max_players > max_players {
                return Err(bad(
                    field("max_players"),
                    format!("the rules allow at most {max_players} players in a match"),
                ));
            }
            let windows = [m.rating_window, m.rating_window_max];
            if windows.iter().any(|w| !w.is_finite() || *w < 0.0)
                || m.rating_window > m.rating_window_max
            {
                return Err(bad(
                    field("rating_window"),
                    "needs 0 <= rating_window <= rating_window_max".into(),
                ));
            }
            if !m.rating_window_growth_per_s.is_finite() || m.rating_window_growth_per_s < 0.0 {
                return Err(bad(
                    field("rating_window_growth_per_s"),
                    "must be zero or more".into(),
                ));
            }
            if !m.start_below_target_after_s.is_finite() || m.start_below_target_after_s < 0.0 {
                return Err(bad(
                    field("start_below_target_after_s"),
                    "must be zero or more".into(),
                ));
            }
            if m.backfill_after_s
                .is_some_and(|b| !b.is_finite() || b < 0.0)
            {
                return Err(bad(
                    field("backfill_after_s"),
                    "must be zero or more".into(),
                ));
            }
        }
        Ok(())
    }

    /// A mode by id.
    pub fn mode(&self, id: &str) -> Option<&ModeConfig> {
        self.modes.iter().find(|m| m.id == id)
    }

    /// Ticket time to live.
    pub fn ticket_ttl(&self) -> Duration {
        Duration::from_secs_f64(self.ticket_ttl_s)
    }

    /// Lease time to live.
    pub fn lease_ttl(&self) -> Duration {
        Duration::from_secs_f64(self.lease_ttl_s)
    }

    /// Time between rounds.
    pub fn round_interval(&self) -> Duration {
        Duration::from_millis(self.round_interval_ms)
    }

    /// Time a redirected player has to arrive.
    pub fn join_window(&self) -> Duration {
        Duration::from_secs_f64(self.join_window_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../../assets/matchmaking.toml");

    #[test]
    fn the_shipped_settings_are_valid() {
        let config = MatchmakingConfig::from_toml(SHIPPED, "matchmaking.toml", 16).expect("valid");
        let ffa = config.mode("ffa").expect("ffa");
        assert_eq!(
            (ffa.min_players, ffa.target_players, ffa.max_players),
            (2, 16, 16)
        );
    }

    #[test]
    fn bad_values_name_the_field() {
        let err = MatchmakingConfig::from_toml(SHIPPED, "m.toml", 8).expect_err("16 > 8");
        assert_eq!(
            err.to_string(),
            "m.toml: field `modes[0].max_players`: the rules allow at most 8 players in a match"
        );
        let text = SHIPPED.replace("min_players = 2", "min_players = 20");
        let err = MatchmakingConfig::from_toml(&text, "m.toml", 16).expect_err("min > target");
        assert!(err.to_string().contains("`modes[0].min_players`"), "{err}");
        let text = SHIPPED.replace("lease_ttl_s = 3.0", "lease_ttl_s = 0.0");
        assert!(MatchmakingConfig::from_toml(&text, "m.toml", 16).is_err());
    }
}
