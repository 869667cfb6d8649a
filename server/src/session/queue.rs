//! A session's matchmaking messages: queueing (alone or for a party),
//! cancelling, and party invitations.

use super::{Flow, Session};
use crate::matchmaking::{QueueError, TicketPlayer};
use crate::sessions::SessionEvent;
use skirmish_shared::proto::ModeId;
use skirmish_shared::proto::{ErrorCode, PlayerId, ServerMsg};
use skirmish_shared::rating::INITIAL_RATING;
use std::sync::Arc;

impl Session {
    /// This player as a ticket or party member.
    pub(super) fn ticket_player(&self) -> TicketPlayer {
        TicketPlayer {
            player_id: self.link.player_id,
            name: self.link.name.clone(),
            node: self.node.node_id.clone(),
        }
    }

    /// Queues this player, or the party they lead, for a mode.
    pub(super) fn queue(&mut self, mode: ModeId) -> Flow {
        if self.joining || self.current().is_some() {
            return self.refuse(ErrorCode::AlreadyInMatch, "already in a match".into());
        }
        let mm = &self.node.matchmaking;
        let Some(config) = mm.config().mode(&mode) else {
            return self.refuse(ErrorCode::UnknownMode, format!("no mode named `{mode}`"));
        };
        // A team mode's party plays on one team, so it must fit one.
        let team_size = config.teams.map_or(config.max_players, |teams| {
            config.max_players / usize::from(teams)
        });
        let me = self.ticket_player();
        let players = match (
            mm.parties().led_by(me.player_id),
            mm.parties().of(me.player_id),
        ) {
            (Some(party), _) => party.members,
            (None, Some(_)) => {
                return self.refuse(
                    ErrorCode::PartyRefused,
                    "only the party leader can queue".into(),
                );
            }
            (None, None) => vec![me],
        };
        if players.len() > team_size {
            return self.refuse(
                ErrorCode::PartyRefused,
                format!(
                    "a party of {} does not fit in `{mode}`, where a side has {team_size}",
                    players.len()
                ),
            );
        }
        let node = Arc::clone(&self.node);
        let refusals = self.refusals();
        tokio::spawn(async move {
            let ids: Vec<PlayerId> = players.iter().map(|p| p.player_id).collect();
            let ratings = node
                .leaderboards
                .ratings(&ids)
                .await
                .unwrap_or_else(|_| vec![None; ids.len()]);
            let sum: i64 = ratings
                .iter()
                .map(|r| i64::from(r.unwrap_or(INITIAL_RATING)))
                .sum();
            let rating = (sum / ids.len().max(1) as i64) as i32;
            match node.matchmaking.enqueue(&mode, players, rating).await {
                Ok(ticket) => {
                    let searching = node.matchmaking.store().searching(&mode).await.unwrap_or(0);
                    // The match may have been found already (a fast round);
                    // then a late "still queued" would only confuse.
                    if node
                        .matchmaking
                        .ticket_of(ticket.players[0].player_id)
                        .is_none()
                    {
                        return;
                    }
                    for p in &ticket.players {
                        let update = ServerMsg::QueueUpdate {
                            mode: mode.clone(),
                            waited_ms: 0,
                            searching,
                        };
                        node.matchmaking.tell(&p.node, p.player_id, update);
                    }
                }
                // The cancel that crossed it has answered already.
                Err(QueueError::Withdrawn) => {}
                Err(e) => {
                    let code = match e {
                        QueueError::UnknownMode(_) => ErrorCode::UnknownMode,
                        QueueError::AlreadyQueued(_) => ErrorCode::AlreadyQueued,
                        QueueError::Unavailable(_) | QueueError::Withdrawn => {
                            ErrorCode::Unavailable
                        }
                    };
                    // The session may be gone; then no one needs telling.
                    let _ = refusals.send(SessionEvent::Refused(code, e.to_string()));
                }
            }
        });
        Flow::Continue
    }

    /// Takes this player's ticket (their party's, if they lead one) out, at
    /// once: after `queue_left` no `match_found` for it follows (a ticket
    /// already claimed for a match gives its seat up).
    pub(super) fn cancel_queue(&mut self) -> Flow {
        match self.node.matchmaking.cancel(self.link.player_id) {
            Some(ticket) => {
                self.node.matchmaking.tell_left(&ticket, "cancelled", None);
                Flow::Continue
            }
            None => self.refuse(
                ErrorCode::NotQueued,
                "not queued (a party member leaves the party instead; after match_found, just do not join)"
                    .into(),
            ),
        }
    }
}
