//! [`Node`]: what every handler and session of one server shares, built once
//! at start-up from the [`Config`].

use crate::StartError;
use crate::auth::SessionKeys;
use crate::bus::{Bus, Delivery, LocalHub, RedisBus, Topic};
pub use crate::clock::unix_ms;
use crate::config::{Config, Limits, RedisUrl, Secret};
use crate::games::Games;
use crate::health::{OutboxHealth, RedisHealth};
use crate::leaderboard::{LeaderboardConfig, Leaderboards, MemoryLeaderboards, RedisLeaderboards};
use crate::lobby::{ChatHistory, ChatRate, Lobby, MemoryHistory, RedisHistory, RedisPresence};
use crate::matches::{Matches, SeatReleased};
use crate::matchmaking::{
    self, GameSeats, JoinTickets, Matchmaking, MatchmakingConfig, MatchmakingMessage, MemoryQueue,
    QueueStore, RedisQueue,
};
use crate::origins::Origins;
use crate::per_ip::PerIp;
use crate::redis_conn;
use crate::registry::{MemoryRegistry, NodeInfo, RedisRegistry, Registry};
use crate::results::{self, MatchRecord, OutboxDir, RatingChange};
use crate::runner::RunnerSettings;
pub use crate::sessions::{Kick, SessionEvent, Sessions, SessionsMessage};
use crate::ticker::TickThreads;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use skirmish_shared::proto::NodeId;
use skirmish_shared::proto::ServerMsg;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, watch};
use tracing::{error, info, warn};

/// Shared state of one server.
#[derive(Debug)]
pub struct Node {
    /// As started.
    pub config: Config,
    /// The games this node's matches play.
    pub games: Games,
    /// Session token keys.
    pub keys: SessionKeys,
    /// Running matches and quick play.
    pub matches: Arc<Matches>,
    /// Live connections by player.
    pub sessions: Arc<Sessions>,
    /// One permit per open WebSocket.
    pub connection_permits: Arc<Semaphore>,
    /// Open WebSockets and session creation per client address.
    pub(crate) per_ip: Arc<PerIp>,
    /// Web origins whose pages may use the node.
    pub(crate) origins: Origins,
    /// Becomes `true` when the node shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// Becomes `true` when the node starts draining ([`Node::drain`]).
    draining: watch::Sender<bool>,
    /// Held by every session task so shutdown can wait for them.
    pub task_guard: mpsc::Sender<()>,
    /// For `/metrics`; `None` when another metrics recorder was installed
    /// in this process first (an embedding program's), and `/metrics`
    /// answers 503.
    pub metrics: Option<PrometheusHandle>,
    /// Redis as the heartbeats find it, for `/healthz`.
    pub redis_health: RedisHealth,
    /// The results outbox as its worker leaves it, for `/healthz`.
    pub outbox_health: Arc<OutboxHealth>,
    /// For `/healthz`.
    pub started: Instant,
    /// When the node started, Unix milliseconds.
    pub started_at_ms: u64,
    next_conn_id: AtomicU64,
    /// This node's name in the cluster.
    pub node_id: NodeId,
    /// How players reach this node.
    pub public_url: String,
    /// The node-to-node bus.
    pub bus: Arc<dyn Bus>,
    /// Chat rooms and presence.
    pub lobby: Lobby,
    /// Where nodes find each other.
    pub registry: Arc<dyn Registry>,
    /// Global leaderboards and ratings.
    pub leaderboards: Arc<dyn Leaderboards>,
    /// What the leaderboards keep (boards and periods), for listing.
    pub lb_config: LeaderboardConfig,
    /// Queues, parties and formed matches.
    pub matchmaking: Matchmaking,
    /// What `GET /api/webtransport` offers, when the node serves it.
    pub(crate) webtransport: std::sync::OnceLock<Arc<crate::wt_offer::Offer>>,
    /// Turns the metrics into the stats each heartbeat carries.
    stats: std::sync::Mutex<crate::node_stats::Sampler>,
}

/// What the sessions' bus messages need from the node.
struct SessionsArea {
    sessions: Arc<Sessions>,
    matches: Arc<Matches>,
    bus: Arc<dyn Bus>,
    public_url: String,
}

impl SessionsArea {
    /// A player connected at `from`: an older connection here closes, and
    /// if they have a seat held in a match here, `from` is told where.
    fn on_message(&self, from: &NodeId, msg: SessionsMessage) {
        match msg {
            SessionsMessage::Replaced {
                player_id,
                generation,
            } => {
                self.sessions.replaced_elsewhere(player_id, generation);
                if let Some(match_id) = self.matches.match_of(player_id) {
                    let seat = SessionsMessage::SeatAt {
                        player_id,
                        match_id,
                        host_url: self.public_url.clone(),
                    };
                    self.bus.send(&Topic::Node(from.clone()), &seat);
                }
            }
            SessionsMessage::SeatAt {
                player_id,
                match_id,
                host_url,
            } => {
                let msg = ServerMsg::SeatElsewhere { match_id, host_url };
                self.sessions.send_to(player_id, &msg);
            }
        }
    }
}

/// Routes the bus's deliveries by area: the sessions' to them,
/// matchmaking's (parties, formed matches) to matchmaking, the rest to the
/// lobby, which reads its own.
async fn dispatch(
    matchmaking: Matchmaking,
    sessions: SessionsArea,
    mut deliveries: mpsc::Receiver<Delivery>,
    to_lobby: mpsc::Sender<Delivery>,
    mut shutdown: watch::Receiver<bool>,
    guard: mpsc::Sender<()>,
) {
    loop {
        let delivery = tokio::select! {
            delivery = deliveries.recv() => match delivery {
                Some(d) => d,
                None => break,
            },
            _ = shutdown.wait_for(|down| *down) => break,
        };
        // By area: each opens its own messages.
        match delivery.envelope.payload.open::<SessionsMessage>() {
            Some(Ok(msg)) => {
                sessions.on_message(&delivery.envelope.from, msg);
                continue;
            }
            Some(Err(e)) => {
                warn!(error = %e, from = %delivery.envelope.from, "dropping a sessions message this build cannot read");
                continue;
            }
            None => {}
        }
        match delivery.envelope.payload.open::<MatchmakingMessage>() {
            Some(Ok(msg)) => matchmaking.deliver(msg).await,
            Some(Err(e)) => {
                warn!(error = %e, from = %delivery.envelope.from, "dropping a matchmaking message this build cannot read");
            }
            None => {
                if to_lobby.try_send(delivery).is_err() {
                    metrics::counter!("skirmish_bus_dropped_total").increment(1);
                }
            }
        }
    }
    drop(guard);
}

/// Runs the results outbox until shutdown, telling players connected here
/// their new ratings.
async fn record_results(
    node: Arc<Node>,
    recorded: mpsc::UnboundedReceiver<MatchRecord>,
    outbox: OutboxDir,
) {
    let guard = node.task_guard.clone();
    let leaderboards = Arc::clone(&node.leaderboards);
    let shutdown = node.shutdown.clone();
    let notify = {
        let node = Arc::clone(&node);
        move |change: RatingChange| {
            let msg = ServerMsg::Rating {
                match_id: change.match_id,
                rating: change.rating,
                delta: change.delta,
            };
            node.sessions.send_to(change.player_id, &msg);
        }
    };
    let health = Arc::clone(&node.outbox_health);
    results::run_worker(recorded, outbox, leaderboards, notify, health, shutdown).await;
    drop(guard);
}

/// The services a node shares with others: in-process when it runs alone,
/// in Redis in multi-node mode.
struct Services {
    bus: Arc<dyn Bus>,
    deliveries: mpsc::Receiver<Delivery>,
    history: Arc<dyn ChatHistory>,
    presence: Option<RedisPresence>,
    registry: Arc<dyn Registry>,
    leaderboards: Arc<dyn Leaderboards>,
    queue: Arc<dyn QueueStore>,
}

impl Services {
    fn local(node_id: &NodeId, node_ttl: Duration, boards: &LeaderboardConfig) -> Self {
        let (bus, deliveries) = LocalHub::default().connect(node_id);
        Services {
            bus: Arc::new(bus),
            deliveries,
            history: Arc::new(MemoryHistory::default()),
            presence: None,
            registry: Arc::new(MemoryRegistry::new(node_ttl)),
            leaderboards: Arc::new(MemoryLeaderboards::new(boards.clone())),
            queue: Arc::new(MemoryQueue::default()),
        }
    }

    async fn redis(
        url: &RedisUrl,
        prefix: &str,
        node_id: &NodeId,
        node_ttl: Duration,
        boards: &LeaderboardConfig,
    ) -> Result<Self, StartError> {
        let redis_error = |e: redis::RedisError| StartError::Redis {
            url: url.masked(),
            reason: e.to_string(),
        };
        let client = redis_conn::client(url.expose()).map_err(redis_error)?;
        let commands = redis_conn::commands(&client).await.map_err(redis_error)?;
        let (bus, deliveries) = RedisBus::connect(&client, prefix, node_id)
            .await
            .map_err(redis_error)?;
        Ok(Services {
            bus: Arc::new(bus),
            deliveries,
            history: Arc::new(RedisHistory::new(commands.clone(), prefix)),
            // Presence outlives a missed heartbeat or two before it expires.
            presence: Some(RedisPresence::new(
                commands.clone(),
                prefix,
                node_id,
                node_ttl * 3,
            )),
            registry: Arc::new(RedisRegistry::new(commands.clone(), prefix, node_ttl)),
            leaderboards: Arc::new(RedisLeaderboards::new(
                commands.clone(),
                prefix,
                boards.clone(),
            )),
            queue: Arc::new(RedisQueue::new(commands, prefix)),
        })
    }
}

/// Heartbeats into the registry every third of the node TTL, tells the
/// lobby which nodes are alive, and leaves the registry when the node
/// drains or shuts down.
async fn heartbeat(node: Arc<Node>) {
    let guard = node.task_guard.clone();
    let mut shutdown = node.shutdown.clone();
    let mut draining = node.draining.subscribe();
    let interval = Limits::secs(node.config.node_ttl_s / 3.0);
    let mut every = tokio::time::interval(interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.wait_for(|down| *down) => break,
            _ = draining.wait_for(|d| *d) => break,
        }
        // Presence first: once this heartbeat lists the node again (after
        // Redis lost everything, say), other nodes reconcile against its
        // presence, which must be back by then.
        let _ = tokio::time::timeout(interval / 2, node.lobby.refresh_presence()).await;
        let result = async {
            node.registry.heartbeat(&node.heartbeat_info()).await?;
            node.registry.live().await
        }
        .await;
        node.redis_health.heartbeat(result.is_ok());
        match result {
            Ok(live) => {
                if failing {
                    info!("the node registry answers again");
                    failing = false;
                }
                node.lobby
                    .nodes_changed(live.into_iter().map(|n| n.id).collect());
                node.lobby.reconcile();
            }
            Err(e) if !failing => {
                warn!(error = %e, "heartbeat failed; retrying");
                failing = true;
            }
            Err(_) => {}
        }
    }
    if let Err(e) = node.registry.leave(&node.node_id).await {
        warn!(error = %e, "could not leave the node registry");
    }
    drop(node);
    drop(guard);
}

/// Bucket bounds, in seconds, of the tick histograms (duration and
/// lateness): fine below a millisecond, where healthy ticks are, and up to
/// a few periods, where an overloaded node's are. Buckets rather than a
/// summary so that a benchmark can subtract two scrapes and read the
/// percentiles of just the window between them.
const TICK_BUCKETS_S: &[f64] = &[
    0.000_05, 0.000_1, 0.000_2, 0.000_3, 0.000_5, 0.000_75, 0.001, 0.001_5, 0.002, 0.003, 0.005,
    0.007_5, 0.01, 0.015, 0.02, 0.033, 0.05, 0.1, 0.25, 1.0,
];

/// Time from queueing to a match found: from a tenth of a second (a full
/// queue) to five minutes (a quiet mode widening its rating window).
const TIME_TO_MATCH_BUCKETS_S: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0,
];

/// How often histogram samples are folded into their buckets.
const METRICS_UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process-wide Prometheus recorder; installed once, shared by every
/// node in the process (tests start several). `None` when another recorder
/// was installed first (by an embedding program): then the node's metrics
/// go to that recorder, and `/metrics` says it has none rather than
/// answering an empty page.
pub fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Prefix("skirmish_tick_".into()),
                    TICK_BUCKETS_S,
                )
                .expect("the tick buckets are not empty")
                .set_buckets_for_metric(
                    Matcher::Full(redis_conn::COMMAND_SECONDS.into()),
                    redis_conn::COMMAND_BUCKETS_S,
                )
                .expect("the Redis buckets are not empty")
                .set_buckets_for_metric(
                    Matcher::Full("skirmish_time_to_match_seconds".into()),
                    TIME_TO_MATCH_BUCKETS_S,
                )
                .expect("the matchmaking buckets are not empty")
                .set_buckets_for_metric(
                    Matcher::Full(crate::bus::LAG_SECONDS.into()),
                    crate::bus::LAG_BUCKETS_S,
                )
                .expect("the bus buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            if let Err(e) = metrics::set_global_recorder(recorder) {
                error!(error = %e, "another metrics recorder is installed; /metrics will answer 503");
                return None;
            }
            // Histogram samples pile up in the recorder until they are
            // folded into their buckets, which only a scrape or an upkeep
            // does: without this a node nobody scrapes would grow by every
            // tick it runs.
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(METRICS_UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                warn!(error = %e, "cannot start the metrics upkeep thread; histograms fold only when scraped");
            }
            Some(handle)
        })
        .clone()
}

impl Node {
    /// Loads and checks the assets, connects to Redis in multi-node mode,
    /// and starts the node's background tasks (lobby, heartbeat).
    pub async fn new(
        config: Config,
        games: Games,
        local_addr: SocketAddr,
        shutdown: watch::Receiver<bool>,
        task_guard: mpsc::Sender<()>,
    ) -> Result<Arc<Self>, StartError> {
        config.validate("the node's configuration (file and flags)")?;
        if games.quick_play().is_none() {
            return Err(StartError::NoGame);
        }
        let limits = &config.limits;
        let settings = RunnerSettings {
            reconnect_grace: Limits::secs(limits.reconnect_grace_s),
            empty_timeout: Limits::secs(limits.reconnect_grace_s.max(5.0)),
            tick_rate: config.tick_rate,
        };
        let (results, recorded) = results::channel();
        let outbox_dir = OutboxDir::open(&config.data_dir)?;
        let lb_config = LeaderboardConfig::load(&config.leaderboards_path())?;
        // Every board takes the rating or a stat one of the games reports.
        let lb_file = config.leaderboards_path().display().to_string();
        for (idx, board) in lb_config.boards.iter().enumerate() {
            if let Some(stat) = board.source.stat() {
                skirmish_shared::check::Check::new(&lb_file).that(
                    games.reports(stat),
                    format!("boards[{idx}].source"),
                    format!(
                        "no game this node serves ({:?}) reports the stat `{stat}`",
                        games.names()
                    ),
                )?;
            }
        }
        let matches = Matches::new(
            games.clone(),
            settings,
            limits.max_matches,
            results,
            shutdown.clone(),
            task_guard.clone(),
            TickThreads::start(config.tick_threads).map_err(|source| StartError::TickThreads {
                n: config.tick_threads,
                source,
            })?,
        );
        let node_id = NodeId::from(
            config
                .node_id
                .clone()
                .unwrap_or_else(|| format!("node-{:08x}", rand::random::<u32>())),
        );
        let public_url = config.public_url.clone().unwrap_or_else(|| {
            let scheme = if config.tls_cert.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{local_addr}")
        });
        let node_ttl = Limits::secs(config.node_ttl_s);

        if config.redis_url.is_some() && config.session_secret.is_none() {
            return Err(StartError::NoSharedSecret);
        }
        let services = match &config.redis_url {
            None => Services::local(&node_id, node_ttl, &lb_config),
            Some(url) => {
                Services::redis(url, &config.key_prefix, &node_id, node_ttl, &lb_config).await?
            }
        };
        let Services {
            bus,
            deliveries,
            history,
            presence,
            registry,
            leaderboards,
            queue,
        } = services;
        // The bus's deliveries go to the lobby (rooms) or the matchmaker
        // (this node's own topic).
        let (to_lobby, lobby_deliveries) = mpsc::channel(4096);
        let lobby = Lobby::start(
            &node_id,
            Arc::clone(&bus),
            lobby_deliveries,
            history,
            presence,
            ChatRate {
                burst: limits.chat_burst,
                lines_per_s: limits.chat_lines_per_s,
            },
            task_guard.clone(),
        );
        if let Err(e) = bus.subscribe(&Topic::Node(node_id.clone())).await {
            return Err(StartError::Redis {
                url: config
                    .redis_url
                    .as_ref()
                    .map(RedisUrl::masked)
                    .unwrap_or_default(),
                reason: e.to_string(),
            });
        }
        let keys = SessionKeys::new(
            config.session_secret.as_ref().map(Secret::expose),
            config.session_ttl(),
        );
        let seats: Vec<GameSeats<'_>> = games
            .iter()
            .map(|game| GameSeats {
                name: game.name(),
                max_players: usize::from(game.max_players()),
                teams: game.teams(),
            })
            .collect();
        let mm_config = MatchmakingConfig::load(&config.matchmaking_path(), &seats)?;
        let sessions = Arc::new(Sessions::default());
        let started_at_ms = unix_ms();
        let matchmaking = Matchmaking::start(matchmaking::Parts {
            node_id: node_id.clone(),
            public_url: public_url.clone(),
            started_at_ms,
            config: mm_config,
            store: queue,
            joins: JoinTickets::new(keys.clone(), &node_id),
            bus: Arc::clone(&bus),
            sessions: Arc::clone(&sessions),
            matches: Arc::clone(&matches),
            registry: Arc::clone(&registry),
            heartbeat: Limits::secs(config.node_ttl_s / 3.0),
            shutdown: shutdown.clone(),
            task_guard: task_guard.clone(),
        });
        tokio::spawn(dispatch(
            matchmaking.clone(),
            SessionsArea {
                sessions: Arc::clone(&sessions),
                matches: Arc::clone(&matches),
                bus: Arc::clone(&bus),
                public_url: public_url.clone(),
            },
            deliveries,
            to_lobby,
            shutdown.clone(),
            task_guard.clone(),
        ));

        let node = Arc::new(Node {
            keys,
            matchmaking,
            webtransport: std::sync::OnceLock::new(),
            stats: std::sync::Mutex::default(),
            connection_permits: Arc::new(Semaphore::new(limits.max_connections)),
            per_ip: PerIp::new(limits),
            origins: Origins::new(
                &config.allowed_origins,
                &public_url,
                config.redis_url.is_none(),
            ),
            matches,
            games,
            sessions,
            shutdown,
            draining: watch::Sender::new(false),
            task_guard,
            metrics: metrics_handle(),
            redis_health: RedisHealth::new(config.redis_url.is_some()),
            outbox_health: Arc::default(),
            started: Instant::now(),
            started_at_ms,
            next_conn_id: AtomicU64::new(1),
            node_id,
            public_url,
            bus,
            lobby,
            registry,
            leaderboards,
            lb_config,
            config,
        });
        // Where a player is stays recorded while a match here holds their
        // seat (so another node can tell them where it is), and is
        // forgotten once the seat is gone and they are not connected here.
        {
            let weak = Arc::downgrade(&node);
            let runtime = tokio::runtime::Handle::current();
            node.matches
                .on_seat_released(SeatReleased(Box::new(move |player_id| {
                    let Some(node) = weak.upgrade() else { return };
                    if node.sessions.is_here(player_id) {
                        return;
                    }
                    runtime.spawn(async move {
                        let store = node.matchmaking.store();
                        if let Err(e) = store.unplace(player_id, &node.node_id).await {
                            tracing::debug!(error = %e, "could not forget where a player was");
                        }
                    });
                })));
        }
        tokio::spawn(heartbeat(Arc::clone(&node)));
        tokio::spawn(record_results(Arc::clone(&node), recorded, outbox_dir));
        Ok(node)
    }

    /// Starts the drain that precedes a shutdown: `/readyz` says not ready,
    /// the node leaves the registry (so matchmaking hosts no match here),
    /// quick play and hosting refuse, new connections are refused (a player
    /// with a seat here may come back to it), and running matches play on.
    pub fn drain(&self) {
        self.matches.drain();
        self.draining.send_replace(true);
    }

    /// Whether the node is draining or shutting down.
    pub fn is_draining(&self) -> bool {
        *self.draining.borrow() || *self.shutdown.borrow()
    }

    /// What this node tells the registry about itself: its load, as
    /// matchmaking chooses hosts by it.
    pub fn info(&self) -> NodeInfo {
        self.matchmaking.node_info()
    }

    /// [`Node::info`] with the stats of the time since the previous
    /// heartbeat (when the node records metrics).
    fn heartbeat_info(&self) -> NodeInfo {
        let mut info = self.info();
        if let Some(metrics) = &self.metrics {
            let rendered = metrics.render();
            let mut sampler = self.stats.lock().unwrap_or_else(|p| p.into_inner());
            info.stats = Some(sampler.sample(&rendered));
        }
        info
    }

    /// A number for a new connection, unique within this node.
    pub fn next_conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }
}
