//! Room membership in Redis, so every node can learn who is in a room on the
//! others, and rebuild that after Redis lost data or bus messages.
//!
//! Each node keeps one hash per room, `<prefix>:presence:{<node>}:<room>`
//! (player id → name), with a TTL it refreshes while it lives, so a dead
//! node's members vanish on their own. The node id is the hash tag: all of
//! a node's hashes share a Redis Cluster slot, so the writer's transaction
//! over several rooms runs on Cluster too.
//!
//! One [`PresenceWriter`] task per node writes that node's hashes, in the
//! order the lobby changed them, so a quick join then leave can never land
//! as leave then join (a ghost). It keeps the membership it means Redis to
//! hold, and re-asserts it (writes it whole) whenever it cannot be sure
//! Redis holds it: after a failed write, and when the periodic refresh finds
//! a hash gone (Redis restarted empty, or the key expired during an outage).
//! A presence change is announced on the bus only after it is stored, like
//! a chat line, so a node reading the hashes never misses a member it
//! already heard of from the bus.

use super::LobbyMessage;
use crate::bus::{Bus, Topic};
use crate::redis_conn::Commands;
use skirmish_shared::proto::PlayerId;
use skirmish_shared::proto::{NodeId, RoomId};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

/// Room membership shared through Redis.
#[derive(Clone)]
pub struct RedisPresence {
    conn: Commands,
    prefix: String,
    node_id: NodeId,
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
pub type StoredMember = (PlayerId, String, NodeId);

/// One change to this node's membership, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Change {
    /// A player of this node is in a room.
    Add {
        room: RoomId,
        player_id: PlayerId,
        name: String,
    },
    /// A player of this node left a room.
    Remove { room: RoomId, player_id: PlayerId },
}

impl Change {
    fn room(&self) -> &RoomId {
        match self {
            Change::Add { room, .. } | Change::Remove { room, .. } => room,
        }
    }
}

/// The hash of `node`'s members of `room`; the node id is its hash tag.
fn presence_key(prefix: &str, room: &RoomId, node: &NodeId) -> String {
    format!("{prefix}:presence:{{{node}}}:{room}")
}

impl RedisPresence {
    /// This node's presence; entries live `ttl` past the last refresh.
    pub fn new(conn: Commands, prefix: &str, node_id: &NodeId, ttl: Duration) -> Self {
        RedisPresence {
            conn,
            prefix: prefix.to_owned(),
            node_id: node_id.to_owned(),
            ttl,
        }
    }

    fn key(&self, room: &RoomId, node: &NodeId) -> String {
        presence_key(&self.prefix, room, node)
    }

    fn ttl_ms(&self) -> i64 {
        self.ttl.as_millis() as i64
    }

    /// Everyone in a room on the given nodes.
    pub async fn members(
        &self,
        room: &RoomId,
        nodes: &[NodeId],
    ) -> redis::RedisResult<Vec<StoredMember>> {
        let rooms = [room.to_owned()];
        Ok(self
            .snapshot(&rooms, nodes)
            .await?
            .into_iter()
            .next()
            .unwrap_or_default())
    }

    /// Everyone in each of `rooms` on the given nodes, in the rooms' order,
    /// read in one round trip.
    pub async fn snapshot(
        &self,
        rooms: &[RoomId],
        nodes: &[NodeId],
    ) -> redis::RedisResult<Vec<Vec<StoredMember>>> {
        if rooms.is_empty() || nodes.is_empty() {
            return Ok(vec![Vec::new(); rooms.len()]);
        }
        let mut pipe = redis::pipe();
        for room in rooms {
            for node in nodes {
                pipe.hgetall(self.key(room, node));
            }
        }
        let mut conn = self.conn.clone();
        let hashes: Vec<HashMap<String, String>> = pipe.query_async(&mut conn).await?;
        let mut hashes = hashes.into_iter();
        Ok(rooms
            .iter()
            .map(|_| {
                nodes
                    .iter()
                    .zip(hashes.by_ref())
                    .flat_map(|(node, hash)| {
                        hash.into_iter().filter_map(move |(id, name)| {
                            Some((id.parse().ok()?, name, node.clone()))
                        })
                    })
                    .collect()
            })
            .collect())
    }

    /// Extends the life of this node's hashes in `rooms`; says, per room,
    /// whether the hash was still there.
    async fn touch(&self, rooms: &[&RoomId]) -> redis::RedisResult<Vec<bool>> {
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for room in rooms {
            pipe.pexpire(self.key(room, &self.node_id), self.ttl_ms());
        }
        let mut conn = self.conn.clone();
        pipe.query_async(&mut conn).await
    }

    /// Applies `changes` one by one, and writes each room of `whole` anew
    /// (its hash replaced by exactly these members), in one transaction.
    async fn write(
        &self,
        changes: &[Change],
        whole: &[(&RoomId, Option<&HashMap<PlayerId, String>>)],
    ) -> redis::RedisResult<()> {
        if changes.is_empty() && whole.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for change in changes {
            let key = self.key(change.room(), &self.node_id);
            match change {
                Change::Add {
                    player_id, name, ..
                } => {
                    pipe.hset(&key, player_id.to_string(), name)
                        .ignore()
                        .pexpire(&key, self.ttl_ms())
                        .ignore();
                }
                Change::Remove { player_id, .. } => {
                    pipe.hdel(&key, player_id.to_string()).ignore();
                }
            }
        }
        for (room, members) in whole {
            let key = self.key(room, &self.node_id);
            pipe.del(&key).ignore();
            let Some(members) = members.filter(|m| !m.is_empty()) else {
                continue;
            };
            let fields: Vec<(String, &str)> = members
                .iter()
                .map(|(id, name)| (id.to_string(), name.as_str()))
                .collect();
            pipe.hset_multiple(&key, &fields)
                .ignore()
                .pexpire(&key, self.ttl_ms())
                .ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async(&mut conn).await
    }
}

/// What the lobby asks of the writer.
#[derive(Debug)]
enum Write {
    /// Store a change, then announce it on the room's topic.
    Change(Change, LobbyMessage),
    /// Keep this node's hashes alive, and re-assert any that are gone; the
    /// sender (if any) hears when that has been tried.
    Refresh(Option<oneshot::Sender<()>>),
}

/// The handle of this node's presence writer task.
#[derive(Clone, Debug)]
pub struct PresenceWriter {
    writes: mpsc::UnboundedSender<Write>,
}

/// Changes written in one transaction at most.
const BATCH: usize = 256;

/// The first wait before writing again after a failure; it doubles up to
/// [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);

/// The longest wait between attempts while Redis fails.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

impl PresenceWriter {
    /// Starts the writer of `presence`'s node, announcing stored changes on
    /// `bus`. It stops when every handle is gone.
    pub fn start(presence: RedisPresence, bus: Arc<dyn Bus>) -> PresenceWriter {
        let (writes, rx) = mpsc::unbounded_channel();
        tokio::spawn(run_writer(presence, bus, rx));
        PresenceWriter { writes }
    }

    /// Records that a player of this node is in a room; `announce` goes on
    /// the room's topic once that is stored.
    pub fn add(&self, room: &RoomId, player_id: PlayerId, name: &str, announce: LobbyMessage) {
        let change = Change::Add {
            room: room.to_owned(),
            player_id,
            name: name.to_owned(),
        };
        let _ = self.writes.send(Write::Change(change, announce));
    }

    /// Records that a player of this node left a room; `announce` goes on
    /// the room's topic once that is stored.
    pub fn remove(&self, room: &RoomId, player_id: PlayerId, announce: LobbyMessage) {
        let change = Change::Remove {
            room: room.to_owned(),
            player_id,
        };
        let _ = self.writes.send(Write::Change(change, announce));
    }

    /// Keeps this node's entries from expiring, and writes again any that
    /// Redis lost; `done` (if given) is told once that has been tried, or
    /// dropped if the writer is waiting out a failure.
    pub fn refresh(&self, done: Option<oneshot::Sender<()>>) {
        let _ = self.writes.send(Write::Refresh(done));
    }
}

/// What the writer means Redis to hold for this node, and which rooms it
/// cannot be sure Redis holds right.
#[derive(Debug, Default)]
struct Intent {
    /// This node's members per room, as the lobby last said.
    rooms: HashMap<RoomId, HashMap<PlayerId, String>>,
    /// Rooms to write whole at the next attempt.
    unsure: HashSet<RoomId>,
}

impl Intent {
    fn apply(&mut self, change: &Change) {
        match change {
            Change::Add {
                room,
                player_id,
                name,
            } => {
                self.rooms
                    .entry(room.clone())
                    .or_default()
                    .insert(*player_id, name.clone());
            }
            Change::Remove { room, player_id } => {
                if let Some(members) = self.rooms.get_mut(room) {
                    members.remove(player_id);
                }
            }
        }
    }

    /// Rooms written whole at the next attempt, with their members (`None`:
    /// nobody here any more, the hash goes).
    fn whole(&self) -> Vec<(&RoomId, Option<&HashMap<PlayerId, String>>)> {
        self.unsure
            .iter()
            .map(|room| (room, self.rooms.get(room)))
            .collect()
    }

    /// After a successful write: every hash is as meant; empty rooms (their
    /// hashes deleted) are forgotten.
    fn written(&mut self) {
        self.unsure.clear();
        self.rooms.retain(|_, members| !members.is_empty());
    }
}

async fn run_writer(
    presence: RedisPresence,
    bus: Arc<dyn Bus>,
    mut writes: mpsc::UnboundedReceiver<Write>,
) {
    let mut intent = Intent::default();
    let mut batch = Vec::with_capacity(BATCH);
    let mut backoff = MIN_BACKOFF;
    let mut retry_at: Option<tokio::time::Instant> = None;
    let mut failing = false;
    loop {
        let retry_due = match retry_at {
            None => {
                if writes.recv_many(&mut batch, BATCH).await == 0 {
                    return;
                }
                false
            }
            Some(at) => tokio::select! {
                n = writes.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        return;
                    }
                    false
                }
                () = tokio::time::sleep_until(at) => true,
            },
        };
        let mut changes = Vec::with_capacity(batch.len());
        let mut announcements = Vec::with_capacity(batch.len());
        let mut refresh = false;
        // Told after the attempt below; dropped (which tells them too) when
        // there is none.
        let mut refreshed = Vec::new();
        for write in batch.drain(..) {
            match write {
                Write::Change(change, announce) => {
                    intent.apply(&change);
                    announcements.push((change.room().to_owned(), announce));
                    changes.push(change);
                }
                Write::Refresh(done) => {
                    refresh = true;
                    refreshed.extend(done);
                }
            }
        }
        if retry_at.is_some() && !retry_due {
            // Still waiting out a failure: these rooms are written whole at
            // the retry. Their announcements are dropped, as the bus drops
            // messages while Redis is away; other nodes catch up from the
            // hashes.
            for change in &changes {
                intent.unsure.insert(change.room().to_owned());
            }
            continue;
        }
        retry_at = None;
        let written = write_once(&presence, &mut intent, &changes, refresh).await;
        for done in refreshed {
            let _ = done.send(());
        }
        match written {
            Ok(()) => {
                if failing {
                    info!("room presence is written again");
                    failing = false;
                }
                backoff = MIN_BACKOFF;
                for (room, msg) in announcements {
                    bus.send(&Topic::Room(room), &msg);
                }
            }
            Err(e) => {
                if !failing {
                    warn!(error = %e, "could not write room presence; will write it whole when Redis answers");
                    failing = true;
                }
                for change in &changes {
                    intent.unsure.insert(change.room().to_owned());
                }
                retry_at = Some(tokio::time::Instant::now() + backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// One attempt: on a refresh, extends every hash and marks the ones Redis
/// lost; then applies the changes to rooms Redis holds right, and writes the
/// others whole.
async fn write_once(
    presence: &RedisPresence,
    intent: &mut Intent,
    changes: &[Change],
    refresh: bool,
) -> redis::RedisResult<()> {
    if refresh {
        let rooms: Vec<&RoomId> = intent
            .rooms
            .iter()
            .filter(|(room, members)| !members.is_empty() && !intent.unsure.contains(*room))
            .map(|(room, _)| room)
            .collect();
        let kept = presence.touch(&rooms).await?;
        let lost: Vec<RoomId> = rooms
            .into_iter()
            .zip(kept)
            .filter(|(_, kept)| !kept)
            .map(|(room, _)| room.clone())
            .collect();
        if !lost.is_empty() {
            info!(
                rooms = lost.len(),
                "room presence was gone from Redis; writing it again"
            );
        }
        intent.unsure.extend(lost);
    }
    // A room written whole already includes its changes.
    let changes: Vec<Change> = changes
        .iter()
        .filter(|c| !intent.unsure.contains(c.room()))
        .cloned()
        .collect();
    presence.write(&changes, &intent.whole()).await?;
    intent.written();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(room: &RoomId, id: u64, name: &str) -> Change {
        Change::Add {
            room: room.clone(),
            player_id: PlayerId(id),
            name: name.into(),
        }
    }

    fn remove(room: &RoomId, id: u64) -> Change {
        Change::Remove {
            room: room.clone(),
            player_id: PlayerId(id),
        }
    }

    #[test]
    fn a_nodes_presence_hashes_share_one_cluster_slot() {
        let a = presence_key("skirmish", &"global".into(), &"eu-1".into());
        let b = presence_key("skirmish", &"tavern".into(), &"eu-1".into());
        assert_eq!(a, "skirmish:presence:{eu-1}:global");
        let tag = |k: &str| k[k.find('{').expect("{")..=k.find('}').expect("}")].to_owned();
        assert_eq!(tag(&a), tag(&b));
        assert_ne!(
            tag(&a),
            tag(&presence_key("skirmish", &"global".into(), &"eu-2".into()))
        );
    }

    #[test]
    fn the_intent_follows_changes_in_order_and_forgets_empty_rooms_once_written() {
        let mut intent = Intent::default();
        // A join then a leave, applied in order, leaves nobody: no ghost.
        intent.apply(&add(&RoomId::from("a"), 1, "ada"));
        intent.apply(&remove(&RoomId::from("a"), 1));
        intent.apply(&add(&RoomId::from("b"), 2, "bob"));
        intent.unsure.insert("a".into());
        let whole = intent.whole();
        assert_eq!(whole.len(), 1);
        assert_eq!(whole[0].0, "a");
        assert!(
            whole[0].1.is_some_and(HashMap::is_empty),
            "an emptied room is written as gone"
        );
        intent.written();
        assert!(intent.unsure.is_empty());
        assert_eq!(intent.rooms.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(intent.rooms["b"][&PlayerId(2)], "bob");
    }
}
