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
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Configuration file. Defaults to `<assets>/server.toml` when it exists;
    /// the flags below override what it sets.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
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
    /// tokens. Random per start when unset.
    #[arg(
        long,
        env = "SKIRMISH_SESSION_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    session_secret: Option<String>,
    /// Redis URL (e.g. `redis://127.0.0.1:6379/`): turns multi-node mode
    /// on. Without it the node runs alone.
    #[arg(long = "redis", env = "SKIRMISH_REDIS_URL", value_name = "URL")]
    redis_url: Option<String>,
    /// This node's name in the cluster [default: generated].
    #[arg(long, env = "SKIRMISH_NODE_ID", value_name = "ID")]
    node_id: Option<String>,
    /// How players reach this node, e.g. `https://eu-1.example.com`
    /// [default: http://<listen>].
    #[arg(long, env = "SKIRMISH_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// Directory for match results waiting to reach the leaderboards
    /// [default: data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Log filter, e.g. `info` or `skirmish_server=debug`.
    #[arg(long, env = "RUST_LOG", default_value = "info", value_name = "FILTER")]
    log: String,
}

fn load_config(args: &Args) -> anyhow::Result<Config> {
    let assets = args
        .assets
        .clone()
        .unwrap_or_else(|| PathBuf::from("assets"));
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None if assets.join("server.toml").exists() => Config::load(&assets.join("server.toml"))?,
        None => Config {
            assets: assets.clone(),
            ..Config::default()
        },
    };
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
        config.session_secret = Some(secret.clone());
    }
    if let Some(url) = &args.redis_url {
        config.redis_url = Some(url.clone());
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
    Ok(config)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log))
        .init();
    let config = load_config(&args)?;
    let shutdown = async {
        // If the signal handler cannot be installed, run until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    // The games this binary can serve; the config picks which, the first for
    // quick play. A studio's own binary registers its own.
    let mut games = Games::default();
    for id in &config.games {
        let (assets, rate, seconds) = (&config.assets, config.tick_rate, config.match_seconds);
        games = match id.as_str() {
            "arena" => games.with::<ArenaMatch>(skirmish_arena::load(assets, rate, seconds)?),
            "hill" => games.with::<HillMatch>(skirmish_hill::load(assets, rate, seconds)?),
            other => {
                anyhow::bail!("games: `{other}` is not a game this binary serves (arena, hill)")
            }
        };
    }
    skirmish_server::run(config, games, shutdown)
        .await
        .context("skirmish-server failed")
}
