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
//! Matchmaking runs on its own, like the lobby: [`Matchmaking::start`] takes
//! the pieces it needs ([`Parts`]: the queue store, the bus, the sessions to
//! tell players through, the matches to host in, the registry) and spawns
//! its three tasks, the owner loop, the forming loop and the task that
//! handles its node-to-node messages; the node keeps the handle and hands
//! it the messages the bus brings ([`Matchmaking::deliver`]).
//!
//! A group lost for good (its former died before a host committed) would
//! leave its players waiting for a match that never comes: a node whose
//! ticket was claimed but hears nothing within [`LOST_GROUP_AFTER`] puts
//! the ticket back, at its old place.

pub mod config;
pub mod formation;
mod forming;
mod host;
pub mod hosting;
mod invites;
pub mod join;
pub mod party;
pub mod store;
pub mod teams;
mod tickets;
pub mod wire;

pub use config::{GameSeats, MatchmakingConfig, ModeConfig};
pub use forming::{Claimed, form_and_claim};
pub use host::HostAnswer;
pub use invites::InviteError;
pub use join::{JoinError, JoinTickets};
pub use store::{MemoryQueue, QueueStore, RedisQueue, StoreError, Ticket, TicketPlayer};
pub use wire::{ClaimedTicket, MatchmakingMessage};

use crate::bus::{Bus, Topic};
use crate::matches::Matches;
use crate::registry::{NodeInfo, Registry};
use crate::sessions::Sessions;
use forming::Ack;
use host::Hosted;
use skirmish_shared::proto::{MatchId, ModeId, NodeId, PartyId, PlayerId, ServerMsg, TicketId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tickets::Owned;
use tokio::sync::{mpsc, watch};

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

/// Node-to-node messages waiting for the message task; the bus's dispatch
/// waits when it is full.
const MESSAGE_QUEUE: usize = 1024;

/// What matchmaking needs of the node it runs on, and nothing more.
#[derive(Debug)]
pub struct Parts {
    /// This node's id.
    pub node_id: NodeId,
    /// Where players reach this node.
    pub public_url: String,
    /// When the node started, Unix milliseconds (for its registry entry).
    pub started_at_ms: u64,
    /// The modes and timings.
    pub config: MatchmakingConfig,
    /// The shared queue and lease.
    pub store: Arc<dyn QueueStore>,
    /// Join tickets for matches this node hosts.
    pub joins: JoinTickets,
    /// The node-to-node bus, to send on (deliveries come through
    /// [`Matchmaking::deliver`]).
    pub bus: Arc<dyn Bus>,
    /// The players connected here, to tell them.
    pub sessions: Arc<Sessions>,
    /// The matches running here, to host formed matches in.
    pub matches: Arc<Matches>,
    /// The live nodes, to choose hosts from.
    pub registry: Arc<dyn Registry>,
    /// How often nodes heartbeat.
    pub heartbeat: Duration,
    /// Becomes `true` when the node shuts down; the tasks then stop.
    pub shutdown: watch::Receiver<bool>,
    /// Held by each task, so shutdown can wait for them.
    pub task_guard: mpsc::Sender<()>,
}

/// This node's matchmaking: the handle sessions and the node use. Cheap to
/// clone.
#[derive(Clone, Debug)]
pub struct Matchmaking {
    inner: Arc<Inner>,
    messages: mpsc::Sender<MatchmakingMessage>,
}

/// Matchmaking's state, shared by the handle and its tasks.
#[derive(Debug)]
struct Inner {
    node_id: NodeId,
    public_url: String,
    started_at_ms: u64,
    config: MatchmakingConfig,
    store: Arc<dyn QueueStore>,
    joins: JoinTickets,
    /// Parties led from this node, and the memberships of its players.
    parties: party::Parties,
    bus: Arc<dyn Bus>,
    sessions: Arc<Sessions>,
    matches: Arc<Matches>,
    registry: Arc<dyn Registry>,
    heartbeat: Duration,
    /// The tickets this node owns.
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
    acks: mpsc::UnboundedSender<Ack>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Matchmaking {
    /// Starts this node's matchmaking: the owner loop, the forming loop and
    /// the message task.
    pub fn start(parts: Parts) -> Matchmaking {
        let (acks, acks_rx) = mpsc::unbounded_channel();
        let (messages, messages_rx) = mpsc::channel(MESSAGE_QUEUE);
        let Parts {
            node_id,
            public_url,
            started_at_ms,
            config,
            store,
            joins,
            bus,
            sessions,
            matches,
            registry,
            heartbeat,
            shutdown,
            task_guard,
        } = parts;
        let inner = Arc::new(Inner {
            node_id,
            public_url,
            started_at_ms,
            config,
            store,
            joins,
            parties: party::Parties::default(),
            bus,
            sessions,
            matches,
            registry,
            heartbeat,
            owned: Mutex::default(),
            withdrawn: Arc::default(),
            hosted: Mutex::default(),
            formed: AtomicU64::new(0),
            rehosted: AtomicU64::new(0),
            acks,
        });
        tokio::spawn(Arc::clone(&inner).run_owner(shutdown.clone(), task_guard.clone()));
        tokio::spawn(Arc::clone(&inner).run_former(acks_rx, shutdown.clone(), task_guard.clone()));
        tokio::spawn(Arc::clone(&inner).run_messages(messages_rx, shutdown, task_guard));
        Matchmaking { inner, messages }
    }

    /// Hands over a node-to-node message the bus brought; waits while the
    /// message task is behind.
    pub async fn deliver(&self, msg: MatchmakingMessage) {
        // Gone only at shutdown, when nothing is handled any more.
        let _ = self.messages.send(msg).await;
    }

    /// The settings.
    pub fn config(&self) -> &MatchmakingConfig {
        &self.inner.config
    }

    /// The shared queue (also where players' nodes are recorded).
    pub fn store(&self) -> &dyn QueueStore {
        self.inner.store.as_ref()
    }

    /// Join tickets for matches this node hosts.
    pub fn joins(&self) -> &JoinTickets {
        &self.inner.joins
    }

    /// Parties led from this node, and its players' memberships.
    pub fn parties(&self) -> &party::Parties {
        &self.inner.parties
    }

    /// The ticket a player is in, if this node owns one.
    pub fn ticket_of(&self, player_id: PlayerId) -> Option<TicketId> {
        self.inner.ticket_of(player_id)
    }

    /// Whether this node owns the ticket (queued, or claimed and waiting
    /// for its match).
    pub fn owns(&self, ticket_id: &TicketId) -> bool {
        self.inner.owns(ticket_id)
    }

    /// Formed matches this node agreed to host since it started.
    pub fn formed(&self) -> u64 {
        self.inner.formed.load(Ordering::Relaxed)
    }

    /// Groups this node sent on to another host since it started (also
    /// counted, for all nodes of a process, in
    /// `skirmish_matches_rehosted_total`).
    pub fn rehosted(&self) -> u64 {
        self.inner.rehosted.load(Ordering::Relaxed)
    }

    /// What this node tells the registry about itself: its load as hosts
    /// are chosen by it.
    pub fn node_info(&self) -> NodeInfo {
        self.inner.node_info()
    }

    /// Queues `players` (one, or a party led from here) for `mode`, as
    /// tickets of this node. Refused with [`QueueError::AlreadyQueued`]
    /// when any of them is in a live ticket anywhere in the cluster.
    pub async fn enqueue(
        &self,
        mode: &ModeId,
        players: Vec<TicketPlayer>,
        rating: i32,
    ) -> Result<Ticket, QueueError> {
        self.inner.enqueue(mode, players, rating).await
    }

    /// Takes a player's ticket (and its party) out of the queue at once;
    /// the ticket if there was one. No `match_found` for it reaches its
    /// players any more: one already claimed for a match gives its seats
    /// up.
    pub fn cancel(&self, player_id: PlayerId) -> Option<Ticket> {
        self.inner.cancel(player_id)
    }

    /// Sends a protocol message to a player connected to `node_id`, through
    /// the bus unless that is this node.
    pub fn tell(&self, node_id: &NodeId, player_id: PlayerId, msg: ServerMsg) {
        self.inner.tell(node_id, player_id, msg);
    }

    /// Tells every player of a ticket, but `except`, that it left the queue.
    pub fn tell_left(&self, ticket: &Ticket, reason: &str, except: Option<PlayerId>) {
        self.inner.tell_left(ticket, reason, except);
    }

    /// On the leader's node: invites a player to the leader's party (made
    /// if needed) and tells them, wherever they are.
    pub async fn invite(&self, leader: TicketPlayer, invitee: PlayerId) -> Result<(), InviteError> {
        self.inner.invite(leader, invitee).await
    }

    /// On a member's node: accepts an invitation the player received here.
    /// A player queued alone leaves the queue first (`queue_left`
    /// `joined_party`).
    pub fn accept(
        &self,
        player: TicketPlayer,
        party_id: &PartyId,
    ) -> Result<(), party::PartyError> {
        self.inner.accept(player, party_id)
    }

    /// On a member's node: the player leaves their party (also on
    /// disconnect); whether they were in one.
    pub fn leave_party(&self, player_id: PlayerId) -> bool {
        self.inner.leave_party(player_id)
    }
}

impl Inner {
    /// The message task: handles the node-to-node messages delivered to
    /// this node, one at a time, in order.
    async fn run_messages(
        self: Arc<Self>,
        mut messages: mpsc::Receiver<MatchmakingMessage>,
        mut shutdown: watch::Receiver<bool>,
        guard: mpsc::Sender<()>,
    ) {
        loop {
            let msg = tokio::select! {
                msg = messages.recv() => match msg {
                    Some(msg) => msg,
                    None => break,
                },
                _ = shutdown.wait_for(|down| *down) => break,
            };
            self.on_message(msg);
        }
        drop(guard);
    }

    /// This node as the registry lists it, with its load now.
    fn node_info(&self) -> NodeInfo {
        // Read before the seats awaited: every match this count includes
        // was in the directory already, so its seats are counted below.
        let formed = self.formed.load(Ordering::Relaxed);
        let (matches, _) = self.matches.counts();
        let awaited = self
            .matches
            .awaited()
            .into_iter()
            .filter(|p| !self.sessions.is_here(*p))
            .count();
        NodeInfo {
            id: self.node_id.clone(),
            public_url: self.public_url.clone(),
            players: self.sessions.count() as u32,
            matches: matches as u32,
            started_at_ms: self.started_at_ms,
            last_seen_ms: 0,
            age_ms: 0,
            awaited: awaited as u32,
            formed,
            stats: None,
        }
    }
}

impl Inner {
    /// Handles a bus message sent to this node.
    pub(super) fn on_message(&self, msg: MatchmakingMessage) {
        match msg {
            m @ MatchmakingMessage::HostMatch { .. } => {
                self.host_match(m);
            }
            MatchmakingMessage::HostAck {
                match_id,
                host,
                formed,
            } => {
                // The forming loop may be gone at shutdown; then nobody commits.
                let _ = self.acks.send(Ack {
                    match_id,
                    host,
                    formed: Some(formed),
                });
            }
            MatchmakingMessage::HostDecline { match_id, host } => {
                let _ = self.acks.send(Ack {
                    match_id,
                    host,
                    formed: None,
                });
            }
            MatchmakingMessage::HostCommit { match_id } => self.host_commit(match_id),
            MatchmakingMessage::HostAbort { match_id } => self.host_abort(match_id),
            m @ MatchmakingMessage::MatchFound { .. } => self.match_found(m),
            MatchmakingMessage::SeatRelease { match_id, players } => {
                self.matches.release(match_id, players)
            }
            MatchmakingMessage::Tell { player_id, msg } => {
                self.sessions.send_raw(player_id, bytes::Bytes::from(msg));
            }
            MatchmakingMessage::PartyInvite {
                party_id,
                leader_node,
                from,
                name,
                to,
            } => {
                self.parties
                    .remember_invitation(to, &party_id, &leader_node);
                self.sessions.send_to(
                    to,
                    &ServerMsg::PartyInvite {
                        party_id,
                        from,
                        name,
                    },
                );
            }
            MatchmakingMessage::PartyJoin { party_id, player } => {
                self.party_join(&party_id, player)
            }
            MatchmakingMessage::PartyUpdate {
                party_id,
                leader_node,
                leader,
                members,
                to,
            } => {
                self.apply_party_update(party_id, leader_node, leader, members, to);
            }
            MatchmakingMessage::PartyLeave {
                party_id,
                player_id,
            } => self.party_leave(&party_id, player_id),
        }
    }

    /// Sends a bus message to a node, or handles it here if it is this node.
    pub(super) fn send_to_node(&self, node_id: &NodeId, msg: MatchmakingMessage) {
        if node_id == &self.node_id {
            self.on_message(msg);
        } else {
            self.bus.send(&Topic::Node(node_id.to_owned()), &msg);
        }
    }

    /// Sends a protocol message to a player connected to `node_id`, through the
    /// bus unless that is this node.
    pub(super) fn tell(&self, node_id: &NodeId, player_id: PlayerId, msg: ServerMsg) {
        if node_id == &self.node_id {
            self.sessions.send_to(player_id, &msg);
        } else {
            // Carried as encoded protocol bytes: the other node only forwards them.
            let bytes = skirmish_shared::codec::encode(&msg);
            self.bus.send(
                &Topic::Node(node_id.to_owned()),
                &MatchmakingMessage::Tell {
                    player_id,
                    msg: bytes,
                },
            );
        }
    }

    /// Tells every player of a ticket that it left the queue.
    pub(super) fn tell_left(&self, ticket: &Ticket, reason: &str, except: Option<PlayerId>) {
        for p in ticket
            .players
            .iter()
            .filter(|p| Some(p.player_id) != except)
        {
            self.tell(
                &p.node,
                p.player_id,
                ServerMsg::QueueLeft {
                    reason: reason.to_owned(),
                },
            );
        }
    }
}
