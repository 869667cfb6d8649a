//! The lobby's node-to-node messages, on room topics: chat lines, presence
//! changes and typing. The bus carries them opaque ([`crate::bus::Message`]).

use crate::bus::Message;
use serde::{Deserialize, Serialize};
use skirmish_shared::proto::{ChatView, PlayerId};
use skirmish_shared::proto::{NodeId, RoomId};

/// What one node's lobby tells the others about a room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LobbyMessage {
    /// A line was posted in a room (and is already in its history); the
    /// same structure clients receive.
    Chat(ChatView),
    /// A player joined or left a room.
    Presence {
        /// The room.
        room: RoomId,
        /// Who.
        player_id: PlayerId,
        /// Their display name.
        name: String,
        /// The node they are connected to.
        node: NodeId,
        /// Joined (true) or left (false).
        joined: bool,
    },
    /// A player is typing in a room.
    Typing {
        /// The room.
        room: RoomId,
        /// Who.
        player_id: PlayerId,
        /// Their display name.
        name: String,
    },
}

impl Message for LobbyMessage {
    const AREA: &'static str = "lobby";
    const VERSION: u16 = 1;
}
