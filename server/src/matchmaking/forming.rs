//! The forming loop of the node holding the lease: forms matches from the
//! shared queue every round, has a host open each, commits the first host
//! to acknowledge, and sends groups whose host does not answer elsewhere.

use super::formation::{self, Candidate};
use super::hosting::{Former, HOST_ACK_TIMEOUT, MAX_HOST_ATTEMPTS};
use super::store::{QueueStore, StoreError, Ticket, TicketPlayer};
use super::{ClaimedTicket, Inner, MatchmakingMessage, ModeConfig, ROUND_LIMIT};
use crate::bus::Topic;
use crate::clock::unix_ms;
use skirmish_shared::proto::{MatchId, NodeId, TicketId};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

/// A host's acknowledgement, passed from the bus to the forming loop.
#[derive(Clone, Debug)]
pub(super) struct Ack {
    pub(super) match_id: MatchId,
    pub(super) host: NodeId,
    /// The host's `formed` count with the match, or `None` when the host
    /// declined it.
    pub(super) formed: Option<u64>,
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

impl Inner {
    /// The forming loop: while this node holds the lease, form matches every
    /// round and have each hosted; commit hosts as they acknowledge, and send
    /// groups whose host does not answer elsewhere (also after losing the
    /// lease: a claimed group is this former's to place).
    pub(super) async fn run_former(
        self: Arc<Self>,
        mut acks: mpsc::UnboundedReceiver<Ack>,
        mut shutdown: watch::Receiver<bool>,
        guard: mpsc::Sender<()>,
    ) {
        let mut every = tokio::time::interval(self.config.round_interval());
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let heartbeat = self.heartbeat;
        let mut former = Former::new(heartbeat);
        let mut leading = false;
        loop {
            tokio::select! {
                // Answers first: a round must not count a group overdue whose
                // acknowledgement is already here.
                biased;
                Some(ack) = acks.recv() => {
                    self.on_ack(&mut former, ack);
                    continue;
                }
                _ = shutdown.wait_for(|down| *down) => break,
                _ = every.tick() => {}
            }
            match self
                .store
                .lease(&self.node_id, self.config.lease_ttl())
                .await
            {
                Ok(held) => {
                    if held != leading {
                        info!(node = %&self.node_id, "{} forming matches", if held { "now" } else { "no longer" });
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
                    self.on_ack(&mut former, ack);
                }
                self.rehost_overdue(&mut former).await;
            }
            if !leading {
                continue;
            }
            for mode in self.config.modes.iter() {
                if let Err(e) = self.form_round(&mut former, mode).await {
                    debug!(error = %e, mode = %mode.id, "forming round failed");
                }
            }
        }
        if let Err(e) = self.store.release(&self.node_id).await {
            // Another node takes the lease over once it expires.
            warn!(error = %e, "could not give up the match-forming lease; it will expire");
        }
        drop(guard);
    }

    /// The nodes that may host, as the registry sees them; this node alone if
    /// the registry does not answer.
    pub(super) async fn live_nodes(&self) -> Vec<crate::registry::NodeInfo> {
        match self.registry.live().await {
            Ok(live) => live,
            Err(e) => {
                debug!(error = %e, "the registry did not answer; hosting here");
                vec![self.node_info()]
            }
        }
    }

    pub(super) async fn form_round(
        &self,
        former: &mut Former,
        mode: &ModeConfig,
    ) -> Result<(), StoreError> {
        let claimed = form_and_claim(self.store.as_ref(), mode, unix_ms()).await?;
        if claimed.is_empty() {
            return Ok(());
        }
        let live = self.live_nodes().await;
        let mut hosts = former.chooser(&live, Instant::now());
        for group in claimed {
            let players: Vec<TicketPlayer> = group
                .tickets
                .iter()
                .flat_map(|t| t.players.clone())
                .collect();
            let host = hosts
                .pick(&players, &[])
                .unwrap_or_else(|| self.node_id.clone());
            let match_id = MatchId(rand::random());
            metrics::counter!("skirmish_matches_formed_total").increment(1);
            let msg = MatchmakingMessage::HostMatch {
                match_id,
                mode: mode.id.clone(),
                former: self.node_id.clone(),
                tickets: group.tickets.iter().map(ClaimedTicket::from).collect(),
                bots: group.bots as u8,
            };
            self.dispatch(former, match_id, &host, msg, players);
        }
        Ok(())
    }

    /// Sends a group to a host (handling it here if the host is this node, which
    /// acknowledges at once).
    pub(super) fn dispatch(
        &self,
        former: &mut Former,
        match_id: MatchId,
        host: &NodeId,
        msg: MatchmakingMessage,
        players: Vec<TicketPlayer>,
    ) {
        former.dispatched(match_id, host, msg.clone(), players, Instant::now());
        if host == &self.node_id {
            if let Some(answer) = self.host_match(msg) {
                let host = self.node_id.clone();
                self.on_ack(
                    former,
                    Ack {
                        match_id,
                        host,
                        formed: answer.formed(),
                    },
                );
            }
        } else {
            self.bus.send(&Topic::Node(host.to_owned()), &msg);
        }
    }

    /// Commits the first host to acknowledge and aborts the others.
    pub(super) fn on_ack(&self, former: &mut Former, ack: Ack) {
        let Some(formed) = ack.formed else {
            former.declined(ack.match_id, &ack.host, Instant::now(), HOST_ACK_TIMEOUT);
            return;
        };
        let outcome = former.acked(ack.match_id, &ack.host, formed, Instant::now());
        if let Some(host) = outcome.commit {
            self.send_to_node(
                &host,
                MatchmakingMessage::HostCommit {
                    match_id: ack.match_id,
                },
            );
        }
        for host in outcome.abort {
            self.send_to_node(
                &host,
                MatchmakingMessage::HostAbort {
                    match_id: ack.match_id,
                },
            );
        }
    }

    /// Sends each group whose host has not acknowledged in time to the next
    /// candidate.
    pub(super) async fn rehost_overdue(&self, former: &mut Former) {
        let late = former.overdue(Instant::now(), HOST_ACK_TIMEOUT);
        if late.is_empty() {
            return;
        }
        let live = self.live_nodes().await;
        let mut hosts = former.chooser(&live, Instant::now());
        for group in late {
            let next = if group.tried.len() >= MAX_HOST_ATTEMPTS {
                None
            } else {
                hosts.pick(&group.players, &group.tried).or_else(|| {
                    (!group.tried.iter().any(|t| t == &self.node_id)).then(|| self.node_id.clone())
                })
            };
            let Some(next) = next else {
                warn!(match_id = %group.match_id, tried = ?group.tried, "no host acknowledged a formed match; its players will queue again");
                former.give_up(group.match_id);
                continue;
            };
            warn!(match_id = %group.match_id, from = ?group.tried.last(), to = %next, "a host did not acknowledge a formed match; hosting it elsewhere");
            metrics::counter!("skirmish_matches_rehosted_total").increment(1);
            self.rehosted.fetch_add(1, Ordering::Relaxed);
            self.dispatch(former, group.match_id, &next, group.msg, group.players);
        }
    }
}
