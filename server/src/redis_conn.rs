//! How this node connects to Redis: RESP3 (for Pub/Sub pushes on the same
//! multiplexed connection type), TCP_NODELAY, and deliberate timeouts.
//!
//! Commands go over a [`ConnectionManager`], which multiplexes and
//! reconnects with backoff. The response timeout is set on purpose: the
//! crate's 500 ms default is shorter than a busy Redis can take for a large
//! script, and an unbounded one would let an outage hang callers; a second
//! is the budget before a caller treats Redis as unavailable.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::io::tcp::TcpSettings;
use redis::{Client, IntoConnectionInfo, ProtocolVersion, PushInfo, RedisResult};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a command may take before the caller gets an error.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A client for `url` speaking RESP3 with Nagle's algorithm off (bus and
/// chat messages are small and latency-bound).
pub fn client(url: &str) -> RedisResult<Client> {
    let info = url.into_connection_info()?;
    let redis = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    let info = info
        .set_redis_settings(redis)
        .set_tcp_settings(TcpSettings::default().set_nodelay(true));
    Client::open(info)
}

fn config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(1))
        .set_number_of_retries(2)
}

/// A reconnecting, multiplexed connection for commands.
pub async fn commands(client: &Client) -> RedisResult<ConnectionManager> {
    ConnectionManager::new_with_config(client.clone(), config()).await
}

/// A reconnecting connection for subscriptions: pushes (messages, and a
/// `Disconnection` when the link drops) go to `pushes`, and every channel is
/// subscribed again after a reconnect.
pub async fn subscriber(
    client: &Client,
    pushes: mpsc::UnboundedSender<PushInfo>,
) -> RedisResult<ConnectionManager> {
    ConnectionManager::new_with_config(
        client.clone(),
        config()
            .set_push_sender(pushes)
            .set_automatic_resubscription(),
    )
    .await
}

/// Whether an error means Redis is unreachable or slow (worth retrying),
/// rather than a bad command.
pub fn is_unavailable(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal()
}
