//! `skirmish-bots`: runs bots against a node and prints what they saw.

use clap::Parser;
use skirmish_client_sim::bot::{BotConfig, run_bot};
use std::time::Duration;

/// Headless Skirmish bots: each logs in as a guest, quick-plays and plays
/// with random-walk inputs for the given duration.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Node base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Number of bots.
    #[arg(long, default_value_t = 4)]
    bots: u32,
    /// Seconds to play.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Seeds the bots' brains (bot i uses seed + i).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let http = reqwest::Client::new();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..args.bots {
        let config = BotConfig {
            base_url: args.url.clone(),
            name: format!("bot{i}"),
            seed: args.seed + u64::from(i),
            duration: Duration::from_secs(args.duration),
        };
        let http = http.clone();
        tasks.spawn(async move { (i, run_bot(&http, &config).await) });
    }
    let mut failed = 0;
    while let Some(joined) = tasks.join_next().await {
        let (i, result) = joined?;
        match result {
            Ok(stats) => println!(
                "bot{i}: {} matches, {} snapshots, {} inputs, {} B down, {} B up, errors {:?}",
                stats.matches_completed,
                stats.snapshots,
                stats.inputs,
                stats.bytes_down,
                stats.bytes_up,
                stats.errors
            ),
            Err(e) => {
                failed += 1;
                println!("bot{i}: failed: {e}");
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} bots failed");
    Ok(())
}
