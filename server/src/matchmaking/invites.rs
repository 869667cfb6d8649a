//! Parties across nodes: invitations, joining, leaving, and telling every
//! member's node the party as it is. The party itself lives on its
//! leader's node ([`super::party::Parties`]).

use super::party;
use super::store::TicketPlayer;
use super::{Inner, MatchmakingMessage};
use skirmish_shared::proto::{NodeId, PartyId, PlayerId, ServerMsg};

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

impl Inner {
    /// On the leader's node: invites a player to the leader's party (made if
    /// needed) and tells them, wherever they are.
    pub(super) async fn invite(
        &self,
        leader: TicketPlayer,
        invitee: PlayerId,
    ) -> Result<(), InviteError> {
        let invitee_node = match self.store.locate(invitee).await {
            Ok(Some(found)) => found,
            Ok(None) => return Err(InviteError::Offline),
            Err(_) if self.sessions.is_here(invitee) => self.node_id.clone(),
            Err(_) => return Err(InviteError::Offline),
        };
        let party = self.parties.invite(&leader, invitee)?;
        self.broadcast_party(&party);
        let msg = MatchmakingMessage::PartyInvite {
            party_id: party.id.clone(),
            leader_node: self.node_id.clone(),
            from: leader.player_id,
            name: leader.name.clone(),
            to: invitee,
        };
        self.send_to_node(&invitee_node, msg);
        Ok(())
    }

    /// On the leader's node: takes an invited player in and tells everyone.
    pub(super) fn party_join(&self, party_id: &PartyId, player: TicketPlayer) {
        match self.parties.join(party_id, player.clone()) {
            Ok(party) => {
                // The newcomer's own ticket from this node (they may be
                // connected here too) goes: they queue with the party now.
                if let Some(ticket) = self.cancel(player.player_id) {
                    self.tell_left(&ticket, "joined_party", None);
                }
                // A queued party that changes leaves the queue.
                if let Some(ticket) = self.cancel(party.leader().player_id) {
                    self.tell_left(&ticket, "party_changed", None);
                }
                self.broadcast_party(&party);
            }
            Err(e) => {
                let refused = ServerMsg::Error {
                    code: skirmish_shared::proto::ErrorCode::PartyRefused,
                    message: e.to_string(),
                };
                self.tell(&player.node, player.player_id, refused);
            }
        }
    }

    /// On the leader's node: takes a member out (the leader leaving disbands
    /// the party), cancels its ticket, and tells everyone who was in it.
    pub(super) fn party_leave(&self, party_id: &PartyId, player_id: PlayerId) {
        let Some(party) = self.parties.get(party_id) else {
            return;
        };
        let leader = party.leader().player_id;
        let Some((left, everyone)) = self.parties.leave(party_id, player_id) else {
            return;
        };
        if let Some(ticket) = self.cancel(leader) {
            self.tell_left(&ticket, "party_changed", None);
        }
        for member in &everyone {
            let members = match &left {
                Some(party) if member.player_id != player_id => party.members.clone(),
                _ => Vec::new(),
            };
            let update = MatchmakingMessage::PartyUpdate {
                party_id: party_id.to_owned(),
                leader_node: self.node_id.clone(),
                leader,
                members,
                to: member.player_id,
            };
            self.send_to_node(&member.node, update);
        }
    }

    /// Tells every member's node the party as it is now.
    pub(super) fn broadcast_party(&self, party: &party::Party) {
        for member in &party.members {
            let update = MatchmakingMessage::PartyUpdate {
                party_id: party.id.clone(),
                leader_node: self.node_id.clone(),
                leader: party.leader().player_id,
                members: party.members.clone(),
                to: member.player_id,
            };
            self.send_to_node(&member.node, update);
        }
    }

    /// On a member's node: remembers the player's party and tells them.
    pub(super) fn apply_party_update(
        &self,
        party_id: PartyId,
        leader_node: NodeId,
        leader: PlayerId,
        members: Vec<TicketPlayer>,
        to: PlayerId,
    ) {
        let membership = (!members.is_empty()).then(|| (party_id.clone(), leader_node));
        self.parties.set_membership(to, membership);
        let members = members
            .iter()
            .map(|m| skirmish_shared::proto::MemberView {
                player_id: m.player_id,
                name: m.name.clone(),
            })
            .collect();
        self.sessions.send_to(
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
    pub(super) fn accept(
        &self,
        player: TicketPlayer,
        party_id: &PartyId,
    ) -> Result<(), party::PartyError> {
        if self.parties.of(player.player_id).is_some() {
            return Err(party::PartyError::InAnotherParty);
        }
        let leader_node = self
            .parties
            .take_invitation(player.player_id, party_id)
            .ok_or(party::PartyError::NoInvitation)?;
        if let Some(ticket) = self.cancel(player.player_id) {
            self.tell_left(&ticket, "joined_party", None);
        }
        self.send_to_node(
            &leader_node,
            MatchmakingMessage::PartyJoin {
                party_id: party_id.to_owned(),
                player,
            },
        );
        Ok(())
    }

    /// On a member's node: the player leaves their party (also on disconnect).
    pub(super) fn leave_party(&self, player_id: PlayerId) -> bool {
        let Some((party_id, leader_node)) = self.parties.of(player_id) else {
            return false;
        };
        self.parties.set_membership(player_id, None);
        self.send_to_node(
            &leader_node,
            MatchmakingMessage::PartyLeave {
                party_id,
                player_id,
            },
        );
        true
    }
}
