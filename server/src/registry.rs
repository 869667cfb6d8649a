//! The node registry: every node heartbeats its id, public URL and load;
//! a node that stops heartbeating drops out of the live list within the TTL.
//!
//! In Redis the registry is a hash of node descriptions and a sorted set of
//! last-seen times, both under the hash tag `{nodes}` so the Lua scripts
//! that touch them are Redis-Cluster-safe. Times come from the Redis
//! server's clock (`TIME`), so clock skew between nodes cannot make a live
//! node look dead.
//!
//! Beside the live list, the registry remembers every public URL a node
//! heartbeat with and when it last did (a third sorted set under `{nodes}`),
//! so a page served by a node that has since died or drained may still use
//! the others: its origin outlives its node (`origins.rs`).

use crate::node_stats::NodeStats;
use crate::redis_conn::{self, Commands};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use skirmish_shared::proto::NodeId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::warn;

/// What a node says about itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Unique in the cluster.
    pub id: NodeId,
    /// How players reach it.
    pub public_url: String,
    /// Players connected.
    pub players: u32,
    /// Matches running.
    pub matches: u32,
    /// When it started, Unix milliseconds.
    pub started_at_ms: u64,
    /// Its last heartbeat, Unix milliseconds (set by the registry).
    #[serde(default)]
    pub last_seen_ms: u64,
    /// How long before this read its last heartbeat was, by the registry's
    /// clock (set by the registry), so a reader can tell a node that still
    /// heartbeats from one that is listed only until its TTL passes.
    #[serde(default)]
    pub age_ms: u64,
    /// Players on their way to it: seats reserved in the formed matches it
    /// hosts for players connected elsewhere.
    #[serde(default)]
    pub awaited: u32,
    /// Formed matches it has agreed to host since it started; a match
    /// former knows a heartbeat counts a match it placed here once this
    /// reaches the number the host acknowledged it with.
    #[serde(default)]
    pub formed: u64,
    /// Its recent health, for the admin dashboard; left out of the public
    /// `GET /api/nodes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<NodeStats>,
}

/// Why the registry could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Redis did not answer; try again later.
    #[error("the node registry is unavailable: {0}")]
    Unavailable(String),
}

/// Where nodes announce themselves and find each other.
pub trait Registry: Send + Sync + std::fmt::Debug {
    /// Records `info` as alive now.
    fn heartbeat<'a>(&'a self, info: &'a NodeInfo) -> BoxFuture<'a, Result<(), RegistryError>>;
    /// Nodes seen within the TTL, by id; forgets the others.
    fn live(&self) -> BoxFuture<'_, Result<Vec<NodeInfo>, RegistryError>>;
    /// Removes a node at once (graceful shutdown).
    fn leave<'a>(&'a self, node_id: &'a NodeId) -> BoxFuture<'a, Result<(), RegistryError>>;
    /// The public URLs nodes heartbeat with within the last `within`,
    /// whether they are still live or not; forgets older ones.
    fn recent_urls(&self, within: Duration) -> BoxFuture<'_, Result<Vec<String>, RegistryError>>;
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The registry of a node running alone (or of nodes in one process).
#[derive(Clone, Debug)]
pub struct MemoryRegistry {
    nodes: Arc<Mutex<HashMap<NodeId, NodeInfo>>>,
    /// Each public URL's last heartbeat, Unix ms.
    urls: Arc<Mutex<HashMap<String, u64>>>,
    ttl: Duration,
}

impl MemoryRegistry {
    /// An empty registry where a node lives `ttl` after its last heartbeat.
    pub fn new(ttl: Duration) -> Self {
        MemoryRegistry {
            nodes: Arc::default(),
            urls: Arc::default(),
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<NodeId, NodeInfo>> {
        self.nodes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_urls(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.urls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Registry for MemoryRegistry {
    fn heartbeat<'a>(&'a self, info: &'a NodeInfo) -> BoxFuture<'a, Result<(), RegistryError>> {
        let info = NodeInfo {
            last_seen_ms: now_ms(),
            age_ms: 0,
            ..info.clone()
        };
        self.lock_urls()
            .insert(info.public_url.clone(), info.last_seen_ms);
        self.lock().insert(info.id.clone(), info);
        Box::pin(std::future::ready(Ok(())))
    }

    fn live(&self) -> BoxFuture<'_, Result<Vec<NodeInfo>, RegistryError>> {
        let now = now_ms();
        let cutoff = now.saturating_sub(self.ttl.as_millis() as u64);
        let mut nodes = self.lock();
        nodes.retain(|_, n| n.last_seen_ms >= cutoff);
        let mut live: Vec<NodeInfo> = nodes
            .values()
            .map(|n| NodeInfo {
                age_ms: now.saturating_sub(n.last_seen_ms),
                ..n.clone()
            })
            .collect();
        live.sort_by(|a, b| a.id.cmp(&b.id));
        Box::pin(std::future::ready(Ok(live)))
    }

    fn leave<'a>(&'a self, node_id: &'a NodeId) -> BoxFuture<'a, Result<(), RegistryError>> {
        self.lock().remove(node_id);
        Box::pin(std::future::ready(Ok(())))
    }

    fn recent_urls(&self, within: Duration) -> BoxFuture<'_, Result<Vec<String>, RegistryError>> {
        let cutoff = now_ms().saturating_sub(within.as_millis() as u64);
        let mut urls = self.lock_urls();
        urls.retain(|_, seen| *seen >= cutoff);
        let mut recent: Vec<String> = urls.keys().cloned().collect();
        recent.sort();
        Box::pin(std::future::ready(Ok(recent)))
    }
}

/// Records a heartbeat with the Redis server's clock.
const HEARTBEAT: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZADD', KEYS[3], now, ARGV[3])
return now
";

/// Forgets public URLs not heartbeat with for `ARGV[1]` ms and returns the
/// others.
const RECENT_URLS: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local cutoff = now - tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. cutoff)
return redis.call('ZRANGE', KEYS[1], 0, -1)
";

/// Forgets nodes older than the TTL and returns the time now, then the
/// descriptions and last-seen times of the others.
const LIVE: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local cutoff = now - tonumber(ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. cutoff)
for _, id in ipairs(dead) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], cutoff, '+inf', 'WITHSCORES')
local out = {tostring(now)}
for i = 1, #ids, 2 do
  out[#out + 1] = redis.call('HGET', KEYS[1], ids[i]) or ''
  out[#out + 1] = ids[i + 1]
end
return out
";

/// The registry in Redis.
#[derive(Clone)]
pub struct RedisRegistry {
    conn: Commands,
    info_key: String,
    seen_key: String,
    urls_key: String,
    ttl: Duration,
    heartbeat: Arc<redis::Script>,
    live: Arc<redis::Script>,
    recent_urls: Arc<redis::Script>,
}

impl std::fmt::Debug for RedisRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRegistry")
            .field("info_key", &self.info_key)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl RedisRegistry {
    /// A registry under `prefix` where nodes live `ttl` after their last
    /// heartbeat.
    pub fn new(conn: Commands, prefix: &str, ttl: Duration) -> Self {
        RedisRegistry {
            conn,
            info_key: format!("{prefix}:{{nodes}}:info"),
            seen_key: format!("{prefix}:{{nodes}}:seen"),
            urls_key: format!("{prefix}:{{nodes}}:urls"),
            ttl,
            heartbeat: Arc::new(redis_conn::script("registry.heartbeat", HEARTBEAT)),
            live: Arc::new(redis_conn::script("registry.live", LIVE)),
            recent_urls: Arc::new(redis_conn::script("registry.recent_urls", RECENT_URLS)),
        }
    }
}

/// One registry entry as the live-nodes script returns it: the node's JSON
/// and its last heartbeat (Unix ms), read at `now` (Unix ms).
fn parse_entry(pair: &[String], now: u64) -> Result<NodeInfo, String> {
    let [json, seen] = pair else {
        return Err(format!("{} fields instead of 2", pair.len()));
    };
    let mut info: NodeInfo = serde_json::from_str(json).map_err(|e| e.to_string())?;
    info.last_seen_ms = seen
        .parse()
        .map_err(|_| format!("last seen `{seen}` is not a number"))?;
    info.age_ms = now.saturating_sub(info.last_seen_ms);
    Ok(info)
}

fn unavailable(e: redis::RedisError) -> RegistryError {
    RegistryError::Unavailable(e.to_string())
}

impl Registry for RedisRegistry {
    fn heartbeat<'a>(&'a self, info: &'a NodeInfo) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(async move {
            let json = serde_json::to_string(info)
                .map_err(|e| RegistryError::Unavailable(e.to_string()))?;
            let mut conn = self.conn.clone();
            let _: u64 = self
                .heartbeat
                .key(&self.info_key)
                .key(&self.seen_key)
                .key(&self.urls_key)
                .arg(info.id.as_str())
                .arg(json)
                .arg(&info.public_url)
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
            Ok(())
        })
    }

    fn live(&self) -> BoxFuture<'_, Result<Vec<NodeInfo>, RegistryError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let flat: Vec<String> = self
                .live
                .key(&self.info_key)
                .key(&self.seen_key)
                .arg(self.ttl.as_millis() as u64)
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
            let now: u64 = flat.first().and_then(|t| t.parse().ok()).unwrap_or(0);
            let mut nodes: Vec<NodeInfo> = flat
                .get(1..)
                .unwrap_or_default()
                .chunks(2)
                .filter_map(|pair| match parse_entry(pair, now) {
                    Ok(info) => Some(info),
                    Err(why) => {
                        // Another build's format, or a hand-edited key: the
                        // node is left out of this answer, and said so.
                        warn!(entry = ?pair, why, "skipping an unreadable node registry entry");
                        None
                    }
                })
                .collect();
            nodes.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(nodes)
        })
    }

    fn leave<'a>(&'a self, node_id: &'a NodeId) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            redis::pipe()
                .atomic()
                .hdel(&self.info_key, node_id.as_str())
                .zrem(&self.seen_key, node_id.as_str())
                .query_async::<()>(&mut conn)
                .await
                .map_err(unavailable)
        })
    }

    fn recent_urls(&self, within: Duration) -> BoxFuture<'_, Result<Vec<String>, RegistryError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            self.recent_urls
                .key(&self.urls_key)
                .arg(within.as_millis() as u64)
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str) -> NodeInfo {
        NodeInfo {
            id: id.into(),
            public_url: format!("http://{id}"),
            players: 3,
            matches: 1,
            started_at_ms: 1,
            last_seen_ms: 0,
            age_ms: 0,
            awaited: 0,
            formed: 0,
            stats: None,
        }
    }

    #[tokio::test]
    async fn nodes_live_until_their_ttl_passes() {
        let registry = MemoryRegistry::new(Duration::from_millis(200));
        registry.heartbeat(&info("b")).await.expect("heartbeat");
        registry.heartbeat(&info("a")).await.expect("heartbeat");
        let live = registry.live().await.expect("live");
        assert_eq!(
            live.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(live[0].last_seen_ms > 0);
        tokio::time::sleep(Duration::from_millis(250)).await;
        registry.heartbeat(&info("a")).await.expect("heartbeat");
        let live = registry.live().await.expect("live");
        assert_eq!(
            live.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
            ["a"],
            "b stopped heartbeating"
        );
        registry.leave(&NodeId::from("a")).await.expect("leave");
        assert!(registry.live().await.expect("live").is_empty());
        assert_eq!(
            registry
                .recent_urls(Duration::from_secs(60))
                .await
                .expect("urls"),
            ["http://a", "http://b"],
            "gone, still remembered"
        );
        assert_eq!(
            registry
                .recent_urls(Duration::from_millis(100))
                .await
                .expect("urls"),
            ["http://a"],
            "b's is older"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            registry
                .recent_urls(Duration::from_millis(10))
                .await
                .expect("urls")
                .is_empty()
        );
    }

    #[test]
    fn registry_entries_parse_or_say_why_not() {
        let json = serde_json::to_string(&info("a")).expect("json");
        let parsed = parse_entry(&[json.clone(), "1000".into()], 1500).expect("parses");
        assert_eq!(
            (parsed.id.as_str(), parsed.last_seen_ms, parsed.age_ms),
            ("a", 1000, 500)
        );
        let why = parse_entry(&["{nope".into(), "1000".into()], 0).expect_err("bad JSON");
        assert!(why.contains("key must be a string"), "{why}");
        let why = parse_entry(&[json.clone(), "soon".into()], 0).expect_err("bad time");
        assert!(why.contains("soon"), "{why}");
        let why = parse_entry(&[json], 0).expect_err("half an entry");
        assert!(why.contains("1 fields"), "{why}");
    }
}
