//! A session's chat messages: joining a room (answered once the lobby has
//! it), leaving one, typing, and posting lines, in order, through one poster
//! task.

use super::{CHAT_POSTS_QUEUED, Flow, Session, TYPING_INTERVAL};
use crate::lobby::{self, LocalMember};
use crate::sessions::SessionEvent;
use skirmish_shared::proto::RoomId;
use skirmish_shared::proto::{ChatView, ErrorCode};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

impl Session {
    pub(super) async fn join_room(&mut self, room: RoomId) -> Flow {
        if !lobby::valid_room(room.as_str()) {
            return self.refuse(
                ErrorCode::InvalidRoom,
                "room names are 1 to 24 of a-z, 0-9, _ and -".into(),
            );
        }
        if !self.rooms.contains(&room) && self.rooms.len() >= lobby::MAX_ROOMS {
            return self.refuse(
                ErrorCode::TooManyRooms,
                format!("at most {} rooms at once", lobby::MAX_ROOMS),
            );
        }
        let member = LocalMember {
            player_id: self.link.player_id,
            name: self.link.name.clone(),
            conn_id: self.link.conn_id,
            outbox: Arc::clone(&self.link.outbox),
        };
        // The lobby answers `room_joined` on the outbox once it follows the
        // room and has read its history, which may wait on Redis; this
        // player's other messages go on meanwhile.
        if self.node.lobby.join(&room, member).await.is_err() {
            return Flow::Close(1001, "server shutting down");
        }
        self.rooms.insert(room);
        Flow::Continue
    }

    pub(super) fn chat(&mut self, room: RoomId, text: &str, now: Instant) -> Flow {
        if !self.rooms.contains(&room) {
            return self.refuse(ErrorCode::NotInRoom, format!("not in room `{room}`"));
        }
        let Some(text) = lobby::valid_text(text) else {
            return self.refuse(
                ErrorCode::InvalidText,
                format!(
                    "chat text is 1 to {} characters without control characters",
                    lobby::MAX_TEXT_CHARS
                ),
            );
        };
        // The rate is the player's on this node, not the connection's, so
        // reconnecting does not refill it.
        if !self.node.lobby.allow_chat(self.link.player_id, now) {
            return self.refuse(
                ErrorCode::ChatRateLimited,
                "too many chat lines; wait a moment".into(),
            );
        }
        let line = ChatView {
            room,
            id: String::new(),
            player_id: self.link.player_id,
            name: self.link.name.clone(),
            text: text.to_owned(),
            sent_at_ms: crate::node::unix_ms(),
        };
        let poster = self.chat_poster.get_or_insert_with(|| {
            // One task posts this connection's lines in order (two spawned
            // posts could be stored the other way round); it ends with the
            // connection, when the sender is dropped.
            let burst = self.node.config.limits.chat_burst.ceil() as usize;
            let (tx, mut lines) = mpsc::channel::<ChatView>(burst.max(CHAT_POSTS_QUEUED));
            let lobby = self.node.lobby.clone();
            let refusals = self.events.clone();
            tokio::spawn(async move {
                while let Some(line) = lines.recv().await {
                    if let Err(e) = lobby.post(line).await {
                        let _ = refusals
                            .send(SessionEvent::Refused(ErrorCode::Unavailable, e.to_string()));
                    }
                }
            });
            tx
        });
        if poster.try_send(line).is_err() {
            return self.refuse(
                ErrorCode::Unavailable,
                "chat lines are not being stored; try again shortly".into(),
            );
        }
        Flow::Continue
    }

    /// Leaves a room; the lobby answers `room_left`, after anything it still
    /// had to send about the room (a `room_joined` in flight).
    pub(super) async fn leave_room(&mut self, room: RoomId) -> Flow {
        if !self.rooms.remove(&room) {
            return self.refuse(ErrorCode::NotInRoom, format!("not in room `{room}`"));
        }
        self.typing_sent.remove(&room);
        self.node
            .lobby
            .leave(
                &room,
                self.link.player_id,
                self.link.conn_id,
                Arc::clone(&self.link.outbox),
            )
            .await;
        Flow::Continue
    }

    /// Says the player is typing, at most once per [`TYPING_INTERVAL`]
    /// (more are dropped silently).
    pub(super) fn typing(&mut self, room: RoomId, now: Instant) -> Flow {
        if !self.rooms.contains(&room) {
            return self.refuse(ErrorCode::NotInRoom, format!("not in room `{room}`"));
        }
        let recent = self
            .typing_sent
            .get(&room)
            .is_some_and(|t| now.duration_since(*t) < TYPING_INTERVAL);
        if !recent {
            self.node
                .lobby
                .typing(&room, self.link.player_id, &self.link.name);
            self.typing_sent.insert(room, now);
        }
        Flow::Continue
    }
}
