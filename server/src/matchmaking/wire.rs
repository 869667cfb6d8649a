//! Matchmaking's node-to-node messages, each on the receiving node's own
//! topic: hosting a formed match, telling players, parties (ARCHITECTURE.md
//! lists them). The bus carries them opaque ([`crate::bus::Message`]).

use super::{Ticket, TicketPlayer};
use crate::bus::Message;
use serde::{Deserialize, Serialize};
use skirmish_shared::proto::{MatchId, PlayerId};
use skirmish_shared::proto::{ModeId, NodeId, PartyId, TicketId};

/// What one node's matchmaking tells another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchmakingMessage {
    /// To a host, from the match former: open this formed match (its
    /// tickets are claimed) with its seats reserved, and acknowledge with
    /// `HostAck`. Players are told only once the former commits.
    HostMatch {
        /// The match.
        match_id: MatchId,
        /// Its mode.
        mode: ModeId,
        /// The node that formed it, to acknowledge to.
        former: NodeId,
        /// The claimed tickets, each with its players and owning node.
        tickets: Vec<ClaimedTicket>,
        /// Server bots to add.
        bots: u8,
    },
    /// To the former: the host has opened the match.
    HostAck {
        /// The match.
        match_id: MatchId,
        /// The host.
        host: NodeId,
        /// The host's count of formed matches with this one, for the
        /// former's load accounting (see `NodeInfo::formed`).
        formed: u64,
    },
    /// To a host, from the former: this host is the one (the first to
    /// acknowledge); tell the players.
    HostCommit {
        /// The match.
        match_id: MatchId,
    },
    /// To a host, from the former: another host took the match (this one
    /// acknowledged too late); close it.
    HostAbort {
        /// The match.
        match_id: MatchId,
    },
    /// To a ticket's owning node, from the host: the ticket's match is
    /// ready. The owner tells the players, or, if it no longer owns the
    /// ticket (cancelled, or found already), answers `SeatRelease`.
    MatchFound {
        /// The ticket.
        ticket_id: TicketId,
        /// The match.
        match_id: MatchId,
        /// The host's id.
        host_node: NodeId,
        /// The host's public URL.
        host_url: String,
        /// Each player's join ticket.
        joins: Vec<(PlayerId, String)>,
    },
    /// To a host, from an owner: these players will not come; free their
    /// seats (a match left with no one to wait for starts now).
    SeatRelease {
        /// The match.
        match_id: MatchId,
        /// Who.
        players: Vec<PlayerId>,
    },
    /// To a player's node: pass this encoded protocol message on.
    Tell {
        /// Who.
        player_id: PlayerId,
        /// An encoded [`skirmish_shared::proto::ServerMsg`].
        msg: Vec<u8>,
    },
    /// To an invitee's node: an invitation to a party.
    PartyInvite {
        /// The party.
        party_id: PartyId,
        /// Where the party is led.
        leader_node: NodeId,
        /// Who invites.
        from: PlayerId,
        /// Their display name.
        name: String,
        /// Who is invited.
        to: PlayerId,
    },
    /// To the leader's node: an invitee accepts.
    PartyJoin {
        /// The party.
        party_id: PartyId,
        /// Who joins, and their node.
        player: TicketPlayer,
    },
    /// To a member's node: the party as it is now (no members: gone).
    PartyUpdate {
        /// The party.
        party_id: PartyId,
        /// Where the party is led.
        leader_node: NodeId,
        /// Its leader.
        leader: PlayerId,
        /// Everyone in it.
        members: Vec<TicketPlayer>,
        /// The member told.
        to: PlayerId,
    },
    /// To the leader's node: a member leaves (or disconnected).
    PartyLeave {
        /// The party.
        party_id: PartyId,
        /// Who.
        player_id: PlayerId,
    },
    /// To the former: the host runs its maximum number of matches and did
    /// not open this one; another node should host it.
    HostDecline {
        /// The match.
        match_id: MatchId,
        /// The host that declined.
        host: NodeId,
    },
}

/// A claimed ticket as a host receives it: what hosting needs, apart from
/// the [`Ticket`] stored in the queue (which may change without a new
/// message version).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedTicket {
    /// The ticket's id.
    pub id: TicketId,
    /// Its players, each with the node their connection is on.
    pub players: Vec<TicketPlayer>,
    /// The party's mean rating, for balancing teams.
    pub rating: i32,
    /// The node that owns it, which tells its players of the match.
    pub node: NodeId,
}

impl From<&Ticket> for ClaimedTicket {
    fn from(ticket: &Ticket) -> Self {
        ClaimedTicket {
            id: ticket.id.clone(),
            players: ticket.players.clone(),
            rating: ticket.rating,
            node: ticket.node.clone(),
        }
    }
}

impl Message for MatchmakingMessage {
    const AREA: &'static str = "matchmaking";
    const VERSION: u16 = 1;
}
