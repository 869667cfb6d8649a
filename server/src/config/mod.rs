//! Node configuration, in layers, each over the one before: the defaults,
//! the file (`assets/server.toml`, or `--config`), the environment
//! (`SKIRMISH_*`, `env.rs`), then command-line flags (in `main`). It is
//! validated before the node starts: every number has a range (listed
//! beside each field), and a value outside it is refused with its source
//! and field named. `--print-config` prints the result with its secrets
//! masked (`Secret`, `RedisUrl`).

mod env;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use skirmish_shared::check::{Check, InvalidField, SettingsError, parse_toml, read};
use skirmish_shared::game::TICK_RATE_RANGE;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything a node needs to start. `Default` matches the shipped
/// `assets/server.toml`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address for HTTP and WebSocket.
    pub listen: SocketAddr,
    /// Directory holding the games' files (the arena's `rules.toml` and
    /// `maps/`), the matchmaking and leaderboard settings and the browser
    /// client; relative paths below are resolved against it.
    pub assets: PathBuf,
    /// Browser client directory, relative to `assets`.
    pub web_root: PathBuf,
    /// Simulation ticks per second, 10..=128.
    pub tick_rate: u16,
    /// The games this node serves, by name, the first for quick play; each
    /// is one the binary registers (`skirmish-server`: `arena`, `hill`) or a
    /// variant below.
    pub games: Vec<String>,
    /// Games served under names of their own, each one of the binary's
    /// games reading other files (`[[variants]]`).
    pub variants: Vec<Variant>,
    /// Threads that run nothing but matches, so ticks start on time however
    /// busy the sockets are (`0`: matches share the main runtime), `0..=64`.
    /// One thread steps thousands of players; more only help a node with
    /// many cores and matches.
    pub tick_threads: usize,
    /// Overrides every game's match length, for demos and tests,
    /// `1..=3600`; the node hands it to the games it loads.
    pub match_seconds: Option<u32>,
    /// Key for signing session tokens. Nodes that must accept each other's
    /// tokens share it; when absent a random key is made at start-up, so
    /// tokens die with the process. Never printed: its `Debug` is masked.
    pub session_secret: Option<Secret>,
    /// The token that opens the admin dashboard (`/admin`) and its API
    /// (`GET /api/admin/cluster`, with `Authorization: Bearer <token>`), at
    /// least 16 characters. Unset, both are off. Never printed. Set it in
    /// the file or as `SKIRMISH_ADMIN_TOKEN`, not as a flag (the process
    /// list shows flags).
    pub admin_token: Option<Secret>,
    /// How long a session token is valid, in seconds, `60..=2592000` (30
    /// days).
    pub session_ttl_s: u64,
    /// Per-connection and per-node limits.
    pub limits: Limits,
    /// Redis URL; set, it turns multi-node mode on (bus, presence, chat
    /// history, leaderboards, node registry in Redis). Unset, the node runs
    /// alone with in-process equivalents. A Redis Cluster is
    /// `redis+cluster://host:port,host:port…` or seed URLs separated by
    /// commas. Printed without its password.
    pub redis_url: Option<RedisUrl>,
    /// This node's name in the cluster; generated at start-up when unset.
    #[serde(deserialize_with = "some_text")]
    pub node_id: Option<String>,
    /// How players reach this node (e.g. `https://eu1.example.com`);
    /// defaults to `http://` + the listen address.
    pub public_url: Option<String>,
    /// Prefix of every Redis key and channel, so several deployments can
    /// share one Redis: 1 to 64 printable ASCII characters without spaces
    /// or braces (braces would change the keys' Cluster hash tags).
    #[serde(deserialize_with = "text")]
    pub key_prefix: String,
    /// Seconds after its last heartbeat that a node counts as dead,
    /// `0.3..=600`; it heartbeats every third of it.
    pub node_ttl_s: f32,
    /// Leaderboard definitions, relative to `assets`.
    pub leaderboards: PathBuf,
    /// Matchmaking modes and settings, relative to `assets`.
    pub matchmaking: PathBuf,
    /// Where match results wait until the leaderboards accept them; they
    /// survive Redis outages and node restarts here.
    pub data_dir: PathBuf,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For`
    /// is believed: behind one, a client's address for the per-address
    /// limits is the rightmost address in it that is not a trusted proxy.
    /// From anywhere else the header is ignored. Empty by default.
    #[serde(deserialize_with = "networks")]
    pub trusted_proxies: Vec<IpNet>,
    /// Web origins (`https://play.example.com`) whose pages may open a
    /// WebSocket and read the API, besides the node's own, the cluster's
    /// nodes' (up to 24 hours after their last heartbeat) and, on a node
    /// without Redis, `localhost`'s; `"*"`
    /// allows any. Requests without an `Origin` (not from a page) pass.
    pub allowed_origins: Vec<String>,
    /// PEM certificate chain (leaf first) for HTTPS and WSS on `listen`;
    /// with `tls_key`, or neither. Read again when the files change.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// The WebTransport endpoint (UDP), off unless enabled.
    pub webtransport: WebTransport,
}

/// WebTransport settings (`[webtransport]`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebTransport {
    /// Serve WebTransport (also `--webtransport`).
    pub enabled: bool,
    /// UDP port, on `listen`'s address; unset: the same number as the HTTP
    /// port; 0: any free port (what `/api/webtransport` says).
    pub port: Option<u16>,
    /// The UDP port clients are told to use, when it is not the bound one
    /// (a port forward, a UDP load balancer, a test's delay proxy).
    pub public_port: Option<u16>,
    /// PEM certificate chain and key; unset: `tls_cert` and `tls_key` when
    /// they are set, else a self-signed certificate the node rotates.
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<PathBuf>,
    /// Validity of each self-signed certificate, in days, 1..=14.
    pub cert_days: u32,
    /// A new self-signed certificate is offered this long before the served
    /// one expires, in seconds; more than `overlap_s`, less than `cert_days`.
    pub rotate_before_s: f64,
    /// Both certificates are offered this long before the new one is
    /// served, in seconds, 1..=86400.
    pub overlap_s: f64,
}

impl Default for WebTransport {
    fn default() -> Self {
        WebTransport {
            enabled: false,
            port: None,
            public_port: None,
            cert: None,
            key: None,
            cert_days: 13,
            rotate_before_s: 3.0 * 86_400.0,
            overlap_s: 3600.0,
        }
    }
}

impl WebTransport {
    fn validate(&self, c: &Check<'_>) -> Result<(), InvalidField> {
        c.that(
            self.cert.is_some() == self.key.is_some(),
            "webtransport.cert",
            "webtransport.cert and webtransport.key go together: set both, or neither",
        )?;
        c.within(self.cert_days, 1..=14, "webtransport.cert_days")?;
        c.within(self.overlap_s, 1.0..=86_400.0, "webtransport.overlap_s")?;
        c.that(
            self.rotate_before_s > self.overlap_s
                && self.rotate_before_s < f64::from(self.cert_days) * 86_400.0,
            "webtransport.rotate_before_s",
            "must be more than overlap_s and less than cert_days",
        )
    }
}

/// A list of CIDR ranges, where a plain address is the range of it alone.
fn networks<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<IpNet>, D::Error> {
    let texts = Vec::<String>::deserialize(deserializer)?;
    texts
        .iter()
        .map(|text| {
            text.parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "`{text}` is neither an address nor a CIDR range"
                    ))
                })
        })
        .collect()
}

/// Text from a setting given as text or, from an environment variable
/// that reads as one, a number or a boolean (`SKIRMISH_NODE_ID=7`).
fn text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct Text;
    impl serde::de::Visitor<'_> for Text {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    deserializer.deserialize_any(Text)
}

/// [`text`], for a setting that may be left out.
fn some_text<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    text(deserializer).map(Some)
}

/// A secret from the config (the session key): its `Debug` and its
/// serialized form (`--print-config`) are `***`, so no log line or printed
/// config shows it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(#[serde(deserialize_with = "text")] String);

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("***")
    }
}

/// A Redis URL, which may hold a password: shown (`Debug`, `--print-config`)
/// with the password as `***`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// The URL itself, password and all, for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***` (every seed's, in a
    /// list of cluster seeds).
    pub fn masked(&self) -> String {
        self.0
            .split(',')
            .map(mask_one)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// One URL with its password masked.
fn mask_one(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let user = match rest[..at].split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_owned(),
    };
    format!("{scheme}://{user}{}", &rest[at..])
}

impl From<&str> for RedisUrl {
    fn from(url: &str) -> Self {
        RedisUrl(url.to_owned())
    }
}

impl From<String> for RedisUrl {
    fn from(url: String) -> Self {
        RedisUrl(url)
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.masked())
    }
}

impl Serialize for RedisUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.masked())
    }
}

impl Secret {
    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Secret(secret)
    }
}

impl From<&str> for Secret {
    fn from(secret: &str) -> Self {
        Secret(secret.to_owned())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// A game served under a name of its own with files of its own: the arena
/// with a larger map and rules for 64 players, say. Matchmaking modes name
/// it like any game; clients are told the game it is a variant of.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Its name in `games` and in matchmaking modes: 1 to 32 of `a-z`,
    /// `0-9` and `-`.
    pub name: String,
    /// The game it is a variant of (`arena`, `hill`).
    pub game: String,
    /// The files it reads instead of the game's own, by the game's name for
    /// each (the arena's are `rules` and `map`, the hill's `rules`),
    /// relative to `assets`; a file left out is the game's own.
    #[serde(default)]
    pub files: BTreeMap<String, PathBuf>,
}

/// Per-connection and per-node limits.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Concurrent WebSocket connections, `1..=1000000`; more are refused
    /// with 503.
    pub max_connections: usize,
    /// Concurrent WebSocket connections from one address (an IPv6 /64
    /// counts as one), `1..=1000000`; more are refused with 429.
    pub max_connections_per_ip: usize,
    /// Sessions (`POST /api/session`) one address may create at once,
    /// `1..=100000`, then `sessions_per_ip_per_s` a second; more are
    /// refused with 429.
    pub sessions_per_ip_burst: f32,
    /// See `sessions_per_ip_burst`; `0.001..=10000`.
    pub sessions_per_ip_per_s: f32,
    /// Addresses (or CIDR ranges) the per-address limits do not apply to;
    /// by default loopback, where bots, benchmarks and local development
    /// connect from. A client behind a trusted proxy is judged by its
    /// forwarded address, not the proxy's.
    #[serde(deserialize_with = "networks")]
    pub per_ip_exempt: Vec<IpNet>,
    /// Concurrent matches on this node, `0..=100000` (0: a node that hosts
    /// none, serving only the lobby and the queue).
    pub max_matches: usize,
    /// Largest WebSocket message or frame accepted, in bytes,
    /// `1024..=1048576` (a 200-character chat line needs up to 850); a
    /// larger one closes the connection with 1009.
    pub max_message_bytes: usize,
    /// Seconds between WebSocket pings from the node, `0.1..=300`.
    pub heartbeat_s: f32,
    /// Seconds without any frame from the client (pongs count) before the
    /// connection is closed with 4000, `1..=3600` and more than
    /// `heartbeat_s` (the pongs to the node's pings keep a quiet client in).
    pub idle_timeout_s: f32,
    /// Seconds a disconnected player's seat is held for them to reconnect,
    /// `0..=3600`.
    pub reconnect_grace_s: f32,
    /// Seconds running matches have to finish once the node is told to stop
    /// (SIGTERM or SIGINT) before they end as `abandoned`, `0..=3600`.
    pub drain_timeout_s: f32,
    /// Messages per second a client may send, as a multiple of the tick rate
    /// (inputs arrive once per tick), plus `extra_messages_per_s`;
    /// `1..=100`.
    pub messages_per_tick: f32,
    /// Allowance on top of one input per tick (pings, lobby messages),
    /// `0..=10000`.
    pub extra_messages_per_s: f32,
    /// Refused messages a client may accumulate (one drains per second)
    /// before it is closed with 4001, `0..=10000`.
    pub max_strikes: f32,
    /// Reliable messages queued for one client before it counts as too slow
    /// and is closed with 4004, `8..=65536`. Snapshots never queue: the
    /// newest replaces the unsent one.
    pub outbound_queue: usize,
    /// Bytes of reliable messages queued for one client before it counts as
    /// too slow (4004), `4096..=67108864`; one larger message is taken when
    /// no other waits.
    pub outbound_queue_bytes: usize,
    /// The kernel send buffer of each connection (`SO_SNDBUF`), in bytes,
    /// `4096..=16777216`; Linux reserves twice this. Without it the kernel
    /// lets a connection's buffer grow to megabytes for a client that does
    /// not read.
    pub send_buffer_bytes: usize,
    /// Seconds a message may wait for a client's socket to take it before
    /// the client counts as too slow and is closed with 4004,
    /// `0.1..=300`.
    pub send_backlog_s: f32,
    /// Chat lines a player may post at once, per node, `1..=1000`.
    pub chat_burst: f32,
    /// Chat lines a second a player may post after the burst, per node,
    /// `0.001..=100`.
    pub chat_lines_per_s: f32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            assets: PathBuf::from("assets"),
            web_root: PathBuf::from("web"),
            tick_rate: 30,
            games: vec!["arena".into(), "hill".into(), "arena-64".into()],
            variants: vec![Variant {
                name: "arena-64".into(),
                game: "arena".into(),
                files: BTreeMap::from([
                    ("rules".into(), PathBuf::from("rules-64.toml")),
                    ("map".into(), PathBuf::from("maps/arena-64.toml")),
                ]),
            }],
            tick_threads: 1,
            match_seconds: None,
            session_secret: None,
            admin_token: None,
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
            trusted_proxies: Vec::new(),
            allowed_origins: Vec::new(),
            tls_cert: None,
            tls_key: None,
            webtransport: WebTransport::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 20_000,
            max_connections_per_ip: 64,
            sessions_per_ip_burst: 20.0,
            sessions_per_ip_per_s: 1.0,
            per_ip_exempt: ["127.0.0.0/8", "::1/128"]
                .iter()
                .map(|net| net.parse().expect("a CIDR range"))
                .collect(),
            max_matches: 2_000,
            max_message_bytes: 4096,
            heartbeat_s: 5.0,
            idle_timeout_s: 15.0,
            reconnect_grace_s: 10.0,
            drain_timeout_s: 25.0,
            messages_per_tick: 1.5,
            extra_messages_per_s: 10.0,
            max_strikes: 10.0,
            outbound_queue: 64,
            outbound_queue_bytes: 128 * 1024,
            send_buffer_bytes: 64 * 1024,
            send_backlog_s: 5.0,
            chat_burst: 5.0,
            chat_lines_per_s: 0.5,
        }
    }
}

/// Why a configuration file was refused (read, parsed, or a value out of
/// its range).
pub type ConfigError = SettingsError;

impl Config {
    /// Reads and validates a configuration file; fields it leaves out keep
    /// their defaults, and a relative `assets` is resolved against the
    /// file's directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let (file, text) = read(path)?;
        Config::from_file_text(path, &file, &text)
    }

    /// [`Config::load`] of a file already read: `text`, read from `path`
    /// (named `file` in errors).
    fn from_file_text(path: &Path, file: &str, text: &str) -> Result<Self, ConfigError> {
        let mut config: Config = parse_toml(text, file).map_err(|e| match e {
            // Keys that moved when games became plug-ins.
            ConfigError::Parse { file, mut message }
                if message.contains("unknown field `rules`")
                    || message.contains("unknown field `map`") =>
            {
                message.push_str(
                    " (games read their own files now: the arena's are rules.toml and \
                     maps/arena.toml in `assets`; remove the key)",
                );
                ConfigError::Parse { file, message }
            }
            other => other,
        })?;
        if config.assets.is_relative() {
            config.assets = path.parent().unwrap_or(Path::new(".")).join(&config.assets);
        }
        config.validate(&path.display().to_string())?;
        Ok(config)
    }

    /// The top-level settings, as the file and `SKIRMISH_*` variables name
    /// them (a test checks the list against the fields).
    pub const KEYS: &[&str] = &[
        "listen",
        "assets",
        "web_root",
        "tick_rate",
        "games",
        "variants",
        "tick_threads",
        "match_seconds",
        "session_secret",
        "admin_token",
        "session_ttl_s",
        "limits",
        "redis_url",
        "node_id",
        "public_url",
        "key_prefix",
        "node_ttl_s",
        "leaderboards",
        "matchmaking",
        "data_dir",
        "trusted_proxies",
        "allowed_origins",
        "tls_cert",
        "tls_key",
        "webtransport",
    ];

    /// The settings of `file` (when given) over the defaults, and those of
    /// the `SKIRMISH_*` variables among `vars` over both (`env.rs`),
    /// validated; flags go over these in `main`. Also returns the
    /// `SKIRMISH_*` variables that name no setting, which are ignored.
    pub fn layered(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let file = file
            .map(|path| read(path).map(|(name, text)| (path, name, text)))
            .transpose()?;
        let base = match &file {
            Some((path, name, text)) => Config::from_file_text(path, name, text)?,
            None => Config::default(),
        };
        let from_env = env::settings(vars, Self::KEYS)?;
        if from_env.used.is_empty() {
            return Ok((base, from_env.ignored));
        }
        // The file's settings as it has them (the base is them and the
        // defaults), for the environment's to go over.
        let mut source = format!("the environment ({})", from_env.used.join(", "));
        let mut table = toml::Table::new();
        if let Some((_, name, text)) = &file {
            table = parse_toml(text, name)?;
            source = format!("{name} and {source}");
        }
        let sets_assets = from_env.table.contains_key("assets");
        env::merge(&mut table, from_env.table);
        let mut config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| SettingsError::Parse {
                    file: source.clone(),
                    message: e.to_string().trim_end().replace('\n', " | "),
                })?;
        if !sets_assets {
            // As the file gave it, resolved against the file's directory.
            config.assets = base.assets;
        }
        config.validate(&source)?;
        Ok((config, from_env.ignored))
    }

    /// The configuration as TOML, with its secrets masked (the session
    /// secret, a Redis password): what `--print-config` prints. Settings
    /// left unset are left out.
    pub fn printable(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot print the configuration: {e}\n"))
    }

    /// Checks every number against its range (see each field), naming
    /// `source` (the file, or what else the settings came from) and the
    /// field when one is out of it.
    pub fn validate(&self, source: &str) -> Result<(), InvalidField> {
        let c = Check::new(source);
        c.within(self.tick_rate, TICK_RATE_RANGE, "tick_rate")?;
        c.that(!self.games.is_empty(), "games", "list at least one game")?;
        for (i, game) in self.games.iter().enumerate() {
            c.that(
                !self.games[..i].contains(game),
                format!("games[{i}]"),
                format!("`{game}` is listed twice"),
            )?;
        }
        for (i, v) in self.variants.iter().enumerate() {
            let name_ok = (1..=32).contains(&v.name.len())
                && v.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            c.that(
                name_ok,
                format!("variants[{i}].name"),
                "must be 1 to 32 of a-z, 0-9 and -",
            )?;
            c.that(
                v.name != v.game && !self.variants[..i].iter().any(|o| o.name == v.name),
                format!("variants[{i}].name"),
                format!("`{}` names another game already", v.name),
            )?;
        }
        c.within(self.tick_threads, 0..=64, "tick_threads")?;
        if let Some(seconds) = self.match_seconds {
            c.within(seconds, 1..=3600, "match_seconds")?;
        }
        c.within(self.session_ttl_s, 60..=2_592_000, "session_ttl_s")?;
        c.within(self.node_ttl_s, 0.3..=600.0, "node_ttl_s")?;
        let prefix_ok = (1..=64).contains(&self.key_prefix.len())
            && self
                .key_prefix
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'{' && b != b'}');
        c.that(
            prefix_ok,
            "key_prefix",
            "must be 1 to 64 printable ASCII characters without spaces or braces",
        )?;
        c.that(
            self.tls_cert.is_some() == self.tls_key.is_some(),
            "tls_cert",
            "tls_cert and tls_key go together: set both for HTTPS, or neither",
        )?;
        for origin in &self.allowed_origins {
            c.that(
                origin == "*" || crate::origins::normalize(origin).is_some(),
                "allowed_origins",
                "each must be \"*\" or an origin such as \"https://play.example.com\" (scheme, host and port only)",
            )?;
        }
        c.that(
            self.admin_token
                .as_ref()
                .is_none_or(|t| t.expose().chars().count() >= 16),
            "admin_token",
            "must be at least 16 characters (it opens the admin dashboard)",
        )?;
        self.webtransport.validate(&c)?;
        self.limits.validate(&c)
    }

    /// The defaults with assets read from `dir`, listening on an ephemeral
    /// port, with no drain: what tests start.
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
            // Tests stop their nodes at once, running matches or not; the
            // drain has tests of its own.
            limits: Limits {
                drain_timeout_s: 0.0,
                ..Limits::default()
            },
            ..Config::default()
        }
    }

    /// The game `name` in `games` is, and the files it reads instead of
    /// the game's own: a variant's, or the game of that name with none.
    pub fn game_files<'a>(&'a self, name: &'a str) -> (&'a str, BTreeMap<String, PathBuf>) {
        match self.variants.iter().find(|v| v.name == name) {
            Some(v) => (
                &v.game,
                v.files
                    .iter()
                    .map(|(key, path)| (key.clone(), self.assets.join(path)))
                    .collect(),
            ),
            None => (name, BTreeMap::new()),
        }
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
    /// Seconds from a validated setting as a `Duration`. [`Config::validate`]
    /// refuses negative, NaN and huge values before any reaches here; this
    /// only keeps the conversion itself from panicking (zero for negative
    /// and NaN, the largest duration for huge ones).
    pub fn secs(value: f32) -> Duration {
        if value.is_nan() || value <= 0.0 {
            return Duration::ZERO;
        }
        Duration::try_from_secs_f32(value).unwrap_or(Duration::MAX)
    }

    fn validate(&self, c: &Check<'_>) -> Result<(), InvalidField> {
        c.within(
            self.max_connections,
            1..=1_000_000,
            "limits.max_connections",
        )?;
        c.within(
            self.max_connections_per_ip,
            1..=1_000_000,
            "limits.max_connections_per_ip",
        )?;
        c.within(
            self.sessions_per_ip_burst,
            1.0..=100_000.0,
            "limits.sessions_per_ip_burst",
        )?;
        c.within(
            self.sessions_per_ip_per_s,
            0.001..=10_000.0,
            "limits.sessions_per_ip_per_s",
        )?;
        c.within(self.max_matches, 0..=100_000, "limits.max_matches")?;
        c.within(
            self.max_message_bytes,
            1024..=1_048_576,
            "limits.max_message_bytes",
        )?;
        c.within(self.heartbeat_s, 0.1..=300.0, "limits.heartbeat_s")?;
        c.within(self.idle_timeout_s, 1.0..=3600.0, "limits.idle_timeout_s")?;
        c.that(
            self.idle_timeout_s > self.heartbeat_s,
            "limits.idle_timeout_s",
            format!(
                "must be more than limits.heartbeat_s ({}), or a quiet client is closed before it is pinged",
                self.heartbeat_s
            ),
        )?;
        c.within(
            self.reconnect_grace_s,
            0.0..=3600.0,
            "limits.reconnect_grace_s",
        )?;
        c.within(self.drain_timeout_s, 0.0..=3600.0, "limits.drain_timeout_s")?;
        c.within(
            self.messages_per_tick,
            1.0..=100.0,
            "limits.messages_per_tick",
        )?;
        c.within(
            self.extra_messages_per_s,
            0.0..=10_000.0,
            "limits.extra_messages_per_s",
        )?;
        c.within(self.max_strikes, 0.0..=10_000.0, "limits.max_strikes")?;
        c.within(self.outbound_queue, 8..=65_536, "limits.outbound_queue")?;
        c.within(
            self.outbound_queue_bytes,
            4096..=64 << 20,
            "limits.outbound_queue_bytes",
        )?;
        c.within(
            self.send_buffer_bytes,
            4096..=16 << 20,
            "limits.send_buffer_bytes",
        )?;
        c.within(self.send_backlog_s, 0.1..=300.0, "limits.send_backlog_s")?;
        c.within(self.chat_burst, 1.0..=1000.0, "limits.chat_burst")?;
        c.within(
            self.chat_lines_per_s,
            0.001..=100.0,
            "limits.chat_lines_per_s",
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/server.toml")
    }

    #[test]
    fn a_plain_address_is_a_range_of_one() {
        let file = TempFile::new("a.toml", "trusted_proxies = [\"10.0.0.5\", \"fd00::/8\"]\n");
        let nets = Config::load(&file.0).expect("valid").trusted_proxies;
        assert_eq!(nets[0].to_string(), "10.0.0.5/32");
        assert_eq!(nets[1].to_string(), "fd00::/8");
        let bad = TempFile::new("b.toml", "trusted_proxies = [\"ten\"]\n");
        assert!(Config::load(&bad.0).is_err());
    }

    #[test]
    fn the_session_secret_never_shows_in_debug_output() {
        let config = Config {
            session_secret: Some("hunter2-hunter2".into()),
            ..Config::default()
        };
        let printed = format!("{config:?} {config:#?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("session_secret: Some(***)"));
    }

    /// Every field, compared whole (regression: seven of about thirty were
    /// compared, so a default could drift from the shipped file unseen).
    #[test]
    fn the_shipped_config_file_matches_the_defaults() {
        let loaded = Config::load(&shipped()).expect("shipped config is valid");
        assert!(loaded.assets.ends_with("assets/."), "{:?}", loaded.assets);
        let expected = Config {
            assets: loaded.assets.clone(),
            ..Config::default()
        };
        assert_eq!(loaded, expected);
    }

    /// A temp file holding `text`, removed when dropped.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, text: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "skirmish-config-{}-{:016x}",
                std::process::id(),
                rand::random::<u64>()
            ));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let path = dir.join(name);
            std::fs::write(&path, text).expect("write");
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            if let Some(dir) = self.0.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    #[test]
    fn unknown_keys_are_refused_with_the_key_named() {
        let file = TempFile::new("bad.toml", "tick_rat = 20\n");
        let err = Config::load(&file.0).expect_err("typo");
        assert!(err.to_string().contains("tick_rat"), "{err}");
    }

    /// Regression: `Limits::secs` turned a negative, NaN or huge value into
    /// 1 s without a word, and `node_ttl_s = 0` reached
    /// `tokio::time::interval(0)`, which panics in the heartbeat task.
    /// Regression guard for the upgrade: a file that still names the
    /// arena's files (keys the node had before games were plug-ins) is told
    /// where they went; a node must serve some game, each once.
    #[test]
    fn keys_that_moved_and_bad_game_lists_are_explained() {
        let file = TempFile::new("old.toml", "map = \"maps/arena.toml\"\n");
        let err = Config::load(&file.0).expect_err("an old key");
        assert!(
            err.to_string().contains("maps/arena.toml in `assets`"),
            "{err}"
        );
        for (games, field) in [("[]", "games"), ("[\"arena\", \"arena\"]", "games[1]")] {
            let file = TempFile::new("games.toml", &format!("games = {games}\n"));
            match Config::load(&file.0) {
                Err(ConfigError::Invalid(e)) => assert_eq!(e.field, field),
                other => panic!("{games}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_number_out_of_range_is_refused_with_its_field_named() {
        let shipped = std::fs::read_to_string(shipped()).expect("read");
        let cases = [
            ("tick_rate = 30", "tick_rate = 5", "tick_rate"),
            ("tick_threads = 1", "tick_threads = 65", "tick_threads"),
            (
                "session_ttl_s = 86400",
                "session_ttl_s = 0",
                "session_ttl_s",
            ),
            ("node_ttl_s = 6.0", "node_ttl_s = 0.0", "node_ttl_s"),
            ("node_ttl_s = 6.0", "node_ttl_s = nan", "node_ttl_s"),
            ("node_ttl_s = 6.0", "node_ttl_s = 1e30", "node_ttl_s"),
            (
                "key_prefix = \"skirmish\"",
                "key_prefix = \"\"",
                "key_prefix",
            ),
            (
                "key_prefix = \"skirmish\"",
                "key_prefix = \"a{b}\"",
                "key_prefix",
            ),
            (
                "max_connections = 20000",
                "max_connections = 0",
                "limits.max_connections",
            ),
            (
                "max_connections_per_ip = 64",
                "max_connections_per_ip = 0",
                "limits.max_connections_per_ip",
            ),
            (
                "sessions_per_ip_burst = 20.0",
                "sessions_per_ip_burst = 0.5",
                "limits.sessions_per_ip_burst",
            ),
            (
                "sessions_per_ip_per_s = 1.0",
                "sessions_per_ip_per_s = 0.0",
                "limits.sessions_per_ip_per_s",
            ),
            (
                "max_matches = 2000",
                "max_matches = 100001",
                "limits.max_matches",
            ),
            (
                "max_message_bytes = 4096",
                "max_message_bytes = 16",
                "limits.max_message_bytes",
            ),
            (
                "heartbeat_s = 5.0",
                "heartbeat_s = -1.0",
                "limits.heartbeat_s",
            ),
            (
                "idle_timeout_s = 15.0",
                "idle_timeout_s = inf",
                "limits.idle_timeout_s",
            ),
            (
                "idle_timeout_s = 15.0",
                "idle_timeout_s = 4.0",
                "limits.idle_timeout_s",
            ),
            (
                "reconnect_grace_s = 10.0",
                "reconnect_grace_s = -0.5",
                "limits.reconnect_grace_s",
            ),
            (
                "drain_timeout_s = 25.0",
                "drain_timeout_s = 4000.0",
                "limits.drain_timeout_s",
            ),
            (
                "messages_per_tick = 1.5",
                "messages_per_tick = 0.5",
                "limits.messages_per_tick",
            ),
            (
                "extra_messages_per_s = 10.0",
                "extra_messages_per_s = -nan",
                "limits.extra_messages_per_s",
            ),
            (
                "max_strikes = 10.0",
                "max_strikes = -1.0",
                "limits.max_strikes",
            ),
            (
                "outbound_queue = 64",
                "outbound_queue = 0",
                "limits.outbound_queue",
            ),
            (
                "outbound_queue_bytes = 131072",
                "outbound_queue_bytes = 100",
                "limits.outbound_queue_bytes",
            ),
            (
                "send_buffer_bytes = 65536",
                "send_buffer_bytes = 0",
                "limits.send_buffer_bytes",
            ),
            (
                "send_backlog_s = 5.0",
                "send_backlog_s = nan",
                "limits.send_backlog_s",
            ),
            ("chat_burst = 5.0", "chat_burst = 0.0", "limits.chat_burst"),
            (
                "chat_lines_per_s = 0.5",
                "chat_lines_per_s = 0.0",
                "limits.chat_lines_per_s",
            ),
        ];
        for (from, to, field) in cases {
            assert!(shipped.contains(from), "the shipped file sets `{from}`");
            let file = TempFile::new("server.toml", &shipped.replace(from, to));
            let err = Config::load(&file.0).expect_err(to);
            assert!(
                matches!(&err, ConfigError::Invalid(e) if e.field == field),
                "{to}: {err}"
            );
            assert!(err.to_string().contains("server.toml"), "{err}");
        }
        let config = Config {
            match_seconds: Some(0),
            ..Config::default()
        };
        assert_eq!(
            config.validate("flags").map_err(|e| e.field),
            Err("match_seconds".to_owned())
        );
    }

    #[test]
    fn converting_seconds_never_panics() {
        assert_eq!(Limits::secs(1.5), Duration::from_millis(1500));
        assert_eq!(Limits::secs(f32::NAN), Duration::ZERO);
        assert_eq!(Limits::secs(-3.0), Duration::ZERO);
        assert_eq!(Limits::secs(f32::INFINITY), Duration::MAX);
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|&(k, v)| (k.into(), v.into())).collect()
    }

    #[test]
    fn the_keys_are_the_fields() {
        let every = Config {
            match_seconds: Some(60),
            session_secret: Some("s".into()),
            admin_token: Some("a".repeat(16).into()),
            redis_url: Some("redis://h/".into()),
            node_id: Some("n".into()),
            public_url: Some("http://h".into()),
            tls_cert: Some("c.pem".into()),
            tls_key: Some("k.pem".into()),
            ..Config::default()
        };
        let table = toml::Table::try_from(&every).expect("serializes");
        let mut fields: Vec<&str> = table.keys().map(String::as_str).collect();
        let mut keys = Config::KEYS.to_vec();
        fields.sort_unstable();
        keys.sort_unstable();
        assert_eq!(fields, keys);
    }

    #[test]
    fn the_environment_goes_over_the_file_and_the_file_over_the_defaults() {
        let file = TempFile::new(
            "server.toml",
            "tick_rate = 20\nkey_prefix = \"file\"\nassets = \"here\"\n[limits]\nheartbeat_s = 2.0\n",
        );
        let (alone, _) = Config::layered(Some(&file.0), vars(&[])).expect("file");
        assert_eq!((alone.tick_rate, alone.key_prefix.as_str()), (20, "file"));
        assert_eq!(alone.node_ttl_s, Config::default().node_ttl_s, "a default");
        let (config, ignored) = Config::layered(
            Some(&file.0),
            vars(&[
                ("SKIRMISH_TICK_RATE", "40"),
                ("SKIRMISH_LIMITS__MAX_MATCHES", "7"),
                ("SKIRMISH_NODE_ID", "7"),
                ("SKIRMISH_SESSION_SECRET", "12345"),
                ("SKIRMISH_PROFILE", "dev"),
            ]),
        )
        .expect("file and environment");
        assert_eq!(config.tick_rate, 40, "the environment's");
        assert_eq!(config.key_prefix, "file", "the file's, not overridden");
        assert_eq!(
            config.limits.heartbeat_s, 2.0,
            "the file's, beside the environment's"
        );
        assert_eq!(config.limits.max_matches, 7);
        assert_eq!(config.node_id.as_deref(), Some("7"), "a number as text");
        assert_eq!(
            config.session_secret.as_ref().map(Secret::expose),
            Some("12345")
        );
        assert_eq!(
            config.assets, alone.assets,
            "resolved against the file's directory"
        );
        assert!(
            config.assets.ends_with("here") && config.assets.is_absolute() == file.0.is_absolute()
        );
        assert_eq!(ignored, ["SKIRMISH_PROFILE"]);

        let (no_file, _) =
            Config::layered(None, vars(&[("SKIRMISH_ASSETS", "elsewhere")])).expect("environment");
        assert_eq!(no_file.assets, PathBuf::from("elsewhere"), "as given");
    }

    #[test]
    fn a_bad_value_from_the_environment_is_refused_naming_it() {
        let err = Config::layered(None, vars(&[("SKIRMISH_TICK_RATE", "5")]))
            .expect_err("out of range")
            .to_string();
        assert!(
            err.contains("SKIRMISH_TICK_RATE") && err.contains("tick_rate"),
            "{err}"
        );
        let err = Config::layered(None, vars(&[("SKIRMISH_LIMITS__HEARTBEATS", "1")]))
            .expect_err("no such setting")
            .to_string();
        assert!(
            err.contains("SKIRMISH_LIMITS__HEARTBEATS") && err.contains("heartbeats"),
            "{err}"
        );
        let err = Config::layered(None, vars(&[("SKIRMISH_TICK_RATE", "fast")]))
            .expect_err("not a number")
            .to_string();
        assert!(err.contains("SKIRMISH_TICK_RATE"), "{err}");
    }

    #[test]
    fn printing_and_debugging_mask_the_secrets() {
        let config = Config {
            session_secret: Some("hunter2-secret".into()),
            admin_token: Some("opensesame-opensesame".into()),
            redis_url: Some("redis://admin:pa55word@10.0.0.5:6379/0".into()),
            ..Config::default()
        };
        let printed = config.printable();
        let debugged = format!("{config:?}");
        for shown in [&printed, &debugged] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(!shown.contains("opensesame"), "{shown}");
            assert!(!shown.contains("pa55word"), "{shown}");
            assert!(
                shown.contains("redis://admin:***@10.0.0.5:6379/0"),
                "{shown}"
            );
        }
        assert!(printed.contains("session_secret = \"***\""), "{printed}");
        assert!(printed.contains("admin_token = \"***\""), "{printed}");
        // What is printed reads back (secrets aside) as the same settings.
        let back: Config = toml::from_str(&printed).expect("printed TOML reads back");
        assert_eq!(back.limits, config.limits);
        assert_eq!(back.games, config.games);
        assert_eq!(
            RedisUrl::from("redis://:pw@h:1").masked(),
            "redis://:***@h:1"
        );
        assert_eq!(RedisUrl::from("redis://pw@h/").masked(), "redis://***@h/");
        assert_eq!(RedisUrl::from("redis://h:1/").masked(), "redis://h:1/");
        assert_eq!(
            RedisUrl::from("redis://h:1/x@y").masked(),
            "redis://h:1/x@y",
            "an @ past the host is not a password's"
        );
        assert_eq!(
            RedisUrl::from("redis://:pw@a:1,redis://u:pw@b:2").masked(),
            "redis://:***@a:1,redis://u:***@b:2",
            "every seed's password"
        );
        assert_eq!(
            RedisUrl::from("redis+cluster://u:pw@a:1,b:2/").masked(),
            "redis+cluster://u:***@a:1,b:2/"
        );
    }
}
