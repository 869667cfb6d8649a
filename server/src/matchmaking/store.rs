//! Where tickets wait and who forms matches: one trait, in memory for a node
//! alone and in Redis for a cluster.
//!
//! In Redis every key carries the hash tag `{mm}`, so each script is
//! Redis-Cluster-safe: a ticket is a JSON string `<prefix>:{mm}:ticket:<id>`
//! with a TTL its node refreshes; `<prefix>:{mm}:queue:<mode>` is a sorted set
//! of ticket ids by enqueue time; `<prefix>:{mm}:player:<player id>` names
//! the one live ticket a player is in; `<prefix>:{mm}:lease` names the node
//! forming matches; `<prefix>:{mm}:searching:<mode>` is the player count
//! the lease holder last saw. Claiming a group deletes its tickets in one
//! script, all or none, so no ticket can land in two matches: a ticket that
//! expired or was cancelled makes the claim fail and the group is formed
//! again next round.
//!
//! One player, at most one live ticket, cluster-wide: enqueueing sets every
//! player's key in the same script that stores the ticket, and refuses when
//! a key names another ticket. A player's key outlives the claim of their
//! ticket (its node keeps refreshing it until the match is found, so a lost
//! group can be queued again under the same id), and goes with a cancel, a
//! found match, or the TTL once its node stops refreshing it.

use crate::redis_conn::{self, Commands};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use skirmish_shared::proto::PlayerId;
use skirmish_shared::proto::{ModeId, NodeId, TicketId};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::warn;

/// A player in a ticket, and the node their connection is on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketPlayer {
    /// Who.
    pub player_id: PlayerId,
    /// Their display name.
    pub name: String,
    /// The node to send their `match_found` to.
    pub node: NodeId,
}

/// A ticket as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Unique; 16 hex digits.
    pub id: TicketId,
    /// The mode queued for.
    pub mode: ModeId,
    /// One player, or a party.
    pub players: Vec<TicketPlayer>,
    /// The party's mean rating.
    pub rating: i32,
    /// When it entered the queue, Unix ms; it keeps its place when requeued.
    pub enqueued_at_ms: u64,
    /// The node that owns it (refreshes it, cancels it).
    pub node: NodeId,
}

/// Why the store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis did not answer; try again.
    #[error("the matchmaking queue is unavailable: {0}")]
    Unavailable(String),
    /// A player of the ticket is in another live ticket (queued, or on its
    /// way to a match), from this node or another; nothing was stored.
    #[error("player {player_id} is queued already")]
    AlreadyQueued {
        /// Who.
        player_id: PlayerId,
        /// The ticket they are in.
        ticket: TicketId,
    },
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// The shared queue and the forming lease.
pub trait QueueStore: Send + Sync + std::fmt::Debug {
    /// Puts a ticket in its mode's queue, alive for `ttl`, and marks each of
    /// its players as in it; refused with [`StoreError::AlreadyQueued`] (and
    /// nothing stored) when a player is in another live ticket. Enqueueing
    /// a ticket again under its own id (a lost group) is allowed.
    fn enqueue<'a>(
        &'a self,
        ticket: &'a Ticket,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Takes a ticket out and frees its players; `false` if the ticket was
    /// gone already (claimed or expired). Also how the owner forgets a
    /// ticket whose match was found.
    fn cancel<'a>(&'a self, ticket: &'a Ticket) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Keeps tickets and their players' marks alive; for each ticket,
    /// whether it still waits (a `false` was claimed for a match, or
    /// expired). A claimed ticket's players stay marked while it is
    /// refreshed.
    fn refresh<'a>(
        &'a self,
        tickets: &'a [Ticket],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Vec<bool>, StoreError>>;
    /// Up to `limit` waiting tickets of a mode, oldest first, forgetting
    /// those that expired.
    fn waiting<'a>(
        &'a self,
        mode: &'a ModeId,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Ticket>, StoreError>>;
    /// Takes the tickets out for one match, all or none.
    fn claim<'a>(
        &'a self,
        mode: &'a ModeId,
        ids: &'a [TicketId],
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Acquires or renews the forming lease for `node`; whether it holds it.
    fn lease<'a>(
        &'a self,
        node: &'a NodeId,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Gives the lease up if `node` holds it.
    fn release<'a>(&'a self, node: &'a NodeId) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Records how many players wait in a mode.
    fn set_searching<'a>(
        &'a self,
        mode: &'a ModeId,
        players: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// How many players waited in a mode at the last round.
    fn searching<'a>(&'a self, mode: &'a ModeId) -> BoxFuture<'a, Result<u64, StoreError>>;
    /// Records the node a player is connected to (for party invitations,
    /// and so an older connection on another node can be closed), with a
    /// number larger than any given before, cluster-wide: the newest
    /// connection of a player has the largest.
    fn place<'a>(
        &'a self,
        player_id: PlayerId,
        node: &'a NodeId,
    ) -> BoxFuture<'a, Result<Placed, StoreError>>;
    /// Forgets where a player is, if it is still `node`.
    fn unplace<'a>(
        &'a self,
        player_id: PlayerId,
        node: &'a NodeId,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// The node a player is connected to, if any.
    fn locate(&self, player_id: PlayerId) -> BoxFuture<'_, Result<Option<NodeId>, StoreError>>;
}

/// A connection's place, as [`QueueStore::place`] recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    /// Larger than that of every connection placed before it.
    pub generation: u64,
    /// Where the player was connected before, if anywhere.
    pub previous: Option<NodeId>,
}

/// The queue of a node running alone (or of nodes in one process).
#[derive(Clone, Debug, Default)]
pub struct MemoryQueue {
    state: Arc<Mutex<MemoryState>>,
}

#[derive(Debug, Default)]
struct MemoryState {
    tickets: HashMap<TicketId, (Ticket, Instant)>,
    queues: HashMap<ModeId, BTreeMap<(u64, TicketId), ()>>,
    lease: Option<(NodeId, Instant)>,
    searching: HashMap<ModeId, u64>,
    places: HashMap<PlayerId, NodeId>,
    /// The last [`Placed::generation`] given.
    placed: u64,
    /// The live ticket each player is in, and until when.
    players: HashMap<PlayerId, (TicketId, Instant)>,
}

impl MemoryQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl MemoryState {
    fn remove(&mut self, id: &TicketId) -> bool {
        match self.tickets.remove(id) {
            Some((t, _)) => {
                if let Some(q) = self.queues.get_mut(&t.mode) {
                    q.remove(&(t.enqueued_at_ms, t.id));
                }
                true
            }
            None => false,
        }
    }

    fn expire(&mut self) {
        let now = Instant::now();
        let dead: Vec<TicketId> = self
            .tickets
            .iter()
            .filter(|(_, (_, until))| *until <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in dead {
            self.remove(&id);
        }
        self.players.retain(|_, (_, until)| *until > now);
    }
}

fn ready<T: Send + 'static>(value: T) -> BoxFuture<'static, T> {
    Box::pin(std::future::ready(value))
}

impl QueueStore for MemoryQueue {
    fn enqueue<'a>(
        &'a self,
        ticket: &'a Ticket,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut s = self.lock();
        s.expire();
        for p in &ticket.players {
            if let Some((holder, _)) = s.players.get(&p.player_id)
                && *holder != ticket.id
            {
                return ready(Err(StoreError::AlreadyQueued {
                    player_id: p.player_id,
                    ticket: holder.clone(),
                }));
            }
        }
        let until = Instant::now() + ttl;
        for p in &ticket.players {
            s.players.insert(p.player_id, (ticket.id.clone(), until));
        }
        s.queues
            .entry(ticket.mode.clone())
            .or_default()
            .insert((ticket.enqueued_at_ms, ticket.id.clone()), ());
        s.tickets.insert(ticket.id.clone(), (ticket.clone(), until));
        ready(Ok(()))
    }

    fn cancel<'a>(&'a self, ticket: &'a Ticket) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut s = self.lock();
        s.expire();
        for p in &ticket.players {
            if s.players
                .get(&p.player_id)
                .is_some_and(|(id, _)| *id == ticket.id)
            {
                s.players.remove(&p.player_id);
            }
        }
        ready(Ok(s.remove(&ticket.id)))
    }

    fn refresh<'a>(
        &'a self,
        tickets: &'a [Ticket],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Vec<bool>, StoreError>> {
        let mut s = self.lock();
        s.expire();
        let until = Instant::now() + ttl;
        let alive = tickets
            .iter()
            .map(|ticket| {
                for p in &ticket.players {
                    if let Some(entry) = s.players.get_mut(&p.player_id)
                        && entry.0 == ticket.id
                    {
                        entry.1 = until;
                    }
                }
                match s.tickets.get_mut(&ticket.id) {
                    Some(entry) => {
                        entry.1 = until;
                        true
                    }
                    None => false,
                }
            })
            .collect();
        ready(Ok(alive))
    }

    fn waiting<'a>(
        &'a self,
        mode: &'a ModeId,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Ticket>, StoreError>> {
        let mut s = self.lock();
        s.expire();
        let tickets = s
            .queues
            .get(mode)
            .map(|q| {
                q.keys()
                    .take(limit)
                    .filter_map(|(_, id)| s.tickets.get(id).map(|(t, _)| t.clone()))
                    .collect()
            })
            .unwrap_or_default();
        ready(Ok(tickets))
    }

    fn claim<'a>(
        &'a self,
        _mode: &'a ModeId,
        ids: &'a [TicketId],
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut s = self.lock();
        s.expire();
        if !ids.iter().all(|id| s.tickets.contains_key(id)) {
            return ready(Ok(false));
        }
        for id in ids {
            s.remove(id);
        }
        ready(Ok(true))
    }

    fn lease<'a>(
        &'a self,
        node: &'a NodeId,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut s = self.lock();
        let now = Instant::now();
        let held = match &s.lease {
            Some((holder, until)) if *until > now && holder != node => false,
            _ => {
                s.lease = Some((node.clone(), now + ttl));
                true
            }
        };
        ready(Ok(held))
    }

    fn release<'a>(&'a self, node: &'a NodeId) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut s = self.lock();
        if s.lease.as_ref().is_some_and(|(holder, _)| holder == node) {
            s.lease = None;
        }
        ready(Ok(()))
    }

    fn set_searching<'a>(
        &'a self,
        mode: &'a ModeId,
        players: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.lock().searching.insert(mode.clone(), players);
        ready(Ok(()))
    }

    fn searching<'a>(&'a self, mode: &'a ModeId) -> BoxFuture<'a, Result<u64, StoreError>> {
        ready(Ok(self.lock().searching.get(mode).copied().unwrap_or(0)))
    }

    fn place<'a>(
        &'a self,
        player_id: PlayerId,
        node: &'a NodeId,
    ) -> BoxFuture<'a, Result<Placed, StoreError>> {
        let mut s = self.lock();
        s.placed += 1;
        let previous = s.places.insert(player_id, node.clone());
        ready(Ok(Placed {
            generation: s.placed,
            previous,
        }))
    }

    fn unplace<'a>(
        &'a self,
        player_id: PlayerId,
        node: &'a NodeId,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut s = self.lock();
        if s.places.get(&player_id).is_some_and(|n| n == node) {
            s.places.remove(&player_id);
        }
        ready(Ok(()))
    }

    fn locate(&self, player_id: PlayerId) -> BoxFuture<'_, Result<Option<NodeId>, StoreError>> {
        ready(Ok(self.lock().places.get(&player_id).cloned()))
    }
}

/// Takes a group's tickets, all or none. KEYS[1] is the queue, then the
/// ticket keys; ARGV are the ticket ids.
const CLAIM: &str = r"
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then return 0 end
end
for i = 2, #KEYS do
  redis.call('DEL', KEYS[i])
  redis.call('ZREM', KEYS[1], ARGV[i - 1])
end
return 1
";

/// Stores a ticket unless one of its players is in another: KEYS[1] is the
/// queue, KEYS[2] the ticket, then the players' keys; ARGV are the ticket
/// id, its JSON, the TTL in ms and the queue score. Returns `{-1, ''}`, or
/// the index of the first player in another ticket and that ticket's id.
const ENQUEUE: &str = r"
for i = 3, #KEYS do
  local holder = redis.call('GET', KEYS[i])
  if holder and holder ~= ARGV[1] then return {i - 3, holder} end
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[3])
end
return {-1, ''}
";

/// Removes one ticket (KEYS[1] the queue, KEYS[2] the ticket, then its
/// players' keys) and frees the players still marked as in it; 1 if the
/// ticket was there.
const CANCEL: &str = r"
local removed = redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
for i = 3, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
return removed
";

/// Keeps tickets alive: ARGV[1] is the TTL in ms, then per ticket its id
/// and player count; KEYS are per ticket its key and then its players'
/// keys. Returns per ticket whether it is still there; a player's key is
/// kept alive while it names the ticket, claimed or not.
const REFRESH: &str = r"
local out = {}
local k = 1
local a = 2
while a <= #ARGV do
  local id = ARGV[a]
  local n = tonumber(ARGV[a + 1])
  out[#out + 1] = redis.call('PEXPIRE', KEYS[k], ARGV[1])
  for i = 1, n do
    if redis.call('GET', KEYS[k + i]) == id then redis.call('PEXPIRE', KEYS[k + i], ARGV[1]) end
  end
  k = k + n + 1
  a = a + 2
end
return out
";

/// Tickets refreshed per script call, so one call never holds Redis long.
const REFRESH_CHUNK: usize = 500;

/// Acquires the lease if free, renews it if held by ARGV[1].
const LEASE: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
elseif holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// Forgets where a player is if it is still ARGV[2].
/// Records where a player is (HSET KEYS[1] ARGV[1] ARGV[2]) with the next
/// number of the counter KEYS[2]; returns the number and where it was.
const PLACE: &str = r"
local generation = redis.call('INCR', KEYS[2])
local previous = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {generation, previous}
";

const UNPLACE: &str = r"
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
";

/// Deletes the lease if held by ARGV[1].
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
";

/// The queue and lease in Redis.
#[derive(Clone)]
pub struct RedisQueue {
    conn: Commands,
    prefix: String,
    enqueue: Arc<redis::Script>,
    claim: Arc<redis::Script>,
    cancel: Arc<redis::Script>,
    refresh: Arc<redis::Script>,
    lease: Arc<redis::Script>,
    release: Arc<redis::Script>,
    place: Arc<redis::Script>,
    unplace: Arc<redis::Script>,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisQueue {
    /// The queue under `prefix`.
    pub fn new(conn: Commands, prefix: &str) -> Self {
        RedisQueue {
            conn,
            prefix: prefix.to_owned(),
            enqueue: Arc::new(redis_conn::script("mm.enqueue", ENQUEUE)),
            claim: Arc::new(redis_conn::script("mm.claim", CLAIM)),
            cancel: Arc::new(redis_conn::script("mm.cancel", CANCEL)),
            refresh: Arc::new(redis_conn::script("mm.refresh", REFRESH)),
            lease: Arc::new(redis_conn::script("mm.lease", LEASE)),
            release: Arc::new(redis_conn::script("mm.release", RELEASE)),
            place: Arc::new(redis_conn::script("mm.place", PLACE)),
            unplace: Arc::new(redis_conn::script("mm.unplace", UNPLACE)),
        }
    }

    fn ticket_key(&self, id: &TicketId) -> String {
        format!("{}:{{mm}}:ticket:{id}", self.prefix)
    }

    fn queue_key(&self, mode: &ModeId) -> String {
        format!("{}:{{mm}}:queue:{mode}", self.prefix)
    }

    fn player_key(&self, player_id: PlayerId) -> String {
        format!("{}:{{mm}}:player:{player_id}", self.prefix)
    }

    fn lease_key(&self) -> String {
        format!("{}:{{mm}}:lease", self.prefix)
    }

    fn where_key(&self) -> String {
        format!("{}:{{mm}}:where", self.prefix)
    }

    fn placed_key(&self) -> String {
        format!("{}:{{mm}}:placed", self.prefix)
    }

    fn searching_key(&self, mode: &ModeId) -> String {
        format!("{}:{{mm}}:searching:{mode}", self.prefix)
    }
}

impl QueueStore for RedisQueue {
    fn enqueue<'a>(
        &'a self,
        ticket: &'a Ticket,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            // Plain data always serialises.
            let json = serde_json::to_string(ticket).expect("tickets serialise");
            let mut invocation = self.enqueue.key(self.queue_key(&ticket.mode));
            invocation.key(self.ticket_key(&ticket.id));
            for p in &ticket.players {
                invocation.key(self.player_key(p.player_id));
            }
            invocation
                .arg(ticket.id.as_str())
                .arg(json)
                .arg(ttl.as_millis() as u64)
                .arg(ticket.enqueued_at_ms);
            let mut conn = self.conn.clone();
            let (refused, holder): (i64, String) = invocation
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
            match usize::try_from(refused)
                .ok()
                .and_then(|i| ticket.players.get(i))
            {
                Some(p) => Err(StoreError::AlreadyQueued {
                    player_id: p.player_id,
                    ticket: holder.into(),
                }),
                None => Ok(()),
            }
        })
    }

    fn cancel<'a>(&'a self, ticket: &'a Ticket) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut invocation = self.cancel.key(self.queue_key(&ticket.mode));
            invocation.key(self.ticket_key(&ticket.id));
            for p in &ticket.players {
                invocation.key(self.player_key(p.player_id));
            }
            invocation.arg(ticket.id.as_str());
            let mut conn = self.conn.clone();
            let removed: i64 = invocation
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
            Ok(removed == 1)
        })
    }

    fn refresh<'a>(
        &'a self,
        tickets: &'a [Ticket],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Vec<bool>, StoreError>> {
        Box::pin(async move {
            let mut alive = Vec::with_capacity(tickets.len());
            let mut conn = self.conn.clone();
            for chunk in tickets.chunks(REFRESH_CHUNK) {
                let mut invocation = self.refresh.arg(ttl.as_millis() as u64);
                for ticket in chunk {
                    invocation.key(self.ticket_key(&ticket.id));
                    for p in &ticket.players {
                        invocation.key(self.player_key(p.player_id));
                    }
                    invocation.arg(ticket.id.as_str()).arg(ticket.players.len());
                }
                let refreshed: Vec<i64> = invocation
                    .invoke_async(&mut conn)
                    .await
                    .map_err(unavailable)?;
                alive.extend(refreshed.into_iter().map(|a| a == 1));
            }
            Ok(alive)
        })
    }

    fn waiting<'a>(
        &'a self,
        mode: &'a ModeId,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Ticket>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let queue = self.queue_key(mode);
            let ids: Vec<String> = redis::cmd("ZRANGE")
                .arg(&queue)
                .arg(0)
                .arg(limit.saturating_sub(1))
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            let ids: Vec<TicketId> = ids.into_iter().map(TicketId::from).collect();
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let keys: Vec<String> = ids.iter().map(|id| self.ticket_key(id)).collect();
            let stored: Vec<Option<String>> = redis::cmd("MGET")
                .arg(&keys)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            let mut tickets = Vec::with_capacity(ids.len());
            let mut gone = Vec::new();
            for (id, json) in ids.into_iter().zip(stored) {
                match json.map(|j| serde_json::from_str::<Ticket>(&j)) {
                    Some(Ok(ticket)) => tickets.push(ticket),
                    Some(Err(e)) => {
                        warn!(ticket = %id, error = %e, "dropping an unreadable ticket from the queue");
                        gone.push(id);
                    }
                    // Expired: its node stopped refreshing it.
                    None => gone.push(id),
                }
            }
            if !gone.is_empty() {
                // Expired or unreadable.
                redis::cmd("ZREM")
                    .arg(&queue)
                    .arg(gone.iter().map(TicketId::as_str).collect::<Vec<_>>())
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(unavailable)?;
            }
            Ok(tickets)
        })
    }

    fn claim<'a>(
        &'a self,
        mode: &'a ModeId,
        ids: &'a [TicketId],
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut invocation = self.claim.key(self.queue_key(mode));
            for id in ids {
                invocation.key(self.ticket_key(id)).arg(id.as_str());
            }
            let mut conn = self.conn.clone();
            let claimed: i64 = invocation
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
            Ok(claimed == 1)
        })
    }

    fn lease<'a>(
        &'a self,
        node: &'a NodeId,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let held: i64 = self
                .lease
                .key(self.lease_key())
                .arg(node.as_str())
                .arg(ttl.as_millis() as u64)
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
            Ok(held == 1)
        })
    }

    fn release<'a>(&'a self, node: &'a NodeId) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let _: i64 = self
                .release
                .key(self.lease_key())
                .arg(node.as_str())
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
            Ok(())
        })
    }

    fn set_searching<'a>(
        &'a self,
        mode: &'a ModeId,
        players: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            redis::cmd("SET")
                .arg(self.searching_key(mode))
                .arg(players)
                .arg("PX")
                .arg(10_000)
                .query_async::<()>(&mut conn)
                .await
                .map_err(unavailable)
        })
    }

    fn searching<'a>(&'a self, mode: &'a ModeId) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let n: Option<u64> = redis::cmd("GET")
                .arg(self.searching_key(mode))
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            Ok(n.unwrap_or(0))
        })
    }

    fn place<'a>(
        &'a self,
        player_id: PlayerId,
        node: &'a NodeId,
    ) -> BoxFuture<'a, Result<Placed, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let (generation, previous): (u64, Option<String>) = self
                .place
                .key(self.where_key())
                .key(self.placed_key())
                .arg(player_id.to_string())
                .arg(node.as_str())
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
            Ok(Placed {
                generation,
                previous: previous.map(NodeId::from),
            })
        })
    }

    fn unplace<'a>(
        &'a self,
        player_id: PlayerId,
        node: &'a NodeId,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let _: i64 = self
                .unplace
                .key(self.where_key())
                .arg(player_id.to_string())
                .arg(node.as_str())
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
            Ok(())
        })
    }

    fn locate(&self, player_id: PlayerId) -> BoxFuture<'_, Result<Option<NodeId>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let node: Option<String> = redis::cmd("HGET")
                .arg(self.where_key())
                .arg(player_id.to_string())
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            Ok(node.map(NodeId::from))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(id: &str, at: u64) -> Ticket {
        Ticket {
            id: id.into(),
            mode: "ffa".into(),
            players: vec![TicketPlayer {
                player_id: PlayerId(at),
                name: id.into(),
                node: "n".into(),
            }],
            rating: 1000,
            enqueued_at_ms: at,
            node: "n".into(),
        }
    }

    #[tokio::test]
    async fn memory_claims_are_all_or_none_and_tickets_expire() {
        let q = MemoryQueue::default();
        let ttl = Duration::from_secs(60);
        for (id, at) in [("b", 2), ("a", 1), ("c", 3)] {
            q.enqueue(&ticket(id, at), ttl).await.expect("enqueue");
        }
        let waiting: Vec<String> = q
            .waiting(&ModeId::from("ffa"), 10)
            .await
            .expect("waiting")
            .into_iter()
            .map(|t| t.id.into())
            .collect();
        assert_eq!(waiting, ["a", "b", "c"], "oldest first");
        assert!(q.cancel(&ticket("c", 3)).await.expect("cancel"));
        assert!(
            !q.claim(&ModeId::from("ffa"), &["a".into(), "c".into()])
                .await
                .expect("claim"),
            "c is gone: none taken"
        );
        assert!(
            q.claim(&ModeId::from("ffa"), &["a".into(), "b".into()])
                .await
                .expect("claim")
        );
        assert!(
            !q.claim(&ModeId::from("ffa"), &["a".into()])
                .await
                .expect("claim"),
            "never twice"
        );
        assert_eq!(
            q.refresh(&[ticket("a", 1)], ttl).await.expect("refresh"),
            [false]
        );

        q.enqueue(&ticket("d", 4), Duration::from_millis(1))
            .await
            .expect("enqueue");
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(
            q.waiting(&ModeId::from("ffa"), 10)
                .await
                .expect("waiting")
                .is_empty(),
            "expired"
        );
    }

    #[tokio::test]
    async fn the_memory_lease_has_one_holder_until_it_lapses() {
        let q = MemoryQueue::default();
        let ttl = Duration::from_millis(50);
        assert!(q.lease(&NodeId::from("a"), ttl).await.expect("lease"));
        assert!(!q.lease(&NodeId::from("b"), ttl).await.expect("lease"));
        assert!(q.lease(&NodeId::from("a"), ttl).await.expect("renew"));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(q.lease(&NodeId::from("b"), ttl).await.expect("taken over"));
        q.release(&NodeId::from("a")).await.expect("release");
        assert!(
            !q.lease(&NodeId::from("a"), ttl)
                .await
                .expect("b still holds it")
        );
    }
}
