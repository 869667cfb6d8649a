//! [`Node`]: what every handler and session of one server shares, built once
//! at start-up from the [`Config`].

use crate::auth::SessionKeys;
use crate::config::{Config, Limits};
use crate::matches::Matches;
use crate::runner::RunnerSettings;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use skirmish_shared::proto::PlayerId;
use skirmish_shared::rules::{AssetError, Map, Rules};
use skirmish_shared::sim::GameSpec;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

/// The live connection of each player on this node, so a second connection
/// of the same player replaces the first.
#[derive(Debug, Default)]
pub struct Sessions {
    live: Mutex<HashMap<PlayerId, (u64, oneshot::Sender<()>)>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PlayerId, (u64, oneshot::Sender<()>)>> {
        self.live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records `conn_id` as the player's connection, telling the previous
    /// one to close. The returned receiver fires when this one is replaced.
    pub fn register(&self, player_id: PlayerId, conn_id: u64) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        if let Some((_, previous)) = self.lock().insert(player_id, (conn_id, tx)) {
            let _ = previous.send(());
        }
        rx
    }

    /// Forgets the connection, unless the player has a newer one.
    pub fn deregister(&self, player_id: PlayerId, conn_id: u64) {
        let mut live = self.lock();
        if live.get(&player_id).is_some_and(|(c, _)| *c == conn_id) {
            live.remove(&player_id);
        }
    }

    /// Players connected to this node.
    pub fn count(&self) -> usize {
        self.lock().len()
    }
}

/// Shared state of one server.
#[derive(Debug)]
pub struct Node {
    /// As started.
    pub config: Config,
    /// Rules, map and tick rate of every match here.
    pub spec: Arc<GameSpec>,
    /// Session token keys.
    pub keys: SessionKeys,
    /// Running matches and quick play.
    pub matches: Arc<Matches>,
    /// Live connections by player.
    pub sessions: Sessions,
    /// One permit per open WebSocket.
    pub connection_permits: Arc<Semaphore>,
    /// Becomes `true` when the node shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// Held by every session task so shutdown can wait for them.
    pub task_guard: mpsc::Sender<()>,
    /// For `/metrics`.
    pub metrics: PrometheusHandle,
    /// For `/healthz`.
    pub started: Instant,
    next_conn_id: AtomicU64,
}

/// The process-wide Prometheus recorder; installed once, shared by every
/// node in the process (tests start several).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed by an embedding
            // program; then our handle renders nothing, which is harmless.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

impl Node {
    /// Loads and checks the assets and builds the node.
    pub fn new(
        config: Config,
        shutdown: watch::Receiver<bool>,
        task_guard: mpsc::Sender<()>,
    ) -> Result<Arc<Self>, AssetError> {
        let mut rules = Rules::load(&config.rules_path())?;
        if let Some(seconds) = config.match_seconds {
            rules.match_rules.duration_s = seconds;
            rules.validate("--match-seconds")?;
        }
        let map = Map::load(&config.map_path(), &rules)?;
        let spec = Arc::new(GameSpec::new(rules, map, config.tick_rate)?);
        let limits = &config.limits;
        let settings = RunnerSettings {
            reconnect_grace: Limits::secs(limits.reconnect_grace_s),
            empty_timeout: Limits::secs(limits.reconnect_grace_s.max(5.0)),
        };
        let matches = Matches::new(
            Arc::clone(&spec),
            settings,
            limits.max_matches,
            shutdown.clone(),
            task_guard.clone(),
        );
        Ok(Arc::new(Node {
            keys: SessionKeys::new(config.session_secret.as_deref(), config.session_ttl()),
            connection_permits: Arc::new(Semaphore::new(limits.max_connections)),
            matches,
            spec,
            sessions: Sessions::default(),
            shutdown,
            task_guard,
            metrics: metrics_handle(),
            started: Instant::now(),
            next_conn_id: AtomicU64::new(1),
            config,
        }))
    }

    /// A number for a new connection, unique within this node.
    pub fn next_conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }
}
