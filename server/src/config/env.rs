//! The environment's layer of the configuration: `SKIRMISH_<KEY>` sets the
//! top-level setting `key`, and `SKIRMISH_<SECTION>__<KEY>` (two
//! underscores) the setting `key` of `[section]`:
//!
//! ```text
//! SKIRMISH_TICK_RATE=60
//! SKIRMISH_REDIS_URL=redis://10.0.0.5:6379/
//! SKIRMISH_LIMITS__MAX_CONNECTIONS=5000
//! SKIRMISH_WEBTRANSPORT__ENABLED=true
//! SKIRMISH_ALLOWED_ORIGINS='["https://play.example.com"]'
//! ```
//!
//! A value is read as a TOML value when it is one (`60`, `true`, a list,
//! `"quoted text"`), else as text. Variables whose first part names no
//! setting belong to something else (`SKIRMISH_PROFILE` is `play.sh`'s) and
//! are left alone; `--print-config` lists them.

use skirmish_shared::check::SettingsError;
use toml::{Table, Value};

/// What every variable of the node's starts with.
const PREFIX: &str = "SKIRMISH_";

/// The settings the environment gives.
#[derive(Debug, Default)]
pub(super) struct FromEnv {
    /// As a TOML table, sections as tables.
    pub(super) table: Table,
    /// The variables that gave them.
    pub(super) used: Vec<String>,
    /// `SKIRMISH_*` variables naming no setting.
    pub(super) ignored: Vec<String>,
}

/// Reads `vars` (the process's environment, or a test's), where `keys` are
/// the configuration's top-level settings.
pub(super) fn settings(
    vars: impl IntoIterator<Item = (String, String)>,
    keys: &[&str],
) -> Result<FromEnv, SettingsError> {
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(name, _)| name.starts_with(PREFIX))
        .collect();
    vars.sort();
    let mut found = FromEnv::default();
    for (name, raw) in vars {
        let path: Vec<String> = name[PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if !keys.contains(&path[0].as_str()) {
            found.ignored.push(name);
            continue;
        }
        insert(&mut found.table, &path, value(&raw)).map_err(|message| SettingsError::Parse {
            file: format!("the environment variable {name}"),
            message,
        })?;
        found.used.push(name);
    }
    Ok(found)
}

/// A variable's value: a TOML value when it reads as one, else text.
fn value(raw: &str) -> Value {
    // Only a single value: text with a line break in it stays text.
    let literal = (!raw.contains(['\n', '\r']))
        .then(|| toml::from_str::<Table>(&format!("v = {raw}")).ok())
        .flatten()
        .and_then(|mut table| table.remove("v"));
    literal.unwrap_or_else(|| Value::String(raw.to_owned()))
}

/// Sets `path` in `table` to `value`, making the sections on the way.
fn insert(table: &mut Table, path: &[String], value: Value) -> Result<(), String> {
    let (last, sections) = path.split_last().expect("a name has a first part");
    let mut at = table;
    for (i, section) in sections.iter().enumerate() {
        let entry = at
            .entry(section.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        at = match entry {
            Value::Table(inner) => inner,
            _ => return Err(format!("`{}` is not a section", path[..=i].join("."))),
        };
    }
    if last.is_empty() {
        return Err("names no setting (a trailing `__`?)".into());
    }
    at.insert(last.clone(), value);
    Ok(())
}

/// Lays `over`'s settings over `base`'s: a section's settings one by one,
/// anything else whole.
pub(super) fn merge(base: &mut Table, over: Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(inner)), Value::Table(over)) => merge(inner, over),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|&(k, v)| (k.into(), v.into())).collect()
    }

    #[test]
    fn variables_become_settings_of_their_type_or_text() {
        let found = settings(
            vars(&[
                ("SKIRMISH_TICK_RATE", "60"),
                ("SKIRMISH_REDIS_URL", "redis://10.0.0.5:6379/"),
                ("SKIRMISH_LIMITS__HEARTBEAT_S", "2.5"),
                ("SKIRMISH_WEBTRANSPORT__ENABLED", "true"),
                ("SKIRMISH_ALLOWED_ORIGINS", r#"["https://a.example"]"#),
                ("SKIRMISH_NODE_ID", r#""007""#),
                ("SKIRMISH_PROFILE", "dev"),
                ("PATH", "/usr/bin"),
            ]),
            &[
                "tick_rate",
                "redis_url",
                "limits",
                "webtransport",
                "allowed_origins",
                "node_id",
            ],
        )
        .expect("settings");
        let expected: Table = toml::from_str(
            r#"
            tick_rate = 60
            redis_url = "redis://10.0.0.5:6379/"
            allowed_origins = ["https://a.example"]
            node_id = "007"
            limits = { heartbeat_s = 2.5 }
            webtransport = { enabled = true }
            "#,
        )
        .expect("toml");
        assert_eq!(found.table, expected);
        assert_eq!(found.ignored, ["SKIRMISH_PROFILE"]);
        assert_eq!(found.used.len(), 6);
    }

    #[test]
    fn text_that_is_not_one_value_stays_text() {
        assert_eq!(value("a b"), Value::String("a b".into()));
        assert_eq!(value("1\nx = 2"), Value::String("1\nx = 2".into()));
        assert_eq!(value(""), Value::String(String::new()));
        assert_eq!(value("0x10"), Value::Integer(16));
    }

    #[test]
    fn a_setting_is_not_a_section_and_a_name_needs_a_key() {
        let keys = ["tick_rate", "limits"];
        let both = vars(&[("SKIRMISH_TICK_RATE", "1"), ("SKIRMISH_TICK_RATE__X", "1")]);
        let err = settings(both, &keys)
            .expect_err("not a section")
            .to_string();
        assert!(
            err.contains("SKIRMISH_TICK_RATE__X") && err.contains("`tick_rate` is not a section"),
            "{err}"
        );
        let err = settings(vars(&[("SKIRMISH_LIMITS__", "1")]), &keys)
            .expect_err("no key")
            .to_string();
        assert!(err.contains("SKIRMISH_LIMITS__: names no setting"), "{err}");
    }

    #[test]
    fn merging_replaces_values_and_keeps_a_sections_other_settings() {
        let mut base: Table = toml::from_str(
            "tick_rate = 30\ngames = [\"arena\"]\n[limits]\nheartbeat_s = 5.0\nmax_matches = 10\n",
        )
        .expect("toml");
        let over: Table =
            toml::from_str("games = [\"hill\"]\n[limits]\nheartbeat_s = 2.0\n").expect("toml");
        merge(&mut base, over);
        let expected: Table = toml::from_str(
            "tick_rate = 30\ngames = [\"hill\"]\n[limits]\nheartbeat_s = 2.0\nmax_matches = 10\n",
        )
        .expect("toml");
        assert_eq!(base, expected);
    }
}
