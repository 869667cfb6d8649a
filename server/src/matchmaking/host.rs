//! On the host: opening a formed match with its seats held, committing it
//! (join tickets, `MatchFound` to each ticket's owner) or closing it; and on
//! a ticket's owner, telling the players their match was found.

use super::{ClaimedTicket, Inner, MatchmakingMessage, locked, teams};
use crate::bus::Topic;
use crate::clock::unix_ms;
use crate::matches::HostOutcome;
use crate::runner::Reservation;
use crate::sessions::SessionEvent;
use skirmish_shared::proto::{MatchId, ServerMsg};
use std::sync::atomic::Ordering;
use std::time::Instant;
use tracing::{debug, info, warn};

/// A formed match this node opened whose former has not committed it yet.
#[derive(Clone, Debug)]
pub(super) struct Hosted {
    tickets: Vec<ClaimedTicket>,
    /// When its seats' join tickets expire.
    expires_at_ms: u64,
    /// When it was opened, to forget a commit that never comes.
    pub(super) at: Instant,
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
    pub(super) fn formed(self) -> Option<u64> {
        match self {
            HostAnswer::Opened(formed) => Some(formed),
            HostAnswer::Declined => None,
        }
    }
}

impl Inner {
    /// On the host: opens the match with its seats held and acknowledges to the
    /// former, or declines it when this node runs its maximum number of
    /// matches; the players are told once the former commits. `None` for
    /// another message.
    pub(super) fn host_match(&self, msg: MatchmakingMessage) -> Option<HostAnswer> {
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
        let window = self.config.join_window();
        let mode_config = self.config.mode(&mode);
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
        let formed = match self
            .matches
            .host(match_id, game, reservations, bots, window)
        {
            HostOutcome::Opened => {
                locked(&self.hosted).insert(
                    match_id,
                    Hosted {
                        tickets,
                        expires_at_ms: unix_ms() + window.as_millis() as u64,
                        at: Instant::now(),
                    },
                );
                info!(%match_id, %mode, players = n_players, bots, "hosting a formed match");
                self.formed.fetch_add(1, Ordering::Relaxed) + 1
            }
            // Asked again (our acknowledgement was late or lost).
            HostOutcome::AlreadyHosting => self.formed.load(Ordering::Relaxed),
            // The former gives the group to another node at once.
            HostOutcome::AtCapacity => {
                warn!(%match_id, %mode, "at the maximum number of matches; declining a formed match");
                if former != self.node_id {
                    self.bus.send(
                        &Topic::Node(former),
                        &MatchmakingMessage::HostDecline {
                            match_id,
                            host: self.node_id.clone(),
                        },
                    );
                }
                return Some(HostAnswer::Declined);
            }
        };
        if former != self.node_id {
            self.bus.send(
                &Topic::Node(former),
                &MatchmakingMessage::HostAck {
                    match_id,
                    host: self.node_id.clone(),
                    formed,
                },
            );
        }
        Some(HostAnswer::Opened(formed))
    }

    /// On the host, once the former commits: one join ticket per player, and a
    /// `MatchFound` to each ticket's owner.
    pub(super) fn host_commit(&self, match_id: MatchId) {
        let Some(hosted) = locked(&self.hosted).remove(&match_id) else {
            return;
        };
        for ticket in hosted.tickets {
            let joins = ticket
                .players
                .iter()
                .map(|p| {
                    let join = self
                        .joins
                        .issue(p.player_id, match_id, hosted.expires_at_ms);
                    (p.player_id, join)
                })
                .collect();
            let found = MatchmakingMessage::MatchFound {
                ticket_id: ticket.id.clone(),
                match_id,
                host_node: self.node_id.clone(),
                host_url: self.public_url.clone(),
                joins,
            };
            self.send_to_node(&ticket.node, found);
        }
    }

    /// On the host, when another host took the match: close it.
    pub(super) fn host_abort(&self, match_id: MatchId) {
        let Some(hosted) = locked(&self.hosted).remove(&match_id) else {
            return;
        };
        info!(%match_id, "another node hosts this formed match; closing it");
        let players = hosted
            .tickets
            .iter()
            .flat_map(|t| t.players.iter().map(|p| p.player_id))
            .collect();
        self.matches.release(match_id, players);
    }

    /// On a ticket's owner: forget the ticket and tell its players, or, if this
    /// node no longer owns it (cancelled, or its match found already), give
    /// their seats back.
    pub(super) fn match_found(&self, msg: MatchmakingMessage) {
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
        let Some(ticket) = self.take_found(&ticket_id) else {
            debug!(%match_id, ticket = %ticket_id, "a match for a ticket this node no longer owns; freeing its seats");
            metrics::counter!("skirmish_seats_released_total").increment(joins.len() as u64);
            let release = MatchmakingMessage::SeatRelease {
                match_id,
                players: joins.into_iter().map(|(p, _)| p).collect(),
            };
            self.send_to_node(&host_node, release);
            return;
        };
        metrics::histogram!("skirmish_time_to_match_seconds", "mode" => ticket.mode.to_string())
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
            if player.node == self.node_id {
                self.sessions
                    .deliver(player_id, SessionEvent::MatchFound(found));
            } else {
                self.tell(&player.node, player_id, found);
            }
        }
    }
}
