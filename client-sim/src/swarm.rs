//! Many bots on one runtime: started at a steady ramp, spread over the
//! given nodes, watched by a live progress line, and summed into one
//! [`Report`].

use crate::bot::{BotConfig, ChatPlan, Live, run_bot};
use crate::client::Transport;
use crate::report::Report;
use crate::stats::{Stats, process_cpu_time};
use indicatif::{ProgressBar, ProgressStyle};
use skirmish_arena::brain::Behavior;
use skirmish_shared::proto::ModeId;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Which behaviours bots get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BehaviorChoice {
    /// All bots play one way.
    All(Behavior),
    /// Bots take turns through every behaviour.
    Mixed,
}

/// What a swarm run does.
#[derive(Clone, Debug)]
pub struct SwarmConfig {
    /// Node base URLs; bot `i` uses `urls[i % len]`.
    pub urls: Vec<String>,
    /// Bots to start.
    pub bots: u32,
    /// Bots started per second.
    pub ramp_per_s: f64,
    /// Length of the whole run, ramp included.
    pub duration: Duration,
    /// Bot `i` is seeded with `seed + i`.
    pub seed: u64,
    /// How bots play.
    pub behavior: BehaviorChoice,
    /// Each bot posts a chat line this often (in a room shared by up to 50
    /// bots), or never.
    pub chat_every: Option<Duration>,
    /// Queue for this matchmaking mode (following redirects to the host)
    /// instead of quick play.
    pub queue: Option<ModeId>,
    /// Bots in a match at the end play it out before leaving.
    pub finish_matches: bool,
    /// Show a live progress line on the terminal.
    pub progress: bool,
    /// The transport bots use.
    pub transport: TransportChoice,
}

/// The transport each bot uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TransportChoice {
    /// Every bot on WebSocket.
    #[default]
    Ws,
    /// Every bot on WebTransport.
    Wt,
    /// Bots alternate: even ones on WebSocket, odd ones on WebTransport.
    Mixed,
}

impl TransportChoice {
    /// The transport of bot `i`.
    pub fn of(self, i: u32) -> Transport {
        match self {
            TransportChoice::Ws => Transport::Ws,
            TransportChoice::Wt => Transport::Wt,
            TransportChoice::Mixed if i.is_multiple_of(2) => Transport::Ws,
            TransportChoice::Mixed => Transport::Wt,
        }
    }
}

/// Runs the swarm to the end and reports.
pub async fn run_swarm(config: SwarmConfig) -> Report {
    let start = Instant::now();
    let cpu_start = process_cpu_time();
    let until = start + config.duration;
    let live = Arc::new(Live::default());
    let http = crate::tls::http_client()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let progress = config
        .progress
        .then(|| progress_bar(Arc::clone(&live), config.bots, until));

    let mut bots = JoinSet::new();
    let gap = Duration::from_secs_f64(1.0 / config.ramp_per_s.max(0.001));
    for i in 0..config.bots {
        let behavior = match config.behavior {
            BehaviorChoice::All(b) => b,
            BehaviorChoice::Mixed => Behavior::ALL[i as usize % Behavior::ALL.len()],
        };
        let bot = BotConfig {
            base_url: config.urls[i as usize % config.urls.len()].clone(),
            nodes: config.urls.clone(),
            name: format!("bot{i}"),
            seed: config.seed.wrapping_add(u64::from(i)),
            behavior,
            until,
            chat: config.chat_every.map(|every| ChatPlan {
                room: format!("bots-{}", i / 50).into(),
                every,
            }),
            queue: config.queue.clone(),
            finish_matches: config.finish_matches,
            transport: config.transport.of(i),
        };
        let (http, live) = (http.clone(), Arc::clone(&live));
        bots.spawn(async move { run_bot(&http, &bot, &live).await });
        let next = start + gap * (i + 1);
        if next >= until {
            break;
        }
        tokio::time::sleep_until(next).await;
    }
    let started = bots.len() as u32;

    let mut total = Stats::default();
    let mut with_a_match = 0;
    while let Some(done) = bots.join_next().await {
        match done {
            Ok(outcome) => {
                if outcome.stats.matches_completed > 0 {
                    with_a_match += 1;
                }
                total.merge(&outcome.stats);
            }
            Err(e) => total.error(format!(
                "bot_task_{}",
                if e.is_panic() {
                    "panicked"
                } else {
                    "cancelled"
                }
            )),
        }
    }
    if let Some((bar, updater)) = progress {
        updater.abort();
        bar.finish_and_clear();
    }
    let cpu = cpu_start
        .zip(process_cpu_time())
        .map(|(a, b)| b.saturating_sub(a));
    Report::new(started, with_a_match, start.elapsed(), cpu, &total)
}

/// A progress line refreshed four times a second.
fn progress_bar(
    live: Arc<Live>,
    bots: u32,
    until: Instant,
) -> (ProgressBar, tokio::task::JoinHandle<()>) {
    let bar = ProgressBar::new(u64::from(bots));
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {pos}/{len} connected  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let shown = bar.clone();
    let updater = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(250));
        while Instant::now() < until + Duration::from_secs(5) {
            every.tick().await;
            let rtt = {
                let mut recent = live.recent_rtt.lock().unwrap_or_else(|p| p.into_inner());
                let p = recent.percentiles();
                recent.clear();
                p
            };
            shown.set_position(u64::from(live.connected.load(Ordering::Relaxed)));
            shown.set_message(format!(
                "in match {}  matches {}  errors {}  rtt p50 {:.1} ms p99 {:.1} ms",
                live.in_match.load(Ordering::Relaxed),
                live.matches.load(Ordering::Relaxed),
                live.errors.load(Ordering::Relaxed),
                rtt.p50,
                rtt.p99,
            ));
        }
    });
    (bar, updater)
}
