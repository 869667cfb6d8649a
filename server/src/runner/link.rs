//! What a match task exchanges with the rest of the node: the commands it
//! accepts, the link to each connected player, and the narrow interfaces
//! through which it reports to the directory of matches and tells a
//! connection it is over. They live here, with the runner, so the runner
//! depends on nothing that spawns it.

use crate::outbox::Outbox;
use crate::results::MatchRecord;
use skirmish_shared::game::Tick;
use skirmish_shared::proto::{MatchId, PlayerId};
use std::any::Any;
use std::fmt;
use std::sync::Arc;
use tokio::sync::oneshot;

/// What a client's `input` says besides its controls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    /// The client's sequence number, echoed as `ack`.
    pub seq: u32,
    /// The newest snapshot tick the client decoded: its baseline.
    pub ack_tick: Tick,
    /// The tick the client was drawing others at, for lag compensation.
    pub shown: Option<Tick>,
}

/// Commands a match accepts; queued until its next tick.
#[derive(Debug)]
pub enum MatchCommand {
    /// Seat a player, or give a returning player their seat back.
    Join {
        /// Where the match sends this player's messages.
        link: Arc<PlayerLink>,
        /// The answer.
        reply: oneshot::Sender<Result<(), JoinRefused>>,
    },
    /// One input, decoded and checked by the session (through
    /// `HostedGame::decode_input`): the game's own input type, boxed, so
    /// the tick does not decode it again.
    Input {
        /// Whose.
        player_id: PlayerId,
        /// From which connection; inputs from a replaced connection are dropped.
        conn_id: u64,
        /// What the client said besides the controls.
        sent: Sent,
        /// The controls: the match's `Game::Input`.
        input: Box<dyn Any + Send>,
    },
    /// The player leaves for the lobby; their seat is freed.
    Leave {
        /// Who.
        player_id: PlayerId,
        /// From which connection.
        conn_id: u64,
    },
    /// The player's connection dropped; their seat is held for the
    /// reconnect grace time.
    Detach {
        /// Who.
        player_id: PlayerId,
        /// Which connection dropped; ignored if the player reconnected since.
        conn_id: u64,
    },
    /// A formed match stops holding seats for these players (they will not
    /// come); with nobody left to wait for, it starts.
    Release {
        /// Who.
        players: Vec<PlayerId>,
    },
}

/// Why a match would not seat a player.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JoinRefused {
    /// No free seat.
    #[error("the match is full")]
    Full,
    /// The match has ended or is ending.
    #[error("the match is over")]
    Over,
    /// The match has seated as many bodies over its life as entity ids
    /// exist (65,535; ids are never reused) and takes no one new. Returning
    /// players keep their seats.
    #[error("the match has given out every player id it has")]
    OutOfIds,
}

/// How a match tells a connection that it has ended for the player (after
/// `match_end` is queued), so the connection is back in the lobby.
pub trait MatchOver: Send + Sync + fmt::Debug {
    /// `match_id` is over.
    fn match_over(&self, match_id: MatchId);
}

/// What a match needs to reach one connected player.
#[derive(Debug)]
pub struct PlayerLink {
    /// The player.
    pub player_id: PlayerId,
    /// Display name, for the roster and results.
    pub name: String,
    /// The connection this link belongs to.
    pub conn_id: u64,
    /// The connection's outbound queue.
    pub outbox: Arc<Outbox>,
    /// Told when the match is done with the player.
    pub over: Box<dyn MatchOver>,
}

/// What a match reports to the node's directory of matches as it runs:
/// seats taken and freed (the directory's counts are hints), its start,
/// its results, its end.
pub trait Directory: Send + Sync + fmt::Debug {
    /// A new player was seated.
    fn player_joined(&self, match_id: MatchId, player_id: PlayerId);
    /// A seat was freed.
    fn player_left(&self, match_id: MatchId, player_id: PlayerId);
    /// A formed match started: it holds no more seats.
    fn formed_started(&self, match_id: MatchId);
    /// A match that ended properly hands its results over.
    fn record(&self, record: MatchRecord);
    /// The match is ending.
    fn remove(&self, match_id: MatchId);
}
