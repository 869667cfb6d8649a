//! `skirmish-bots`' command line: parses the flags, runs the swarm, prints
//! (and with `--report` writes) the report, and says how it went as an exit
//! code: 0 when every service-level threshold held, 2 when one broke, 1 for
//! bad arguments or I/O failures. The binary is a thin wrapper around
//! [`run`], so tests run it in-process against real nodes.

use crate::report::Slo;
use crate::swarm::{BehaviorChoice, SwarmConfig, TransportChoice, run_swarm};
use anyhow::Context;
use clap::{Parser, ValueEnum};
use skirmish_arena::brain::Behavior;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// Every threshold held (or none was given).
pub const EXIT_OK: u8 = 0;
/// Bad arguments, or the report could not be written.
pub const EXIT_FAILED: u8 = 1;
/// A service-level threshold broke.
pub const EXIT_SLO_BROKEN: u8 = 2;

/// How the bots play.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum BehaviorArg {
    /// Roam and shoot whoever comes into range.
    Wander,
    /// Hunt the nearest player.
    Aggressive,
    /// Hold a spot and shoot from it.
    Camper,
    /// A third of each.
    Mixed,
}

/// The transport bots use.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Transport {
    /// WebSocket.
    Ws,
    /// WebTransport: inputs and snapshots as datagrams.
    Wt,
    /// Half of the bots on each.
    Mixed,
}

/// Headless Skirmish bots: each logs in as a guest, queues for a match (or
/// quick-plays), plays, reads its results and plays again until the run
/// ends, reconnecting with backoff when its connection drops. Prints a
/// report (and writes it as JSON with --report).
#[derive(Debug, Parser)]
#[command(name = "skirmish-bots", version, about)]
struct Args {
    /// Node base URLs, comma-separated; bots are spread over them.
    #[arg(long, default_value = "http://127.0.0.1:8080", value_delimiter = ',')]
    url: Vec<String>,
    /// Number of bots.
    #[arg(long, default_value_t = 16)]
    bots: u32,
    /// Bots started per second.
    #[arg(long, default_value_t = 50.0, value_name = "N_PER_S")]
    ramp: f64,
    /// Length of the run in seconds, ramp included.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    duration: f64,
    /// Seeds the bots (bot i uses seed + i), so runs are repeatable.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How the bots play.
    #[arg(long, value_enum, default_value_t = BehaviorArg::Mixed)]
    behavior: BehaviorArg,
    /// The transport.
    #[arg(long, value_enum, default_value_t = Transport::Ws)]
    transport: Transport,
    /// Each bot posts a chat line about this often (seconds); 0 for never.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    chat_every: f64,
    /// The matchmaking mode bots queue for (following redirects to the
    /// node that hosts their match).
    #[arg(long, value_name = "MODE", default_value = "ffa")]
    queue: String,
    /// Trust the certificates in this PEM file (a private or test
    /// certificate authority) for `https://` nodes, besides the system's.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// Quick-play on each bot's own node instead of queueing.
    #[arg(long)]
    quick_play: bool,
    /// At the end of the run, bots in a match play it out before leaving
    /// (so every match started ends with a result).
    #[arg(long)]
    finish_matches: bool,
    /// Write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Fail (exit 2) when the p99 round-trip time exceeds this, in ms.
    #[arg(long, value_name = "MS")]
    max_p99_rtt_ms: Option<f64>,
    /// Fail (exit 2) when errors per bot per minute exceed this.
    #[arg(long, value_name = "RATE")]
    max_error_rate: Option<f64>,
    /// Fail (exit 2) when the p99 input acknowledgement time exceeds this, in ms.
    #[arg(long, value_name = "MS")]
    max_p99_input_ack_ms: Option<f64>,
    /// No live progress line.
    #[arg(long)]
    quiet: bool,
}

/// Runs `skirmish-bots` with `args` (the program name first) and returns
/// its exit code. Help and version go to stdout and succeed; a bad argument
/// is [`EXIT_FAILED`], never the [`EXIT_SLO_BROKEN`] that means a broken
/// threshold.
pub async fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = match Args::try_parse_from(args) {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_FAILED } else { EXIT_OK };
        }
    };
    match swarm_and_report(&args).await {
        Ok(broken) if broken.is_empty() => EXIT_OK,
        Ok(broken) => {
            for b in &broken {
                eprintln!("SLO broken: {b}");
            }
            EXIT_SLO_BROKEN
        }
        Err(e) => {
            eprintln!("skirmish-bots: {e:#}");
            EXIT_FAILED
        }
    }
}

/// Runs the swarm, prints and writes the report; returns the thresholds
/// it broke.
async fn swarm_and_report(args: &Args) -> anyhow::Result<Vec<String>> {
    anyhow::ensure!(!args.url.is_empty(), "--url needs at least one node");
    anyhow::ensure!(
        args.duration > 0.0 && args.ramp > 0.0,
        "--duration and --ramp must be positive"
    );
    if let Some(path) = &args.ca_cert {
        crate::tls::trust_pem(path)?;
    }
    let behavior = match args.behavior {
        BehaviorArg::Wander => BehaviorChoice::All(Behavior::Wander),
        BehaviorArg::Aggressive => BehaviorChoice::All(Behavior::Aggressive),
        BehaviorArg::Camper => BehaviorChoice::All(Behavior::Camper),
        BehaviorArg::Mixed => BehaviorChoice::Mixed,
    };
    let config = SwarmConfig {
        urls: args
            .url
            .iter()
            .map(|u| u.trim_end_matches('/').to_owned())
            .collect(),
        bots: args.bots,
        ramp_per_s: args.ramp,
        duration: Duration::from_secs_f64(args.duration),
        seed: args.seed,
        behavior,
        chat_every: (args.chat_every > 0.0).then(|| Duration::from_secs_f64(args.chat_every)),
        queue: (!args.quick_play).then(|| args.queue.as_str().into()),
        finish_matches: args.finish_matches,
        progress: !args.quiet,
        transport: match args.transport {
            Transport::Ws => TransportChoice::Ws,
            Transport::Wt => TransportChoice::Wt,
            Transport::Mixed => TransportChoice::Mixed,
        },
    };
    let report = run_swarm(config).await;
    print!("{}", report.table());
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    let slo = Slo {
        max_p99_rtt_ms: args.max_p99_rtt_ms,
        max_error_rate: args.max_error_rate,
        max_p99_input_ack_ms: args.max_p99_input_ack_ms,
    };
    Ok(slo.violations(&report))
}
