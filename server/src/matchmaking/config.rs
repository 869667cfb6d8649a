//! Matchmaking settings from `assets/matchmaking.toml`: the modes and how the
//! queue runs, validated with errors naming the file and field.

use serde::Deserialize;
use skirmish_shared::check::{Check, InvalidField, SettingsError, parse_toml, read};
use skirmish_shared::proto::ModeId;
use std::path::Path;
use std::time::Duration;

/// One mode players queue for.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeConfig {
    /// Its name in `queue`, e.g. `ffa`.
    pub id: ModeId,
    /// The game it plays, by the name the node serves it under (`arena`,
    /// `hill`, or a variant's name such as `arena-64`); left out, the node's
    /// first game.
    #[serde(default)]
    pub game: String,
    /// Teams a match is split into (2 to 4), balanced by rating; left out,
    /// every player for themselves. A team mode forms full matches only:
    /// `min_players`, `target_players` and `max_players` are equal and a
    /// multiple of `teams`.
    #[serde(default)]
    pub teams: Option<u8>,
    /// Fewest players a match may start with.
    pub min_players: usize,
    /// The match size to aim for.
    pub target_players: usize,
    /// Most players in a match.
    pub max_players: usize,
    /// A new ticket's rating window, `0..=1000000`.
    pub rating_window: f64,
    /// How much the window grows per second waited, `0..=1000000`.
    pub rating_window_growth_per_s: f64,
    /// The widest window, `rating_window..=1000000`.
    pub rating_window_max: f64,
    /// A short group starts once its oldest ticket has waited this long,
    /// in seconds, `0..=3600`.
    pub start_below_target_after_s: f64,
    /// A ticket that has waited this long (seconds, `0..=3600`) starts a
    /// match with server bots.
    #[serde(default)]
    pub backfill_after_s: Option<f64>,
}

/// A game a node serves, as its modes are checked against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GameSeats<'a> {
    /// The name the game is served under.
    pub name: &'a str,
    /// The most players a match of it seats.
    pub max_players: usize,
    /// Its teams (0: every player for themselves).
    pub teams: u8,
}

/// The matchmaking settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchmakingConfig {
    /// Seconds a ticket lives without a refresh, `1.5..=3600` (its node
    /// refreshes it every second).
    pub ticket_ttl_s: f64,
    /// Seconds the match-forming lease lives without a renewal,
    /// `0.1..=3600`.
    pub lease_ttl_s: f64,
    /// Milliseconds between forming rounds, `1..=60000`.
    pub round_interval_ms: u64,
    /// Seconds a player sent to another node has to arrive, `0.1..=3600`.
    pub join_window_s: f64,
    /// The modes.
    pub modes: Vec<ModeConfig>,
}

/// Why the settings were refused (read, parsed, or a value out of range).
pub type MatchmakingConfigError = SettingsError;

impl MatchmakingConfig {
    /// Reads and validates the settings for a node serving `games` (the
    /// first is the default of a mode that names none).
    pub fn load(path: &Path, games: &[GameSeats<'_>]) -> Result<Self, MatchmakingConfigError> {
        let (file, text) = read(path)?;
        Self::from_toml(&text, &file, games)
    }

    /// Parses and validates settings from TOML text.
    pub fn from_toml(
        text: &str,
        file: &str,
        games: &[GameSeats<'_>],
    ) -> Result<Self, MatchmakingConfigError> {
        let mut config: MatchmakingConfig = parse_toml(text, file)?;
        if let Some(default) = games.first() {
            for mode in config.modes.iter_mut().filter(|m| m.game.is_empty()) {
                mode.game = default.name.to_owned();
            }
        }
        config.validate(file, games)?;
        Ok(config)
    }

    /// Checks every number against its range, naming the field.
    fn validate(&self, file: &str, games: &[GameSeats<'_>]) -> Result<(), InvalidField> {
        let c = Check::new(file);
        // Its node refreshes it every second.
        c.within(self.ticket_ttl_s, 1.5..=3600.0, "ticket_ttl_s")?;
        c.within(self.lease_ttl_s, 0.1..=3600.0, "lease_ttl_s")?;
        c.within(self.round_interval_ms, 1..=60_000, "round_interval_ms")?;
        c.within(self.join_window_s, 0.1..=3600.0, "join_window_s")?;
        c.that(!self.modes.is_empty(), "modes", "needs at least one mode")?;
        for (i, m) in self.modes.iter().enumerate() {
            let field = |name: &str| format!("modes[{i}].{name}");
            let id = m.id.as_str();
            let id_ok = !id.is_empty()
                && id.len() <= 32
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            c.that(id_ok, field("id"), "must be 1 to 32 of a-z, 0-9 and _")?;
            c.that(
                !self.modes[..i].iter().any(|other| other.id == m.id),
                field("id"),
                format!("`{}` is defined twice", m.id),
            )?;
            c.that(
                1 <= m.min_players
                    && m.min_players <= m.target_players
                    && m.target_players <= m.max_players,
                field("min_players"),
                "needs 1 <= min_players <= target_players <= max_players",
            )?;
            let served: Vec<&str> = games.iter().map(|g| g.name).collect();
            let Some(game) = games.iter().find(|g| g.name == m.game) else {
                return Err(c
                    .that(
                        false,
                        field("game"),
                        format!("`{}` is not a game this node serves ({served:?})", m.game),
                    )
                    .expect_err("refused"));
            };
            c.that(
                m.max_players <= game.max_players,
                field("max_players"),
                format!(
                    "the {} rules allow at most {} players in a match",
                    m.game, game.max_players
                ),
            )?;
            c.that(
                m.teams.unwrap_or(0) == game.teams,
                field("teams"),
                match game.teams {
                    0 => format!(
                        "{} is every player for themselves: leave `teams` out",
                        m.game
                    ),
                    n => format!("{} is played in {n} teams: set `teams = {n}`", m.game),
                },
            )?;
            if let Some(teams) = m.teams {
                c.within(teams, 2..=4, &field("teams"))?;
                c.that(
                    m.min_players == m.max_players
                        && m.target_players == m.max_players
                        && m.max_players % usize::from(teams) == 0,
                    field("teams"),
                    "a team mode needs min_players = target_players = max_players, a multiple of teams",
                )?;
            }
            c.within(m.rating_window, 0.0..=1e6, &field("rating_window"))?;
            c.within(m.rating_window_max, 0.0..=1e6, &field("rating_window_max"))?;
            c.that(
                m.rating_window <= m.rating_window_max,
                field("rating_window"),
                "needs rating_window <= rating_window_max",
            )?;
            c.within(
                m.rating_window_growth_per_s,
                0.0..=1e6,
                &field("rating_window_growth_per_s"),
            )?;
            c.within(
                m.start_below_target_after_s,
                0.0..=3600.0,
                &field("start_below_target_after_s"),
            )?;
            if let Some(after) = m.backfill_after_s {
                c.within(after, 0.0..=3600.0, &field("backfill_after_s"))?;
            }
        }
        Ok(())
    }

    /// A mode by id.
    pub fn mode(&self, id: &ModeId) -> Option<&ModeConfig> {
        self.modes.iter().find(|m| m.id == *id)
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

    /// The games the shipped node serves, with their match sizes.
    const GAMES: &[GameSeats<'_>] = &[
        GameSeats {
            name: "arena",
            max_players: 16,
            teams: 0,
        },
        GameSeats {
            name: "hill",
            max_players: 16,
            teams: 2,
        },
        GameSeats {
            name: "arena-64",
            max_players: 64,
            teams: 0,
        },
    ];

    #[test]
    fn the_shipped_settings_are_valid() {
        let config =
            MatchmakingConfig::from_toml(SHIPPED, "matchmaking.toml", GAMES).expect("valid");
        let ffa = config.mode(&ModeId::from("ffa")).expect("ffa");
        assert_eq!(
            (ffa.min_players, ffa.target_players, ffa.max_players),
            (2, 16, 16)
        );
        assert_eq!((ffa.game.as_str(), ffa.teams), ("arena", None));
        let hill = config.mode(&ModeId::from("hill")).expect("hill");
        assert_eq!(
            (hill.game.as_str(), hill.teams, hill.max_players),
            ("hill", Some(2), 8)
        );
    }

    /// Every bad value is refused with its field named (regression: the
    /// test checked only that some error came, and huge values such as
    /// `ticket_ttl_s = 1e30` passed, to panic later in `Duration`).
    #[test]
    fn bad_values_name_the_field() {
        let small = [
            GameSeats {
                max_players: 8,
                ..GAMES[0]
            },
            GAMES[1],
        ];
        let err = MatchmakingConfig::from_toml(SHIPPED, "m.toml", &small).expect_err("16 > 8");
        assert_eq!(
            err.to_string(),
            "m.toml: field `modes[0].max_players`: the arena rules allow at most 8 players in a match"
        );
        let err =
            MatchmakingConfig::from_toml(SHIPPED, "m.toml", &GAMES[..1]).expect_err("no hill");
        assert!(
            err.to_string()
                .contains("`hill` is not a game this node serves"),
            "{err}"
        );
        let cases = [
            (
                "min_players = 2",
                "min_players = 20",
                "modes[0].min_players",
            ),
            ("lease_ttl_s = 3.0", "lease_ttl_s = 0.0", "lease_ttl_s"),
            ("ticket_ttl_s = 5.0", "ticket_ttl_s = 1e30", "ticket_ttl_s"),
            ("ticket_ttl_s = 5.0", "ticket_ttl_s = nan", "ticket_ttl_s"),
            (
                "round_interval_ms = 250",
                "round_interval_ms = 0",
                "round_interval_ms",
            ),
            (
                "join_window_s = 30.0",
                "join_window_s = -1.0",
                "join_window_s",
            ),
            (
                "rating_window = 100.0",
                "rating_window = -1.0",
                "modes[0].rating_window",
            ),
            (
                "rating_window_growth_per_s = 25.0",
                "rating_window_growth_per_s = inf",
                "modes[0].rating_window_growth_per_s",
            ),
            (
                "start_below_target_after_s = 15.0",
                "start_below_target_after_s = 1e9",
                "modes[0].start_below_target_after_s",
            ),
            (
                "backfill_after_s = 45.0",
                "backfill_after_s = -5.0",
                "modes[0].backfill_after_s",
            ),
            ("id = \"ffa\"", "id = \"Free For All\"", "modes[0].id"),
            ("teams = 2", "teams = 5", "modes[1].teams"),
            ("teams = 2", "teams = 3", "modes[1].teams"),
            (
                "game = \"arena\"",
                "game = \"arena\"\nteams = 2",
                "modes[0].teams",
            ),
        ];
        for (from, to, field) in cases {
            assert!(SHIPPED.contains(from), "the shipped file sets `{from}`");
            let text = SHIPPED.replacen(from, to, 1);
            let err = MatchmakingConfig::from_toml(&text, "m.toml", GAMES).expect_err(to);
            assert!(
                matches!(&err, MatchmakingConfigError::Invalid(e) if e.field == field),
                "{to}: {err}"
            );
        }
    }
}
