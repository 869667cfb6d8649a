//! How this node connects to Redis, one server or a cluster: RESP3 (for
//! Pub/Sub pushes on the same multiplexed connection type), TCP_NODELAY,
//! and deliberate timeouts.
//!
//! Commands go over a [`ConnectionManager`] (one Redis) or a
//! [`ClusterConnection`] (a cluster), both multiplexed and reconnecting,
//! wrapped in [`Commands`], which times each command into
//! `skirmish_redis_command_seconds{command}`. The response timeout is set
//! on purpose: the crate's 500 ms default is shorter than a busy Redis can
//! take for a large script, and an unbounded one would let an outage hang
//! callers; a second is the budget before a caller treats Redis as
//! unavailable.

mod commands;
mod subscriber;
mod target;

pub use commands::{COMMAND_BUCKETS_S, COMMAND_SECONDS, Commands, script};
pub use subscriber::Subscriber;
pub use target::Target;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::io::tcp::TcpSettings;
use redis::{ConnectionInfo, ProtocolVersion, PushInfo, RedisResult};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a command may take before the caller gets an error.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Where to connect, with this node's settings; makes connections.
#[derive(Clone, Debug)]
pub struct Client(Inner);

#[derive(Clone, Debug)]
enum Inner {
    Single(redis::Client),
    Cluster(Vec<ConnectionInfo>),
}

/// A client for `url` (one Redis, or a cluster: see [`Target`]) speaking
/// RESP3 with Nagle's algorithm off (bus and chat messages are small and
/// latency-bound).
pub fn client(url: &str) -> RedisResult<Client> {
    Ok(Client(match Target::parse(url)? {
        Target::Single(info) => Inner::Single(redis::Client::open(tuned(info))?),
        Target::Cluster(seeds) => Inner::Cluster(seeds.into_iter().map(tuned).collect()),
    }))
}

fn tuned(info: ConnectionInfo) -> ConnectionInfo {
    let redis = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    info.set_redis_settings(redis).set_tcp_settings(nodelay())
}

fn nodelay() -> TcpSettings {
    TcpSettings::default().set_nodelay(true)
}

impl Client {
    /// Whether it names a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.0, Inner::Cluster(_))
    }
}

fn config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(1))
        .set_number_of_retries(2)
}

/// A cluster client with the same budgets as [`config`]: it retries a
/// command through `MOVED`, `ASK`, `TRYAGAIN` and reconnects, waiting
/// 50 ms to 1 s between tries.
fn cluster(seeds: &[ConnectionInfo]) -> ClusterClientBuilder {
    ClusterClientBuilder::new(seeds.to_vec())
        .use_protocol(ProtocolVersion::RESP3)
        .tcp_settings(nodelay())
        .response_timeout(RESPONSE_TIMEOUT)
        .connection_timeout(CONNECT_TIMEOUT)
        .min_retry_wait(50)
        .max_retry_wait(1_000)
        .retries(4)
}

async fn connect_cluster(builder: ClusterClientBuilder) -> RedisResult<ClusterConnection> {
    let client: ClusterClient = builder.build()?;
    client.get_async_connection().await
}

/// A reconnecting, multiplexed connection for commands, timed.
pub async fn commands(client: &Client) -> RedisResult<Commands> {
    Ok(match &client.0 {
        Inner::Single(client) => ConnectionManager::new_with_config(client.clone(), config())
            .await?
            .into(),
        Inner::Cluster(seeds) => connect_cluster(cluster(seeds)).await?.into(),
    })
}

/// A reconnecting connection for subscriptions: pushes (messages, and a
/// `Disconnection` when a link drops) go to `pushes`, and every channel is
/// subscribed again after a reconnect (on a cluster, also when its slot
/// moves to another master).
pub async fn subscriber(
    client: &Client,
    pushes: mpsc::UnboundedSender<PushInfo>,
) -> RedisResult<Subscriber> {
    Ok(match &client.0 {
        Inner::Single(client) => ConnectionManager::new_with_config(
            client.clone(),
            config()
                .set_push_sender(pushes)
                .set_automatic_resubscription(),
        )
        .await?
        .into(),
        Inner::Cluster(seeds) => connect_cluster(cluster(seeds).push_sender(pushes))
            .await?
            .into(),
    })
}

/// Whether an error means Redis is unreachable or slow (worth retrying),
/// rather than a bad command.
pub fn is_unavailable(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal()
}
