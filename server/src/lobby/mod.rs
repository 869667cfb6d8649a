//! The lobby across nodes: chat rooms, who is in them, typing indicators.
//!
//! One task per node ([`LobbyTask`]) owns this node's view of every room it
//! follows: the members connected here, and the members on all nodes as
//! learned from the bus and the presence store. A node follows a room (is
//! subscribed to its topic) while at least one of its players is in it.
//!
//! Chat lines are stored in the room's history before they are announced on
//! the bus, so a line is never shown live and then missing from history.
//! Every line, this node's own included, reaches local members through the
//! bus, so there is one delivery path whether the bus is in-process or
//! Redis.

mod history;
mod presence;

pub use history::{ChatHistory, HistoryError, MemoryHistory, RedisHistory};
pub use presence::RedisPresence;

use crate::bus::{Bus, BusMessage, Delivery, Topic};
use crate::outbox::Outbox;
use bytes::Bytes;
use skirmish_shared::codec::encode;
use skirmish_shared::proto::{ChatView, MemberView, PlayerId, ServerMsg, close};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

/// Rooms one player may be in at once.
pub const MAX_ROOMS: usize = 8;

/// Lines replayed to a player joining a room.
pub const HISTORY_ON_JOIN: usize = 50;

/// Longest chat line, in characters.
pub const MAX_TEXT_CHARS: usize = 200;

/// Longest room name, in bytes.
pub const MAX_ROOM_LEN: usize = 24;

/// Whether a room name is acceptable: 1 to 24 of `a-z`, `0-9`, `_`, `-`.
pub fn valid_room(room: &str) -> bool {
    !room.is_empty()
        && room.len() <= MAX_ROOM_LEN
        && room
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Checks chat text: trimmed, 1 to 200 characters, no control characters.
pub fn valid_text(text: &str) -> Option<&str> {
    let text = text.trim();
    let ok = !text.is_empty()
        && text.chars().count() <= MAX_TEXT_CHARS
        && !text.chars().any(char::is_control);
    ok.then_some(text)
}

/// A player of this node, as a room member.
#[derive(Clone, Debug)]
pub struct LocalMember {
    /// Who.
    pub player_id: PlayerId,
    /// Display name.
    pub name: String,
    /// Their current connection.
    pub conn_id: u64,
    /// Where their messages go.
    pub outbox: Arc<Outbox>,
}

/// Why joining a room failed.
#[derive(Debug, thiserror::Error)]
pub enum LobbyError {
    /// The lobby task has stopped (the node is shutting down).
    #[error("the lobby is shutting down")]
    Stopped,
}

#[derive(Debug)]
enum Command {
    Join {
        room: String,
        member: LocalMember,
        reply: oneshot::Sender<Vec<MemberView>>,
    },
    Leave {
        room: String,
        player_id: PlayerId,
        conn_id: u64,
    },
    Disconnected {
        player_id: PlayerId,
        conn_id: u64,
    },
    NodesChanged {
        live: Vec<String>,
    },
    Refresh,
}

/// A cheap handle to the node's lobby.
#[derive(Clone, Debug)]
pub struct Lobby {
    commands: mpsc::Sender<Command>,
    bus: Arc<dyn Bus>,
    history: Arc<dyn ChatHistory>,
}

/// Lobby commands queued before callers wait.
const COMMAND_QUEUE: usize = 4096;

impl Lobby {
    /// Starts the lobby task of node `node_id`, which reads `deliveries`
    /// from the bus. `presence` is the shared membership store in
    /// multi-node mode.
    pub fn start(
        node_id: &str,
        bus: Arc<dyn Bus>,
        deliveries: mpsc::Receiver<Delivery>,
        history: Arc<dyn ChatHistory>,
        presence: Option<RedisPresence>,
        task_guard: mpsc::Sender<()>,
    ) -> Lobby {
        let (commands, rx) = mpsc::channel(COMMAND_QUEUE);
        let task = LobbyTask {
            node_id: node_id.to_owned(),
            bus: Arc::clone(&bus),
            presence,
            rooms: HashMap::new(),
            live_nodes: vec![node_id.to_owned()],
        };
        tokio::spawn(async move {
            task.run(rx, deliveries).await;
            drop(task_guard);
        });
        Lobby {
            commands,
            bus,
            history,
        }
    }

    /// Puts a player in a room; returns everyone in it.
    pub async fn join(
        &self,
        room: &str,
        member: LocalMember,
    ) -> Result<Vec<MemberView>, LobbyError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Join {
                room: room.to_owned(),
                member,
                reply,
            })
            .await
            .map_err(|_| LobbyError::Stopped)?;
        answer.await.map_err(|_| LobbyError::Stopped)
    }

    /// Takes a player out of a room.
    pub async fn leave(&self, room: &str, player_id: PlayerId, conn_id: u64) {
        let _ = self
            .commands
            .send(Command::Leave {
                room: room.to_owned(),
                player_id,
                conn_id,
            })
            .await;
    }

    /// Takes a disconnected player out of every room.
    pub async fn disconnected(&self, player_id: PlayerId, conn_id: u64) {
        let _ = self
            .commands
            .send(Command::Disconnected { player_id, conn_id })
            .await;
    }

    /// Tells the lobby which nodes are alive; members of the others go.
    pub fn nodes_changed(&self, live: Vec<String>) {
        let _ = self.commands.try_send(Command::NodesChanged { live });
    }

    /// Keeps this node's presence entries from expiring.
    pub fn refresh(&self) {
        let _ = self.commands.try_send(Command::Refresh);
    }

    /// The last lines of a room, oldest first.
    pub async fn history(&self, room: &str) -> Result<Vec<ChatView>, HistoryError> {
        self.history.recent(room, HISTORY_ON_JOIN).await
    }

    /// Stores a line, then announces it to the room on every node.
    pub async fn post(&self, mut line: ChatView) -> Result<(), HistoryError> {
        line.id = self.history.append(&line).await?;
        let room = Topic::Room(line.room.clone());
        self.bus.publish(&room, BusMessage::Chat(line));
        Ok(())
    }

    /// Announces that a player is typing.
    pub fn typing(&self, room: &str, player_id: PlayerId, name: &str) {
        let msg = BusMessage::Typing {
            room: room.to_owned(),
            player_id,
            name: name.to_owned(),
        };
        self.bus.publish(&Topic::Room(room.to_owned()), msg);
    }
}

/// This node's view of one room it follows.
#[derive(Debug, Default)]
struct Room {
    /// Members connected to this node.
    local: HashMap<PlayerId, LocalMember>,
    /// Members on every node (this one included): name and node.
    members: HashMap<PlayerId, (String, String)>,
}

impl Room {
    fn member_views(&self) -> Vec<MemberView> {
        let mut views: Vec<MemberView> = self
            .members
            .iter()
            .map(|(id, (name, _))| MemberView {
                player_id: *id,
                name: name.clone(),
            })
            .collect();
        views.sort_by(|a, b| a.name.cmp(&b.name).then(a.player_id.cmp(&b.player_id)));
        views
    }

    /// Sends a message to every local member, except `skip`.
    fn tell(&self, msg: &ServerMsg, skip: Option<PlayerId>) {
        let bytes = Bytes::from(encode(msg));
        for member in self.local.values().filter(|m| Some(m.player_id) != skip) {
            let _ = member.outbox.push(bytes.clone(), close::TOO_SLOW);
        }
    }

    fn presence(&self, room: &str, player_id: PlayerId, name: &str, joined: bool) -> ServerMsg {
        ServerMsg::Presence {
            room: room.to_owned(),
            player_id,
            name: name.to_owned(),
            joined,
            count: self.members.len() as u32,
        }
    }
}

/// The task that owns the node's room views.
#[derive(Debug)]
struct LobbyTask {
    node_id: String,
    bus: Arc<dyn Bus>,
    presence: Option<RedisPresence>,
    rooms: HashMap<String, Room>,
    live_nodes: Vec<String>,
}

impl LobbyTask {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut deliveries: mpsc::Receiver<Delivery>,
    ) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.handle(command).await,
                    None => return,
                },
                Some(delivery) = deliveries.recv() => self.deliver(delivery),
            }
        }
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::Join {
                room,
                member,
                reply,
            } => {
                let members = self.join(&room, member).await;
                let _ = reply.send(members);
            }
            Command::Leave {
                room,
                player_id,
                conn_id,
            } => self.leave(&room, player_id, conn_id).await,
            Command::Disconnected { player_id, conn_id } => {
                let rooms: Vec<String> = self
                    .rooms
                    .iter()
                    .filter(|(_, r)| {
                        r.local
                            .get(&player_id)
                            .is_some_and(|m| m.conn_id == conn_id)
                    })
                    .map(|(name, _)| name.clone())
                    .collect();
                for room in rooms {
                    self.leave(&room, player_id, conn_id).await;
                }
            }
            Command::NodesChanged { live } => self.nodes_changed(live),
            Command::Refresh => {
                if let Some(presence) = self.presence.clone() {
                    let rooms: Vec<String> = self.rooms.keys().cloned().collect();
                    tokio::spawn(async move {
                        if let Err(e) = presence.refresh(&rooms).await {
                            warn!(error = %e, "could not refresh room presence");
                        }
                    });
                }
            }
        }
    }

    /// Starts following a room: subscribe first, then read who is there, so
    /// no change falls between the two (changes read twice are idempotent).
    async fn follow(&mut self, room: &str) -> Room {
        let mut view = Room::default();
        if let Err(e) = self.bus.subscribe(&Topic::Room(room.to_owned())).await {
            warn!(room, error = %e, "could not subscribe to a room; it works on this node only until the bus is back");
        }
        if let Some(presence) = &self.presence {
            match presence.members(room, &self.live_nodes).await {
                Ok(members) => {
                    for (id, name, node) in members {
                        view.members.insert(id, (name, node));
                    }
                }
                Err(e) => warn!(room, error = %e, "could not read who is in a room"),
            }
        }
        view
    }

    async fn join(&mut self, room: &str, member: LocalMember) -> Vec<MemberView> {
        if !self.rooms.contains_key(room) {
            let view = self.follow(room).await;
            self.rooms.insert(room.to_owned(), view);
        }
        let node_id = self.node_id.clone();
        let Some(view) = self.rooms.get_mut(room) else {
            return Vec::new();
        };
        let (player_id, name) = (member.player_id, member.name.clone());
        let already_here = view.local.contains_key(&player_id);
        view.local.insert(player_id, member);
        view.members
            .insert(player_id, (name.clone(), node_id.clone()));
        if !already_here {
            view.tell(
                &view.presence(room, player_id, &name, true),
                Some(player_id),
            );
            self.bus.publish(
                &Topic::Room(room.to_owned()),
                BusMessage::Presence {
                    room: room.to_owned(),
                    player_id,
                    name: name.clone(),
                    node: node_id,
                    joined: true,
                },
            );
        }
        if let Some(presence) = self.presence.clone() {
            let room = room.to_owned();
            tokio::spawn(async move {
                if let Err(e) = presence.add(&room, player_id, &name).await {
                    warn!(room, error = %e, "could not record room presence");
                }
            });
        }
        view.member_views()
    }

    async fn leave(&mut self, room: &str, player_id: PlayerId, conn_id: u64) {
        let Some(view) = self.rooms.get_mut(room) else {
            return;
        };
        if view
            .local
            .get(&player_id)
            .is_none_or(|m| m.conn_id != conn_id)
        {
            return;
        }
        let Some(member) = view.local.remove(&player_id) else {
            return;
        };
        view.members.remove(&player_id);
        view.tell(&view.presence(room, player_id, &member.name, false), None);
        self.bus.publish(
            &Topic::Room(room.to_owned()),
            BusMessage::Presence {
                room: room.to_owned(),
                player_id,
                name: member.name.clone(),
                node: self.node_id.clone(),
                joined: false,
            },
        );
        if let Some(presence) = self.presence.clone() {
            let room = room.to_owned();
            tokio::spawn(async move {
                if let Err(e) = presence.remove(&room, player_id).await {
                    warn!(room, error = %e, "could not remove room presence");
                }
            });
        }
        if view.local.is_empty() {
            self.rooms.remove(room);
            if let Err(e) = self.bus.unsubscribe(&Topic::Room(room.to_owned())).await {
                warn!(room, error = %e, "could not unsubscribe from a room");
            }
        }
    }

    fn nodes_changed(&mut self, live: Vec<String>) {
        for (room, view) in &mut self.rooms {
            let gone: Vec<(PlayerId, String)> = view
                .members
                .iter()
                .filter(|(_, (_, node))| *node != self.node_id && !live.contains(node))
                .map(|(id, (name, _))| (*id, name.clone()))
                .collect();
            for (id, name) in gone {
                view.members.remove(&id);
                view.tell(&view.presence(room, id, &name, false), None);
            }
        }
        self.live_nodes = live;
        if !self.live_nodes.contains(&self.node_id) {
            self.live_nodes.push(self.node_id.clone());
        }
    }

    fn deliver(&mut self, delivery: Delivery) {
        let Topic::Room(room) = &delivery.topic else {
            return;
        };
        let Some(view) = self.rooms.get_mut(room) else {
            return;
        };
        let from_here = delivery.envelope.from == self.node_id;
        match delivery.envelope.msg {
            BusMessage::Chat(line) => {
                view.tell(&ServerMsg::Chat(line), None);
            }
            // This node applied its own presence changes when they happened.
            BusMessage::Presence { .. } if from_here => {}
            BusMessage::Presence {
                room: _,
                player_id,
                name,
                node,
                joined: true,
            } => {
                let changed = view
                    .members
                    .get(&player_id)
                    .is_none_or(|(n, at)| *n != name || *at != node);
                view.members.insert(player_id, (name.clone(), node));
                if changed {
                    view.tell(&view.presence(room, player_id, &name, true), None);
                }
            }
            BusMessage::Presence {
                room: _,
                player_id,
                name,
                node,
                joined: false,
            } => {
                // Only the node a member is on can take them out: a player who
                // moved to another node must not vanish with the old one.
                if view
                    .members
                    .get(&player_id)
                    .is_some_and(|(_, at)| *at == node)
                {
                    view.members.remove(&player_id);
                    view.tell(&view.presence(room, player_id, &name, false), None);
                }
            }
            // Matchmaking and parties travel on node topics, never rooms.
            BusMessage::HostMatch { .. }
            | BusMessage::HostAck { .. }
            | BusMessage::HostCommit { .. }
            | BusMessage::HostAbort { .. }
            | BusMessage::MatchFound { .. }
            | BusMessage::SeatRelease { .. }
            | BusMessage::Tell { .. }
            | BusMessage::PartyInvite { .. }
            | BusMessage::PartyJoin { .. }
            | BusMessage::PartyUpdate { .. }
            | BusMessage::PartyLeave { .. } => {}
            BusMessage::Typing {
                room: _,
                player_id,
                name,
            } => {
                view.tell(
                    &ServerMsg::Typing {
                        room: room.clone(),
                        player_id,
                        name,
                    },
                    Some(player_id),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_and_texts_are_checked() {
        for ok in ["global", "team-1", "a", "abc_def"] {
            assert!(valid_room(ok), "{ok}");
        }
        for bad in [
            "",
            "Global",
            "has space",
            "ünï",
            "a-very-long-room-name-over-24",
        ] {
            assert!(!valid_room(bad), "{bad}");
        }
        assert_eq!(valid_text("  hi there "), Some("hi there"));
        assert_eq!(valid_text("   "), None);
        assert_eq!(valid_text("bell\u{7}"), None);
        assert_eq!(valid_text(&"x".repeat(201)), None);
        assert_eq!(
            valid_text(&"é".repeat(200)).map(|t| t.chars().count()),
            Some(200)
        );
    }
}
