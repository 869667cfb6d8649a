//! A Skirmish node: HTTP and WebSocket on one port, guest sessions, lobby,
//! matchmaking, leaderboards, and one task per match stepping a game at a
//! fixed tick rate.
//!
//! The node is the engine: it knows no game. Whoever starts it registers the
//! games it serves ([`games::Games`]); the `skirmish-server` binary
//! registers the arena and the hill. [`run`] is the whole server; `main` only parses
//! flags and loads the games. Tests bind a [`Server`] on port 0, read its
//! address, and stop it with their own shutdown future.

pub(crate) mod admin;
pub(crate) mod admission;
pub mod auth;
pub mod bus;
pub(crate) mod clock;
pub mod config;
pub mod games;
pub(crate) mod handshakes;
pub(crate) mod health;
pub(crate) mod http;
pub mod leaderboard;
pub(crate) mod limits;
pub(crate) mod listener;
pub mod lobby;
pub mod matches;
pub mod matchmaking;
pub mod node;
pub mod node_stats;
pub(crate) mod origins;
pub mod outbox;
pub(crate) mod per_ip;
pub mod redis_conn;
pub(crate) mod registry;
pub mod results;
pub(crate) mod runner;
pub(crate) mod session;
pub(crate) mod sessions;
pub(crate) mod ticker;
pub mod tls;
pub(crate) mod webtransport;
pub(crate) mod wt_offer;

pub use config::Config;

use games::Games;
use node::Node;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

/// How long shutdown waits for sessions and matches to wind down.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No game was registered: a node needs at least one to host matches.
    #[error("no game registered: a node needs at least one game to serve")]
    NoGame,
    /// A configuration value is out of its range.
    #[error(transparent)]
    Config(#[from] skirmish_shared::check::InvalidField),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Redis was configured but could not be reached.
    #[error("cannot use Redis at {url}: {reason}")]
    Redis {
        /// The configured URL, its password masked.
        url: String,
        /// Why.
        reason: String,
    },
    /// The leaderboard definitions are missing or invalid.
    #[error(transparent)]
    Leaderboards(#[from] leaderboard::LeaderboardError),
    /// The results outbox directory cannot be used.
    #[error(transparent)]
    Outbox(#[from] results::OutboxError),
    /// The matchmaking settings are missing or invalid.
    #[error(transparent)]
    Matchmaking(#[from] matchmaking::config::MatchmakingConfigError),
    /// Multi-node mode without a shared session secret: a token issued by
    /// one node would not open a connection to another.
    #[error(
        "multi-node mode (a Redis URL) needs session_secret (or SKIRMISH_SESSION_SECRET), shared by every node"
    )]
    NoSharedSecret,
    /// The threads that run matches could not be started.
    #[error("cannot start {n} tick thread(s): {source}")]
    TickThreads {
        /// How many were asked for.
        n: usize,
        /// Why.
        source: std::io::Error,
    },
    /// The listener failed while serving.
    #[error("serving failed: {0}")]
    Serve(#[source] std::io::Error),
    /// The TLS certificate or key could not be used.
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
}

/// A node bound to its address, not yet serving.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    /// Set when the node serves HTTPS and WSS.
    tls: Option<tls::Certificates>,
    /// Set when the node serves WebTransport.
    webtransport: Option<webtransport::WebTransport>,
    node: Arc<Node>,
    shutdown_tx: watch::Sender<bool>,
    tasks_done: mpsc::Receiver<()>,
}

impl Server {
    /// Binds the listener for a node serving `games`.
    pub async fn bind(config: Config, games: Games) -> Result<Self, StartError> {
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (task_guard, tasks_done) = mpsc::channel(1);
        let addr = config.listen;
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(tls::Certificates::load(cert, key)?),
            _ => None,
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let node = Node::new(config, games, local_addr, shutdown_rx, task_guard).await?;
        let webtransport = if node.config.webtransport.enabled {
            let wt = webtransport::WebTransport::bind(&node.config, local_addr, &node.public_url)
                .await?;
            let _ = node.webtransport.set(wt.offer());
            Some(wt)
        } else {
            None
        };
        if !node.config.web_path().join("dist/app.js").exists() {
            warn!(
                web = %node.config.web_path().display(),
                "the browser client is not built; run `npm --prefix assets/web ci && npm --prefix assets/web run build`"
            );
        }
        Ok(Server {
            listener,
            tls,
            webtransport,
            node,
            shutdown_tx,
            tasks_done,
        })
    }

    /// The bound address (with the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        // A bound TCP listener always has a local address.
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// The node's shared state, for programs that drive its parts directly
    /// (the matchmaking benchmark queues tickets through its matchmaker;
    /// tests drop connections from the node's side). Drop it before the node
    /// shuts down: shutdown waits for every holder.
    pub fn node(&self) -> Arc<Node> {
        Arc::clone(&self.node)
    }

    /// Serves until `shutdown` completes, then drains (see [`Node::drain`])
    /// until no match runs or `limits.drain_timeout_s` has passed, then
    /// ends every match still running (`abandoned`), closes every
    /// connection (1001) and waits for them up to a grace period.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let Server {
            listener,
            tls,
            webtransport,
            node,
            shutdown_tx,
            mut tasks_done,
        } = self;
        info!(addr = %listener.local_addr().map_err(StartError::Serve)?, tick_rate = node.config.tick_rate, games = ?node.games.names(), "listening");
        let app = http::router(Arc::clone(&node));
        if let Some(wt) = webtransport {
            tokio::spawn(wt.serve(Arc::clone(&node)));
        }
        let draining = Arc::clone(&node);
        let signal = async move {
            shutdown.await;
            let timeout = config::Limits::secs(draining.config.limits.drain_timeout_s);
            let (matches, players) = draining.matches.counts();
            info!(
                ?timeout,
                matches, players, "draining: no new players or matches; running matches may finish"
            );
            draining.drain();
            if tokio::time::timeout(timeout, draining.matches.until_none())
                .await
                .is_err()
            {
                let (matches, players) = draining.matches.counts();
                info!(
                    matches,
                    players, "the drain timed out; ending the matches left as abandoned"
                );
            }
            drop(draining);
            info!("shutting down");
            let _ = shutdown_tx.send(true);
        };
        // Snapshots and pongs are small and latency-bound: Nagle's algorithm
        // would hold them back tens of milliseconds behind unacknowledged data.
        // A fixed send buffer bounds what the kernel holds for a client that
        // does not read (autotuned, it grows to megabytes).
        let send_buffer = node.config.limits.send_buffer_bytes;
        let tune: listener::Tune = Box::new(move |tcp: &tokio::net::TcpStream| {
            if let Err(e) = tcp.set_nodelay(true) {
                warn!(error = %e, "could not set TCP_NODELAY");
            }
            if let Err(e) = socket2::SockRef::from(tcp).set_send_buffer_size(send_buffer) {
                warn!(error = %e, "could not set SO_SNDBUF");
            }
        });
        let app = app.into_make_service_with_connect_info::<listener::PeerAddr>();
        let served = match tls {
            None => {
                let listener = listener::TunedTcp::new(listener, tune);
                axum::serve(listener, app)
                    .with_graceful_shutdown(signal)
                    .await
            }
            Some(certificates) => {
                let exempt = node.config.limits.per_ip_exempt.clone();
                let listener = tls::TlsListener::new(listener, certificates, tune, exempt)
                    .map_err(StartError::Serve)?;
                axum::serve(listener, app)
                    .with_graceful_shutdown(signal)
                    .await
            }
        };
        drop(node);
        // Every session and match task holds a guard; the channel closes when
        // the last of them ends.
        if tokio::time::timeout(SHUTDOWN_GRACE, tasks_done.recv())
            .await
            .is_err()
        {
            warn!("some sessions or matches did not end within the shutdown grace period");
        }
        served.map_err(StartError::Serve)
    }
}

/// Completes when the process is asked to stop: SIGTERM (what systemd,
/// Docker and Kubernetes send) or SIGINT (Ctrl-C). Never completes when
/// neither can be listened for.
pub async fn stop_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let terminate = async {
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    term.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = interrupt => {}
            () = terminate => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await;
}

/// Runs a node serving `games` until `shutdown` completes.
pub async fn run(
    config: Config,
    games: Games,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    Server::bind(config, games).await?.serve(shutdown).await
}
