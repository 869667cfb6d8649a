//! Matchmaking across nodes: players (alone or in parties) queue for a mode
//! with their rating; one node at a time, holding a lease, forms matches
//! from the shared queue and has the least-loaded live node host each;
//! players on other nodes are sent there with a single-use join ticket.
//!
//! The pieces, and who runs them:
//! - Every node owns the tickets of its own players: it keeps them alive in
//!   the [`QueueStore`] (a ticket its node stops refreshing expires, so a
//!   dead node's players leave the queue), tells its players how the wait
//!   goes, and cancels a ticket when its player disconnects. A player is in
//!   at most one live ticket in the whole cluster (the store refuses a
//!   second).
//! - The lease holder runs [`formation::form`] every round, claims each
//!   group's tickets atomically (a ticket claimed once can never be claimed
//!   again), and has a host chosen by [`hosting`] open the match: the host
//!   acknowledges, the former commits the first host to answer, and a host
//!   that does not answer in time loses the group to the next.
//! - The committed host holds the group's seats, issues one join ticket per
//!   player, and sends each ticket's owning node a `MatchFound`. A seat
//!   nobody takes within the join window is given up, and the match starts
//!   without it.
//! - The owner tells its players, unless it no longer owns the ticket (the
//!   player cancelled, or the ticket's match was found already): then it
//!   answers `SeatRelease` and the host stops waiting for those players.
//!
//! A group lost for good (its former died before a host committed) would
//! leave its players waiting for a match that never comes: a node whose
//! ticket was claimed but hears nothing within [`LOST_GROUP_AFTER`] puts
//! the ticket back, at its old place.

pub mod config;
mod env;
pub mod formation;
pub mod hosting;
pub mod join;
pub mod party;
pub mod store;
pub mod teams;
pub mod wire;

pub use config::{GameSeats, MatchmakingConfig, ModeConfig};
pub use join::{JoinError, JoinTickets};
pub use store::{MemoryQueue, QueueStore, RedisQueue, StoreError, Ticket, TicketPlayer};

use crate::bus::Topic;
use crate::clock::unix_ms;
use crate::matches::{HostOutcome, SessionEvent};
use crate::runner::Reservation;
pub use env::Env;
use formation::Candidate;
use hosting::{Former, HOST_ACK_TIMEOUT, MAX_HOST_ATTEMPTS};
use skirmish_shared::proto::{MatchId, PlayerId, ServerMsg};
use skirmish_shared::proto::{ModeId, NodeId, PartyId, TicketId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
pub use wire::{ClaimedTicket, MatchmakingMessage};

/// How long a claimed ticket waits for its `MatchFound` before it is put
/// back in the queue.
pub const LOST_GROUP_AFTER: Duration = Duration::from_secs(10);

/// Tickets read per mode and round.
const ROUND_LIMIT: usize = 20_000;

/// Why a player could not queue.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// No such mode.
    #[error("no mode named `{0}`")]
    UnknownMode(ModeId),
    /// The player (or a party member) is in a live ticket already, queued
    /// from this node or another.
    #[error("player {0} is queued already")]
    AlreadyQueued(PlayerId),
    /// The ticket was cancelled while it was being queued; the cancel has
    /// answered the player.
    #[error("cancelled while queueing")]
    Withdrawn,
    /// The shared queue did not answer.
    #[error("{0}")]
    Unavailable(String),
}

/// Where a ticket this node owns stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TicketState {
    /// On its way into the store.
    Enqueuing,
    /// In the queue.
    Waiting,
    /// Claimed for a match (or lost in an outage) since then; its
    /// `MatchFound` is awaited.
    Claimed(Instant),
}

/// A ticket this node owns.
#[derive(Clone, Debug)]
struct Owned {
    ticket: Ticket,
    state: TicketState,
}

/// A formed match this node opened whose former has not committed it yet.
#[derive(Clone, Debug)]
struct Hosted {
    tickets: Vec<ClaimedTicket>,
    /// When its seats' join tickets expire.
    expires_at_ms: u64,
    /// When it was opened, to forget a commit that never comes.
    at: Instant,
}

/// A host's acknowledgement, passed from the bus to the forming loop.
#[derive(Clone, Debug)]
struct Ack {
    match_id: MatchId,
    host: NodeId,
    /// The host's `formed` count with the match, or `None` when the host
    /// declined it.
    formed: Option<u64>,
}

/// This node's part of matchmaking.
#[derive(Debug)]
pub struct Matchmaker {
    /// The settings.
    pub config: Arc<MatchmakingConfig>,
    /// The shared queue and lease.
    pub store: Arc<dyn QueueStore>,
    /// Join tickets for matches this node hosts.
    pub joins: JoinTickets,
    /// Parties led from this node.
    pub parties: party::Parties,
    owned: Mutex<HashMap<TicketId, Owned>>,
    /// Tickets taken back whose removal from the store is on its way.
    withdrawn: Arc<Mutex<HashMap<TicketId, Ticket>>>,
    /// Formed matches opened here and not yet committed by their former.
    hosted: Mutex<HashMap<MatchId, Hosted>>,
    /// Formed matches this node agreed to host since it started.
    formed: AtomicU64,
    /// Groups this node, forming, sent on to another host because theirs
    /// did not acknowledge (or declined).
    rehosted: AtomicU64,
    /// Acknowledgements for the forming loop.
    acks_tx: mpsc::UnboundedSender<Ack>,
    /// Taken by the forming loop when it starts.
    acks_rx: Mutex<Option<mpsc::UnboundedReceiver<Ack>>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Matchmaker {
    /// This node's matchmaker.
    pub fn new(config: MatchmakingConfig, store: Arc<dyn QueueStore>, joins: JoinTickets) -> Self {
        let (acks_tx, acks_rx) = mpsc::unbounded_channel();
        Matchmaker {
            config: Arc::new(config),
            store,
            joins,
            parties: party::Parties::default(),
            owned: Mutex::default(),
            withdrawn: Arc::default(),
            hosted: Mutex::default(),
            formed: AtomicU64::new(0),
            rehosted: AtomicU64::new(0),
            acks_tx,
            acks_rx: Mutex::new(Some(acks_rx)),
        }
    }

    fn owned(&self) -> std::sync::MutexGuard<'_, HashMap<TicketId, Owned>> {
        locked(&self.owned)
    }

    /// The ticket a player is in, if this node owns one.
    pub fn ticket_of(&self, player_id: PlayerId) -> Option<TicketId> {
        find_ticket(&self.owned(), player_id)
    }

    /// Whether this node owns the ticket (queued, or claimed and waiting
    /// for its match).
    pub fn owns(&self, ticket_id: &TicketId) -> bool {
        self.owned().contains_key(ticket_id)
    }

    /// Formed matches this node agreed to host since it started.
    pub fn formed(&self) -> u64 {
        self.formed.load(Ordering::Relaxed)
    }

    /// Groups this node sent on to another host since it started (also
    /// counted, for all nodes of a process, in
    /// `skirmish_matches_rehosted_total`).
    pub fn rehosted(&self) -> u64 {
        self.rehosted.load(Ordering::Relaxed)
    }

    /// Queues `players` (one, or a party led from here) for `mode`. Refused
    /// with [`QueueError::AlreadyQueued`] when any of them is in a live
    /// ticket anywhere in the cluster.
    pub async fn enqueue(
        &self,
        mode: &ModeId,
        players: Vec<TicketPlayer>,
        rating: i32,
        node: &NodeId,
    ) -> Result<Ticket, QueueError> {
        if self.config.mode(mode).is_none() {
            return Err(QueueError::UnknownMode(mode.clone()));
        }
        let ticket = Ticket {
            id: format!("{:016x}", rand::random::<u64>()).into(),
            mode: mode.clone(),
            players,
            rating,
            enqueued_at_ms: unix_ms(),
            node: node.to_owned(),
        };
        // Checked and recorded under one lock, before any await: of two
        // quick `queue`s only one gets this far. The store then refuses a
        // player queued from another node.
        {
            let mut owned = self.owned();
            for p in &ticket.players {
                if find_ticket(&owned, p.player_id).is_some() {
                    return Err(QueueError::AlreadyQueued(p.player_id));
                }
            }
            owned.insert(
                ticket.id.clone(),
                Owned {
                    ticket: ticket.clone(),
                    state: TicketState::Enqueuing,
                },
            );
        }
        let ttl = self.config.ticket_ttl();
        let mut stored = self.store.enqueue(&ticket, ttl).await;
        if let Err(StoreError::AlreadyQueued { ticket: other, .. }) = &stored {
            // A ticket of this node that was cancelled a moment ago and is
            // still on its way out of the store: finish that first.
            let stale = locked(&self.withdrawn).get(other).cloned();
            if let Some(stale) = stale {
                cancel_in_store(self.store.as_ref(), &stale).await;
                stored = self.store.enqueue(&ticket, ttl).await;
            }
        }
        if let Err(e) = stored {
            self.owned().remove(&ticket.id);
            return Err(match e {
                StoreError::AlreadyQueued { player_id, .. } => QueueError::AlreadyQueued(player_id),
                StoreError::Unavailable(why) => QueueError::Unavailable(why),
            });
        }
        let kept = match self.owned().get_mut(&ticket.id) {
            Some(entry) => {
                if entry.state == TicketState::Enqueuing {
                    entry.state = TicketState::Waiting;
                }
                true
            }
            None => false,
        };
        if !kept {
            // Cancelled while it was being stored: take it out again.
            cancel_in_store(self.store.as_ref(), &ticket).await;
            locked(&self.withdrawn).remove(&ticket.id);
            return Err(QueueError::Withdrawn);
        }
        metrics::counter!("skirmish_tickets_queued_total").increment(1);
        Ok(ticket)
    }

    /// Takes a player's ticket (and its party) out of the queue at once;
    /// the ticket if there was one. This node no longer owns it, so no
    /// `match_found` for it reaches its players: one already claimed for a
    /// match gives its seats up. The store forgets it in the background.
    pub fn cancel(&self, player_id: PlayerId) -> Option<Ticket> {
        let ticket = {
            let mut owned = self.owned();
            let id = find_ticket(&owned, player_id)?;
            owned.remove(&id)?.ticket
        };
        self.remove_from_store(&ticket);
        Some(ticket)
    }

    /// Takes a ticket whose match was found; `None` if this node does not
    /// own it (any more). The store forgets it (and frees its players) in
    /// the background.
    fn take_found(&self, ticket_id: &TicketId) -> Option<Ticket> {
        let ticket = self.owned().remove(ticket_id)?.ticket;
        self.remove_from_store(&ticket);
        Some(ticket)
    }

    /// Takes a ticket this node no longer owns out of the store (and a copy
    /// queued again after its group looked lost), freeing its players. Until
    /// that is done, a new ticket of the same player finishes it first.
    fn remove_from_store(&self, ticket: &Ticket) {
        locked(&self.withdrawn).insert(ticket.id.clone(), ticket.clone());
        let store = Arc::clone(&self.store);
        let withdrawn = Arc::clone(&self.withdrawn);
        let gone = ticket.clone();
        tokio::spawn(async move {
            cancel_in_store(store.as_ref(), &gone).await;
            locked(&withdrawn).remove(&gone.id);
        });
    }
}

/// Takes a ticket out of the store, saying so when it cannot: the ticket
/// then expires on its own once nobody refreshes it.
async fn cancel_in_store(store: &dyn QueueStore, ticket: &Ticket) {
    if let Err(e) = store.cancel(ticket).await {
        warn!(error = %e, ticket = %ticket.id, "could not take a ticket out of the queue; it will expire");
    }
}

fn find_ticket(owned: &HashMap<TicketId, Owned>, player_id: PlayerId) -> Option<TicketId> {
    owned
        .values()
        .find(|o| o.ticket.players.iter().any(|p| p.player_id == player_id))
        .map(|o| o.ticket.id.clone())
}

/// Tells every player of a ticket that it left the queue.
pub fn tell_left(node: &dyn Env, ticket: &Ticket, reason: &str, except: Option<PlayerId>) {
    for p in ticket
        .players
        .iter()
        .filter(|p| Some(p.player_id) != except)
    {
        tell(
            node,
            &p.node,
            p.player_id,
            ServerMsg::QueueLeft {
                reason: reason.to_owned(),
            },
        );
    }
}

/// The owner's loop: every second, keep this node's tickets alive, tell
/// their players how the wait goes, put back tickets whose group was lost,
/// and forget formed matches whose commit never came.
pub async fn run_owner(node: Arc<dyn Env>) {
    let node: &dyn Env = &*node;
    let guard = node.task_guard();
    let mut shutdown = node.shutdown();
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mm = &node.matchmaker();
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.wait_for(|down| *down) => break,
        }
        let window = mm.config.join_window();
        locked(&mm.hosted).retain(|_, h| h.at.elapsed() < window);
        let tickets: Vec<Ticket> = mm
            .owned()
            .values()
            .filter(|o| o.state != TicketState::Enqueuing)
            .map(|o| o.ticket.clone())
            .collect();
        if tickets.is_empty() {
            continue;
        }
        let alive = match mm.store.refresh(&tickets, mm.config.ticket_ttl()).await {
            Ok(alive) => alive,
            Err(e) => {
                debug!(error = %e, "could not refresh tickets");
                continue;
            }
        };
        let mut searching: HashMap<ModeId, u64> = HashMap::new();
        let now = Instant::now();
        for (ticket, alive) in tickets.into_iter().zip(alive) {
            if alive {
                let still_owned = mm
                    .owned()
                    .get_mut(&ticket.id)
                    .map(|e| e.state = TicketState::Waiting)
                    .is_some();
                if !still_owned {
                    continue;
                }
                if !searching.contains_key(&ticket.mode) {
                    let n = mm.store.searching(&ticket.mode).await.unwrap_or(0);
                    searching.insert(ticket.mode.clone(), n);
                }
                let update = ServerMsg::QueueUpdate {
                    mode: ticket.mode.clone(),
                    waited_ms: unix_ms().saturating_sub(ticket.enqueued_at_ms),
                    searching: searching[&ticket.mode],
                };
                for p in &ticket.players {
                    tell(node, &p.node, p.player_id, update.clone());
                }
                continue;
            }
            // Claimed for a match (or expired during an outage).
            let claimed_at = {
                let mut owned_now = mm.owned();
                let Some(entry) = owned_now.get_mut(&ticket.id) else {
                    continue;
                };
                match entry.state {
                    TicketState::Claimed(at) => at,
                    _ => {
                        entry.state = TicketState::Claimed(now);
                        now
                    }
                }
            };
            if now.duration_since(claimed_at) < LOST_GROUP_AFTER {
                continue;
            }
            info!(ticket = %ticket.id, "no match arrived for a claimed ticket; queueing it again");
            match mm.store.enqueue(&ticket, mm.config.ticket_ttl()).await {
                Ok(()) => {
                    let kept = mm
                        .owned()
                        .get_mut(&ticket.id)
                        .map(|e| e.state = TicketState::Waiting)
                        .is_some();
                    if !kept {
                        // Its match or a cancel came meanwhile.
                        cancel_in_store(mm.store.as_ref(), &ticket).await;
                    }
                }
                Err(StoreError::AlreadyQueued { player_id, .. }) => {
                    // The ticket lapsed (an outage) and the player queued
                    // again elsewhere since: this one is gone for good.
                    info!(ticket = %ticket.id, player = %player_id, "a lapsed ticket's player queued again elsewhere");
                    if mm.owned().remove(&ticket.id).is_some() {
                        tell_left(node, &ticket, "expired", None);
                    }
                }
                Err(e) => debug!(error = %e, "could not queue a lost ticket again"),
            }
        }
    }
    drop(guard);
}

/// Sends a protocol message to a player connected to `node_id`, through the
/// bus unless that is this node.
pub fn tell(node: &dyn Env, node_id: &NodeId, player_id: PlayerId, msg: ServerMsg) {
    if node_id == node.node_id() {
        node.sessions().send_to(player_id, &msg);
    } else {
        // Carried as encoded protocol bytes: the other node only forwards them.
        let bytes = skirmish_shared::codec::encode(&msg);
        node.bus().send(
            &Topic::Node(node_id.to_owned()),
            &MatchmakingMessage::Tell {
                player_id,
                msg: bytes,
            },
        );
    }
}

/// The forming loop: while this node holds the lease, form matches every
/// round and have each hosted; commit hosts as they acknowledge, and send
/// groups whose host does not answer elsewhere (also after losing the
/// lease: a claimed group is this former's to place).
pub async fn run_former(node: Arc<dyn Env>) {
    let node: &dyn Env = &*node;
    let guard = node.task_guard();
    let mut shutdown = node.shutdown();
    let mm = &node.matchmaker();
    let Some(mut acks) = locked(&mm.acks_rx).take() else {
        return;
    };
    let mut every = tokio::time::interval(mm.config.round_interval());
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let heartbeat = node.heartbeat();
    let mut former = Former::new(heartbeat);
    let mut leading = false;
    loop {
        tokio::select! {
            // Answers first: a round must not count a group overdue whose
            // acknowledgement is already here.
            biased;
            Some(ack) = acks.recv() => {
                on_ack(node, &mut former, ack);
                continue;
            }
            _ = shutdown.wait_for(|down| *down) => break,
            _ = every.tick() => {}
        }
        match mm.store.lease(node.node_id(), mm.config.lease_ttl()).await {
            Ok(held) => {
                if held != leading {
                    info!(node = %node.node_id(), "{} forming matches", if held { "now" } else { "no longer" });
                    leading = held;
                }
            }
            Err(e) => {
                debug!(error = %e, "could not renew the forming lease");
                leading = false;
            }
        }
        if former.in_flight() > 0 {
            // Acknowledgements that came while the lease was renewed.
            while let Ok(ack) = acks.try_recv() {
                on_ack(node, &mut former, ack);
            }
            rehost_overdue(node, &mut former).await;
        }
        if !leading {
            continue;
        }
        for mode in mm.config.modes.iter() {
            if let Err(e) = form_round(node, &mut former, mode).await {
                debug!(error = %e, mode = %mode.id, "forming round failed");
            }
        }
    }
    if let Err(e) = mm.store.release(node.node_id()).await {
        // Another node takes the lease over once it expires.
        warn!(error = %e, "could not give up the match-forming lease; it will expire");
    }
    drop(guard);
}

/// A group whose tickets this round claimed: its tickets and the bots to
/// add.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// The tickets, anchor first.
    pub tickets: Vec<Ticket>,
    /// Server bots to fill up with.
    pub bots: usize,
}

/// One forming round for a mode: reads the waiting tickets, forms groups and
/// claims each (a group one of whose tickets left in the meantime is
/// skipped; it forms again next round). Records how many players wait.
pub async fn form_and_claim(
    store: &dyn QueueStore,
    mode: &ModeConfig,
    now_ms: u64,
) -> Result<Vec<Claimed>, StoreError> {
    let waiting = store.waiting(&mode.id, ROUND_LIMIT).await?;
    let searching: usize = waiting.iter().map(|t| t.players.len()).sum();
    store.set_searching(&mode.id, searching as u64).await?;
    if waiting.is_empty() {
        return Ok(Vec::new());
    }
    let candidates: Vec<Candidate> = waiting
        .iter()
        .map(|t| Candidate {
            id: t.id.clone(),
            players: t.players.iter().map(|p| p.player_id).collect(),
            rating: t.rating,
            enqueued_at_ms: t.enqueued_at_ms,
        })
        .collect();
    let groups = formation::form(mode, &candidates, now_ms);
    let by_id: HashMap<&TicketId, &Ticket> = waiting.iter().map(|t| (&t.id, t)).collect();
    let mut claimed = Vec::with_capacity(groups.len());
    for group in groups {
        if store.claim(&mode.id, &group.tickets).await? {
            let tickets = group
                .tickets
                .iter()
                .filter_map(|id| by_id.get(id).map(|t| (*t).clone()))
                .collect();
            claimed.push(Claimed {
                tickets,
                bots: group.bots,
            });
        }
    }
    Ok(claimed)
}

/// The nodes that may host, as the registry sees them; this node alone if
/// the registry does not answer.
async fn live_nodes(node: &dyn Env) -> Vec<crate::registry::NodeInfo> {
    match node.registry().live().await {
        Ok(live) => live,
        Err(e) => {
            debug!(error = %e, "the registry did not answer; hosting here");
            vec![node.info()]
        }
    }
}

async fn form_round(
    node: &dyn Env,
    former: &mut Former,
    mode: &ModeConfig,
) -> Result<(), StoreError> {
    let claimed = form_and_claim(node.matchmaker().store.as_ref(), mode, unix_ms()).await?;
    if claimed.is_empty() {
        return Ok(());
    }
    let live = live_nodes(node).await;
    let mut hosts = former.chooser(&live, Instant::now());
    for group in claimed {
        let players: Vec<TicketPlayer> = group
            .tickets
            .iter()
            .flat_map(|t| t.players.clone())
            .collect();
        let host = hosts
            .pick(&players, &[])
            .unwrap_or_else(|| node.node_id().to_owned());
        let match_id = MatchId(rand::random());
        metrics::counter!("skirmish_matches_formed_total").increment(1);
        let msg = MatchmakingMessage::HostMatch {
            match_id,
            mode: mode.id.clone(),
            former: node.node_id().clone(),
            tickets: group.tickets.iter().map(ClaimedTicket::from).collect(),
            bots: group.bots as u8,
        };
        dispatch(node, former, match_id, &host, msg, players);
    }
    Ok(())
}

/// Sends a group to a host (handling it here if the host is this node, which
/// acknowledges at once).
fn dispatch(
    node: &dyn Env,
    former: &mut Former,
    match_id: MatchId,
    host: &NodeId,
    msg: MatchmakingMessage,
    players: Vec<TicketPlayer>,
) {
    former.dispatched(match_id, host, msg.clone(), players, Instant::now());
    if host == node.node_id() {
        if let Some(answer) = host_match(node, msg) {
            let host = node.node_id().to_owned();
            on_ack(
                node,
                former,
                Ack {
                    match_id,
                    host,
                    formed: answer.formed(),
                },
            );
        }
    } else {
        node.bus().send(&Topic::Node(host.to_owned()), &msg);
    }
}

/// Commits the first host to acknowledge and aborts the others.
fn on_ack(node: &dyn Env, former: &mut Former, ack: Ack) {
    let Some(formed) = ack.formed else {
        former.declined(ack.match_id, &ack.host, Instant::now(), HOST_ACK_TIMEOUT);
        return;
    };
    let outcome = former.acked(ack.match_id, &ack.host, formed, Instant::now());
    if let Some(host) = outcome.commit {
        send_to_node(
            node,
            &host,
            MatchmakingMessage::HostCommit {
                match_id: ack.match_id,
            },
        );
    }
    for host in outcome.abort {
        send_to_node(
            node,
            &host,
            MatchmakingMessage::HostAbort {
                match_id: ack.match_id,
            },
        );
    }
}

/// Sends each group whose host has not acknowledged in time to the next
/// candidate.
async fn rehost_overdue(node: &dyn Env, former: &mut Former) {
    let late = former.overdue(Instant::now(), HOST_ACK_TIMEOUT);
    if late.is_empty() {
        return;
    }
    let live = live_nodes(node).await;
    let mut hosts = former.chooser(&live, Instant::now());
    for group in late {
        let next = if group.tried.len() >= MAX_HOST_ATTEMPTS {
            None
        } else {
            hosts.pick(&group.players, &group.tried).or_else(|| {
                (!group.tried.iter().any(|t| t == node.node_id()))
                    .then(|| node.node_id().to_owned())
            })
        };
        let Some(next) = next else {
            warn!(match_id = %group.match_id, tried = ?group.tried, "no host acknowledged a formed match; its players will queue again");
            former.give_up(group.match_id);
            continue;
        };
        warn!(match_id = %group.match_id, from = ?group.tried.last(), to = %next, "a host did not acknowledge a formed match; hosting it elsewhere");
        metrics::counter!("skirmish_matches_rehosted_total").increment(1);
        node.matchmaker().rehosted.fetch_add(1, Ordering::Relaxed);
        dispatch(
            node,
            former,
            group.match_id,
            &next,
            group.msg,
            group.players,
        );
    }
}

/// A host's answer to a `HostMatch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostAnswer {
    /// Opened (or open already), with this node's `formed` count.
    Opened(u64),
    /// The node runs its maximum number of matches.
    Declined,
}

impl HostAnswer {
    /// The `formed` count of an opened match.
    fn formed(self) -> Option<u64> {
        match self {
            HostAnswer::Opened(formed) => Some(formed),
            HostAnswer::Declined => None,
        }
    }
}

/// On the host: opens the match with its seats held and acknowledges to the
/// former, or declines it when this node runs its maximum number of
/// matches; the players are told once the former commits. `None` for
/// another message.
pub fn host_match(node: &dyn Env, msg: MatchmakingMessage) -> Option<HostAnswer> {
    let MatchmakingMessage::HostMatch {
        match_id,
        mode,
        former,
        tickets,
        bots,
    } = msg
    else {
        return None;
    };
    let mm = &node.matchmaker();
    let window = mm.config.join_window();
    let mode_config = mm.config.mode(&mode);
    // A team mode's players are split into teams balanced by rating here,
    // on the host, the same way wherever the group is hosted.
    let teams = match mode_config.and_then(|m| m.teams.map(|t| (t, m.max_players))) {
        Some((n_teams, size)) => teams::split(
            &tickets
                .iter()
                .map(|t| teams::Entry {
                    id: t.id.clone(),
                    players: t.players.iter().map(|p| p.player_id).collect(),
                    rating: t.rating,
                })
                .collect::<Vec<_>>(),
            n_teams,
            size / usize::from(n_teams),
        ),
        None => Vec::new(),
    };
    let reservations: Vec<Reservation> = tickets
        .iter()
        .flat_map(|t| t.players.iter())
        .map(|p| Reservation {
            player_id: p.player_id,
            name: p.name.clone(),
            team: teams
                .iter()
                .find(|(id, _)| *id == p.player_id)
                .map(|(_, t)| *t),
        })
        .collect();
    let n_players = reservations.len();
    let game = mode_config.map_or("", |m| m.game.as_str());
    // Registered in the directory (so its seats count in the heartbeat)
    // before the count that tells the former so moves on.
    let formed = match node
        .matches()
        .host(match_id, game, reservations, bots, window)
    {
        HostOutcome::Opened => {
            locked(&mm.hosted).insert(
                match_id,
                Hosted {
                    tickets,
                    expires_at_ms: unix_ms() + window.as_millis() as u64,
                    at: Instant::now(),
                },
            );
            info!(%match_id, %mode, players = n_players, bots, "hosting a formed match");
            mm.formed.fetch_add(1, Ordering::Relaxed) + 1
        }
        // Asked again (our acknowledgement was late or lost).
        HostOutcome::AlreadyHosting => mm.formed(),
        // The former gives the group to another node at once.
        HostOutcome::AtCapacity => {
            warn!(%match_id, %mode, "at the maximum number of matches; declining a formed match");
            if former != *node.node_id() {
                node.bus().send(
                    &Topic::Node(former),
                    &MatchmakingMessage::HostDecline {
                        match_id,
                        host: node.node_id().clone(),
                    },
                );
            }
            return Some(HostAnswer::Declined);
        }
    };
    if former != *node.node_id() {
        node.bus().send(
            &Topic::Node(former),
            &MatchmakingMessage::HostAck {
                match_id,
                host: node.node_id().clone(),
                formed,
            },
        );
    }
    Some(HostAnswer::Opened(formed))
}

/// On the host, once the former commits: one join ticket per player, and a
/// `MatchFound` to each ticket's owner.
fn host_commit(node: &dyn Env, match_id: MatchId) {
    let Some(hosted) = locked(&node.matchmaker().hosted).remove(&match_id) else {
        return;
    };
    for ticket in hosted.tickets {
        let joins = ticket
            .players
            .iter()
            .map(|p| {
                let join =
                    node.matchmaker()
                        .joins
                        .issue(p.player_id, match_id, hosted.expires_at_ms);
                (p.player_id, join)
            })
            .collect();
        let found = MatchmakingMessage::MatchFound {
            ticket_id: ticket.id.clone(),
            match_id,
            host_node: node.node_id().clone(),
            host_url: node.public_url().to_owned(),
            joins,
        };
        send_to_node(node, &ticket.node, found);
    }
}

/// On the host, when another host took the match: close it.
fn host_abort(node: &dyn Env, match_id: MatchId) {
    let Some(hosted) = locked(&node.matchmaker().hosted).remove(&match_id) else {
        return;
    };
    info!(%match_id, "another node hosts this formed match; closing it");
    let players = hosted
        .tickets
        .iter()
        .flat_map(|t| t.players.iter().map(|p| p.player_id))
        .collect();
    node.matches().release(match_id, players);
}

/// On a ticket's owner: forget the ticket and tell its players, or, if this
/// node no longer owns it (cancelled, or its match found already), give
/// their seats back.
pub fn match_found(node: &dyn Env, msg: MatchmakingMessage) {
    let MatchmakingMessage::MatchFound {
        ticket_id,
        match_id,
        host_node,
        host_url,
        joins,
    } = msg
    else {
        return;
    };
    let Some(ticket) = node.matchmaker().take_found(&ticket_id) else {
        debug!(%match_id, ticket = %ticket_id, "a match for a ticket this node no longer owns; freeing its seats");
        metrics::counter!("skirmish_seats_released_total").increment(joins.len() as u64);
        let release = MatchmakingMessage::SeatRelease {
            match_id,
            players: joins.into_iter().map(|(p, _)| p).collect(),
        };
        send_to_node(node, &host_node, release);
        return;
    };
    metrics::histogram!("skirmish_time_to_match_seconds")
        .record(unix_ms().saturating_sub(ticket.enqueued_at_ms) as f64 / 1000.0);
    for (player_id, join) in joins {
        let Some(player) = ticket.players.iter().find(|p| p.player_id == player_id) else {
            continue;
        };
        let found = ServerMsg::MatchFound {
            match_id,
            host_url: host_url.clone(),
            ticket: join,
            same_node: host_node == player.node,
        };
        if player.node == *node.node_id() {
            node.sessions()
                .deliver(player_id, SessionEvent::MatchFound(found));
        } else {
            tell(node, &player.node, player_id, found);
        }
    }
}

/// Handles a bus message sent to this node.
pub fn on_node_message(node: &dyn Env, msg: MatchmakingMessage) {
    match msg {
        m @ MatchmakingMessage::HostMatch { .. } => {
            host_match(node, m);
        }
        MatchmakingMessage::HostAck {
            match_id,
            host,
            formed,
        } => {
            // The forming loop may be gone at shutdown; then nobody commits.
            let _ = node.matchmaker().acks_tx.send(Ack {
                match_id,
                host,
                formed: Some(formed),
            });
        }
        MatchmakingMessage::HostDecline { match_id, host } => {
            let _ = node.matchmaker().acks_tx.send(Ack {
                match_id,
                host,
                formed: None,
            });
        }
        MatchmakingMessage::HostCommit { match_id } => host_commit(node, match_id),
        MatchmakingMessage::HostAbort { match_id } => host_abort(node, match_id),
        m @ MatchmakingMessage::MatchFound { .. } => match_found(node, m),
        MatchmakingMessage::SeatRelease { match_id, players } => {
            node.matches().release(match_id, players)
        }
        MatchmakingMessage::Tell { player_id, msg } => {
            node.sessions().send_raw(player_id, bytes::Bytes::from(msg));
        }
        MatchmakingMessage::PartyInvite {
            party_id,
            leader_node,
            from,
            name,
            to,
        } => {
            node.matchmaker()
                .parties
                .remember_invitation(to, &party_id, &leader_node);
            node.sessions().send_to(
                to,
                &ServerMsg::PartyInvite {
                    party_id,
                    from,
                    name,
                },
            );
        }
        MatchmakingMessage::PartyJoin { party_id, player } => party_join(node, &party_id, player),
        MatchmakingMessage::PartyUpdate {
            party_id,
            leader_node,
            leader,
            members,
            to,
        } => {
            apply_party_update(node, party_id, leader_node, leader, members, to);
        }
        MatchmakingMessage::PartyLeave {
            party_id,
            player_id,
        } => party_leave(node, &party_id, player_id),
    }
}

/// Sends a bus message to a node, or handles it here if it is this node.
fn send_to_node(node: &dyn Env, node_id: &NodeId, msg: MatchmakingMessage) {
    if node_id == node.node_id() {
        on_node_message(node, msg);
    } else {
        node.bus().send(&Topic::Node(node_id.to_owned()), &msg);
    }
}

/// Why an invitation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    /// The party rules refuse it.
    #[error(transparent)]
    Party(#[from] party::PartyError),
    /// The invitee is not connected anywhere.
    #[error("that player is not online")]
    Offline,
}

/// On the leader's node: invites a player to the leader's party (made if
/// needed) and tells them, wherever they are.
pub async fn invite(
    node: &dyn Env,
    leader: TicketPlayer,
    invitee: PlayerId,
) -> Result<(), InviteError> {
    let invitee_node = match node.matchmaker().store.locate(invitee).await {
        Ok(Some(found)) => found,
        Ok(None) => return Err(InviteError::Offline),
        Err(_) if node.sessions().is_here(invitee) => node.node_id().clone(),
        Err(_) => return Err(InviteError::Offline),
    };
    let party = node.matchmaker().parties.invite(&leader, invitee)?;
    broadcast_party(node, &party);
    let msg = MatchmakingMessage::PartyInvite {
        party_id: party.id.clone(),
        leader_node: node.node_id().clone(),
        from: leader.player_id,
        name: leader.name.clone(),
        to: invitee,
    };
    send_to_node(node, &invitee_node, msg);
    Ok(())
}

/// On the leader's node: takes an invited player in and tells everyone.
fn party_join(node: &dyn Env, party_id: &PartyId, player: TicketPlayer) {
    match node.matchmaker().parties.join(party_id, player.clone()) {
        Ok(party) => {
            // The newcomer's own ticket from this node (they may be
            // connected here too) goes: they queue with the party now.
            if let Some(ticket) = node.matchmaker().cancel(player.player_id) {
                tell_left(node, &ticket, "joined_party", None);
            }
            // A queued party that changes leaves the queue.
            if let Some(ticket) = node.matchmaker().cancel(party.leader().player_id) {
                tell_left(node, &ticket, "party_changed", None);
            }
            broadcast_party(node, &party);
        }
        Err(e) => {
            let refused = ServerMsg::Error {
                code: skirmish_shared::proto::ErrorCode::PartyRefused,
                message: e.to_string(),
            };
            tell(node, &player.node, player.player_id, refused);
        }
    }
}

/// On the leader's node: takes a member out (the leader leaving disbands
/// the party), cancels its ticket, and tells everyone who was in it.
pub fn party_leave(node: &dyn Env, party_id: &PartyId, player_id: PlayerId) {
    let Some(party) = node.matchmaker().parties.get(party_id) else {
        return;
    };
    let leader = party.leader().player_id;
    let Some((left, everyone)) = node.matchmaker().parties.leave(party_id, player_id) else {
        return;
    };
    if let Some(ticket) = node.matchmaker().cancel(leader) {
        tell_left(node, &ticket, "party_changed", None);
    }
    for member in &everyone {
        let members = match &left {
            Some(party) if member.player_id != player_id => party.members.clone(),
            _ => Vec::new(),
        };
        let update = MatchmakingMessage::PartyUpdate {
            party_id: party_id.to_owned(),
            leader_node: node.node_id().clone(),
            leader,
            members,
            to: member.player_id,
        };
        send_to_node(node, &member.node, update);
    }
}

/// Tells every member's node the party as it is now.
fn broadcast_party(node: &dyn Env, party: &party::Party) {
    for member in &party.members {
        let update = MatchmakingMessage::PartyUpdate {
            party_id: party.id.clone(),
            leader_node: node.node_id().clone(),
            leader: party.leader().player_id,
            members: party.members.clone(),
            to: member.player_id,
        };
        send_to_node(node, &member.node, update);
    }
}

/// On a member's node: remembers the player's party and tells them.
fn apply_party_update(
    node: &dyn Env,
    party_id: PartyId,
    leader_node: NodeId,
    leader: PlayerId,
    members: Vec<TicketPlayer>,
    to: PlayerId,
) {
    let membership = (!members.is_empty()).then(|| (party_id.clone(), leader_node));
    node.matchmaker().parties.set_membership(to, membership);
    let members = members
        .iter()
        .map(|m| skirmish_shared::proto::MemberView {
            player_id: m.player_id,
            name: m.name.clone(),
        })
        .collect();
    node.sessions().send_to(
        to,
        &ServerMsg::Party {
            party_id,
            leader,
            members,
        },
    );
}

/// On a member's node: accepts an invitation the player received here. A
/// player queued alone leaves the queue first (`queue_left`
/// `joined_party`): from now on they queue with the party. A claimed
/// ticket's seat is given up the same way as on a cancel.
pub fn accept(
    node: &dyn Env,
    player: TicketPlayer,
    party_id: &PartyId,
) -> Result<(), party::PartyError> {
    if node.matchmaker().parties.of(player.player_id).is_some() {
        return Err(party::PartyError::InAnotherParty);
    }
    let leader_node = node
        .matchmaker()
        .parties
        .take_invitation(player.player_id, party_id)
        .ok_or(party::PartyError::NoInvitation)?;
    if let Some(ticket) = node.matchmaker().cancel(player.player_id) {
        tell_left(node, &ticket, "joined_party", None);
    }
    send_to_node(
        node,
        &leader_node,
        MatchmakingMessage::PartyJoin {
            party_id: party_id.to_owned(),
            player,
        },
    );
    Ok(())
}

/// On a member's node: the player leaves their party (also on disconnect).
pub fn leave_party(node: &dyn Env, player_id: PlayerId) -> bool {
    let Some((party_id, leader_node)) = node.matchmaker().parties.of(player_id) else {
        return false;
    };
    node.matchmaker().parties.set_membership(player_id, None);
    send_to_node(
        node,
        &leader_node,
        MatchmakingMessage::PartyLeave {
            party_id,
            player_id,
        },
    );
    true
}
