//! Which boards exist and how long their data lives, from
//! `assets/leaderboards.toml`, validated with errors that name the file, the
//! field and the reason (the reader is editing that file).

use super::{LeaderboardError, Period};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Seconds in a day.
const DAY_S: u64 = 86_400;

/// Default time a finished period's board is kept after its end: a week, so
/// "last week's winners" can still be read by an operator in Redis.
pub const DEFAULT_GRACE_S: u64 = 7 * DAY_S;

/// Default time a match stays marked as applied: a month, far longer than
/// any result waits in a node's outbox.
pub const DEFAULT_APPLIED_TTL_S: u64 = 30 * DAY_S;

/// Longest accepted grace or marker lifetime: a (leap) year.
const MAX_TTL_S: u64 = 366 * DAY_S;

/// Longest board id; ids appear in keys and URLs.
const MAX_ID_LEN: usize = 32;

/// How a match's value combines with what the board holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// Adds the value to the player's total (kills over all matches).
    Increment,
    /// Keeps the best value; only a strictly better one replaces it.
    Best,
    /// Replaces with the latest value (the current rating).
    Set,
}

/// Which per-player number of a match a board takes: `rating`, or the name
/// of a stat the game reports (the arena's `kills`, `deaths`, `score`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(from = "String", into = "String")]
pub enum Source {
    /// The player's new rating after the match (skipped when unrated).
    Rating,
    /// A stat by name; a player whose game did not report it is skipped.
    Stat(String),
}

impl From<String> for Source {
    fn from(name: String) -> Self {
        if name == "rating" {
            Source::Rating
        } else {
            Source::Stat(name)
        }
    }
}

impl From<Source> for String {
    fn from(source: Source) -> Self {
        match source {
            Source::Rating => "rating".to_owned(),
            Source::Stat(name) => name,
        }
    }
}

impl Source {
    /// The stat a board takes, if not the rating.
    pub fn stat(&self) -> Option<&str> {
        match self {
            Source::Rating => None,
            Source::Stat(name) => Some(name),
        }
    }
}

/// One board.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BoardDef {
    /// Its name in queries and storage keys: 1 to 32 of `a-z`, `0-9`, `_`.
    pub id: String,
    /// How a match's value combines with the stored one.
    pub operator: Operator,
    /// Which number of a match it takes.
    pub source: Source,
}

/// Every board, the periods each keeps, and how long data lives.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderboardConfig {
    /// The boards, in the order they are listed to clients. (Defaulted
    /// only so that leaving them out is reported by `validate`, with a
    /// hint, rather than as a bare missing key.)
    #[serde(default)]
    pub boards: Vec<BoardDef>,
    /// The periods every board keeps; a match is written to each.
    #[serde(default = "default_periods")]
    pub periods: Vec<Period>,
    /// Seconds a daily or weekly board is kept after its period ends before
    /// storage drops it. Queries only ever read the current period, so this
    /// only decides how long old periods stay inspectable.
    #[serde(default = "default_grace_s")]
    pub grace_s: u64,
    /// Seconds a match id is remembered as applied. A submission repeated
    /// later than this is counted again, so it must exceed any outage the
    /// results outbox may wait out.
    #[serde(default = "default_applied_ttl_s")]
    pub applied_ttl_s: u64,
}

fn default_periods() -> Vec<Period> {
    Period::ALL.to_vec()
}

fn default_grace_s() -> u64 {
    DEFAULT_GRACE_S
}

fn default_applied_ttl_s() -> u64 {
    DEFAULT_APPLIED_TTL_S
}

impl Default for LeaderboardConfig {
    /// The shipped `assets/leaderboards.toml`.
    fn default() -> Self {
        let board = |id: &str, operator, source| BoardDef {
            id: id.to_owned(),
            operator,
            source,
        };
        LeaderboardConfig {
            boards: vec![
                board("kills", Operator::Increment, Source::Stat("kills".into())),
                board("best_score", Operator::Best, Source::Stat("score".into())),
                board("rating", Operator::Set, Source::Rating),
                board(
                    "hill_time",
                    Operator::Increment,
                    Source::Stat("hill_s".into()),
                ),
            ],
            periods: default_periods(),
            grace_s: DEFAULT_GRACE_S,
            applied_ttl_s: DEFAULT_APPLIED_TTL_S,
        }
    }
}

impl LeaderboardConfig {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, LeaderboardError> {
        let file = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| LeaderboardError::ConfigRead {
                file: file.clone(),
                source,
            })?;
        Self::from_toml(&text, &file)
    }

    /// Parses and validates configuration text; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, LeaderboardError> {
        let config: LeaderboardConfig =
            toml::from_str(text).map_err(|e| LeaderboardError::ConfigParse {
                file: file.to_owned(),
                message: e.to_string(),
            })?;
        config.validate(file)?;
        Ok(config)
    }

    /// Checks what the types cannot: ids, uniqueness, ranges, and that the
    /// rating board keeps the all-time period [`super::Leaderboards::ratings`]
    /// reads.
    pub fn validate(&self, file: &str) -> Result<(), LeaderboardError> {
        let invalid = |field: String, reason: String| LeaderboardError::Config {
            file: file.to_owned(),
            field,
            reason,
        };
        if self.boards.is_empty() {
            return Err(invalid(
                "boards".into(),
                "define at least one board ([[boards]] with id, operator and source)".into(),
            ));
        }
        let well_formed = |name: &str| {
            !name.is_empty()
                && name.len() <= MAX_ID_LEN
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        for (idx, board) in self.boards.iter().enumerate() {
            let id = &board.id;
            if !well_formed(id) {
                return Err(invalid(
                    format!("boards[{idx}].id"),
                    format!("`{id}` must be 1 to {MAX_ID_LEN} of a-z, 0-9 and _"),
                ));
            }
            if let Some(stat) = board.source.stat().filter(|s| !well_formed(s)) {
                return Err(invalid(
                    format!("boards[{idx}].source"),
                    format!(
                        "`{stat}` must be `rating` or a stat name: 1 to {MAX_ID_LEN} of a-z, 0-9 and _"
                    ),
                ));
            }
            if let Some(first) = self.boards[..idx].iter().position(|b| b.id == *id) {
                return Err(invalid(
                    format!("boards[{idx}].id"),
                    format!("`{id}` is already the id of boards[{first}]"),
                ));
            }
        }
        if self.periods.is_empty() {
            return Err(invalid(
                "periods".into(),
                "list at least one of \"all_time\", \"daily\", \"weekly\"".into(),
            ));
        }
        for (idx, period) in self.periods.iter().enumerate() {
            if self.periods[..idx].contains(period) {
                return Err(invalid(
                    format!("periods[{idx}]"),
                    format!("\"{period}\" is listed twice"),
                ));
            }
        }
        if self.rating_board().is_some() && !self.periods.contains(&Period::AllTime) {
            return Err(invalid(
                "periods".into(),
                "a board with operator \"set\" and source \"rating\" needs \"all_time\": \
                 current ratings are read from it"
                    .into(),
            ));
        }
        if self.grace_s > MAX_TTL_S {
            return Err(invalid(
                "grace_s".into(),
                format!("{} is more than a year ({MAX_TTL_S})", self.grace_s),
            ));
        }
        if !(DAY_S..=MAX_TTL_S).contains(&self.applied_ttl_s) {
            return Err(invalid(
                "applied_ttl_s".into(),
                format!(
                    "{} must be from a day ({DAY_S}) to a year ({MAX_TTL_S}); shorter would \
                     count a match twice if its results wait out a long outage",
                    self.applied_ttl_s
                ),
            ));
        }
        Ok(())
    }

    /// A board by id.
    pub fn board(&self, id: &str) -> Option<&BoardDef> {
        self.boards.iter().find(|b| b.id == id)
    }

    /// The board current ratings are read from: the first with operator
    /// `set` and source `rating`.
    pub fn rating_board(&self) -> Option<&BoardDef> {
        self.boards
            .iter()
            .find(|b| b.operator == Operator::Set && b.source == Source::Rating)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped file, so a broken edit fails the unit tests.
    const SHIPPED: &str = include_str!("../../../assets/leaderboards.toml");

    fn refused(text: &str) -> (String, String) {
        match LeaderboardConfig::from_toml(text, "lb.toml") {
            Err(LeaderboardError::Config {
                file,
                field,
                reason,
            }) => {
                assert_eq!(file, "lb.toml");
                (field, reason)
            }
            other => panic!("expected a field error for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn the_shipped_file_is_the_default() {
        let config = LeaderboardConfig::from_toml(SHIPPED, "leaderboards.toml").expect("valid");
        assert_eq!(config, LeaderboardConfig::default());
    }

    #[test]
    fn omitted_settings_take_their_defaults() {
        let config = LeaderboardConfig::from_toml(
            "[[boards]]\nid = \"wins\"\noperator = \"increment\"\nsource = \"score\"\n",
            "lb.toml",
        )
        .expect("valid");
        assert_eq!(config.periods, Period::ALL);
        assert_eq!(config.grace_s, DEFAULT_GRACE_S);
        assert_eq!(config.applied_ttl_s, DEFAULT_APPLIED_TTL_S);
        assert!(config.rating_board().is_none());
    }

    #[test]
    fn invalid_settings_name_the_field_and_reason() {
        let board = |id: &str| {
            format!("[[boards]]\nid = \"{id}\"\noperator = \"best\"\nsource = \"score\"\n")
        };
        let daily_ratings = concat!(
            "periods = [\"daily\"]\n",
            "[[boards]]\nid = \"r\"\noperator = \"set\"\nsource = \"rating\"\n",
        );
        let cases = [
            (
                "periods = [\"daily\"]\n".to_owned(),
                "boards",
                "at least one board",
            ),
            (board("Kills"), "boards[0].id", "a-z, 0-9 and _"),
            (
                "[[boards]]\nid = \"a\"\noperator = \"best\"\nsource = \"Kills!\"\n".to_owned(),
                "boards[0].source",
                "a stat name",
            ),
            (board(""), "boards[0].id", "1 to 32"),
            (board(&"x".repeat(33)), "boards[0].id", "1 to 32"),
            (
                format!("{}{}", board("a"), board("a")),
                "boards[1].id",
                "id of boards[0]",
            ),
            (
                format!("periods = []\n{}", board("a")),
                "periods",
                "at least one",
            ),
            (
                format!("periods = [\"daily\", \"daily\"]\n{}", board("a")),
                "periods[1]",
                "twice",
            ),
            (daily_ratings.to_owned(), "periods", "needs \"all_time\""),
            (
                format!("grace_s = 99999999\n{}", board("a")),
                "grace_s",
                "more than a year",
            ),
            (
                format!("applied_ttl_s = 60\n{}", board("a")),
                "applied_ttl_s",
                "count a match twice",
            ),
        ];
        for (text, field, reason) in cases {
            let (got_field, got_reason) = refused(&text);
            assert_eq!(got_field, field, "{text}");
            assert!(
                got_reason.contains(reason),
                "{got_reason:?} lacks {reason:?}"
            );
        }
    }

    #[test]
    fn unknown_keys_and_values_are_parse_errors_naming_them() {
        for (text, mentions) in [
            (
                "[[boards]]\nid = \"a\"\noperator = \"max\"\nsource = \"score\"\n",
                "max",
            ),
            ("periods = [\"monthly\"]\n", "monthly"),
            ("grace = 5\n", "grace"),
        ] {
            match LeaderboardConfig::from_toml(text, "lb.toml") {
                Err(e @ LeaderboardError::ConfigParse { .. }) => {
                    let message = e.to_string();
                    assert!(message.starts_with("lb.toml: "), "{message}");
                    assert!(message.contains(mentions), "{message} lacks {mentions}");
                }
                other => panic!("expected a parse error for {text:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_missing_file_is_a_read_error_naming_it() {
        let err = LeaderboardConfig::load(Path::new("/nonexistent/lb.toml")).expect_err("missing");
        assert!(matches!(err, LeaderboardError::ConfigRead { .. }));
        assert!(
            err.to_string()
                .starts_with("/nonexistent/lb.toml: cannot read")
        );
    }
}
