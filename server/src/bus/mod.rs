//! The node-to-node bus: what one node tells the others (chat lines,
//! presence changes, typing), as versioned postcard envelopes on named
//! topics.
//!
//! One trait, two implementations: [`LocalBus`] delivers within the process
//! (the single-node default, and several in-process nodes sharing one
//! [`LocalHub`]); [`RedisBus`] uses Redis Pub/Sub. Delivery is at most once
//! and unordered across topics, like Pub/Sub itself: anything that must not
//! be lost (chat history, leaderboards) is stored before it is announced.
//!
//! Postcard, not bincode: bincode 3.0.0 is an empty tombstone release and
//! RUSTSEC-2025-0141 marks every bincode version unmaintained.

mod local;
mod redis;

pub use local::{LocalBus, LocalHub};
pub use redis::RedisBus;

use crate::matchmaking::{Ticket, TicketPlayer};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use skirmish_shared::proto::{ChatView, MatchId, PlayerId};

/// The envelope format version; a node drops envelopes of other versions
/// (and says so in its log) rather than misreading them.
pub const ENVELOPE_VERSION: u16 = 2;

/// Where a message is published.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Everything about one chat room: lines, presence, typing.
    Room(String),
    /// Messages for one node only.
    Node(String),
}

impl Topic {
    /// The channel name under a key prefix.
    pub fn channel(&self, prefix: &str) -> String {
        match self {
            Topic::Room(room) => format!("{prefix}:room:{room}"),
            Topic::Node(node) => format!("{prefix}:node:{node}"),
        }
    }

    /// The topic of a channel name, if it is one of ours.
    pub fn from_channel(prefix: &str, channel: &str) -> Option<Topic> {
        let rest = channel.strip_prefix(prefix)?.strip_prefix(':')?;
        if let Some(room) = rest.strip_prefix("room:") {
            Some(Topic::Room(room.to_owned()))
        } else {
            rest.strip_prefix("node:")
                .map(|node| Topic::Node(node.to_owned()))
        }
    }
}

/// What nodes tell each other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BusMessage {
    /// A line was posted in a room (and is already in its history); the
    /// same structure clients receive.
    Chat(ChatView),
    /// A player joined or left a room.
    Presence {
        /// The room.
        room: String,
        /// Who.
        player_id: PlayerId,
        /// Their display name.
        name: String,
        /// The node they are connected to.
        node: String,
        /// Joined (true) or left (false).
        joined: bool,
    },
    /// A player is typing in a room.
    Typing {
        /// The room.
        room: String,
        /// Who.
        player_id: PlayerId,
        /// Their display name.
        name: String,
    },
    /// To a host, from the match former: open this formed match (its
    /// tickets are claimed) with its seats reserved, and acknowledge with
    /// `HostAck`. Players are told only once the former commits.
    HostMatch {
        /// The match.
        match_id: MatchId,
        /// Its mode.
        mode: String,
        /// The node that formed it, to acknowledge to.
        former: String,
        /// The claimed tickets, each with its players and owning node.
        tickets: Vec<Ticket>,
        /// Server bots to add.
        bots: u8,
    },
    /// To the former: the host has opened the match.
    HostAck {
        /// The match.
        match_id: MatchId,
        /// The host.
        host: String,
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
        ticket_id: String,
        /// The match.
        match_id: MatchId,
        /// The host's id.
        host_node: String,
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
        party_id: String,
        /// Where the party is led.
        leader_node: String,
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
        party_id: String,
        /// Who joins, and their node.
        player: TicketPlayer,
    },
    /// To a member's node: the party as it is now (no members: gone).
    PartyUpdate {
        /// The party.
        party_id: String,
        /// Where the party is led.
        leader_node: String,
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
        party_id: String,
        /// Who.
        player_id: PlayerId,
    },
    /// To the former: the host runs its maximum number of matches and did
    /// not open this one; another node should host it.
    HostDecline {
        /// The match.
        match_id: MatchId,
        /// The host that declined.
        host: String,
    },
}

/// A message with its version and sender.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// [`ENVELOPE_VERSION`] when sent by this build.
    pub version: u16,
    /// The sending node's id.
    pub from: String,
    /// The message.
    pub msg: BusMessage,
}

/// A message received on a topic this node subscribed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The topic it came on.
    pub topic: Topic,
    /// What came.
    pub envelope: Envelope,
}

/// Why an envelope could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Sent by a build with another envelope format.
    #[error("envelope version {0} is not {ENVELOPE_VERSION}")]
    Version(u16),
    /// Not a postcard envelope.
    #[error("undecodable envelope: {0}")]
    Decode(#[from] postcard::Error),
}

impl Envelope {
    /// Encodes with postcard.
    pub fn encode(&self) -> Vec<u8> {
        // Postcard serialises these plain types into a Vec infallibly.
        postcard::to_stdvec(self).expect("envelopes always encode")
    }

    /// Decodes, checking the version before the body so a newer format is
    /// reported as such rather than as garbage.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        let (version, _) = postcard::take_from_bytes::<u16>(bytes)?;
        if version != ENVELOPE_VERSION {
            return Err(EnvelopeError::Version(version));
        }
        Ok(postcard::from_bytes(bytes)?)
    }
}

/// Why a subscription change failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Redis did not answer; the caller may retry.
    #[error("the bus is unavailable: {0}")]
    Unavailable(String),
}

/// Publishes to and subscribes on topics. Incoming deliveries arrive on the
/// receiver handed out when the bus was built.
pub trait Bus: Send + Sync + std::fmt::Debug {
    /// Publishes without waiting. Delivery is at most once; when the bus is
    /// down the message is dropped (and counted).
    fn publish(&self, topic: &Topic, msg: BusMessage);

    /// Starts receiving a topic (including this node's own publications).
    fn subscribe<'a>(&'a self, topic: &'a Topic) -> BoxFuture<'a, Result<(), BusError>>;

    /// Stops receiving a topic.
    fn unsubscribe<'a>(&'a self, topic: &'a Topic) -> BoxFuture<'a, Result<(), BusError>>;

    /// Whether deliveries can arrive now: `false` while a Redis bus's
    /// subscriber has lost its connection and is reconnecting (what is
    /// published meanwhile is lost to this node). An in-process bus is
    /// always connected.
    fn is_connected(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> Envelope {
        Envelope {
            version: ENVELOPE_VERSION,
            from: "node-a".into(),
            msg: BusMessage::Typing {
                room: "global".into(),
                player_id: PlayerId(7),
                name: "Ada".into(),
            },
        }
    }

    #[test]
    fn envelopes_round_trip_and_other_versions_are_named() {
        let e = envelope();
        assert_eq!(Envelope::decode(&e.encode()).expect("decodes"), e);
        let newer = Envelope {
            version: ENVELOPE_VERSION + 1,
            ..envelope()
        };
        assert!(matches!(
            Envelope::decode(&newer.encode()),
            Err(EnvelopeError::Version(v)) if v == ENVELOPE_VERSION + 1
        ));
        // This version, then garbage.
        let mut garbage = postcard::to_stdvec(&ENVELOPE_VERSION).expect("encodes");
        garbage.push(0xff);
        assert!(matches!(
            Envelope::decode(&garbage),
            Err(EnvelopeError::Decode(_))
        ));
    }

    #[test]
    fn channels_map_back_to_topics() {
        for topic in [Topic::Room("global".into()), Topic::Node("eu-1".into())] {
            assert_eq!(Topic::from_channel("sk", &topic.channel("sk")), Some(topic));
        }
        assert_eq!(Topic::from_channel("sk", "other:room:x"), None);
    }
}
