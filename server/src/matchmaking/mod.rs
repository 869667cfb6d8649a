//! Matchmaking across nodes: players (alone or in parties) queue for a mode
//! with their rating; one node at a time, holding a lease, forms matches
//! from the shared queue and has the least-loaded node host each; players
//! on other nodes are sent there with a single-use join ticket.
//!
//! The pieces, and who runs them:
//! - Every node owns the tickets of its own players: it keeps them alive in
//!   the [`QueueStore`] (a ticket its node stops refreshing expires, so a
//!   dead node's players leave the queue), tells its players how the wait
//!   goes, and cancels a ticket when its player disconnects.
//! - The lease holder runs [`formation::form`] every round and claims each
//!   group's tickets atomically (a ticket claimed once can never be claimed
//!   again), then sends the group to its host over the bus.
//! - The host opens the match with the group's seats reserved, issues one
//!   join ticket per player, and sends each player's node a `MatchFound`.
//!   A seat nobody takes within the join window is given up, and the match
//!   starts without it.
//!
//! A group lost on the bus would leave its players waiting for a match that
//! never comes: a node whose ticket was claimed but hears nothing within
//! [`LOST_GROUP_AFTER`] puts the ticket back, at its old place.

pub mod config;
pub mod formation;
pub mod join;
pub mod party;
pub mod store;

pub use config::{MatchmakingConfig, ModeConfig};
pub use join::{JoinError, JoinTickets};
pub use store::{MemoryQueue, QueueStore, RedisQueue, StoreError, Ticket, TicketPlayer};

use crate::bus::{BusMessage, Topic};
use crate::matches::SessionEvent;
use crate::node::{Node, unix_ms};
use formation::Candidate;
use skirmish_shared::proto::{MatchId, PlayerId, ServerMsg};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

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
    UnknownMode(String),
    /// The player (or a party member) is queued already.
    #[error("already queued")]
    AlreadyQueued,
    /// The shared queue did not answer.
    #[error("{0}")]
    Unavailable(String),
}

/// A ticket this node owns.
#[derive(Clone, Debug)]
struct Owned {
    ticket: Ticket,
    /// Set when the ticket was found claimed, until its match is found.
    claimed_at: Option<Instant>,
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
    owned: Mutex<HashMap<String, Owned>>,
}

impl Matchmaker {
    /// This node's matchmaker.
    pub fn new(config: MatchmakingConfig, store: Arc<dyn QueueStore>, joins: JoinTickets) -> Self {
        Matchmaker {
            config: Arc::new(config),
            store,
            joins,
            parties: party::Parties::default(),
            owned: Mutex::default(),
        }
    }

    fn owned(&self) -> std::sync::MutexGuard<'_, HashMap<String, Owned>> {
        self.owned
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The ticket a player is in, if this node owns one.
    pub fn ticket_of(&self, player_id: PlayerId) -> Option<String> {
        self.owned()
            .values()
            .find(|o| o.ticket.players.iter().any(|p| p.player_id == player_id))
            .map(|o| o.ticket.id.clone())
    }

    /// Queues `players` (one, or a party led from here) for `mode`.
    pub async fn enqueue(
        &self,
        mode: &str,
        players: Vec<TicketPlayer>,
        rating: i32,
        node: &str,
    ) -> Result<Ticket, QueueError> {
        if self.config.mode(mode).is_none() {
            return Err(QueueError::UnknownMode(mode.to_owned()));
        }
        if players
            .iter()
            .any(|p| self.ticket_of(p.player_id).is_some())
        {
            return Err(QueueError::AlreadyQueued);
        }
        let ticket = Ticket {
            id: format!("{:016x}", rand::random::<u64>()),
            mode: mode.to_owned(),
            players,
            rating,
            enqueued_at_ms: unix_ms(),
            node: node.to_owned(),
        };
        self.store
            .enqueue(&ticket, self.config.ticket_ttl())
            .await
            .map_err(|e| QueueError::Unavailable(e.to_string()))?;
        self.owned().insert(
            ticket.id.clone(),
            Owned {
                ticket: ticket.clone(),
                claimed_at: None,
            },
        );
        metrics::counter!("skirmish_tickets_queued_total").increment(1);
        Ok(ticket)
    }

    /// Takes a player's ticket (and its party) out of the queue; the ticket
    /// if there was one. A ticket already claimed for a match cannot be
    /// taken back: its match is on its way.
    pub async fn cancel(&self, player_id: PlayerId) -> Option<Ticket> {
        let id = self.ticket_of(player_id)?;
        let owned = self.owned().remove(&id)?;
        if let Err(e) = self.store.cancel(&owned.ticket.mode, &id).await {
            // It expires on its own once nobody refreshes it.
            warn!(error = %e, "could not cancel a ticket; it will expire");
        }
        Some(owned.ticket)
    }

    /// Forgets a ticket whose match was found.
    fn found(&self, ticket_id: &str) {
        self.owned().remove(ticket_id);
    }
}

/// The owner's loop: every second, keep this node's tickets alive, tell
/// their players how the wait goes, and put back tickets whose group was
/// lost.
pub async fn run_owner(node: Arc<Node>) {
    let guard = node.task_guard.clone();
    let mut shutdown = node.shutdown.clone();
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mm = &node.matchmaker;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.wait_for(|down| *down) => break,
        }
        let tickets: Vec<Owned> = mm.owned().values().cloned().collect();
        if tickets.is_empty() {
            continue;
        }
        let ids: Vec<String> = tickets.iter().map(|o| o.ticket.id.clone()).collect();
        let alive = match mm.store.refresh(&ids, mm.config.ticket_ttl()).await {
            Ok(alive) => alive,
            Err(e) => {
                debug!(error = %e, "could not refresh tickets");
                continue;
            }
        };
        let mut searching: HashMap<String, u64> = HashMap::new();
        let now = Instant::now();
        for (owned, alive) in tickets.into_iter().zip(alive) {
            let ticket = &owned.ticket;
            if alive {
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
                    tell(&node, &p.node, p.player_id, update.clone());
                }
                continue;
            }
            // Claimed for a match (or expired during an outage).
            let claimed_at = {
                let mut owned_now = mm.owned();
                let Some(entry) = owned_now.get_mut(&ticket.id) else {
                    continue;
                };
                *entry.claimed_at.get_or_insert(now)
            };
            if now.duration_since(claimed_at) >= LOST_GROUP_AFTER {
                info!(ticket = %ticket.id, "no match arrived for a claimed ticket; queueing it again");
                if mm
                    .store
                    .enqueue(ticket, mm.config.ticket_ttl())
                    .await
                    .is_ok()
                    && let Some(entry) = mm.owned().get_mut(&ticket.id)
                {
                    entry.claimed_at = None;
                }
            }
        }
    }
    drop(guard);
}

/// Sends a protocol message to a player connected to `node_id`, through the
/// bus unless that is this node.
pub fn tell(node: &Node, node_id: &str, player_id: PlayerId, msg: ServerMsg) {
    if node_id == node.node_id {
        node.sessions.send_to(player_id, &msg);
    } else {
        // Carried as encoded protocol bytes: the other node only forwards them.
        let bytes = skirmish_shared::codec::encode(&msg);
        node.bus.publish(
            &Topic::Node(node_id.to_owned()),
            BusMessage::Tell {
                player_id,
                msg: bytes,
            },
        );
    }
}

/// The forming loop: while this node holds the lease, form matches every
/// round and send each to its host.
pub async fn run_former(node: Arc<Node>) {
    let guard = node.task_guard.clone();
    let mut shutdown = node.shutdown.clone();
    let mm = &node.matchmaker;
    let mut every = tokio::time::interval(mm.config.round_interval());
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut leading = false;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.wait_for(|down| *down) => break,
        }
        match mm.store.lease(&node.node_id, mm.config.lease_ttl()).await {
            Ok(held) => {
                if held != leading {
                    info!(node = %node.node_id, "{} forming matches", if held { "now" } else { "no longer" });
                    leading = held;
                }
            }
            Err(e) => {
                debug!(error = %e, "could not renew the forming lease");
                leading = false;
            }
        }
        if !leading {
            continue;
        }
        for mode in mm.config.modes.iter() {
            if let Err(e) = form_round(&node, mode).await {
                debug!(error = %e, mode = %mode.id, "forming round failed");
            }
        }
    }
    let _ = mm.store.release(&node.node_id).await;
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
    let by_id: HashMap<&str, &Ticket> = waiting.iter().map(|t| (t.id.as_str(), t)).collect();
    let mut claimed = Vec::with_capacity(groups.len());
    for group in groups {
        if store.claim(&mode.id, &group.tickets).await? {
            let tickets = group
                .tickets
                .iter()
                .filter_map(|id| by_id.get(id.as_str()).map(|t| (*t).clone()))
                .collect();
            claimed.push(Claimed {
                tickets,
                bots: group.bots,
            });
        }
    }
    Ok(claimed)
}

async fn form_round(node: &Arc<Node>, mode: &ModeConfig) -> Result<(), StoreError> {
    let claimed = form_and_claim(node.matchmaker.store.as_ref(), mode, unix_ms()).await?;
    if claimed.is_empty() {
        return Ok(());
    }
    let mut hosts = HostChooser::new(node).await;
    for group in claimed {
        let seats: Vec<TicketPlayer> = group
            .tickets
            .iter()
            .flat_map(|t| t.players.clone())
            .collect();
        let host = hosts.next(seats.len() + group.bots);
        let match_id = MatchId(rand::random());
        metrics::counter!("skirmish_matches_formed_total").increment(1);
        let msg = BusMessage::HostMatch {
            match_id,
            mode: mode.id.clone(),
            tickets: group.tickets.iter().map(|t| t.id.clone()).collect(),
            seats,
            bots: group.bots as u8,
        };
        if host == node.node_id {
            host_match(node, msg);
        } else {
            node.bus.publish(&Topic::Node(host), msg);
        }
    }
    Ok(())
}

/// Picks hosts by load: the live node with the fewest players, counting the
/// seats already handed out this round.
struct HostChooser {
    loads: Vec<(String, usize)>,
}

impl HostChooser {
    async fn new(node: &Node) -> Self {
        let loads = match node.registry.live().await {
            Ok(live) if !live.is_empty() => live
                .into_iter()
                .map(|n| (n.id, n.players as usize))
                .collect(),
            _ => vec![(node.node_id.clone(), node.sessions.count())],
        };
        HostChooser { loads }
    }

    fn next(&mut self, seats: usize) -> String {
        // `loads` is never empty (it falls back to this node).
        let (id, load) = self
            .loads
            .iter_mut()
            .min_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)))
            .expect("a node");
        *load += seats;
        id.clone()
    }
}

/// On the host: opens the match with its seats reserved and sends every
/// player's node a `MatchFound`.
pub fn host_match(node: &Arc<Node>, msg: BusMessage) {
    let BusMessage::HostMatch {
        match_id,
        mode,
        tickets,
        seats,
        bots,
    } = msg
    else {
        return;
    };
    let mm = &node.matchmaker;
    let window = mm.config.join_window();
    let reservations: Vec<(PlayerId, String)> = seats
        .iter()
        .map(|s| (s.player_id, s.name.clone()))
        .collect();
    node.matches.host(match_id, reservations, bots, window);
    info!(%match_id, %mode, players = seats.len(), bots, "hosting a formed match");
    let expires_at_ms = unix_ms() + window.as_millis() as u64;
    for seat in &seats {
        let found = BusMessage::MatchFound {
            player_id: seat.player_id,
            tickets: tickets.clone(),
            match_id,
            host_node: node.node_id.clone(),
            host_url: node.public_url.clone(),
            join_ticket: mm.joins.issue(seat.player_id, match_id, expires_at_ms),
        };
        if seat.node == node.node_id {
            match_found(node, found);
        } else {
            node.bus.publish(&Topic::Node(seat.node.clone()), found);
        }
    }
}

/// On a player's node: forget the ticket and tell the player.
pub fn match_found(node: &Arc<Node>, msg: BusMessage) {
    let BusMessage::MatchFound {
        player_id,
        tickets,
        match_id,
        host_node,
        host_url,
        join_ticket,
    } = msg
    else {
        return;
    };
    for ticket in &tickets {
        node.matchmaker.found(ticket);
    }
    let found = ServerMsg::MatchFound {
        match_id,
        host_url,
        ticket: join_ticket,
        same_node: host_node == node.node_id,
    };
    node.sessions
        .deliver(player_id, SessionEvent::MatchFound(found));
}

/// Handles a bus message sent to this node.
pub fn on_node_message(node: &Arc<Node>, msg: BusMessage) {
    match msg {
        m @ BusMessage::HostMatch { .. } => host_match(node, m),
        m @ BusMessage::MatchFound { .. } => match_found(node, m),
        BusMessage::Tell { player_id, msg } => {
            node.sessions.send_raw(player_id, bytes::Bytes::from(msg));
        }
        BusMessage::PartyInvite {
            party_id,
            leader_node,
            from,
            name,
            to,
        } => {
            node.matchmaker
                .parties
                .remember_invitation(to, &party_id, &leader_node);
            node.sessions.send_to(
                to,
                &ServerMsg::PartyInvite {
                    party_id,
                    from,
                    name,
                },
            );
        }
        BusMessage::PartyJoin { party_id, player } => party_join(node, &party_id, player),
        BusMessage::PartyUpdate {
            party_id,
            leader_node,
            leader,
            members,
            to,
        } => {
            apply_party_update(node, party_id, leader_node, leader, members, to);
        }
        BusMessage::PartyLeave {
            party_id,
            player_id,
        } => party_leave(node, &party_id, player_id),
        BusMessage::Chat(_) | BusMessage::Presence { .. } | BusMessage::Typing { .. } => {}
    }
}

/// Sends a bus message to a node, or handles it here if it is this node.
fn send_to_node(node: &Arc<Node>, node_id: &str, msg: BusMessage) {
    if node_id == node.node_id {
        on_node_message(node, msg);
    } else {
        node.bus.publish(&Topic::Node(node_id.to_owned()), msg);
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
    node: &Arc<Node>,
    leader: TicketPlayer,
    invitee: PlayerId,
) -> Result<(), InviteError> {
    let invitee_node = match node.matchmaker.store.locate(invitee).await {
        Ok(Some(found)) => found,
        Ok(None) => return Err(InviteError::Offline),
        Err(_) if node.sessions.is_here(invitee) => node.node_id.clone(),
        Err(_) => return Err(InviteError::Offline),
    };
    let party = node.matchmaker.parties.invite(&leader, invitee)?;
    broadcast_party(node, &party);
    let msg = BusMessage::PartyInvite {
        party_id: party.id.clone(),
        leader_node: node.node_id.clone(),
        from: leader.player_id,
        name: leader.name.clone(),
        to: invitee,
    };
    send_to_node(node, &invitee_node, msg);
    Ok(())
}

/// On the leader's node: takes an invited player in and tells everyone.
fn party_join(node: &Arc<Node>, party_id: &str, player: TicketPlayer) {
    if node.matchmaker.ticket_of(player.player_id).is_some() {
        return;
    }
    match node.matchmaker.parties.join(party_id, player.clone()) {
        Ok(party) => {
            // A queued party that changes leaves the queue.
            let leader = party.leader().player_id;
            let node2 = Arc::clone(node);
            tokio::spawn(async move {
                if let Some(ticket) = node2.matchmaker.cancel(leader).await {
                    for p in &ticket.players {
                        tell(
                            &node2,
                            &p.node,
                            p.player_id,
                            ServerMsg::QueueLeft {
                                reason: "party_changed".into(),
                            },
                        );
                    }
                }
            });
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
pub fn party_leave(node: &Arc<Node>, party_id: &str, player_id: PlayerId) {
    let Some(party) = node.matchmaker.parties.get(party_id) else {
        return;
    };
    let leader = party.leader().player_id;
    let Some((left, everyone)) = node.matchmaker.parties.leave(party_id, player_id) else {
        return;
    };
    let node2 = Arc::clone(node);
    tokio::spawn(async move {
        if let Some(ticket) = node2.matchmaker.cancel(leader).await {
            for p in &ticket.players {
                tell(
                    &node2,
                    &p.node,
                    p.player_id,
                    ServerMsg::QueueLeft {
                        reason: "party_changed".into(),
                    },
                );
            }
        }
    });
    for member in &everyone {
        let members = match &left {
            Some(party) if member.player_id != player_id => party.members.clone(),
            _ => Vec::new(),
        };
        let update = BusMessage::PartyUpdate {
            party_id: party_id.to_owned(),
            leader_node: node.node_id.clone(),
            leader,
            members,
            to: member.player_id,
        };
        send_to_node(node, &member.node, update);
    }
}

/// Tells every member's node the party as it is now.
fn broadcast_party(node: &Arc<Node>, party: &party::Party) {
    for member in &party.members {
        let update = BusMessage::PartyUpdate {
            party_id: party.id.clone(),
            leader_node: node.node_id.clone(),
            leader: party.leader().player_id,
            members: party.members.clone(),
            to: member.player_id,
        };
        send_to_node(node, &member.node, update);
    }
}

/// On a member's node: remembers the player's party and tells them.
fn apply_party_update(
    node: &Arc<Node>,
    party_id: String,
    leader_node: String,
    leader: PlayerId,
    members: Vec<TicketPlayer>,
    to: PlayerId,
) {
    let membership = (!members.is_empty()).then(|| (party_id.clone(), leader_node));
    node.matchmaker.parties.set_membership(to, membership);
    let members = members
        .iter()
        .map(|m| skirmish_shared::proto::MemberView {
            player_id: m.player_id,
            name: m.name.clone(),
        })
        .collect();
    node.sessions.send_to(
        to,
        &ServerMsg::Party {
            party_id,
            leader,
            members,
        },
    );
}

/// On a member's node: accepts an invitation the player received here.
pub fn accept(
    node: &Arc<Node>,
    player: TicketPlayer,
    party_id: &str,
) -> Result<(), party::PartyError> {
    if node.matchmaker.parties.of(player.player_id).is_some() {
        return Err(party::PartyError::InAnotherParty);
    }
    let leader_node = node
        .matchmaker
        .parties
        .take_invitation(player.player_id, party_id)
        .ok_or(party::PartyError::NoInvitation)?;
    send_to_node(
        node,
        &leader_node,
        BusMessage::PartyJoin {
            party_id: party_id.to_owned(),
            player,
        },
    );
    Ok(())
}

/// On a member's node: the player leaves their party (also on disconnect).
pub fn leave_party(node: &Arc<Node>, player_id: PlayerId) -> bool {
    let Some((party_id, leader_node)) = node.matchmaker.parties.of(player_id) else {
        return false;
    };
    node.matchmaker.parties.set_membership(player_id, None);
    send_to_node(
        node,
        &leader_node,
        BusMessage::PartyLeave {
            party_id,
            player_id,
        },
    );
    true
}
