//! `skirmish-server`: parses flags and runs a node (see the library).

use anyhow::Context;
use clap::Parser;
use skirmish_server::Config;
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
    if let Some(seconds) = args.match_seconds {
        config.match_seconds = Some(seconds);
    }
    if let Some(secret) = &args.session_secret {
        config.session_secret = Some(secret.clone());
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
    skirmish_server::run(config, shutdown)
        .await
        .context("skirmish-server failed")
}
