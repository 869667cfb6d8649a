//! The hill's tunables (`assets/hill.toml`), read from text and checked, so
//! every number of the game lives in data.

use serde::{Deserialize, Serialize};
use skirmish_shared::check::{Check, InvalidField, SettingsError, parse_toml, read};
use std::path::Path;

/// Why the rules file was refused (read, parsed, or a value out of range).
pub type RulesError = SettingsError;

/// Everything a hill match is played by, besides the tick rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Size, length and the win condition.
    #[serde(rename = "match")]
    pub match_rules: MatchRules,
    /// The field.
    pub field: Field,
    /// The hill in its middle.
    pub hill: HillRules,
    /// Bodies and movement.
    pub player: PlayerRules,
    /// Pushing enemies away.
    pub shove: ShoveRules,
}

/// Match size, length and win condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchRules {
    /// Players in a match, both teams together.
    pub max_players: u8,
    /// Match length, seconds.
    pub duration_s: u32,
    /// Seconds of holding the hill alone that win.
    pub score_to_win_s: u32,
}

/// The field's size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Units.
    pub width: f32,
    /// Units.
    pub height: f32,
}

/// The hill.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HillRules {
    /// Units; the hill is centred in the field.
    pub radius: f32,
}

/// Bodies and movement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlayerRules {
    /// Body radius.
    pub radius: f32,
    /// Top speed, units per second.
    pub max_speed: f32,
    /// Units per second squared.
    pub acceleration: f32,
}

/// Shoving.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShoveRules {
    /// How far beyond touching a shove reaches.
    pub reach: f32,
    /// Speed given to each enemy in reach.
    pub impulse: f32,
    /// Seconds between shoves.
    pub cooldown_s: f32,
}

impl Rules {
    /// Reads and checks a rules file.
    pub fn load(path: &Path) -> Result<Self, RulesError> {
        let (file, text) = read(path)?;
        Self::from_toml(&text, &file)
    }

    /// Parses and checks rules text; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, RulesError> {
        let rules: Rules = parse_toml(text, file)?;
        rules.validate(file)?;
        Ok(rules)
    }

    /// Checks every number against its documented range.
    pub fn validate(&self, file: &str) -> Result<(), InvalidField> {
        let c = Check::new(file);
        let m = &self.match_rules;
        c.within(m.max_players, 2..=64, "match.max_players")?;
        c.within(m.duration_s, 1..=3600, "match.duration_s")?;
        c.within(m.score_to_win_s, 1..=3600, "match.score_to_win_s")?;
        c.within(self.field.width, 200.0..=8000.0, "field.width")?;
        c.within(self.field.height, 200.0..=8000.0, "field.height")?;
        c.within(self.hill.radius, 20.0..=1000.0, "hill.radius")?;
        let short_side = self.field.width.min(self.field.height);
        c.that(
            self.hill.radius < short_side / 2.0,
            "hill.radius",
            format!("must be less than half the field's shorter side ({short_side})"),
        )?;
        let p = &self.player;
        c.within(p.radius, 5.0..=100.0, "player.radius")?;
        c.that(
            p.radius * 8.0 < short_side,
            "player.radius",
            "the field must be more than eight radii across",
        )?;
        c.within(p.max_speed, 10.0..=2000.0, "player.max_speed")?;
        c.within(p.acceleration, 10.0..=100_000.0, "player.acceleration")?;
        let s = &self.shove;
        c.within(s.reach, 0.0..=500.0, "shove.reach")?;
        c.within(s.impulse, 0.0..=5000.0, "shove.impulse")?;
        c.within(s.cooldown_s, 0.1..=60.0, "shove.cooldown_s")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../../assets/hill.toml");

    #[test]
    fn the_shipped_rules_are_valid() {
        let rules = Rules::from_toml(SHIPPED, "hill.toml").expect("valid");
        assert_eq!(rules.match_rules.max_players, 16);
    }

    #[test]
    fn bad_values_name_their_field() {
        for (from, to, field) in [
            ("max_players = 16", "max_players = 1", "match.max_players"),
            ("radius = 160.0", "radius = 600.0", "hill.radius"),
            ("cooldown_s = 1.0", "cooldown_s = nan", "shove.cooldown_s"),
            ("width = 1600.0", "width = 100.0", "field.width"),
        ] {
            let text = SHIPPED.replacen(from, to, 1);
            match Rules::from_toml(&text, "hill.toml") {
                Err(RulesError::Invalid(e)) => assert_eq!(e.field, field, "{to}"),
                other => panic!("{to}: {other:?}"),
            }
        }
        assert!(matches!(
            Rules::from_toml("[match]\nmax_players = 2\n", "hill.toml"),
            Err(RulesError::Parse { .. })
        ));
    }
}
