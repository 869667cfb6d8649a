//! `skirmish-server`: parses flags and runs a node (see the library).

use anyhow::Context;
use clap::Parser;
use skirmish_arena::ArenaMatch;
use skirmish_hill::HillMatch;
use skirmish_server::Config;
use skirmish_server::games::Games;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A Skirmish game node: serves the browser client, guest sessions and
/// matches over WebSocket on one port.
///
/// Settings come in layers, each over the one before: the defaults, the
/// configuration file, `SKIRMISH_*` environment variables
/// (`SKIRMISH_TICK_RATE=60`, `SKIRMISH_LIMITS__MAX_CONNECTIONS=5000`: every
/// setting of the file has one), then these flags.
// Not `Debug`: it holds the session secret.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Args {
    /// Configuration file. Defaults to `<assets>/server.toml` when it exists.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the configuration in effect (file, environment and flags) as
    /// TOML, secrets masked, and exit.
    #[arg(long)]
    print_config: bool,
    /// Address for HTTP and WebSocket [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Simulation ticks per second, 10 to 128 [default: 30].
    #[arg(long, value_name = "HZ")]
    tick_rate: Option<u16>,
    /// Threads that run nothing but matches, so ticks start on time however
    /// busy the sockets are; 0 runs matches on the main runtime [default: 1].
    #[arg(long, value_name = "N")]
    tick_threads: Option<usize>,
    /// Match length in seconds, overriding the rules file (for demos and
    /// tests).
    #[arg(long, value_name = "N")]
    match_seconds: Option<u32>,
    /// Directory with rules.toml, maps/ and the web client [default: assets].
    #[arg(long, value_name = "DIR")]
    assets: Option<PathBuf>,
    /// Key that signs session tokens; nodes sharing it accept each other's
    /// tokens. Random per start when unset. Better given as
    /// SKIRMISH_SESSION_SECRET, which other users cannot read from the
    /// process list.
    #[arg(long, value_name = "SECRET")]
    session_secret: Option<String>,
    /// Redis URL (e.g. `redis://127.0.0.1:6379/`), or a Redis Cluster
    /// (`redis+cluster://h1:7000,h2:7000`, or seed URLs separated by
    /// commas): turns multi-node mode on. Without it the node runs alone
    /// [env: SKIRMISH_REDIS_URL].
    #[arg(long = "redis", value_name = "URL")]
    redis_url: Option<String>,
    /// This node's name in the cluster [default: generated].
    #[arg(long, value_name = "ID")]
    node_id: Option<String>,
    /// How players reach this node, e.g. `https://eu-1.example.com`
    /// [default: http://<listen>].
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// PEM certificate chain for HTTPS and WSS (with --tls-key); reloaded
    /// when the file changes.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Directory for match results waiting to reach the leaderboards
    /// [default: data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Serve WebTransport too (UDP; `[webtransport]` in the config).
    #[arg(long)]
    webtransport: bool,
    /// WebTransport's UDP port (0: any free one); implies --webtransport.
    #[arg(long, value_name = "PORT")]
    webtransport_port: Option<u16>,
    /// The UDP port clients are told to use, when it is not the bound one
    /// (a port forward); implies --webtransport.
    #[arg(long, value_name = "PORT")]
    webtransport_public_port: Option<u16>,
    /// Log filter, e.g. `info` or `skirmish_server=debug`.
    #[arg(long, env = "RUST_LOG", default_value = "info", value_name = "FILTER")]
    log: String,
    /// Log lines as text, or as one JSON object each. Text has colours
    /// only when the output is a terminal.
    #[arg(
        long,
        env = "SKIRMISH_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    log_format: LogFormat,
}

/// How log lines are written (`--log-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Where the configuration came from, beside the defaults and flags.
#[derive(Debug, Default)]
struct Sources {
    /// The file read, if any.
    file: Option<PathBuf>,
    /// `SKIRMISH_*` variables that name no setting, ignored.
    ignored: Vec<String>,
}

/// The configuration in effect: the file's settings over the defaults, the
/// environment's (`vars`) over those, then the flags'.
fn load_config(args: &Args, vars: Vec<(String, String)>) -> anyhow::Result<(Config, Sources)> {
    // The file looked for by default is in the assets directory, wherever
    // that is said to be.
    let assets = args
        .assets
        .clone()
        .or_else(|| {
            let (_, dir) = vars.iter().find(|(name, _)| name == "SKIRMISH_ASSETS")?;
            Some(PathBuf::from(dir))
        })
        .unwrap_or_else(|| PathBuf::from("assets"));
    let default_file = assets.join("server.toml");
    let file = match &args.config {
        Some(path) => Some(path.as_path()),
        None => default_file.exists().then_some(default_file.as_path()),
    };
    let (mut config, mut ignored) = Config::layered(file, vars)?;
    // Read by the flag of that name, not a setting.
    ignored.retain(|name| name != "SKIRMISH_LOG_FORMAT");
    if let Some(dir) = &args.assets {
        config.assets = dir.clone();
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(rate) = args.tick_rate {
        config.tick_rate = rate;
    }
    if let Some(n) = args.tick_threads {
        config.tick_threads = n;
    }
    if let Some(seconds) = args.match_seconds {
        config.match_seconds = Some(seconds);
    }
    if let Some(secret) = &args.session_secret {
        config.session_secret = Some(secret.as_str().into());
    }
    if let Some(url) = &args.redis_url {
        config.redis_url = Some(url.as_str().into());
    }
    if let Some(id) = &args.node_id {
        config.node_id = Some(id.clone());
    }
    if let Some(url) = &args.public_url {
        config.public_url = Some(url.clone());
    }
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    if args.webtransport
        || args.webtransport_port.is_some()
        || args.webtransport_public_port.is_some()
    {
        config.webtransport.enabled = true;
    }
    if let Some(port) = args.webtransport_public_port {
        config.webtransport.public_port = Some(port);
    }
    if let Some(port) = args.webtransport_port {
        config.webtransport.port = Some(port);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config.tls_cert = Some(cert.clone());
        config.tls_key = Some(key.clone());
    }
    let file = file.map(PathBuf::from);
    Ok((config, Sources { file, ignored }))
}

/// Logs to standard output as `--log-format` says.
fn init_logs(args: &Args) {
    let filter = tracing_subscriber::EnvFilter::new(&args.log);
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match args.log_format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .init(),
        LogFormat::Json => logs.json().init(),
    }
}

/// What `--print-config` prints: where the configuration came from, the
/// configuration, then the `SKIRMISH_*` variables that were ignored.
fn printed(config: &Config, sources: &Sources) -> String {
    let file = sources
        .file
        .as_ref()
        .map_or("no file".into(), |f| f.display().to_string());
    let mut out = format!(
        "# The configuration in effect: the defaults, then {file}, then SKIRMISH_* variables,\n\
         # then flags. Secrets are masked; settings left unset are left out.\n"
    );
    out.push_str(&config.printable());
    for name in &sources.ignored {
        out.push_str(&format!("# {name}: names no setting; ignored\n"));
    }
    out
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    init_logs(&args);
    // Variables that are not Unicode are none of the node's.
    let vars = std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .collect();
    let (config, sources) = load_config(&args, vars)?;
    if args.print_config {
        config.validate("the configuration (file, environment and flags)")?;
        print!("{}", printed(&config, &sources));
        return Ok(());
    }
    if !sources.ignored.is_empty() {
        tracing::debug!(ignored = ?sources.ignored, "SKIRMISH_* variables that name no setting");
    }
    // SIGTERM or SIGINT drains the node, then stops it; a second one during
    // the drain exits at once (README, "Stopping a node").
    let shutdown = async {
        skirmish_server::stop_signal().await;
        tokio::spawn(async {
            skirmish_server::stop_signal().await;
            eprintln!("a second stop signal: exiting without finishing the drain");
            std::process::exit(1);
        });
    };
    let games = load_games(&config)?;
    skirmish_server::run(config, games, shutdown)
        .await
        .context("skirmish-server failed")
}

/// The games this binary can serve, loaded as the config names them (a game
/// of its own or a variant of one), the first for quick play. A studio's own
/// binary registers its own games the same way.
fn load_games(config: &Config) -> anyhow::Result<Games> {
    let (assets, rate, seconds) = (&config.assets, config.tick_rate, config.match_seconds);
    let mut games = Games::default();
    for (i, name) in config.games.iter().enumerate() {
        let (game, files) = config.game_files(name);
        let reads = match game {
            "arena" => skirmish_arena::FILES,
            "hill" => skirmish_hill::FILES,
            other => anyhow::bail!(
                "games[{i}]: `{other}` is not a game this binary serves (arena, hill) nor a variant of one"
            ),
        };
        if let Some(file) = files.keys().find(|f| !reads.contains(&f.as_str())) {
            anyhow::bail!(
                "variants: `{name}` gives the file `{file}`, which {game} does not read (it reads {reads:?})"
            );
        }
        games = match game {
            "arena" => games.with_name::<ArenaMatch>(
                name.as_str(),
                skirmish_arena::load_variant(assets, &files, rate, seconds)?,
            ),
            _ => games.with_name::<HillMatch>(
                name.as_str(),
                skirmish_hill::load_variant(assets, &files, rate, seconds)?,
            ),
        };
    }
    Ok(games)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(games: &[&str], variants: &str) -> Config {
        let mut config: Config = toml::from_str(variants).expect("variants");
        config.assets = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets").into();
        config.games = games.iter().map(|g| g.to_string()).collect();
        config
    }

    #[test]
    fn the_shipped_games_and_variant_load_under_their_names() {
        let games = load_games(&Config {
            assets: concat!(env!("CARGO_MANIFEST_DIR"), "/../assets").into(),
            ..Config::default()
        })
        .expect("the shipped games load");
        assert_eq!(games.names(), ["arena", "hill", "arena-64"]);
        let variant = games.get("arena-64").expect("the variant");
        assert_eq!((variant.id(), variant.max_players()), ("arena", 64));
        assert_eq!(games.get("arena").map(|g| g.max_players()), Some(16));
    }

    #[test]
    fn unknown_games_and_files_are_refused_by_name() {
        let unknown = load_games(&config(&["arena", "chess"], "")).expect_err("no chess");
        assert!(
            unknown.to_string().contains("games[1]: `chess`"),
            "{unknown}"
        );
        let variant = "[[variants]]\nname = \"big\"\ngame = \"hill\"\nfiles = { map = \"maps/arena-64.toml\" }\n";
        let file = load_games(&config(&["big"], variant)).expect_err("the hill has no map");
        assert!(
            file.to_string().contains("`big` gives the file `map`"),
            "{file}"
        );
        let missing = "[[variants]]\nname = \"big\"\ngame = \"arena\"\nfiles = { map = \"maps/none.toml\" }\n";
        let missing = load_games(&config(&["big"], missing)).expect_err("no such map");
        assert!(missing.to_string().contains("none.toml"), "{missing}");
    }

    fn args(flags: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("skirmish-server").chain(flags.iter().copied()))
            .expect("flags")
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|&(k, v)| (k.into(), v.into())).collect()
    }

    #[test]
    fn flags_go_over_the_environment_and_the_file() {
        let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets");
        let file = format!("{assets}/server.toml");
        let env = vars(&[
            ("SKIRMISH_TICK_RATE", "40"),
            ("SKIRMISH_REDIS_URL", "redis://env:6379/"),
            ("SKIRMISH_NODE_ID", "from-env"),
            ("SKIRMISH_SESSION_SECRET", "env-secret"),
        ]);
        let (config, _) = load_config(&args(&["--config", &file]), env.clone()).expect("loads");
        assert_eq!(config.tick_rate, 40);
        assert_eq!(config.node_id.as_deref(), Some("from-env"));
        let flags = [
            "--config",
            &file,
            "--tick-rate",
            "50",
            "--redis",
            "redis://flag:6379/",
            "--session-secret",
            "flag-secret",
        ];
        let (config, _) = load_config(&args(&flags), env).expect("loads");
        assert_eq!(config.tick_rate, 50, "the flag's");
        assert_eq!(
            config.redis_url.as_ref().map(|u| u.expose()),
            Some("redis://flag:6379/")
        );
        assert_eq!(
            config.session_secret.as_ref().map(|s| s.expose()),
            Some("flag-secret")
        );
        assert_eq!(
            config.node_id.as_deref(),
            Some("from-env"),
            "no flag: the environment's"
        );
        // Without --config, the assets directory's server.toml.
        let (found, _) = load_config(&args(&["--assets", assets]), vars(&[])).expect("loads");
        assert_eq!(found.assets, std::path::Path::new(assets));
    }

    #[test]
    fn the_printed_config_lists_ignored_variables() {
        let sources = Sources {
            file: Some("etc/server.toml".into()),
            ignored: vec!["SKIRMISH_TIKC_RATE".to_owned()],
        };
        let printed = printed(&Config::default(), &sources);
        assert!(printed.contains("then etc/server.toml, then"), "{printed}");
        assert!(
            printed.ends_with("# SKIRMISH_TIKC_RATE: names no setting; ignored\n"),
            "{printed}"
        );
        assert!(printed.contains("tick_rate = 30"), "{printed}");
    }
}
