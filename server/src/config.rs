//! Node configuration: read from `assets/server.toml` (or `--config`), then
//! overridden by command-line flags in `main`.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything a node needs to start. `Default` matches the shipped
/// `assets/server.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address for HTTP and WebSocket.
    pub listen: SocketAddr,
    /// Directory holding the rules, maps and browser client; relative paths
    /// below are resolved against it.
    pub assets: PathBuf,
    /// Rules file, relative to `assets`.
    pub rules: PathBuf,
    /// Map file, relative to `assets`.
    pub map: PathBuf,
    /// Browser client directory, relative to `assets`.
    pub web_root: PathBuf,
    /// Simulation ticks per second, 10..=128.
    pub tick_rate: u16,
    /// Threads that run nothing but matches, so ticks start on time however
    /// busy the sockets are (`0`: matches share the main runtime). One
    /// thread steps thousands of players; more only help a node with many
    /// cores and matches.
    pub tick_threads: usize,
    /// Overrides the rules' match length, for demos and tests.
    pub match_seconds: Option<u32>,
    /// Key for signing session tokens. Nodes that must accept each other's
    /// tokens share it; when absent a random key is made at start-up, so
    /// tokens die with the process.
    pub session_secret: Option<String>,
    /// How long a session token is valid, in seconds.
    pub session_ttl_s: u64,
    /// Per-connection and per-node limits.
    pub limits: Limits,
    /// Redis URL; set, it turns multi-node mode on (bus, presence, chat
    /// history, leaderboards, node registry in Redis). Unset, the node runs
    /// alone with in-process equivalents.
    pub redis_url: Option<String>,
    /// This node's name in the cluster; generated at start-up when unset.
    pub node_id: Option<String>,
    /// How players reach this node (e.g. `https://eu1.example.com`);
    /// defaults to `http://` + the listen address.
    pub public_url: Option<String>,
    /// Prefix of every Redis key and channel, so several deployments can
    /// share one Redis.
    pub key_prefix: String,
    /// Seconds after its last heartbeat that a node counts as dead.
    pub node_ttl_s: f32,
    /// Leaderboard definitions, relative to `assets`.
    pub leaderboards: PathBuf,
    /// Matchmaking modes and settings, relative to `assets`.
    pub matchmaking: PathBuf,
    /// Where match results wait until the leaderboards accept them; they
    /// survive Redis outages and node restarts here.
    pub data_dir: PathBuf,
}

/// Per-connection and per-node limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Concurrent WebSocket connections; more are refused with 503.
    pub max_connections: usize,
    /// Concurrent matches on this node.
    pub max_matches: usize,
    /// Largest WebSocket message or frame accepted, in bytes; a larger one
    /// closes the connection with 1009.
    pub max_message_bytes: usize,
    /// Seconds between WebSocket pings from the node.
    pub heartbeat_s: f32,
    /// Seconds without any frame from the client (pongs count) before the
    /// connection is closed with 4000.
    pub idle_timeout_s: f32,
    /// Seconds a disconnected player's seat is held for them to reconnect.
    pub reconnect_grace_s: f32,
    /// Messages per second a client may send, as a multiple of the tick rate
    /// (inputs arrive once per tick), plus `extra_messages_per_s`.
    pub messages_per_tick: f32,
    /// Allowance on top of one input per tick (pings, lobby messages).
    pub extra_messages_per_s: f32,
    /// Refused messages a client may accumulate (one drains per second)
    /// before it is closed with 4001.
    pub max_strikes: f32,
    /// Reliable messages queued for one client before it counts as too slow
    /// and is closed with 4004. Snapshots never queue: the newest replaces
    /// the unsent one.
    pub outbound_queue: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            assets: PathBuf::from("assets"),
            rules: PathBuf::from("rules.toml"),
            map: PathBuf::from("maps/arena.toml"),
            web_root: PathBuf::from("web"),
            tick_rate: 30,
            tick_threads: 1,
            match_seconds: None,
            session_secret: None,
            session_ttl_s: 24 * 3600,
            limits: Limits::default(),
            redis_url: None,
            node_id: None,
            public_url: None,
            key_prefix: "skirmish".into(),
            node_ttl_s: 6.0,
            leaderboards: PathBuf::from("leaderboards.toml"),
            matchmaking: PathBuf::from("matchmaking.toml"),
            data_dir: PathBuf::from("data"),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 20_000,
            max_matches: 2_000,
            max_message_bytes: 4096,
            heartbeat_s: 5.0,
            idle_timeout_s: 15.0,
            reconnect_grace_s: 10.0,
            messages_per_tick: 1.5,
            extra_messages_per_s: 10.0,
            max_strikes: 10.0,
            outbound_queue: 64,
        }
    }
}

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// It could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// It is not valid TOML of the expected shape.
    #[error("{file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The parser's description, naming the key.
        message: String,
    },
}

impl Config {
    /// Reads a configuration file; fields it leaves out keep their defaults,
    /// and a relative `assets` is resolved against the file's directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            file: file.clone(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            file,
            message: e.to_string().trim_end().to_owned(),
        })?;
        if config.assets.is_relative() {
            config.assets = path.parent().unwrap_or(Path::new(".")).join(&config.assets);
        }
        Ok(config)
    }

    /// The defaults with assets read from `dir`, and listening on an
    /// ephemeral port: what tests start.
    pub fn for_tests(assets: impl Into<PathBuf>) -> Self {
        // Each test node keeps its pending results apart from every other's.
        let data_dir = std::env::temp_dir().join(format!(
            "skirmish-test-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            assets: assets.into(),
            data_dir,
            ..Config::default()
        }
    }

    /// The rules file's full path.
    pub fn rules_path(&self) -> PathBuf {
        self.assets.join(&self.rules)
    }

    /// The map file's full path.
    pub fn map_path(&self) -> PathBuf {
        self.assets.join(&self.map)
    }

    /// The browser client's full path.
    pub fn web_path(&self) -> PathBuf {
        self.assets.join(&self.web_root)
    }

    /// The matchmaking settings' full path.
    pub fn matchmaking_path(&self) -> PathBuf {
        self.assets.join(&self.matchmaking)
    }

    /// The leaderboard definitions' full path.
    pub fn leaderboards_path(&self) -> PathBuf {
        self.assets.join(&self.leaderboards)
    }

    /// Token lifetime.
    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.session_ttl_s)
    }
}

impl Limits {
    /// Seconds as a `Duration`, saturating on nonsense values.
    pub fn secs(value: f32) -> Duration {
        Duration::try_from_secs_f32(value).unwrap_or(Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_config_file_matches_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/server.toml");
        let loaded = Config::load(&path).expect("shipped config is valid");
        let defaults = Config::default();
        assert_eq!(loaded.listen, defaults.listen);
        assert_eq!(loaded.tick_rate, defaults.tick_rate);
        assert_eq!(loaded.tick_threads, defaults.tick_threads);
        assert_eq!(loaded.rules, defaults.rules);
        assert_eq!(loaded.map, defaults.map);
        assert_eq!(
            loaded.limits.max_message_bytes,
            defaults.limits.max_message_bytes
        );
        assert_eq!(
            loaded.limits.reconnect_grace_s,
            defaults.limits.reconnect_grace_s
        );
        assert!(loaded.assets.ends_with("assets/."), "{:?}", loaded.assets);
    }

    #[test]
    fn unknown_keys_are_refused_with_the_key_named() {
        let dir = std::env::temp_dir().join(format!("skirmish-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("bad.toml");
        std::fs::write(&path, "tick_rat = 20\n").expect("write");
        let err = Config::load(&path).expect_err("typo");
        assert!(err.to_string().contains("tick_rat"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
