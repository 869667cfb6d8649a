//! The client <-> node wire protocol, version 4 (snapshots are quantised
//! deltas against the tick a client acknowledged, decoded with the schema
//! `joined` carries; a game's own data travels as one value in `input` and
//! `joined`): every message a browser or a bot exchanges with a node over a
//! WebSocket. `PROTOCOL.md` at the project
//! root documents the same messages for people writing clients.
//!
//! Every message is one MessagePack array in one binary frame; its first
//! element is the message type as a string and the remaining elements are the
//! fields in declaration order (serde's internally tagged enum, serialized
//! with `rmp_serde::to_vec`). See `codec.rs` for encoding and decoding.

use crate::game::GameData;
use crate::replication::Schema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// The protocol version this crate speaks; sent in [`ServerMsg::Welcome`].
pub const PROTOCOL_VERSION: u16 = 4;

/// `match_end`'s reason for a match that ended before its game did (everyone
/// left, the node shut down, nobody arrived); such matches are not recorded.
pub const ABANDONED: &str = "abandoned";

/// WebSocket close codes a node uses, besides the standard 1000 (normal),
/// 1001 (the node is shutting down) and 1009 (a frame over the size limit).
pub mod close {
    /// Nothing arrived from the client, not even a pong, for the idle timeout.
    pub const IDLE_TIMEOUT: u16 = 4000;
    /// Too many malformed or invalid messages in a short time.
    pub const TOO_MANY_ERRORS: u16 = 4001;
    /// The client kept sending faster than the rate limit.
    pub const RATE_LIMIT: u16 = 4002;
    /// The same player connected again; the newer connection wins.
    pub const REPLACED: u16 = 4003;
    /// The client did not read its messages fast enough and its reliable
    /// queue overflowed.
    pub const TOO_SLOW: u16 = 4004;
}

/// Why a node refused a message; sent as a snake_case string in
/// [`ServerMsg::Error`]. Clients switch on the code; the text is for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not a MessagePack array of a known shape, or trailing bytes.
    Malformed,
    /// A well-formed message whose type this node does not know.
    UnknownType,
    /// A number was NaN or infinite.
    NotFinite,
    /// A number was outside its documented range.
    OutOfRange,
    /// An input whose `seq` is not above the last one applied.
    StaleInput,
    /// Over the per-connection message rate; the message was dropped.
    RateLimited,
    /// `input` or `leave` while not in a match.
    NotInMatch,
    /// `play` while already in a match.
    AlreadyInMatch,
    /// A text frame; the protocol uses binary frames only.
    TextFrame,
    /// No match could take the player right now; try again later.
    NoMatchAvailable,
    /// A room name that is not 1 to 24 of `a-z`, `0-9`, `_`, `-`.
    InvalidRoom,
    /// A chat or typing message for a room the player has not joined.
    NotInRoom,
    /// Joining one room more than the per-player limit.
    TooManyRooms,
    /// Chat text that is empty, too long or holds control characters.
    InvalidText,
    /// Over the chat rate limit; the line was not posted.
    ChatRateLimited,
    /// A shared service (Redis) did not answer; try again shortly.
    Unavailable,
    /// A leaderboard name this node does not know.
    UnknownBoard,
    /// A leaderboard query with a bad period, cursor or limit.
    InvalidQuery,
    /// `queue` for a mode this node does not offer.
    UnknownMode,
    /// `queue` while already queued (or in a match).
    AlreadyQueued,
    /// `cancel_queue` while not queued.
    NotQueued,
    /// A join ticket that is not valid (forged, mangled, for someone else).
    InvalidTicket,
    /// A join ticket past its expiry.
    ExpiredTicket,
    /// A join ticket that was used already.
    TicketUsed,
    /// A join ticket for a match hosted on another node.
    WrongNode,
    /// A party invitation, acceptance or queue the party rules refuse
    /// (full, not the leader, already in a party, queued).
    PartyRefused,
    /// An invitation for a player who is not online.
    PlayerOffline,
}

impl ErrorCode {
    /// Every code, in the order `PROTOCOL.md` lists them.
    pub const ALL: [ErrorCode; 27] = [
        ErrorCode::Malformed,
        ErrorCode::UnknownType,
        ErrorCode::NotFinite,
        ErrorCode::OutOfRange,
        ErrorCode::StaleInput,
        ErrorCode::RateLimited,
        ErrorCode::NotInMatch,
        ErrorCode::AlreadyInMatch,
        ErrorCode::TextFrame,
        ErrorCode::NoMatchAvailable,
        ErrorCode::InvalidRoom,
        ErrorCode::NotInRoom,
        ErrorCode::TooManyRooms,
        ErrorCode::InvalidText,
        ErrorCode::ChatRateLimited,
        ErrorCode::Unavailable,
        ErrorCode::UnknownBoard,
        ErrorCode::InvalidQuery,
        ErrorCode::UnknownMode,
        ErrorCode::AlreadyQueued,
        ErrorCode::NotQueued,
        ErrorCode::InvalidTicket,
        ErrorCode::ExpiredTicket,
        ErrorCode::TicketUsed,
        ErrorCode::WrongNode,
        ErrorCode::PartyRefused,
        ErrorCode::PlayerOffline,
    ];

    /// Whether a refusal with this code counts as a strike against the
    /// connection (too many close it with [`close::TOO_MANY_ERRORS`]).
    ///
    /// A code counts when the message itself is wrong: no correct client
    /// sends it, whatever the timing. A code does not count when a correct
    /// client can get it because state changed under it (a match ending as
    /// it sends `leave`, a ticket found as it cancels, an invitee logging
    /// off, two party members acting at once), or because of a limit or a
    /// shared service rather than the message.
    pub fn is_strike(self) -> bool {
        match self {
            ErrorCode::Malformed
            | ErrorCode::UnknownType
            | ErrorCode::NotFinite
            | ErrorCode::OutOfRange
            | ErrorCode::StaleInput
            | ErrorCode::TextFrame
            | ErrorCode::InvalidRoom
            | ErrorCode::NotInRoom
            | ErrorCode::TooManyRooms
            | ErrorCode::InvalidText
            | ErrorCode::UnknownBoard
            | ErrorCode::InvalidQuery
            | ErrorCode::UnknownMode
            | ErrorCode::InvalidTicket
            | ErrorCode::WrongNode => true,
            ErrorCode::RateLimited
            | ErrorCode::ChatRateLimited
            | ErrorCode::NoMatchAvailable
            | ErrorCode::Unavailable
            | ErrorCode::NotInMatch
            | ErrorCode::AlreadyInMatch
            | ErrorCode::AlreadyQueued
            | ErrorCode::NotQueued
            | ErrorCode::ExpiredTicket
            | ErrorCode::TicketUsed
            | ErrorCode::PartyRefused
            | ErrorCode::PlayerOffline => false,
        }
    }

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::NotFinite => "not_finite",
            ErrorCode::OutOfRange => "out_of_range",
            ErrorCode::StaleInput => "stale_input",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::NotInMatch => "not_in_match",
            ErrorCode::AlreadyInMatch => "already_in_match",
            ErrorCode::TextFrame => "text_frame",
            ErrorCode::NoMatchAvailable => "no_match_available",
            ErrorCode::InvalidRoom => "invalid_room",
            ErrorCode::NotInRoom => "not_in_room",
            ErrorCode::TooManyRooms => "too_many_rooms",
            ErrorCode::InvalidText => "invalid_text",
            ErrorCode::ChatRateLimited => "chat_rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::UnknownBoard => "unknown_board",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::UnknownMode => "unknown_mode",
            ErrorCode::AlreadyQueued => "already_queued",
            ErrorCode::NotQueued => "not_queued",
            ErrorCode::InvalidTicket => "invalid_ticket",
            ErrorCode::ExpiredTicket => "expired_ticket",
            ErrorCode::TicketUsed => "ticket_used",
            ErrorCode::WrongNode => "wrong_node",
            ErrorCode::PartyRefused => "party_refused",
            ErrorCode::PlayerOffline => "player_offline",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Defines a 64-bit id that travels as 16 lowercase hex digits, because
/// JavaScript numbers cannot hold every `u64`.
macro_rules! hex_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:016x}", self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                u64::from_str_radix(s, 16).map($name)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                if s.len() != 16 {
                    return Err(serde::de::Error::custom("expected 16 hex digits"));
                }
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_id!(
    /// A player account (a guest session in v1), stable across reconnects.
    PlayerId
);
hex_id!(
    /// One match, unique across nodes.
    MatchId
);

/// Defines an id that travels as a string (a name from config or from a
/// player, or a random token) but means one thing: a node id is not a party
/// id, so the compiler keeps them apart. The wire form is the plain string.
macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

text_id!(
    /// A node of the cluster, as the registry lists it.
    NodeId
);
text_id!(
    /// A party, chosen by the node its leader is on.
    PartyId
);
text_id!(
    /// A matchmaking ticket: one player, or a party, waiting in a queue.
    TicketId
);
text_id!(
    /// A matchmaking mode from `matchmaking.toml`, e.g. `ffa`.
    ModeId
);
text_id!(
    /// A chat room: `global`, or a name a player chose.
    RoomId
);

/// Bytes that travel as one MessagePack `bin`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bin(pub Vec<u8>);

impl Serialize for Bin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Bytes;
        impl<'de> serde::de::Visitor<'de> for Bytes {
            type Value = Bin;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bin, E> {
                Ok(Bin(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bin, E> {
                Ok(Bin(v))
            }
        }
        d.deserialize_bytes(Bytes)
    }
}

/// A message from a client to a node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Quick play: join an open match with room, or a new one.
    Play,
    /// Leave the current match and return to the lobby.
    Leave,
    /// This tick's controls; sent every tick while in a match.
    #[serde(serialize_with = "input_fields")]
    Input {
        /// Increases by at least one with every input; echoed in snapshots as
        /// `ack` once applied.
        seq: u32,
        /// The newest snapshot tick the client has decoded (0 for none):
        /// the node's next snapshots are deltas against it.
        tick: u32,
        /// The controls, in the form the match's game documents.
        input: GameData,
        /// Lag compensation: the tick of the world the client was drawing
        /// other players at when it sent this input (its interpolation
        /// point, rounded). Optional; a game that asks for lag
        /// compensation judges this input's actions against that tick.
        #[serde(default)]
        shown: Option<u32>,
        /// The controls of the inputs just before this one, newest first
        /// (`seq - 1`, `seq - 2`), at most [`MAX_EARLIER_INPUTS`]: over
        /// datagrams, which may be lost, the node takes from here those it
        /// never received. Optional, last (`shown` is then nil if unknown).
        #[serde(default)]
        earlier: Vec<GameData>,
    },
    /// Measures round-trip time; answered at once with [`ServerMsg::Pong`].
    Ping {
        /// Any number the client chooses, echoed back (typically its clock in ms).
        client_time: f64,
    },
    /// Joins a chat room (created on first join); answered with
    /// [`ServerMsg::RoomJoined`].
    JoinRoom {
        /// `global`, or any name of 1 to 24 of `a-z`, `0-9`, `_`, `-`.
        room: RoomId,
    },
    /// Leaves a chat room; answered with [`ServerMsg::RoomLeft`].
    LeaveRoom {
        /// The room.
        room: RoomId,
    },
    /// Posts a line in a joined room; everyone in it (the sender too)
    /// receives it as [`ServerMsg::Chat`].
    Chat {
        /// The room.
        room: RoomId,
        /// 1 to 200 characters, no control characters.
        text: String,
    },
    /// Says the player is typing in a joined room.
    Typing {
        /// The room.
        room: RoomId,
    },
    /// Asks for a leaderboard page; answered with
    /// [`ServerMsg::Leaderboard`] carrying the same `request_id`.
    Leaderboard {
        /// Echoed in the answer, to match answers to questions.
        request_id: u32,
        /// A board id (see `GET /api/leaderboards`), e.g. `kills`.
        board: String,
        /// `all_time`, `daily` or `weekly`.
        period: String,
        /// The page around the asking player instead of the top.
        around_me: bool,
        /// Continues from a previous answer's `next_cursor`.
        cursor: Option<String>,
        /// Entries wanted, 1 to 100.
        limit: u16,
    },
    /// Enters the matchmaking queue for a mode (with the whole party, if
    /// the player leads one); answered with [`ServerMsg::QueueUpdate`].
    Queue {
        /// A mode id, e.g. `ffa`.
        mode: ModeId,
    },
    /// Leaves the queue (the whole party's ticket).
    CancelQueue,
    /// Takes the seat a [`ServerMsg::MatchFound`] offered, on the node that
    /// hosts the match.
    JoinMatch {
        /// The join ticket from `match_found`.
        ticket: String,
    },
    /// Invites a player to this player's party (creating it).
    PartyInvite {
        /// Who to invite.
        player_id: PlayerId,
    },
    /// Accepts an invitation.
    PartyAccept {
        /// From [`ServerMsg::PartyInvite`].
        party_id: PartyId,
    },
    /// Leaves the party (the leader leaving disbands it).
    PartyLeave,
}

/// The most inputs an `input` may repeat in `earlier`.
pub const MAX_EARLIER_INPUTS: usize = 2;

/// Writes an `input` with its optional fields left off the end: `shown`
/// when unknown and nothing follows it, `earlier` when empty. (A skipped
/// field in the middle would shift the ones after it in the array form.)
fn input_fields<S: serde::Serializer>(
    seq: &u32,
    tick: &u32,
    input: &GameData,
    shown: &Option<u32>,
    earlier: &[GameData],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let with_shown = shown.is_some() || !earlier.is_empty();
    let len = 3 + usize::from(with_shown) + usize::from(!earlier.is_empty());
    let mut out = serializer.serialize_struct("Input", len)?;
    out.serialize_field("seq", seq)?;
    out.serialize_field("tick", tick)?;
    out.serialize_field("input", input)?;
    if with_shown {
        out.serialize_field("shown", shown)?;
    }
    if !earlier.is_empty() {
        out.serialize_field("earlier", earlier)?;
    }
    out.end()
}

impl ClientMsg {
    /// Every message type, as on the wire, for telling unknown types apart
    /// from malformed known ones.
    pub const TYPES: &'static [&'static str] = &[
        "play",
        "leave",
        "input",
        "ping",
        "join_room",
        "leave_room",
        "chat",
        "typing",
        "leaderboard",
        "queue",
        "cancel_queue",
        "join_match",
        "party_invite",
        "party_accept",
        "party_leave",
    ];
}

/// A message from a node to a client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ServerMsg {
    /// First message on every connection.
    Welcome {
        /// [`PROTOCOL_VERSION`].
        protocol: u16,
        /// The player this connection belongs to.
        player_id: PlayerId,
        /// The display name from the session.
        name: String,
        /// Simulation ticks per second on this node.
        tick_rate: u16,
        /// The player still holds a seat in a running match on this node:
        /// `joined` follows (or `left`, if the seat is lost meanwhile), so
        /// do not send `play`.
        resuming: bool,
    },
    /// The player is now in a match (after `play`, or on reconnecting to a
    /// match still running).
    Joined {
        /// The match.
        match_id: MatchId,
        /// The player's own id in snapshots.
        you: u16,
        /// The tick the match is at.
        tick: u32,
        /// The game the match plays (`arena`), which says what `setup`,
        /// `snapshot.state` and `input.input` hold.
        game: String,
        /// What the game sends a client to draw it (the map, the rules).
        setup: GameData,
        /// The game's kinds of entity and their fields, to decode snapshots.
        schema: Schema,
    },
    /// Who is in the match; sent on joining and whenever it changes.
    Roster {
        /// Everyone in the match.
        players: Vec<RosterEntry>,
    },
    /// The full state of the match after a tick. Newer snapshots replace
    /// older ones not yet sent to a slow client, so ticks may be skipped.
    Snapshot {
        /// The tick this state is for.
        tick: u32,
        /// The highest input `seq` applied for this player so far (0 before any).
        ack: u32,
        /// The tick this snapshot is a delta against (one the client
        /// acknowledged), or `None` for a full snapshot.
        base: Option<u32>,
        /// The entities and events, bit-packed (PROTOCOL.md, "Snapshots").
        data: Bin,
    },
    /// The match is over; the player is back in the lobby.
    MatchEnd {
        /// The match.
        match_id: MatchId,
        /// `abandoned`, or the game's reason (the arena's `time_up`,
        /// `kill_limit`).
        reason: String,
        /// One line per player, best first.
        results: Vec<ResultLine>,
    },
    /// The player left the match at their request and is back in the lobby.
    Left {
        /// The match left.
        match_id: MatchId,
    },
    /// Answer to [`ClientMsg::Ping`].
    Pong {
        /// Echoed from the ping.
        client_time: f64,
        /// The node's clock, milliseconds since the Unix epoch.
        server_time: f64,
    },
    /// The player is in the room: who else is, and its recent lines.
    RoomJoined {
        /// The room.
        room: RoomId,
        /// Everyone in the room on every node, the player included.
        members: Vec<MemberView>,
        /// Up to the last 50 lines, oldest first.
        history: Vec<ChatView>,
    },
    /// The player left the room.
    RoomLeft {
        /// The room.
        room: RoomId,
    },
    /// A line posted in a joined room.
    Chat(ChatView),
    /// Someone joined or left a joined room.
    Presence {
        /// The room.
        room: RoomId,
        /// Who.
        player_id: PlayerId,
        /// Their display name.
        name: String,
        /// Joined (true) or left (false).
        joined: bool,
        /// Players in the room now, on every node.
        count: u32,
    },
    /// Someone is typing in a joined room; show it for about three seconds.
    Typing {
        /// The room.
        room: RoomId,
        /// Who.
        player_id: PlayerId,
        /// Their display name.
        name: String,
    },
    /// A leaderboard page.
    Leaderboard {
        /// From the request.
        request_id: u32,
        /// The board.
        board: String,
        /// `all_time`, `daily` or `weekly`.
        period: String,
        /// When the period's board starts afresh, Unix ms; none for all-time.
        resets_at_ms: Option<u64>,
        /// Players on the board.
        total: u64,
        /// The page, best first.
        entries: Vec<EntryView>,
        /// Pass back as `cursor` for the next page; none at the end.
        next_cursor: Option<String>,
    },
    /// The player's new rating after a match's results were recorded.
    Rating {
        /// The match.
        match_id: MatchId,
        /// The new rating.
        rating: i32,
        /// The change this match made.
        delta: i32,
    },
    /// The player is queued (or still is): sent on queueing and every
    /// second while waiting.
    QueueUpdate {
        /// The mode.
        mode: ModeId,
        /// How long the ticket has waited, ms.
        waited_ms: u64,
        /// Players waiting in this mode on every node.
        searching: u64,
    },
    /// The player is out of the queue without a match.
    QueueLeft {
        /// `cancelled` (by the player or their party leader) or
        /// `party_changed`.
        reason: String,
    },
    /// A match was found. Connect to `host_url` (unless `same_node`) with
    /// the same session token and send `join_match` with `ticket` within
    /// 30 s, or the match starts without the player.
    MatchFound {
        /// The match.
        match_id: MatchId,
        /// The node hosting it.
        host_url: String,
        /// The single-use join ticket.
        ticket: String,
        /// The host is the node this connection is on: send `join_match`
        /// here.
        same_node: bool,
    },
    /// The player has a seat held in a running match on another node (they
    /// were in it there before connecting here): connect to `host_url` with
    /// the same session token within the reconnect grace time to take it
    /// back (`welcome` says `resuming`).
    SeatElsewhere {
        /// The match.
        match_id: MatchId,
        /// The node hosting it.
        host_url: String,
    },
    /// The player's party as it is now; no members means it is gone.
    Party {
        /// The party.
        party_id: PartyId,
        /// Its leader, who queues for everyone.
        leader: PlayerId,
        /// Everyone in it, the leader included.
        members: Vec<MemberView>,
    },
    /// Someone invites the player to their party.
    PartyInvite {
        /// Accept with this.
        party_id: PartyId,
        /// Who invites.
        from: PlayerId,
        /// Their display name.
        name: String,
    },
    /// A message was refused; nothing else changed.
    Error {
        /// What went wrong.
        code: ErrorCode,
        /// For people; may change between versions.
        message: String,
    },
}

/// A room member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    /// Who.
    pub player_id: PlayerId,
    /// Their display name.
    pub name: String,
}

/// A chat line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatView {
    /// The room.
    pub room: RoomId,
    /// Unique and increasing within the room.
    pub id: String,
    /// The writer.
    pub player_id: PlayerId,
    /// The writer's display name.
    pub name: String,
    /// The text.
    pub text: String,
    /// When it was posted, Unix milliseconds.
    pub sent_at_ms: u64,
}

/// A leaderboard line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryView {
    /// 1 is best.
    pub rank: u64,
    /// Who.
    pub player_id: PlayerId,
    /// Their display name.
    pub name: String,
    /// Their score on this board.
    pub score: i64,
}

impl ServerMsg {
    /// Every message type, as on the wire.
    pub const TYPES: &'static [&'static str] = &[
        "welcome",
        "joined",
        "roster",
        "snapshot",
        "match_end",
        "left",
        "pong",
        "room_joined",
        "room_left",
        "chat",
        "presence",
        "typing",
        "leaderboard",
        "rating",
        "queue_update",
        "queue_left",
        "match_found",
        "seat_elsewhere",
        "party",
        "party_invite",
        "error",
    ];
}

/// One line of the roster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RosterEntry {
    /// Id in snapshots.
    pub id: u16,
    /// Display name.
    pub name: String,
    /// False while the player's connection is down and their seat is held.
    pub connected: bool,
}

/// One participant's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultLine {
    /// Id in the match.
    pub id: u16,
    /// Display name.
    pub name: String,
    /// 1 is best; ties share a placement. In a team game, the team's.
    pub placement: u8,
    /// Their team, in a team game.
    pub team: Option<u8>,
    /// What the game counted for them, by name (`kills`, `score`).
    pub stats: BTreeMap<String, i64>,
}

impl ResultLine {
    /// A stat's value, 0 if the game did not report it.
    pub fn stat(&self, name: &str) -> i64 {
        self.stats.get(name).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_ids_travel_as_their_plain_text() {
        let room = RoomId::from("tavern");
        let as_id = rmp_serde::to_vec(&room).expect("encode");
        assert_eq!(as_id, rmp_serde::to_vec("tavern").expect("encode"));
        assert_eq!(
            rmp_serde::from_slice::<RoomId>(&as_id).expect("decode"),
            room
        );
        assert_eq!(room.to_string(), "tavern");
        assert_eq!(room, "tavern");
    }

    #[test]
    fn ids_travel_as_sixteen_hex_digits() {
        assert_eq!(MatchId(0xab).to_string(), "00000000000000ab");
        assert_eq!("00000000000000ab".parse::<MatchId>(), Ok(MatchId(0xab)));
    }

    #[test]
    fn all_lists_every_error_code() {
        // Exhaustive: a new code fails to compile here until it has a place
        // in ALL (and so in PROTOCOL.md's table, which protocol_doc checks).
        fn position(code: ErrorCode) -> usize {
            match code {
                ErrorCode::Malformed => 0,
                ErrorCode::UnknownType => 1,
                ErrorCode::NotFinite => 2,
                ErrorCode::OutOfRange => 3,
                ErrorCode::StaleInput => 4,
                ErrorCode::RateLimited => 5,
                ErrorCode::NotInMatch => 6,
                ErrorCode::AlreadyInMatch => 7,
                ErrorCode::TextFrame => 8,
                ErrorCode::NoMatchAvailable => 9,
                ErrorCode::InvalidRoom => 10,
                ErrorCode::NotInRoom => 11,
                ErrorCode::TooManyRooms => 12,
                ErrorCode::InvalidText => 13,
                ErrorCode::ChatRateLimited => 14,
                ErrorCode::Unavailable => 15,
                ErrorCode::UnknownBoard => 16,
                ErrorCode::InvalidQuery => 17,
                ErrorCode::UnknownMode => 18,
                ErrorCode::AlreadyQueued => 19,
                ErrorCode::NotQueued => 20,
                ErrorCode::InvalidTicket => 21,
                ErrorCode::ExpiredTicket => 22,
                ErrorCode::TicketUsed => 23,
                ErrorCode::WrongNode => 24,
                ErrorCode::PartyRefused => 25,
                ErrorCode::PlayerOffline => 26,
            }
        }
        for (i, code) in ErrorCode::ALL.into_iter().enumerate() {
            assert_eq!(position(code), i, "{code:?}");
        }
    }

    #[test]
    fn error_code_strings_match_serde() {
        let distinct: std::collections::HashSet<&str> =
            ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            distinct.len(),
            ErrorCode::ALL.len(),
            "ALL lists each code once"
        );
        for code in ErrorCode::ALL {
            let json = format!("{:?}", rmp_serde::to_vec(&code).expect("encodes"));
            let expected = format!("{:?}", rmp_serde::to_vec(code.as_str()).expect("encodes"));
            assert_eq!(json, expected);
        }
    }
}
