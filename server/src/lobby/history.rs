//! Chat history per room: the recent lines a player sees on joining. In
//! Redis each room is a capped Stream (`XADD … MAXLEN ~`), whose entry ids
//! also order and identify the lines; in memory, a capped queue.

use crate::redis_conn::Commands;
use futures_util::future::BoxFuture;
use redis::streams::StreamRangeReply;
use skirmish_shared::proto::RoomId;
use skirmish_shared::proto::{ChatView, PlayerId};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Lines kept per room (approximately, in Redis).
pub const KEEP: usize = 500;

/// Idle rooms' streams expire after this many seconds without a new line.
const STREAM_TTL_S: i64 = 7 * 24 * 3600;

/// Why the history could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// Redis did not answer; the caller may retry.
    #[error("chat history is unavailable: {0}")]
    Unavailable(String),
}

/// The order of a line id (`<ms>-<seq>`, a Stream id or the memory
/// twin's): ids of one room increase with every line, so a line is newer
/// than another exactly when its key is greater. `None` for an id this
/// module never hands out.
pub fn id_key(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// Stores and replays chat lines.
pub trait ChatHistory: Send + Sync + std::fmt::Debug {
    /// Stores a line and returns the id it was given.
    fn append<'a>(&'a self, line: &'a ChatView) -> BoxFuture<'a, Result<String, HistoryError>>;
    /// The last `n` lines of a room, oldest first.
    fn recent<'a>(
        &'a self,
        room: &'a RoomId,
        n: usize,
    ) -> BoxFuture<'a, Result<Vec<ChatView>, HistoryError>>;
}

/// History in process memory, for a node running alone.
#[derive(Debug, Default)]
pub struct MemoryHistory {
    rooms: Mutex<HashMap<RoomId, MemoryRoom>>,
}

/// One room's lines in memory, and what its next id must exceed.
#[derive(Debug, Default)]
struct MemoryRoom {
    /// The time part of the last id: ids never go back with the clock.
    last_ms: u64,
    /// Lines appended so far, for the sequence part of ids.
    seq: u64,
    /// The newest [`KEEP`] lines, oldest first.
    lines: VecDeque<ChatView>,
}

impl ChatHistory for MemoryHistory {
    fn append<'a>(&'a self, line: &'a ChatView) -> BoxFuture<'a, Result<String, HistoryError>> {
        let mut rooms = self
            .rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let room = rooms.entry(line.room.clone()).or_default();
        room.seq += 1;
        // The same shape as a stream id, time then a sequence number, and
        // increasing like one even if the clock steps back.
        room.last_ms = room.last_ms.max(line.sent_at_ms);
        let id = format!("{}-{}", room.last_ms, room.seq);
        room.lines.push_back(ChatView {
            id: id.clone(),
            ..line.clone()
        });
        if room.lines.len() > KEEP {
            room.lines.pop_front();
        }
        Box::pin(std::future::ready(Ok(id)))
    }

    fn recent<'a>(
        &'a self,
        room: &'a RoomId,
        n: usize,
    ) -> BoxFuture<'a, Result<Vec<ChatView>, HistoryError>> {
        let rooms = self
            .rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let lines = rooms.get(room).map(|MemoryRoom { lines, .. }| {
            lines
                .iter()
                .skip(lines.len().saturating_sub(n))
                .cloned()
                .collect()
        });
        Box::pin(std::future::ready(Ok(lines.unwrap_or_default())))
    }
}

/// History in Redis Streams, one per room: `{prefix}:chat:{room}`.
#[derive(Clone)]
pub struct RedisHistory {
    conn: Commands,
    prefix: String,
}

impl std::fmt::Debug for RedisHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisHistory")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisHistory {
    /// History under `prefix`.
    pub fn new(conn: Commands, prefix: &str) -> Self {
        RedisHistory {
            conn,
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, room: &RoomId) -> String {
        format!("{}:chat:{room}", self.prefix)
    }
}

fn unavailable(e: redis::RedisError) -> HistoryError {
    HistoryError::Unavailable(e.to_string())
}

impl ChatHistory for RedisHistory {
    fn append<'a>(&'a self, line: &'a ChatView) -> BoxFuture<'a, Result<String, HistoryError>> {
        Box::pin(async move {
            let key = self.key(&line.room);
            let mut conn = self.conn.clone();
            let (id, ()): (String, ()) = redis::pipe()
                .cmd("XADD")
                .arg(&key)
                .arg("MAXLEN")
                .arg("~")
                .arg(KEEP)
                .arg("*")
                .arg("p")
                .arg(line.player_id.to_string())
                .arg("n")
                .arg(&line.name)
                .arg("t")
                .arg(&line.text)
                .arg("s")
                .arg(line.sent_at_ms)
                .expire(&key, STREAM_TTL_S)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            Ok(id)
        })
    }

    fn recent<'a>(
        &'a self,
        room: &'a RoomId,
        n: usize,
    ) -> BoxFuture<'a, Result<Vec<ChatView>, HistoryError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let reply: StreamRangeReply = redis::cmd("XREVRANGE")
                .arg(self.key(room))
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(n)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            let mut lines: Vec<ChatView> = reply
                .ids
                .into_iter()
                .filter_map(|entry| {
                    let field = |name: &str| entry.get::<String>(name);
                    Some(ChatView {
                        room: room.to_owned(),
                        player_id: field("p")?.parse::<PlayerId>().ok()?,
                        name: field("n")?,
                        text: field("t")?,
                        sent_at_ms: field("s")?.parse().ok()?,
                        id: entry.id,
                    })
                })
                .collect();
            lines.reverse();
            Ok(lines)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(room: &RoomId, text: &str) -> ChatView {
        ChatView {
            room: room.clone(),
            id: String::new(),
            player_id: PlayerId(1),
            name: "Ada".into(),
            text: text.into(),
            sent_at_ms: 1_000,
        }
    }

    #[tokio::test]
    async fn memory_history_keeps_the_newest_lines_per_room_in_order() {
        let history = MemoryHistory::default();
        for i in 0..(KEEP + 10) {
            history
                .append(&line(&RoomId::from("a"), &i.to_string()))
                .await
                .expect("append");
        }
        let id = history
            .append(&line(&RoomId::from("b"), "hello"))
            .await
            .expect("append");
        assert_eq!(id, "1000-1", "ids count per room");
        let recent = history.recent(&RoomId::from("a"), 3).await.expect("recent");
        let texts: Vec<&str> = recent.iter().map(|l| l.text.as_str()).collect();
        let last = KEEP + 9;
        assert_eq!(
            texts,
            [
                (last - 2).to_string(),
                (last - 1).to_string(),
                last.to_string()
            ]
        );
        assert_eq!(
            history
                .recent(&RoomId::from("a"), 10_000)
                .await
                .expect("recent")
                .len(),
            KEEP
        );
        assert!(
            history
                .recent(&RoomId::from("none"), 5)
                .await
                .expect("recent")
                .is_empty()
        );
    }

    #[tokio::test]
    async fn memory_ids_increase_even_when_the_clock_steps_back() {
        let history = MemoryHistory::default();
        let mut early = line(&RoomId::from("a"), "first");
        early.sent_at_ms = 2_000;
        let first = history.append(&early).await.expect("append");
        let second = history
            .append(&line(&RoomId::from("a"), "second"))
            .await
            .expect("append");
        assert_eq!((first.as_str(), second.as_str()), ("2000-1", "2000-2"));
        assert!(id_key(&second) > id_key(&first));
        assert_eq!(id_key("1700000000000-12"), Some((1_700_000_000_000, 12)));
        assert_eq!(id_key("garbage"), None);
    }
}
