//! How this node connects to Redis: RESP3 (for Pub/Sub pushes on the same
//! multiplexed connection type), TCP_NODELAY, and deliberate timeouts.
//!
//! Commands go over a [`ConnectionManager`], which multiplexes and
//! reconnects with backoff, wrapped in [`Commands`], which times each
//! command into `skirmish_redis_command_seconds{command}`. The response timeout is set on purpose: the
//! crate's 500 ms default is shorter than a busy Redis can take for a large
//! script, and an unbounded one would let an outage hang callers; a second
//! is the budget before a caller treats Redis as unavailable.

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::io::tcp::TcpSettings;
use redis::{
    Client, Cmd, IntoConnectionInfo, Pipeline, ProtocolVersion, PushInfo, RedisFuture, RedisResult,
    Value,
};
use std::time::{Duration, Instant};
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

/// A reconnecting, multiplexed connection for commands, timed.
pub async fn commands(client: &Client) -> RedisResult<Commands> {
    let manager = ConnectionManager::new_with_config(client.clone(), config()).await?;
    Ok(Commands(manager))
}

/// The Prometheus histogram of command round trips (seconds), by command.
pub const COMMAND_SECONDS: &str = "skirmish_redis_command_seconds";

/// Its buckets: from a tenth of a millisecond (a command on a quiet local
/// Redis) to the response timeout.
pub const COMMAND_BUCKETS_S: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// The node's connection for commands: a [`ConnectionManager`] that records
/// how long each command (or pipeline) took, answered or not, as
/// [`COMMAND_SECONDS`] labelled with the command's name (`EVALSHA` for a
/// script; `pipeline:` and its first command's for a pipeline or
/// transaction, such as `pipeline:PUBLISH`). Cheap to clone.
#[derive(Clone)]
pub struct Commands(ConnectionManager);

impl From<ConnectionManager> for Commands {
    /// Times a manager configured otherwise (a test's, with other timeouts).
    fn from(manager: ConnectionManager) -> Self {
        Commands(manager)
    }
}

impl std::fmt::Debug for Commands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Commands")
    }
}

/// A command's name as a label: its first word, upper case, or `other`
/// for anything that does not look like one.
fn command_name(cmd: &Cmd) -> &'static str {
    let Some(redis::Arg::Simple(name)) = cmd.args_iter().next() else {
        return "other";
    };
    // The commands the node sends, so the label set stays small.
    const KNOWN: &[&str] = &[
        "EVALSHA",
        "EVAL",
        "SCRIPT",
        "GET",
        "SET",
        "DEL",
        "EXPIRE",
        "PEXPIRE",
        "HGET",
        "HSET",
        "HDEL",
        "HGETALL",
        "HMGET",
        "ZADD",
        "ZREM",
        "ZRANGE",
        "ZREVRANGE",
        "ZSCORE",
        "ZREVRANK",
        "ZCARD",
        "ZRANGEBYSCORE",
        "ZINCRBY",
        "LPUSH",
        "LRANGE",
        "LTRIM",
        "PUBLISH",
        "PING",
        "TIME",
        "EXISTS",
        "MGET",
        "SCAN",
        "INCR",
        "SMEMBERS",
        "SADD",
        "SREM",
        "ZMSCORE",
        "HMSET",
        "XADD",
        "XRANGE",
        "XREVRANGE",
        "XTRIM",
        "UNLINK",
    ];
    KNOWN
        .iter()
        .find(|known| known.as_bytes().eq_ignore_ascii_case(name))
        .copied()
        .unwrap_or("other")
}

fn record(command: impl Into<metrics::SharedString>, started: Instant) {
    metrics::histogram!(COMMAND_SECONDS, "command" => command)
        .record(started.elapsed().as_secs_f64());
}

impl ConnectionLike for Commands {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let started = Instant::now();
            let answer = self.0.req_packed_command(cmd).await;
            record(command_name(cmd), started);
            answer
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let started = Instant::now();
            let answer = self.0.req_packed_commands(pipeline, offset, count).await;
            let first = pipeline.cmd_iter().next().map_or("empty", command_name);
            record(format!("pipeline:{first}"), started);
            answer
        })
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
    }
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
