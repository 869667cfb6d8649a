//! Parties: up to four players who queue together, formed in the lobby by
//! invitation. A party lives on its leader's node, which decides every
//! change and tells each member's node; those nodes remember which party
//! their players are in, so a member who disconnects leaves it.

use super::TicketPlayer;
use skirmish_shared::proto::{MemberView, PlayerId};
use skirmish_shared::proto::{NodeId, PartyId};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Players in a party, the leader included.
pub const MAX_PARTY: usize = 4;

/// A party led from this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Party {
    /// Its id.
    pub id: PartyId,
    /// Members in joining order; the first is the leader.
    pub members: Vec<TicketPlayer>,
    /// Players invited and not yet in.
    pub invited: HashSet<PlayerId>,
}

impl Party {
    /// The leader.
    pub fn leader(&self) -> &TicketPlayer {
        &self.members[0]
    }

    /// The members as clients see them.
    pub fn views(&self) -> Vec<MemberView> {
        self.members
            .iter()
            .map(|m| MemberView {
                player_id: m.player_id,
                name: m.name.clone(),
            })
            .collect()
    }
}

/// Why a party change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PartyError {
    /// The party has [`MAX_PARTY`] members (with the invited counted).
    #[error("the party is full")]
    Full,
    /// Only the leader invites and queues.
    #[error("only the party leader can do that")]
    NotLeader,
    /// The player is in another party already.
    #[error("already in a party")]
    InAnotherParty,
    /// No such party, or no invitation to it.
    #[error("no such party invitation")]
    NoInvitation,
}

/// Parties led from this node, and which party each player of this node is
/// in (wherever it is led).
#[derive(Debug, Default)]
pub struct Parties {
    led: Mutex<HashMap<PartyId, Party>>,
    /// This node's players: party id and the node leading it.
    member_of: Mutex<HashMap<PlayerId, (PartyId, NodeId)>>,
    /// Invitations delivered to this node's players: (player, party) to the
    /// node leading the party.
    invitations: Mutex<HashMap<(PlayerId, PartyId), NodeId>>,
}

impl Parties {
    fn led(&self) -> std::sync::MutexGuard<'_, HashMap<PartyId, Party>> {
        self.led
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn member_of(&self) -> std::sync::MutexGuard<'_, HashMap<PlayerId, (PartyId, NodeId)>> {
        self.member_of
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The party a player of this node is in: its id and leading node.
    pub fn of(&self, player_id: PlayerId) -> Option<(PartyId, NodeId)> {
        self.member_of().get(&player_id).cloned()
    }

    /// Records (or clears, with `None`) a local player's party.
    pub fn set_membership(&self, player_id: PlayerId, party: Option<(PartyId, NodeId)>) {
        match party {
            Some(p) => self.member_of().insert(player_id, p),
            None => self.member_of().remove(&player_id),
        };
    }

    /// Remembers an invitation delivered to a player of this node.
    pub fn remember_invitation(
        &self,
        player_id: PlayerId,
        party_id: &PartyId,
        leader_node: &NodeId,
    ) {
        let mut invitations = self
            .invitations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        invitations.insert((player_id, party_id.to_owned()), leader_node.to_owned());
    }

    /// Takes an invitation the player received, returning the leading node.
    pub fn take_invitation(&self, player_id: PlayerId, party_id: &PartyId) -> Option<NodeId> {
        let mut invitations = self
            .invitations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        invitations.remove(&(player_id, party_id.to_owned()))
    }

    /// Forgets everything about a player who disconnected from this node.
    pub fn forget(&self, player_id: PlayerId) {
        let mut invitations = self
            .invitations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        invitations.retain(|(p, _), _| *p != player_id);
    }

    /// The party a player leads from here.
    pub fn led_by(&self, player_id: PlayerId) -> Option<Party> {
        self.led()
            .values()
            .find(|p| p.leader().player_id == player_id)
            .cloned()
    }

    /// A party led from here, by id.
    pub fn get(&self, party_id: &PartyId) -> Option<Party> {
        self.led().get(party_id).cloned()
    }

    /// The party `leader` leads from here, created if needed, with `invitee`
    /// invited.
    pub fn invite(&self, leader: &TicketPlayer, invitee: PlayerId) -> Result<Party, PartyError> {
        let led_id = self
            .led()
            .iter()
            .find(|(_, p)| p.leader().player_id == leader.player_id)
            .map(|(id, _)| id.clone());
        if led_id.is_none() && self.of(leader.player_id).is_some() {
            return Err(PartyError::NotLeader);
        }
        let mut led = self.led();
        let party = match led_id {
            Some(id) => led.get_mut(&id).ok_or(PartyError::NoInvitation)?,
            None => {
                let id = PartyId::from(format!("{:016x}", rand::random::<u64>()));
                let party = Party {
                    id: id.clone(),
                    members: vec![leader.clone()],
                    invited: HashSet::new(),
                };
                led.entry(id).or_insert(party)
            }
        };
        if party.members.iter().any(|m| m.player_id == invitee) {
            return Err(PartyError::InAnotherParty);
        }
        if party.members.len() + party.invited.len() >= MAX_PARTY
            && !party.invited.contains(&invitee)
        {
            return Err(PartyError::Full);
        }
        party.invited.insert(invitee);
        Ok(party.clone())
    }

    /// Takes an invited player in.
    pub fn join(&self, party_id: &PartyId, player: TicketPlayer) -> Result<Party, PartyError> {
        let mut led = self.led();
        let party = led.get_mut(party_id).ok_or(PartyError::NoInvitation)?;
        if !party.invited.remove(&player.player_id) {
            return Err(PartyError::NoInvitation);
        }
        if party.members.len() >= MAX_PARTY {
            return Err(PartyError::Full);
        }
        party.members.push(player);
        Ok(party.clone())
    }

    /// Takes a member out. Returns the party as it is left (`None` when the
    /// leader left, which disbands it) and the members to tell (everyone
    /// who was in it).
    pub fn leave(
        &self,
        party_id: &PartyId,
        player_id: PlayerId,
    ) -> Option<(Option<Party>, Vec<TicketPlayer>)> {
        let mut led = self.led();
        let party = led.get_mut(party_id)?;
        let everyone = party.members.clone();
        if party.leader().player_id == player_id {
            led.remove(party_id);
            return Some((None, everyone));
        }
        party.members.retain(|m| m.player_id != player_id);
        Some((Some(party.clone()), everyone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn player(id: u64) -> TicketPlayer {
        TicketPlayer {
            player_id: PlayerId(id),
            name: format!("p{id}"),
            node: "n".into(),
        }
    }

    #[test]
    fn a_party_forms_by_invitation_up_to_four() {
        let parties = Parties::default();
        let party = parties.invite(&player(1), PlayerId(2)).expect("created");
        assert_eq!(
            parties.join(&party.id, player(3)),
            Err(PartyError::NoInvitation),
            "not invited"
        );
        parties.join(&party.id, player(2)).expect("joined");
        parties.invite(&player(1), PlayerId(3)).expect("invited");
        parties.invite(&player(1), PlayerId(4)).expect("invited");
        assert_eq!(
            parties.invite(&player(1), PlayerId(5)),
            Err(PartyError::Full)
        );
        parties.join(&party.id, player(3)).expect("joined");
        let full = parties.join(&party.id, player(4)).expect("joined");
        assert_eq!(full.members.len(), 4);
        assert_eq!(full.leader().player_id, PlayerId(1));
    }

    /// Regression: the leader left only once nobody else was in the party,
    /// so "disbands" was never told apart from "the last one out".
    #[test]
    fn the_leader_leaving_disbands_and_a_member_leaving_does_not() {
        let parties = Parties::default();
        let party = parties.invite(&player(1), PlayerId(2)).expect("created");
        parties.join(&party.id, player(2)).expect("joined");
        parties.invite(&player(1), PlayerId(3)).expect("invited");
        parties.join(&party.id, player(3)).expect("joined");
        parties.invite(&player(1), PlayerId(4)).expect("invited");
        parties.join(&party.id, player(4)).expect("joined");

        // A member leaves: the others stay, with the same leader.
        let (left, told) = parties.leave(&party.id, PlayerId(2)).expect("left");
        let left = left.expect("the party goes on");
        let ids = |ps: &[TicketPlayer]| ps.iter().map(|p| p.player_id.0).collect::<Vec<_>>();
        assert_eq!(ids(&left.members), [1, 3, 4]);
        assert_eq!(left.leader().player_id, PlayerId(1));
        assert_eq!(ids(&told), [1, 2, 3, 4], "everyone who was in it is told");

        // The leader leaves with two members still in: the party is gone,
        // and both of them are told.
        let (left, told) = parties.leave(&party.id, PlayerId(1)).expect("left");
        assert_eq!(left, None, "disbanded, not handed to a member");
        assert_eq!(ids(&told), [1, 3, 4]);
        assert!(parties.get(&party.id).is_none());
        assert!(
            parties.led_by(PlayerId(3)).is_none(),
            "no member leads it now"
        );
        assert_eq!(parties.leave(&party.id, PlayerId(3)), None);
    }

    #[test]
    fn a_member_cannot_lead_another_party() {
        let parties = Parties::default();
        parties.set_membership(PlayerId(2), Some(("x".into(), "n".into())));
        assert_eq!(
            parties.invite(&player(2), PlayerId(3)),
            Err(PartyError::NotLeader)
        );
    }
}
