//! Room membership in Redis, so a node that starts following a room learns
//! who is already in it on other nodes. Each node keeps one hash per room,
//! `{prefix}:presence:{room}:{node}` (player id → name), with a TTL it
//! refreshes while it lives, so a dead node's members vanish on their own.

use redis::aio::ConnectionManager;
use skirmish_shared::proto::PlayerId;
use std::collections::HashMap;
use std::time::Duration;

/// Room membership shared through Redis.
#[derive(Clone)]
pub struct RedisPresence {
    conn: ConnectionManager,
    prefix: String,
    node_id: String,
    ttl: Duration,
}

impl std::fmt::Debug for RedisPresence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPresence")
            .field("prefix", &self.prefix)
            .field("node_id", &self.node_id)
            .finish()
    }
}

/// A member as stored: who, their name, and their node.
pub type StoredMember = (PlayerId, String, String);

impl RedisPresence {
    /// This node's presence; entries live `ttl` past the last refresh.
    pub fn new(conn: ConnectionManager, prefix: &str, node_id: &str, ttl: Duration) -> Self {
        RedisPresence {
            conn,
            prefix: prefix.to_owned(),
            node_id: node_id.to_owned(),
            ttl,
        }
    }

    fn key(&self, room: &str, node: &str) -> String {
        format!("{}:presence:{room}:{node}", self.prefix)
    }

    /// Records a member of this node in a room.
    pub async fn add(&self, room: &str, player_id: PlayerId, name: &str) -> redis::RedisResult<()> {
        let key = self.key(room, &self.node_id);
        let mut conn = self.conn.clone();
        redis::pipe()
            .hset(&key, player_id.to_string(), name)
            .ignore()
            .pexpire(&key, self.ttl.as_millis() as i64)
            .ignore()
            .query_async(&mut conn)
            .await
    }

    /// Forgets a member of this node.
    pub async fn remove(&self, room: &str, player_id: PlayerId) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        redis::cmd("HDEL")
            .arg(self.key(room, &self.node_id))
            .arg(player_id.to_string())
            .query_async(&mut conn)
            .await
    }

    /// Everyone in a room on the given nodes.
    pub async fn members(
        &self,
        room: &str,
        nodes: &[String],
    ) -> redis::RedisResult<Vec<StoredMember>> {
        let mut pipe = redis::pipe();
        for node in nodes {
            pipe.hgetall(self.key(room, node));
        }
        let mut conn = self.conn.clone();
        let hashes: Vec<HashMap<String, String>> = pipe.query_async(&mut conn).await?;
        Ok(nodes
            .iter()
            .zip(hashes)
            .flat_map(|(node, hash)| {
                hash.into_iter()
                    .filter_map(move |(id, name)| Some((id.parse().ok()?, name, node.clone())))
            })
            .collect())
    }

    /// Keeps this node's entries alive in the given rooms.
    pub async fn refresh(&self, rooms: &[String]) -> redis::RedisResult<()> {
        if rooms.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for room in rooms {
            pipe.pexpire(self.key(room, &self.node_id), self.ttl.as_millis() as i64)
                .ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async(&mut conn).await
    }
}
