//! [`Sessions`]: the live connection of each player on this node, through
//! which the rest of the node reaches a connection from outside its session
//! (to replace it, drop it, send it a message or an event).

use crate::matches::MatchHandle;
use crate::outbox::Outbox;
use crate::runner::MatchOver;
use bytes::Bytes;
use skirmish_shared::codec::encode;
use skirmish_shared::proto::{MatchId, PlayerId, ServerMsg, close};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// What the node tells a session besides protocol messages.
#[derive(Clone, Debug)]
pub enum SessionEvent {
    /// The match ended; the player is back in the lobby.
    MatchOver {
        /// Which match.
        match_id: MatchId,
    },
    /// Quick play finished: the player is seated, or no match had room.
    Seated(Result<MatchHandle, String>),
    /// A formed match is ready for the player (a `match_found` to send).
    MatchFound(ServerMsg),
    /// A task the session started for one of its messages (a queue entry,
    /// an invitation, a leaderboard query, a chat post) refused it: the
    /// session answers with this error, counting a strike if the code is
    /// one, exactly as if its reader had refused the message itself.
    Refused(skirmish_shared::proto::ErrorCode, String),
}

/// A match tells a session it is over as a [`SessionEvent`].
impl MatchOver for mpsc::UnboundedSender<SessionEvent> {
    fn match_over(&self, match_id: MatchId) {
        // A session that has gone has nobody to tell.
        let _ = self.send(SessionEvent::MatchOver { match_id });
    }
}

/// The live connection of each player on this node, so a second connection
/// of the same player replaces the first.
#[derive(Debug, Default)]
pub struct Sessions {
    live: Mutex<HashMap<PlayerId, LiveSession>>,
}

/// Why the node ends a connection from outside its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kick {
    /// The player connected again; the old connection closes with 4003.
    Replaced,
    /// The connection is dropped without a closing handshake, as a network
    /// failure on the node's side would drop it: the seat is held for the
    /// reconnect grace time and the client is expected to come back.
    Dropped,
}

/// One live connection, as the node reaches it from outside its session.
#[derive(Debug)]
struct LiveSession {
    conn_id: u64,
    kick: oneshot::Sender<Kick>,
    outbox: Arc<Outbox>,
    events: mpsc::UnboundedSender<SessionEvent>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PlayerId, LiveSession>> {
        self.live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records `conn_id` as the player's connection, telling the previous
    /// one to close. The returned receiver fires when this one is replaced.
    pub fn register(
        &self,
        player_id: PlayerId,
        conn_id: u64,
        outbox: Arc<Outbox>,
        events: mpsc::UnboundedSender<SessionEvent>,
    ) -> oneshot::Receiver<Kick> {
        let (kick, kicked) = oneshot::channel();
        if let Some(previous) = self.lock().insert(
            player_id,
            LiveSession {
                conn_id,
                kick,
                outbox,
                events,
            },
        ) {
            let _ = previous.kick.send(Kick::Replaced);
        }
        kicked
    }

    /// Drops the player's connection as a network failure would (see
    /// [`Kick::Dropped`]); `false` if they are not connected here.
    pub fn drop_connection(&self, player_id: PlayerId) -> bool {
        let live = self.lock().remove(&player_id);
        live.is_some_and(|s| s.kick.send(Kick::Dropped).is_ok())
    }

    /// Forgets the connection, unless the player has a newer one.
    pub fn deregister(&self, player_id: PlayerId, conn_id: u64) {
        let mut live = self.lock();
        if live.get(&player_id).is_some_and(|s| s.conn_id == conn_id) {
            live.remove(&player_id);
        }
    }

    /// Sends a message to a player connected to this node; `false` if they
    /// are not.
    pub fn send_to(&self, player_id: PlayerId, msg: &ServerMsg) -> bool {
        let outbox = self.lock().get(&player_id).map(|s| Arc::clone(&s.outbox));
        match outbox {
            Some(outbox) => {
                let _ = outbox.push(Bytes::from(encode(msg)), close::TOO_SLOW);
                true
            }
            None => false,
        }
    }

    /// Passes already encoded protocol bytes to a player connected here.
    pub fn send_raw(&self, player_id: PlayerId, bytes: Bytes) -> bool {
        let outbox = self.lock().get(&player_id).map(|s| Arc::clone(&s.outbox));
        outbox.map(|o| o.push(bytes, close::TOO_SLOW)).is_some()
    }

    /// Hands an event to a player's session; `false` if they are not here.
    pub fn deliver(&self, player_id: PlayerId, event: SessionEvent) -> bool {
        let events = self.lock().get(&player_id).map(|s| s.events.clone());
        events.is_some_and(|e| e.send(event).is_ok())
    }

    /// Whether the player is connected here.
    pub fn is_here(&self, player_id: PlayerId) -> bool {
        self.lock().contains_key(&player_id)
    }

    /// Who is connected to this node.
    pub fn players(&self) -> Vec<PlayerId> {
        self.lock().keys().copied().collect()
    }

    /// Players connected to this node.
    pub fn count(&self) -> usize {
        self.lock().len()
    }
}
