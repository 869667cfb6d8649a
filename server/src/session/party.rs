//! A session's party messages: inviting (answered by the invitee's node,
//! wherever it is), accepting and leaving.

use super::{Flow, Session};
use crate::matchmaking::InviteError;
use crate::sessions::SessionEvent;
use skirmish_shared::proto::{ErrorCode, PartyId, PlayerId};
use std::sync::Arc;

impl Session {
    /// Invites a player to this player's party.
    pub(super) fn party_invite(&mut self, invitee: PlayerId) -> Flow {
        if invitee == self.link.player_id {
            return self.refuse(
                ErrorCode::PartyRefused,
                "you are in your own party already".into(),
            );
        }
        let node = Arc::clone(&self.node);
        let me = self.ticket_player();
        let refusals = self.refusals();
        tokio::spawn(async move {
            if let Err(e) = node.matchmaking.invite(me, invitee).await {
                let code = match e {
                    InviteError::Offline => ErrorCode::PlayerOffline,
                    InviteError::Party(_) => ErrorCode::PartyRefused,
                };
                let _ = refusals.send(SessionEvent::Refused(code, e.to_string()));
            }
        });
        Flow::Continue
    }

    /// Accepts an invitation received here.
    pub(super) fn party_accept(&mut self, party_id: &PartyId) -> Flow {
        let me = self.ticket_player();
        match self.node.matchmaking.accept(me, party_id) {
            Ok(()) => Flow::Continue,
            Err(e) => self.refuse(ErrorCode::PartyRefused, e.to_string()),
        }
    }

    /// Leaves the party (the leader leaving disbands it).
    pub(super) fn party_leave(&mut self) -> Flow {
        if self.node.matchmaking.leave_party(self.link.player_id) {
            Flow::Continue
        } else {
            self.refuse(ErrorCode::PartyRefused, "not in a party".into())
        }
    }
}
