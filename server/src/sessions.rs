//! [`Sessions`]: the live connection of each player on this node, through
//! which the rest of the node reaches a connection from outside its session
//! (to replace it, drop it, send it a message or an event).
//!
//! One connection per player holds cluster-wide: each is placed with a
//! number that grows with every connection in the cluster
//! (`QueueStore::place`), and a node whose player connects here tells the
//! node they were on ([`SessionsMessage::Replaced`]), which closes an older
//! connection of theirs with 4003.

use crate::bus;
use crate::matches::MatchHandle;
use crate::outbox::Outbox;
use crate::runner::MatchOver;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
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

/// What the sessions of one node tell another's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionsMessage {
    /// The player connected at the sending node, placed as `generation`: a
    /// connection of theirs placed before it closes with 4003.
    Replaced {
        /// Who.
        player_id: PlayerId,
        /// The new connection's place: larger than that of any connection
        /// placed before it, cluster-wide.
        generation: u64,
    },
    /// Answers `Replaced`: the player has a seat held in a running match on
    /// the sending node.
    SeatAt {
        /// Who.
        player_id: PlayerId,
        /// The match.
        match_id: MatchId,
        /// How players reach the sending node.
        host_url: String,
    },
}

impl bus::Message for SessionsMessage {
    const AREA: &'static str = "sessions";
    const VERSION: u16 = 1;
}

/// The live connection of each player on this node, so a second connection
/// of the same player replaces the first (here, or on another node: see the
/// module's documentation).
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
    /// Its place, once recorded.
    generation: Option<u64>,
    /// The place of a newer connection elsewhere heard of before this
    /// one's own was known.
    replaced_by: Option<u64>,
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
                generation: None,
                replaced_by: None,
                kick,
                outbox,
                events,
            },
        ) {
            let _ = previous.kick.send(Kick::Replaced);
        }
        kicked
    }

    /// Notes where connection `conn_id` was placed; closes it (4003) if a
    /// newer connection elsewhere was heard of meanwhile.
    pub fn placed(&self, player_id: PlayerId, conn_id: u64, generation: u64) {
        let mut live = self.lock();
        if let Some(session) = live.get_mut(&player_id).filter(|s| s.conn_id == conn_id) {
            session.generation = Some(generation);
            close_if_superseded(&mut live, player_id);
        }
    }

    /// The player connected at another node as `generation`: closes their
    /// connection here (4003) if it was placed before, or, while its own
    /// place is not yet known, once it turns out to be.
    pub fn replaced_elsewhere(&self, player_id: PlayerId, generation: u64) {
        let mut live = self.lock();
        if let Some(session) = live.get_mut(&player_id) {
            session.replaced_by = session.replaced_by.max(Some(generation));
            close_if_superseded(&mut live, player_id);
        }
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

/// Closes the player's connection (4003) once both its place and a newer
/// one elsewhere are known.
fn close_if_superseded(live: &mut HashMap<PlayerId, LiveSession>, player_id: PlayerId) {
    let superseded = live.get(&player_id).is_some_and(
        |s| matches!((s.generation, s.replaced_by), (Some(own), Some(newer)) if newer > own),
    );
    if superseded && let Some(old) = live.remove(&player_id) {
        let _ = old.kick.send(Kick::Replaced);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A player connected here as connection 1, and what tells it it was
    /// kicked.
    fn connected() -> (Sessions, oneshot::Receiver<Kick>) {
        let sessions = Sessions::default();
        let (events, _) = mpsc::unbounded_channel();
        let kicked = sessions.register(PlayerId(7), 1, Arc::new(Outbox::new(8)), events);
        (sessions, kicked)
    }

    #[test]
    fn a_newer_connection_elsewhere_replaces_an_older_one_here_and_not_a_newer() {
        let (sessions, mut kicked) = connected();
        sessions.placed(PlayerId(7), 1, 5);
        sessions.replaced_elsewhere(PlayerId(7), 3);
        assert!(
            kicked.try_recv().is_err(),
            "an older one elsewhere changes nothing"
        );
        assert!(sessions.is_here(PlayerId(7)));
        sessions.replaced_elsewhere(PlayerId(7), 9);
        assert_eq!(kicked.try_recv(), Ok(Kick::Replaced));
        assert!(!sessions.is_here(PlayerId(7)));
    }

    /// The message from the other node may come before this node has heard
    /// where its own connection was placed.
    #[test]
    fn word_of_a_connection_elsewhere_waits_for_this_ones_place() {
        let (sessions, mut kicked) = connected();
        sessions.replaced_elsewhere(PlayerId(7), 9);
        assert!(kicked.try_recv().is_err(), "not yet: this one may be newer");
        sessions.placed(PlayerId(7), 1, 5);
        assert_eq!(kicked.try_recv(), Ok(Kick::Replaced));

        let (sessions, mut kicked) = connected();
        sessions.replaced_elsewhere(PlayerId(7), 9);
        sessions.placed(PlayerId(7), 1, 12);
        assert!(kicked.try_recv().is_err(), "this one is the newest");
        assert!(sessions.is_here(PlayerId(7)));
    }
}
