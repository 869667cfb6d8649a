//! The tickets this node owns: queueing, cancelling, and the owner loop
//! that keeps them alive, tells their players how the wait goes, and puts
//! back tickets whose group was lost.

use super::store::{QueueStore, StoreError, Ticket, TicketPlayer};
use super::{Inner, LOST_GROUP_AFTER, QueueError, locked};
use crate::clock::unix_ms;
use skirmish_shared::proto::{ModeId, PlayerId, ServerMsg, TicketId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

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
pub(super) struct Owned {
    ticket: Ticket,
    state: TicketState,
}

impl Inner {
    fn owned(&self) -> std::sync::MutexGuard<'_, HashMap<TicketId, Owned>> {
        locked(&self.owned)
    }

    /// The ticket a player is in, if this node owns one.
    pub(super) fn ticket_of(&self, player_id: PlayerId) -> Option<TicketId> {
        find_ticket(&self.owned(), player_id)
    }

    /// Whether this node owns the ticket (queued, or claimed and waiting
    /// for its match).
    pub(super) fn owns(&self, ticket_id: &TicketId) -> bool {
        self.owned().contains_key(ticket_id)
    }

    /// Queues `players` (one, or a party led from here) for `mode`, as a
    /// ticket of this node. Refused with [`QueueError::AlreadyQueued`] when any of them is in a live
    /// ticket anywhere in the cluster.
    pub(super) async fn enqueue(
        &self,
        mode: &ModeId,
        players: Vec<TicketPlayer>,
        rating: i32,
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
            node: self.node_id.clone(),
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
    pub(super) fn cancel(&self, player_id: PlayerId) -> Option<Ticket> {
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
    pub(super) fn take_found(&self, ticket_id: &TicketId) -> Option<Ticket> {
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

impl Inner {
    /// Sets `skirmish_queued_players{mode}`: the players in this node's
    /// tickets waiting for a match, by mode (summed over the nodes, the
    /// cluster's queue).
    fn count_queued(&self) {
        let mut queued: HashMap<&ModeId, u64> =
            self.config.modes.iter().map(|m| (&m.id, 0)).collect();
        for owned in self.owned().values() {
            if owned.state == TicketState::Waiting
                && let Some(n) = queued.get_mut(&owned.ticket.mode)
            {
                *n += owned.ticket.players.len() as u64;
            }
        }
        for (mode, n) in queued {
            metrics::gauge!("skirmish_queued_players", "mode" => mode.to_string()).set(n as f64);
        }
    }
}

fn find_ticket(owned: &HashMap<TicketId, Owned>, player_id: PlayerId) -> Option<TicketId> {
    owned
        .values()
        .find(|o| o.ticket.players.iter().any(|p| p.player_id == player_id))
        .map(|o| o.ticket.id.clone())
}

impl Inner {
    /// The owner's loop: every second, keep this node's tickets alive, tell
    /// their players how the wait goes, put back tickets whose group was lost,
    /// and forget formed matches whose commit never came.
    pub(super) async fn run_owner(
        self: Arc<Self>,
        mut shutdown: watch::Receiver<bool>,
        guard: mpsc::Sender<()>,
    ) {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = shutdown.wait_for(|down| *down) => break,
            }
            let window = self.config.join_window();
            locked(&self.hosted).retain(|_, h| h.at.elapsed() < window);
            self.count_queued();
            let tickets: Vec<Ticket> = self
                .owned()
                .values()
                .filter(|o| o.state != TicketState::Enqueuing)
                .map(|o| o.ticket.clone())
                .collect();
            if tickets.is_empty() {
                continue;
            }
            let alive = match self.store.refresh(&tickets, self.config.ticket_ttl()).await {
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
                    let still_owned = self
                        .owned()
                        .get_mut(&ticket.id)
                        .map(|e| e.state = TicketState::Waiting)
                        .is_some();
                    if !still_owned {
                        continue;
                    }
                    if !searching.contains_key(&ticket.mode) {
                        let n = self.store.searching(&ticket.mode).await.unwrap_or(0);
                        searching.insert(ticket.mode.clone(), n);
                    }
                    let update = ServerMsg::QueueUpdate {
                        mode: ticket.mode.clone(),
                        waited_ms: unix_ms().saturating_sub(ticket.enqueued_at_ms),
                        searching: searching[&ticket.mode],
                    };
                    for p in &ticket.players {
                        self.tell(&p.node, p.player_id, update.clone());
                    }
                    continue;
                }
                // Claimed for a match (or expired during an outage).
                let claimed_at = {
                    let mut owned_now = self.owned();
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
                match self.store.enqueue(&ticket, self.config.ticket_ttl()).await {
                    Ok(()) => {
                        let kept = self
                            .owned()
                            .get_mut(&ticket.id)
                            .map(|e| e.state = TicketState::Waiting)
                            .is_some();
                        if !kept {
                            // Its match or a cancel came meanwhile.
                            cancel_in_store(self.store.as_ref(), &ticket).await;
                        }
                    }
                    Err(StoreError::AlreadyQueued { player_id, .. }) => {
                        // The ticket lapsed (an outage) and the player queued
                        // again elsewhere since: this one is gone for good.
                        info!(ticket = %ticket.id, player = %player_id, "a lapsed ticket's player queued again elsewhere");
                        if self.owned().remove(&ticket.id).is_some() {
                            self.tell_left(&ticket, "expired", None);
                        }
                    }
                    Err(e) => debug!(error = %e, "could not queue a lost ticket again"),
                }
            }
        }
        drop(guard);
    }
}
