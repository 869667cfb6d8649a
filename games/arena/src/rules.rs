//! The game's tunables (`rules.toml`) and arena layout (`maps/*.toml`), read
//! from text and validated, so every number of the game lives in data.
//!
//! Errors name the file, the field and the reason, because the person reading
//! them is editing one of those files.

use crate::geom::{Rect, Vec2};
use serde::{Deserialize, Serialize};
use skirmish_shared::check::{Check, SettingsError, parse_toml as parse, read};
use std::path::Path;

/// Players per match the simulation accepts.
pub const MAX_PLAYERS_RANGE: std::ops::RangeInclusive<u8> = 2..=64;

/// The largest arena side, in units. Snapshots carry positions as `u16` in
/// eighths of a unit (see `PROTOCOL.md`), which caps a side at 8191 units.
pub const MAX_ARENA_SIDE: f32 = 8000.0;

/// The most obstacles a map may have: each is checked against every moving
/// body at every movement step.
pub const MAX_OBSTACLES: usize = 1024;

/// The most spawn points a map may have.
pub const MAX_SPAWNS: usize = 1024;

/// Why a rules or map file was refused (read, parsed, or a value out of
/// its range).
pub type AssetError = SettingsError;

/// The rules of a match: how players move, shoot, heal and win.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Match size, length and win condition.
    #[serde(rename = "match")]
    pub match_rules: MatchRules,
    /// Player body and movement.
    pub player: PlayerRules,
    /// Projectiles and firing.
    pub projectile: ProjectileRules,
    /// Health packs.
    pub health_pack: HealthPackRules,
    /// What each player receives (absent: everything).
    #[serde(default)]
    pub interest: InterestRules,
    /// How far back shots are judged (absent: 200 ms).
    #[serde(default)]
    pub lag_compensation: LagCompensationRules,
}

/// Match size, length and win condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchRules {
    /// Most players in one match, in [`MAX_PLAYERS_RANGE`].
    pub max_players: u8,
    /// Match length in seconds, `1..=3600`; the match ends when it runs out.
    pub duration_s: u32,
    /// Kills that end the match at once, `1..=100000`.
    pub kill_limit: u32,
}

/// Player body and movement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlayerRules {
    /// Body radius in units, `1..=200`; bodies are circles.
    pub radius: f32,
    /// Health at spawn and the most a health pack heals to, `1..=255`.
    pub max_health: u8,
    /// Top speed in units per second, `1..=5000` (and, with the tick rate,
    /// at most `sim::MAX_SLIDE_STEPS` half-radii a tick; see
    /// `sim::GameSpec::new`, which checks it).
    pub max_speed: f32,
    /// How fast velocity turns towards the wanted one while a move key is
    /// held, in units per second squared, `1..=100000`.
    pub acceleration: f32,
    /// Fraction of velocity lost per second while no move key is held,
    /// `0..=100` (anything at or above the tick rate stops a body in one tick).
    pub friction: f32,
    /// Seconds from death to respawn, `0..=60`.
    pub respawn_s: f32,
}

/// Projectiles and firing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectileRules {
    /// Units per second, `1..=20000`. Shots are swept along their whole
    /// path each tick, so no speed skips a body or a wall.
    pub speed: f32,
    /// Radius in units, for hits against bodies and walls, `0.1..=100`.
    pub radius: f32,
    /// Seconds a projectile flies before it vanishes, `0.01..=60`.
    pub life_s: f32,
    /// Health removed from the player hit, `1..=255`.
    pub damage: u8,
    /// Seconds between two shots of one player, `0.01..=60`.
    pub cooldown_s: f32,
}

/// Health packs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthPackRules {
    /// Health restored, up to the player's maximum, `1..=255`.
    pub heal: u8,
    /// Pick-up radius in units, `0.1..=500`.
    pub radius: f32,
    /// Seconds from pick-up until the pack is back, `0.1..=3600`.
    pub respawn_s: f32,
}

/// What each player receives of the arena.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterestRules {
    /// Players and projectiles farther than this from a player's body are
    /// not sent to that player, `0` (everything) or `100..=20000` units.
    pub view_radius: f32,
}

/// Lag compensation: shots judged against where their targets were on the
/// shooter's screen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LagCompensationRules {
    /// The furthest back, in milliseconds, a shot is judged against where
    /// players were when its shooter saw them, `0..=1000` (0 turns lag
    /// compensation off). A shooter whose view is further behind than
    /// this is not rewound at all: their shots hit where players are now.
    pub max_rewind_ms: u32,
}

impl Default for LagCompensationRules {
    fn default() -> Self {
        LagCompensationRules { max_rewind_ms: 200 }
    }
}

/// An arena: its size, walls and the fixed points where things appear.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Map {
    /// Shown to players.
    pub name: String,
    /// Arena width in units; the arena spans `0..width`.
    pub width: f32,
    /// Arena height in units; the arena spans `0..height`.
    pub height: f32,
    /// Where players (re)spawn.
    pub spawns: Vec<Vec2>,
    /// Where health packs lie.
    pub health_packs: Vec<Vec2>,
    /// Static walls inside the arena.
    #[serde(default)]
    pub obstacles: Vec<Rect>,
}

/// Reads a file to a string, naming it in the error.
impl Rules {
    /// Reads and validates a rules file.
    pub fn load(path: &Path) -> Result<Self, AssetError> {
        let (file, text) = read(path)?;
        Self::from_toml(&text, &file)
    }

    /// Parses and validates rules from TOML text; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, AssetError> {
        let rules: Rules = parse(text, file)?;
        rules.validate(file)?;
        Ok(rules)
    }

    /// Checks every field against its documented range: what the
    /// simulation can run with. Every duration is at most an hour, so at
    /// the highest tick rate none is more than `3600 × 128` ticks and the
    /// simulation's tick arithmetic stays far from `u32::MAX`.
    pub fn validate(&self, file: &str) -> Result<(), AssetError> {
        let c = Check::new(file);
        let m = &self.match_rules;
        c.within(m.max_players, MAX_PLAYERS_RANGE, "match.max_players")?;
        c.within(m.duration_s, 1..=3600, "match.duration_s")?;
        c.within(m.kill_limit, 1..=100_000, "match.kill_limit")?;

        let p = &self.player;
        c.within(p.radius, 1.0..=200.0, "player.radius")?;
        c.within(p.max_health, 1..=u8::MAX, "player.max_health")?;
        c.within(p.max_speed, 1.0..=5000.0, "player.max_speed")?;
        c.within(p.acceleration, 1.0..=100_000.0, "player.acceleration")?;
        c.within(p.friction, 0.0..=100.0, "player.friction")?;
        c.within(p.respawn_s, 0.0..=60.0, "player.respawn_s")?;

        let pr = &self.projectile;
        c.within(pr.speed, 1.0..=20_000.0, "projectile.speed")?;
        c.within(pr.radius, 0.1..=100.0, "projectile.radius")?;
        c.within(pr.life_s, 0.01..=60.0, "projectile.life_s")?;
        c.within(pr.damage, 1..=u8::MAX, "projectile.damage")?;
        c.within(pr.cooldown_s, 0.01..=60.0, "projectile.cooldown_s")?;

        let h = &self.health_pack;
        c.within(h.heal, 1..=u8::MAX, "health_pack.heal")?;
        c.within(h.radius, 0.1..=500.0, "health_pack.radius")?;
        c.within(h.respawn_s, 0.1..=3600.0, "health_pack.respawn_s")?;

        let r = self.interest.view_radius;
        c.that(
            r == 0.0 || (100.0..=20_000.0).contains(&r),
            "interest.view_radius",
            format!("must be 0 or in 100..=20000, got {r}"),
        )?;
        c.within(
            self.lag_compensation.max_rewind_ms,
            0..=1000,
            "lag_compensation.max_rewind_ms",
        )?;
        Ok(())
    }
}

impl Map {
    /// Reads and validates a map file against the rules it will be played with.
    pub fn load(path: &Path, rules: &Rules) -> Result<Self, AssetError> {
        let (file, text) = read(path)?;
        Self::from_toml(&text, &file, rules)
    }

    /// Parses and validates a map from TOML text; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str, rules: &Rules) -> Result<Self, AssetError> {
        let map: Map = parse(text, file)?;
        map.validate(file, rules)?;
        Ok(map)
    }

    /// Checks the layout: sizes, everything inside the arena, spawn points
    /// where a player fits.
    pub fn validate(&self, file: &str, rules: &Rules) -> Result<(), AssetError> {
        let c = Check::new(file);
        let side_ok = |v: f32| v.is_finite() && (100.0..=MAX_ARENA_SIDE).contains(&v);
        c.that(
            side_ok(self.width),
            "width",
            format!("must be in 100..={MAX_ARENA_SIDE}, got {}", self.width),
        )?;
        c.that(
            side_ok(self.height),
            "height",
            format!("must be in 100..={MAX_ARENA_SIDE}, got {}", self.height),
        )?;
        c.that(
            !self.name.trim().is_empty() && self.name.len() <= 64,
            "name",
            "must be 1 to 64 bytes of text",
        )?;
        // Every step of every moving body is checked against every obstacle.
        c.that(
            self.obstacles.len() <= MAX_OBSTACLES,
            "obstacles",
            format!("at most {MAX_OBSTACLES}, got {}", self.obstacles.len()),
        )?;
        c.that(
            self.spawns.len() <= MAX_SPAWNS,
            "spawns",
            format!("at most {MAX_SPAWNS}, got {}", self.spawns.len()),
        )?;
        let inside = |p: Vec2, margin: f32| {
            p.is_finite()
                && p.x >= margin
                && p.y >= margin
                && p.x <= self.width - margin
                && p.y <= self.height - margin
        };
        for (i, o) in self.obstacles.iter().enumerate() {
            let field = format!("obstacles[{i}]");
            c.that(
                o.w.is_finite() && o.h.is_finite() && o.w > 0.0 && o.h > 0.0,
                &field,
                "w and h must be positive",
            )?;
            c.that(
                inside(Vec2::new(o.x, o.y), 0.0) && inside(Vec2::new(o.right(), o.bottom()), 0.0),
                &field,
                "must lie inside the arena",
            )?;
        }
        c.that(
            !self.spawns.is_empty(),
            "spawns",
            "needs at least one spawn point",
        )?;
        let radius = rules.player.radius;
        for (i, s) in self.spawns.iter().enumerate() {
            let field = format!("spawns[{i}]");
            c.that(
                inside(*s, radius),
                &field,
                format!(
                    "({}, {}) must be at least player.radius from the arena edge",
                    s.x, s.y
                ),
            )?;
            let blocked = self
                .obstacles
                .iter()
                .position(|o| o.overlaps_circle(*s, radius));
            c.that(
                blocked.is_none(),
                &field,
                format!(
                    "a player there would overlap obstacles[{}]",
                    blocked.unwrap_or(0)
                ),
            )?;
        }
        c.that(
            self.health_packs.len() <= 255,
            "health_packs",
            "at most 255",
        )?;
        for (i, h) in self.health_packs.iter().enumerate() {
            c.that(
                inside(*h, 0.0),
                format!("health_packs[{i}]"),
                format!("({}, {}) must lie inside the arena", h.x, h.y),
            )?;
        }
        Ok(())
    }

    /// The arena's outer bounds as a rectangle.
    pub fn bounds(&self) -> Rect {
        Rect {
            x: 0.0,
            y: 0.0,
            w: self.width,
            h: self.height,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const RULES: &str = include_str!("../../../assets/rules.toml");
    pub(crate) const MAP: &str = include_str!("../../../assets/maps/arena.toml");

    fn rules() -> Rules {
        Rules::from_toml(RULES, "rules.toml").expect("shipped rules are valid")
    }

    #[test]
    fn shipped_rules_and_map_are_valid() {
        let rules = rules();
        assert_eq!(rules.player.max_health, 100);
        let map = Map::from_toml(MAP, "arena.toml", &rules).expect("shipped map is valid");
        assert_eq!((map.width, map.height), (2000.0, 2000.0));
    }

    #[test]
    fn bad_values_name_file_field_and_reason() {
        let text = RULES.replace("max_speed = 300.0", "max_speed = -1.0");
        let err = Rules::from_toml(&text, "custom.toml").expect_err("negative speed");
        assert_eq!(
            err.to_string(),
            "custom.toml: field `player.max_speed`: must be in 1..=5000, got -1"
        );

        let text = RULES.replace("max_players = 16", "max_players = 65");
        let err = Rules::from_toml(&text, "custom.toml").expect_err("too many players");
        assert!(
            err.to_string()
                .contains("`match.max_players`: must be in 2..=64, got 65"),
            "{err}"
        );
    }

    /// Every numeric rule has an upper bound as well as a lower one, so no
    /// duration can push the simulation's tick arithmetic towards overflow
    /// and no speed can make a tick's movement loop long (regression: only
    /// positivity was checked, and `cooldown_s = 1e30` saturated to
    /// `u32::MAX` ticks, which `tick + cooldown` then overflowed).
    #[test]
    fn every_numeric_rule_is_bounded_on_both_sides() {
        let cases = [
            ("max_players = 16", "max_players = 1", "match.max_players"),
            ("duration_s = 120", "duration_s = 3601", "match.duration_s"),
            ("kill_limit = 20", "kill_limit = 0", "match.kill_limit"),
            ("kill_limit = 20", "kill_limit = 100001", "match.kill_limit"),
            ("radius = 20.0", "radius = 201.0", "player.radius"),
            ("max_health = 100", "max_health = 0", "player.max_health"),
            (
                "max_speed = 300.0",
                "max_speed = 5001.0",
                "player.max_speed",
            ),
            ("max_speed = 300.0", "max_speed = nan", "player.max_speed"),
            (
                "acceleration = 1500.0",
                "acceleration = 1e9",
                "player.acceleration",
            ),
            ("friction = 10.0", "friction = -1.0", "player.friction"),
            ("friction = 10.0", "friction = 101.0", "player.friction"),
            ("respawn_s = 2.0", "respawn_s = 61.0", "player.respawn_s"),
            ("respawn_s = 2.0", "respawn_s = inf", "player.respawn_s"),
            ("speed = 900.0", "speed = 20001.0", "projectile.speed"),
            ("radius = 4.0", "radius = 0.0", "projectile.radius"),
            ("radius = 4.0", "radius = 101.0", "projectile.radius"),
            ("life_s = 1.0", "life_s = 0.0", "projectile.life_s"),
            ("life_s = 1.0", "life_s = 61.0", "projectile.life_s"),
            ("damage = 25", "damage = 0", "projectile.damage"),
            (
                "cooldown_s = 0.25",
                "cooldown_s = 1e30",
                "projectile.cooldown_s",
            ),
            (
                "cooldown_s = 0.25",
                "cooldown_s = 0.0",
                "projectile.cooldown_s",
            ),
            ("heal = 40", "heal = 0", "health_pack.heal"),
            ("radius = 16.0", "radius = 501.0", "health_pack.radius"),
            (
                "respawn_s = 10.0",
                "respawn_s = 3601.0",
                "health_pack.respawn_s",
            ),
            (
                "respawn_s = 10.0",
                "respawn_s = 0.0",
                "health_pack.respawn_s",
            ),
        ];
        for (from, to, field) in cases {
            assert!(RULES.contains(from), "the shipped rules have `{from}`");
            let text = RULES.replacen(from, to, 1);
            let err = Rules::from_toml(&text, "custom.toml").expect_err(to);
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!("custom.toml: field `{field}`: must be in ")),
                "{to}: {msg}"
            );
        }
        // The bounds themselves are accepted.
        for (from, to) in [
            ("cooldown_s = 0.25", "cooldown_s = 60.0"),
            ("respawn_s = 10.0", "respawn_s = 3600.0"),
            ("friction = 10.0", "friction = 0.0"),
            ("kill_limit = 20", "kill_limit = 100000"),
        ] {
            let text = RULES.replacen(from, to, 1);
            Rules::from_toml(&text, "custom.toml").expect(to);
        }
    }

    #[test]
    fn a_map_with_too_many_obstacles_is_refused() {
        let rules = rules();
        let obstacles = (0..=MAX_OBSTACLES)
            .map(|i| format!("{{ x = {}.0, y = 10.0, w = 1.0, h = 1.0 }}", i % 90))
            .collect::<Vec<_>>()
            .join(", ");
        let text = format!(
            "name = \"t\"\nwidth = 500.0\nheight = 500.0\nspawns = [{{ x = 250.0, y = 250.0 }}]\nhealth_packs = []\nobstacles = [{obstacles}]\n"
        );
        let err = Map::from_toml(&text, "t.toml", &rules).expect_err("too many");
        assert_eq!(
            err.to_string(),
            format!("t.toml: field `obstacles`: at most {MAX_OBSTACLES}, got 1025")
        );
    }

    #[test]
    fn parse_errors_name_the_key() {
        let text = RULES.replace("damage = 25", "damage = \"lots\"");
        let err = Rules::from_toml(&text, "custom.toml").expect_err("string damage");
        let msg = err.to_string();
        assert!(msg.starts_with("custom.toml: "), "{msg}");
        assert!(msg.contains("damage"), "{msg}");

        let text = RULES.replace("damage = 25", "damage = 25\ndamgae = 3");
        let err = Rules::from_toml(&text, "custom.toml").expect_err("unknown field");
        assert!(err.to_string().contains("damgae"), "{err}");
    }

    #[test]
    fn spawn_inside_an_obstacle_is_refused() {
        let rules = rules();
        let text = "name = \"t\"\nwidth = 500.0\nheight = 500.0\nspawns = [{ x = 100.0, y = 100.0 }]\nhealth_packs = []\nobstacles = [{ x = 90.0, y = 90.0, w = 40.0, h = 40.0 }]\n";
        let err = Map::from_toml(text, "t.toml", &rules).expect_err("blocked spawn");
        assert_eq!(
            err.to_string(),
            "t.toml: field `spawns[0]`: a player there would overlap obstacles[0]"
        );
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let err = Rules::load(Path::new("/nonexistent/rules.toml")).expect_err("no file");
        assert!(
            err.to_string()
                .starts_with("/nonexistent/rules.toml: cannot read"),
            "{err}"
        );
    }
}
