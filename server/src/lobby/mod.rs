//! The lobby across nodes: chat rooms, who is in them, typing indicators.
//!
//! One task per node ([`LobbyTask`]) owns this node's view of every room it
//! follows: the members connected here, and the members on all nodes as
//! learned from the bus and the presence store. A node follows a room (is
//! subscribed to its topic) while at least one of its players is in it.
//!
//! The lobby task never waits on Redis. Subscribing and unsubscribing run
//! in one follower task (`follow.rs`), this node's presence writes in one
//! writer task (`presence.rs`), history and presence reads in tasks of
//! their own; each reports back to the lobby task as a message. A join is
//! answered (`room_joined`) once the room is subscribed and the joiner's
//! history was read after that, so the answer holds every line up to then
//! and the live lines follow it, without gaps or repeats.
//!
//! Chat lines are stored in the room's history before they are announced on
//! the bus, so a line is never shown live and then missing from history;
//! presence changes likewise are stored before they are announced. Every
//! line, this node's own included, reaches local members through the bus,
//! so there is one delivery path whether the bus is in-process or Redis.
//!
//! Pub/Sub drops what is sent while Redis is away, and a restarted Redis
//! may have lost the presence hashes: each node writes its own members
//! again when they are gone, and every refresh reconciles the members of
//! other nodes with the hashes ([`Room::reconcile`]).

mod follow;
mod history;
mod presence;
pub mod wire;

pub use history::{ChatHistory, HistoryError, MemoryHistory, RedisHistory};
pub use presence::{PresenceWriter, RedisPresence, StoredMember};

use crate::bus::{Bus, Delivery, Topic};
use crate::limits::KeyedBuckets;
use crate::outbox::Outbox;
use bytes::Bytes;
use follow::{Followed, Follower, Snapshot};
use skirmish_shared::codec::encode;
use skirmish_shared::proto::{ChatView, MemberView, PlayerId, ServerMsg, close};
use skirmish_shared::proto::{NodeId, RoomId};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};
pub use wire::LobbyMessage;

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

/// Why the lobby could not take a request.
#[derive(Debug, thiserror::Error)]
pub enum LobbyError {
    /// The lobby task has stopped (the node is shutting down).
    #[error("the lobby is shutting down")]
    Stopped,
}

#[derive(Debug)]
enum Command {
    Join {
        room: RoomId,
        member: LocalMember,
    },
    Leave {
        room: RoomId,
        player_id: PlayerId,
        conn_id: u64,
        /// Told `room_left` once the member is out.
        answer: Arc<Outbox>,
    },
    Disconnected {
        player_id: PlayerId,
        conn_id: u64,
    },
    NodesChanged {
        live: Vec<NodeId>,
    },
    RefreshPresence {
        /// Told once the writer has tried.
        done: oneshot::Sender<()>,
    },
    Reconcile,
}

/// What the lobby task's helper tasks report back.
#[derive(Debug)]
enum Report {
    /// A joining member's history was read.
    History {
        room: RoomId,
        player_id: PlayerId,
        join_id: u64,
        lines: Vec<ChatView>,
    },
    /// Who is in the followed rooms on other nodes, read at `started`.
    Reconciled {
        rooms: Vec<(RoomId, u64)>,
        started: Instant,
        nodes: Vec<NodeId>,
        members: Vec<Vec<StoredMember>>,
    },
    /// The reconciliation read failed; the next refresh tries again.
    ReconcileFailed,
}

/// How fast a player may post chat lines on one node (`limits.chat_burst`
/// and `limits.chat_lines_per_s` in the node's configuration).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChatRate {
    /// Lines a player may post at once before the steady rate applies.
    pub burst: f32,
    /// Lines per second at the steady rate.
    pub lines_per_s: f32,
}

/// A cheap handle to the node's lobby.
#[derive(Clone, Debug)]
pub struct Lobby {
    commands: mpsc::Sender<Command>,
    bus: Arc<dyn Bus>,
    history: Arc<dyn ChatHistory>,
    /// The chat rate of every player on this node, kept across their
    /// connections so reconnecting does not refill it.
    chat_rates: Arc<Mutex<KeyedBuckets<PlayerId>>>,
}

/// Lobby commands queued before callers wait.
const COMMAND_QUEUE: usize = 4096;

impl Lobby {
    /// Starts the lobby task of node `node_id`, which reads `deliveries`
    /// from the bus. `presence` is the shared membership store in
    /// multi-node mode.
    pub fn start(
        node_id: &NodeId,
        bus: Arc<dyn Bus>,
        deliveries: mpsc::Receiver<Delivery>,
        history: Arc<dyn ChatHistory>,
        presence: Option<RedisPresence>,
        chat: ChatRate,
        task_guard: mpsc::Sender<()>,
    ) -> Lobby {
        let (commands, rx) = mpsc::channel(COMMAND_QUEUE);
        let (followed_tx, followed) = mpsc::unbounded_channel();
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let task = LobbyTask {
            node_id: node_id.to_owned(),
            bus: Arc::clone(&bus),
            history: Arc::clone(&history),
            follower: Follower::start(Arc::clone(&bus), presence.clone(), followed_tx),
            writer: presence
                .clone()
                .map(|p| PresenceWriter::start(p, Arc::clone(&bus))),
            presence,
            reports: reports_tx,
            rooms: HashMap::new(),
            live_nodes: vec![node_id.to_owned()],
            unlisted_nodes: HashMap::new(),
            next_generation: 1,
            next_join: 1,
            reconciling: false,
        };
        tokio::spawn(async move {
            task.run(rx, deliveries, followed, reports).await;
            drop(task_guard);
        });
        Lobby {
            commands,
            bus,
            history,
            chat_rates: Arc::new(Mutex::new(KeyedBuckets::new(chat.lines_per_s, chat.burst))),
        }
    }

    /// Puts a player in a room. The lobby answers on the member's outbox
    /// with `room_joined` (everyone in the room, then the recent history,
    /// then live lines) once it follows the room and has read its history,
    /// which waits for Redis; the caller does not.
    pub async fn join(&self, room: &RoomId, member: LocalMember) -> Result<(), LobbyError> {
        self.commands
            .send(Command::Join {
                room: room.to_owned(),
                member,
            })
            .await
            .map_err(|_| LobbyError::Stopped)
    }

    /// Takes a player out of a room; `answer` is told `room_left` after
    /// anything the lobby sent about the room.
    pub async fn leave(
        &self,
        room: &RoomId,
        player_id: PlayerId,
        conn_id: u64,
        answer: Arc<Outbox>,
    ) {
        let _ = self
            .commands
            .send(Command::Leave {
                room: room.to_owned(),
                player_id,
                conn_id,
                answer,
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
    pub fn nodes_changed(&self, live: Vec<NodeId>) {
        let _ = self.commands.try_send(Command::NodesChanged { live });
    }

    /// Keeps this node's presence entries from expiring, writing them again
    /// if Redis lost them. The answer comes once that has been tried (at
    /// once in single-node mode, or while Redis is failing): a node
    /// heartbeats only after it, so that a node listed as live has its
    /// members back in Redis for the others to reconcile with.
    pub fn refresh_presence(&self) -> oneshot::Receiver<()> {
        let (done, refreshed) = oneshot::channel();
        let _ = self.commands.try_send(Command::RefreshPresence { done });
        refreshed
    }

    /// Reconciles the members of other nodes with what Redis holds.
    pub fn reconcile(&self) {
        let _ = self.commands.try_send(Command::Reconcile);
    }

    /// Whether `player_id` may post a chat line now: the [`ChatRate`]'s
    /// burst, then its steady rate, per player on this node whatever their
    /// connection.
    pub fn allow_chat(&self, player_id: PlayerId, now: Instant) -> bool {
        self.chat_rates
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .try_take(player_id, now)
    }

    /// Stores a line, then announces it to the room on every node.
    pub async fn post(&self, mut line: ChatView) -> Result<(), HistoryError> {
        line.id = self.history.append(&line).await?;
        let room = Topic::Room(line.room.clone());
        self.bus.send(&room, &LobbyMessage::Chat(line));
        Ok(())
    }

    /// Announces that a player is typing.
    pub fn typing(&self, room: &RoomId, player_id: PlayerId, name: &str) {
        let msg = LobbyMessage::Typing {
            room: room.to_owned(),
            player_id,
            name: name.to_owned(),
        };
        self.bus.send(&Topic::Room(room.to_owned()), &msg);
    }
}

/// A member of this node in a room it follows.
#[derive(Debug)]
struct Local {
    member: LocalMember,
    /// Set until the member's `room_joined` is sent.
    joining: Option<Joining>,
    /// The id of the last line its history read returned: a line stored
    /// before the read may be announced after the answer, and is already
    /// in the member's history (or older than it), so it is not sent live.
    read_up_to: Option<(u64, u64)>,
}

/// A join waiting for the room to be followed and its history read.
#[derive(Debug)]
struct Joining {
    /// Tells this join's history read from an earlier one's.
    join_id: u64,
    /// Live lines that arrived meanwhile (the newest [`HISTORY_ON_JOIN`]),
    /// merged into the history when it comes.
    lines: VecDeque<ChatView>,
    /// Its history read retries while this is set; it is cleared when the
    /// join is answered, cancelled (a leave, another join) or its member
    /// gone, so a read waiting out a Redis outage stops instead of piling
    /// up with every join and leave a client sends meanwhile.
    wanted: Wanted,
}

/// A flag that reads as set until its owner is dropped.
#[derive(Debug)]
struct Wanted(Arc<AtomicBool>);

impl Wanted {
    fn new() -> Self {
        Wanted(Arc::new(AtomicBool::new(true)))
    }

    /// What a task checks.
    fn watch(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0)
    }
}

impl Drop for Wanted {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// A member on any node, as this node knows them.
#[derive(Debug)]
struct Member {
    name: String,
    node: NodeId,
    /// When this node last learned of them: a presence read that started
    /// earlier cannot say they are gone.
    seen: Instant,
    /// Presence reads in a row that did not list them (see
    /// [`UNLISTED_READS_BEFORE_GONE`]).
    unlisted: u8,
}

/// Heartbeats in a row that must leave a node out of the registry's list
/// before its members count as gone (see [`UNLISTED_READS_BEFORE_GONE`] for
/// why one is not enough).
const UNLISTED_HEARTBEATS_BEFORE_GONE: u8 = 2;

/// Presence reads in a row that must leave out a member of a live node
/// before they count as gone. One is not enough: a Redis that restarted
/// empty holds a node's members again only once that node has written them
/// back, and a read can come first.
const UNLISTED_READS_BEFORE_GONE: u8 = 2;

/// This node's view of one room it follows.
#[derive(Debug)]
struct Room {
    /// Which following of the room this is (see [`follow`]).
    generation: u64,
    /// The topic is subscribed and the stored members were read: joins can
    /// be answered.
    ready: bool,
    /// Members connected to this node.
    local: HashMap<PlayerId, Local>,
    /// Members on every node, this one included.
    members: HashMap<PlayerId, Member>,
    /// Members of other nodes seen leaving on the bus, and when, so a
    /// presence read that started before does not bring them back.
    left: HashMap<PlayerId, Instant>,
}

impl Room {
    fn new(generation: u64) -> Room {
        Room {
            generation,
            ready: false,
            local: HashMap::new(),
            members: HashMap::new(),
            left: HashMap::new(),
        }
    }

    fn member_views(&self) -> Vec<MemberView> {
        let mut views: Vec<MemberView> = self
            .members
            .iter()
            .map(|(id, m)| MemberView {
                player_id: *id,
                name: m.name.clone(),
            })
            .collect();
        views.sort_by(|a, b| a.name.cmp(&b.name).then(a.player_id.cmp(&b.player_id)));
        views
    }

    /// Sends a message to every local member who has their `room_joined`,
    /// except `skip`. A joining member learns the same from `room_joined`.
    fn tell(&self, msg: &ServerMsg, skip: Option<PlayerId>) {
        let bytes = Bytes::from(encode(msg));
        for local in self
            .local
            .values()
            .filter(|l| l.joining.is_none() && Some(l.member.player_id) != skip)
        {
            let _ = local.member.outbox.push(bytes.clone(), close::TOO_SLOW);
        }
    }

    /// Delivers a chat line: live to joined members (but not to one whose
    /// history read already reached it), kept for joining ones.
    fn chat(&mut self, line: ChatView) {
        let bytes = Bytes::from(encode(&ServerMsg::Chat(line.clone())));
        let key = history::id_key(&line.id);
        for local in self.local.values_mut() {
            match &mut local.joining {
                None => {
                    let read = matches!((key, local.read_up_to), (Some(k), Some(r)) if k <= r);
                    if !read {
                        let _ = local.member.outbox.push(bytes.clone(), close::TOO_SLOW);
                    }
                }
                Some(joining) => {
                    if joining.lines.len() == HISTORY_ON_JOIN {
                        joining.lines.pop_front();
                    }
                    joining.lines.push_back(line.clone());
                }
            }
        }
    }

    fn presence(&self, room: &RoomId, player_id: PlayerId, name: &str, joined: bool) -> ServerMsg {
        ServerMsg::Presence {
            room: room.to_owned(),
            player_id,
            name: name.to_owned(),
            joined,
            count: self.members.len() as u32,
        }
    }

    /// Brings the members of other nodes in line with a presence read: the
    /// read wins over what this node knew before it started, the bus over
    /// the read for anything after.
    fn reconcile(&mut self, room: &RoomId, node_id: &NodeId, snapshot: Snapshot) {
        let Snapshot {
            started,
            nodes,
            members,
        } = snapshot;
        let mut stored: HashMap<PlayerId, (String, NodeId)> = HashMap::new();
        for (id, name, node) in members {
            if node == *node_id {
                continue;
            }
            // A player reconnecting elsewhere may be listed by two nodes for
            // a moment; keep the node already known.
            let known = self.members.get(&id).is_some_and(|m| m.node == node);
            if known || !stored.contains_key(&id) {
                stored.insert(id, (name, node));
            }
        }
        let mut gone: Vec<PlayerId> = Vec::new();
        for (id, m) in &mut self.members {
            if m.node == *node_id || !nodes.contains(&m.node) || m.seen >= started {
                continue;
            }
            if stored.contains_key(id) {
                m.unlisted = 0;
                continue;
            }
            m.unlisted += 1;
            if m.unlisted >= UNLISTED_READS_BEFORE_GONE {
                gone.push(*id);
            }
        }
        for id in gone {
            if let Some(m) = self.members.remove(&id) {
                self.tell(&self.presence(room, id, &m.name, false), None);
            }
        }
        for (id, (name, node)) in stored {
            if self.left.get(&id).is_some_and(|at| *at >= started) {
                continue;
            }
            match self.members.get_mut(&id) {
                Some(m) => {
                    if m.seen < started && m.node != *node_id {
                        m.node = node;
                    }
                }
                None => {
                    self.members.insert(
                        id,
                        Member {
                            name: name.clone(),
                            node,
                            seen: started,
                            unlisted: 0,
                        },
                    );
                    self.tell(&self.presence(room, id, &name, true), None);
                }
            }
        }
        // Later reads start later: older departures no longer matter.
        self.left.retain(|_, at| *at >= started);
    }
}

/// The history a joiner gets: the lines read, then the live lines that
/// arrived while joining and are newer than the last line read (a line
/// stored just before the read may also have arrived live), the newest
/// [`HISTORY_ON_JOIN`] of them, oldest first.
fn merge_history(read: Vec<ChatView>, live: VecDeque<ChatView>) -> Vec<ChatView> {
    let mut history = read;
    let last = history.last().and_then(|l| history::id_key(&l.id));
    let seen: HashSet<String> = history.iter().map(|l| l.id.clone()).collect();
    history.extend(
        live.into_iter()
            .filter(|line| match (last, history::id_key(&line.id)) {
                (Some(last), Some(key)) => key > last,
                _ => !seen.contains(&line.id),
            }),
    );
    let excess = history.len().saturating_sub(HISTORY_ON_JOIN);
    history.drain(..excess);
    history
}

/// The task that owns the node's room views. It never waits on Redis:
/// subscriptions, presence writes and reads, and history reads run in other
/// tasks and report back.
#[derive(Debug)]
struct LobbyTask {
    node_id: NodeId,
    bus: Arc<dyn Bus>,
    history: Arc<dyn ChatHistory>,
    follower: Follower,
    /// This node's presence writes (multi-node mode).
    writer: Option<PresenceWriter>,
    /// Shared presence, for reconciliation reads (multi-node mode).
    presence: Option<RedisPresence>,
    /// Where helper tasks report.
    reports: mpsc::UnboundedSender<Report>,
    rooms: HashMap<RoomId, Room>,
    /// The nodes the registry listed at the last heartbeat, this one
    /// included.
    live_nodes: Vec<NodeId>,
    /// Nodes with members here that heartbeats in a row have not listed,
    /// and how many.
    unlisted_nodes: HashMap<NodeId, u8>,
    next_generation: u64,
    next_join: u64,
    /// A reconciliation read is under way.
    reconciling: bool,
}

/// The first wait before reading a history again; it doubles up to
/// [`HISTORY_MAX_BACKOFF`].
const HISTORY_MIN_BACKOFF: Duration = Duration::from_millis(100);

/// The longest wait between history reads while Redis fails.
const HISTORY_MAX_BACKOFF: Duration = Duration::from_secs(2);

impl LobbyTask {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut deliveries: mpsc::Receiver<Delivery>,
        mut followed: mpsc::UnboundedReceiver<Followed>,
        mut reports: mpsc::UnboundedReceiver<Report>,
    ) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.handle(command),
                    None => return,
                },
                Some(delivery) = deliveries.recv() => self.deliver(delivery),
                Some(done) = followed.recv() => self.followed(done),
                Some(report) = reports.recv() => self.report(report),
            }
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Join { room, member } => self.join(&room, member),
            Command::Leave {
                room,
                player_id,
                conn_id,
                answer,
            } => {
                self.leave(&room, player_id, conn_id);
                let left = ServerMsg::RoomLeft { room };
                let _ = answer.push(Bytes::from(encode(&left)), close::TOO_SLOW);
            }
            Command::Disconnected { player_id, conn_id } => {
                let rooms: Vec<RoomId> = self
                    .rooms
                    .iter()
                    .filter(|(_, r)| {
                        r.local
                            .get(&player_id)
                            .is_some_and(|l| l.member.conn_id == conn_id)
                    })
                    .map(|(name, _)| name.clone())
                    .collect();
                for room in rooms {
                    self.leave(&room, player_id, conn_id);
                }
            }
            Command::NodesChanged { live } => self.nodes_changed(live),
            Command::RefreshPresence { done } => {
                if let Some(writer) = &self.writer {
                    writer.refresh(Some(done));
                }
            }
            Command::Reconcile => self.start_reconciling(),
        }
    }

    /// The live nodes other than this one.
    fn other_nodes(&self) -> Vec<NodeId> {
        self.live_nodes
            .iter()
            .filter(|n| **n != self.node_id)
            .cloned()
            .collect()
    }

    /// Announces a presence change of a member of this node: stored first
    /// in multi-node mode, then on the bus.
    fn announce(&self, room: &RoomId, player_id: PlayerId, name: &str, joined: bool) {
        let msg = LobbyMessage::Presence {
            room: room.to_owned(),
            player_id,
            name: name.to_owned(),
            node: self.node_id.clone(),
            joined,
        };
        match &self.writer {
            Some(writer) if joined => writer.add(room, player_id, name, msg),
            Some(writer) => writer.remove(room, player_id, msg),
            None => self.bus.send(&Topic::Room(room.to_owned()), &msg),
        }
    }

    fn join(&mut self, room: &RoomId, member: LocalMember) {
        let now = Instant::now();
        if !self.rooms.contains_key(room) {
            // Subscribing happens in the follower, which reports back; until
            // then joins wait, and everything else goes on.
            let generation = self.next_generation;
            self.next_generation += 1;
            self.follower.follow(room, generation, self.other_nodes());
            self.rooms.insert(room.to_owned(), Room::new(generation));
        }
        let join_id = self.next_join;
        self.next_join += 1;
        let node_id = self.node_id.clone();
        let Some(view) = self.rooms.get_mut(room) else {
            return;
        };
        let (player_id, name) = (member.player_id, member.name.clone());
        let already_here = view.local.contains_key(&player_id);
        view.local.insert(
            player_id,
            Local {
                member,
                joining: Some(Joining {
                    join_id,
                    lines: VecDeque::new(),
                    wanted: Wanted::new(),
                }),
                read_up_to: None,
            },
        );
        view.left.remove(&player_id);
        view.members.insert(
            player_id,
            Member {
                name: name.clone(),
                node: node_id,
                seen: now,
                unlisted: 0,
            },
        );
        let ready = view.ready;
        let wanted = view.local[&player_id]
            .joining
            .as_ref()
            .map(|j| j.wanted.watch());
        if !already_here {
            view.tell(
                &view.presence(room, player_id, &name, true),
                Some(player_id),
            );
            self.announce(room, player_id, &name, true);
        }
        if let (true, Some(wanted)) = (ready, wanted) {
            self.read_history(room, player_id, join_id, wanted);
        }
    }

    /// Reads a joining member's history in its own task, retrying while
    /// Redis fails (the join waits) until it answers or the join is no
    /// longer wanted.
    fn read_history(
        &self,
        room: &RoomId,
        player_id: PlayerId,
        join_id: u64,
        wanted: Arc<AtomicBool>,
    ) {
        let history = Arc::clone(&self.history);
        let reports = self.reports.clone();
        let room = room.to_owned();
        tokio::spawn(async move {
            let mut backoff = HISTORY_MIN_BACKOFF;
            let lines = loop {
                match history.recent(&room, HISTORY_ON_JOIN).await {
                    Ok(lines) => break lines,
                    Err(e) => {
                        if backoff == HISTORY_MIN_BACKOFF {
                            warn!(%room, error = %e, "chat history unavailable; the join waits for it");
                        }
                        if !wanted.load(Ordering::Relaxed) || reports.is_closed() {
                            return;
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(HISTORY_MAX_BACKOFF);
                    }
                }
            };
            let _ = reports.send(Report::History {
                room,
                player_id,
                join_id,
                lines,
            });
        });
    }

    /// A room is subscribed: take in who was there, then answer its joins.
    fn followed(&mut self, followed: Followed) {
        let Followed {
            room,
            generation,
            snapshot,
        } = followed;
        let node_id = self.node_id.clone();
        let Some(view) = self.rooms.get_mut(&room) else {
            return;
        };
        if view.generation != generation || view.ready {
            return;
        }
        view.ready = true;
        if let Some(snapshot) = snapshot {
            view.reconcile(&room, &node_id, snapshot);
        }
        let joining: Vec<(PlayerId, u64, Arc<AtomicBool>)> = view
            .local
            .values()
            .filter_map(|l| {
                let j = l.joining.as_ref()?;
                Some((l.member.player_id, j.join_id, j.wanted.watch()))
            })
            .collect();
        for (player_id, join_id, wanted) in joining {
            self.read_history(&room, player_id, join_id, wanted);
        }
    }

    fn report(&mut self, report: Report) {
        match report {
            Report::History {
                room,
                player_id,
                join_id,
                lines,
            } => self.answer_join(&room, player_id, join_id, lines),
            Report::Reconciled {
                rooms,
                started,
                nodes,
                members,
            } => {
                self.reconciling = false;
                for ((room, generation), members) in rooms.into_iter().zip(members) {
                    let Some(view) = self.rooms.get_mut(&room) else {
                        continue;
                    };
                    if view.generation != generation || !view.ready {
                        continue;
                    }
                    let snapshot = Snapshot {
                        started,
                        nodes: nodes.clone(),
                        members,
                    };
                    view.reconcile(&room, &self.node_id, snapshot);
                }
            }
            Report::ReconcileFailed => self.reconciling = false,
        }
    }

    /// Sends `room_joined`: the members now, the history read, and the live
    /// lines that arrived since and are newer than it, oldest first.
    fn answer_join(
        &mut self,
        room: &RoomId,
        player_id: PlayerId,
        join_id: u64,
        lines: Vec<ChatView>,
    ) {
        let Some(view) = self.rooms.get_mut(room) else {
            return;
        };
        let Some(local) = view.local.get_mut(&player_id) else {
            return;
        };
        let Some(joining) = local.joining.take_if(|j| j.join_id == join_id) else {
            return;
        };
        local.read_up_to = lines.last().and_then(|l| history::id_key(&l.id));
        let history = merge_history(lines, joining.lines);
        let outbox = Arc::clone(&local.member.outbox);
        let joined = ServerMsg::RoomJoined {
            room: room.to_owned(),
            members: view.member_views(),
            history,
        };
        let _ = outbox.push(Bytes::from(encode(&joined)), close::TOO_SLOW);
    }

    /// Reads who is in every followed room on the other live nodes, in its
    /// own task; one read at a time.
    fn start_reconciling(&mut self) {
        let Some(presence) = self.presence.clone() else {
            return;
        };
        if self.reconciling {
            return;
        }
        let rooms: Vec<(RoomId, u64)> = self
            .rooms
            .iter()
            .filter(|(_, v)| v.ready)
            .map(|(room, v)| (room.clone(), v.generation))
            .collect();
        let nodes = self.other_nodes();
        if rooms.is_empty() || nodes.is_empty() {
            return;
        }
        self.reconciling = true;
        let reports = self.reports.clone();
        tokio::spawn(async move {
            let names: Vec<RoomId> = rooms.iter().map(|(room, _)| room.clone()).collect();
            let started = Instant::now();
            let report = match presence.snapshot(&names, &nodes).await {
                Ok(members) => Report::Reconciled {
                    rooms,
                    started,
                    nodes,
                    members,
                },
                Err(e) => {
                    debug!(error = %e, "could not read room presence to reconcile");
                    Report::ReconcileFailed
                }
            };
            let _ = reports.send(report);
        });
    }

    fn leave(&mut self, room: &RoomId, player_id: PlayerId, conn_id: u64) {
        let Some(view) = self.rooms.get_mut(room) else {
            return;
        };
        if view
            .local
            .get(&player_id)
            .is_none_or(|l| l.member.conn_id != conn_id)
        {
            return;
        }
        let Some(local) = view.local.remove(&player_id) else {
            return;
        };
        let name = local.member.name;
        view.members.remove(&player_id);
        view.tell(&view.presence(room, player_id, &name, false), None);
        let empty = view.local.is_empty();
        self.announce(room, player_id, &name, false);
        if empty {
            self.rooms.remove(room);
            self.follower.unfollow(room);
        }
    }

    fn nodes_changed(&mut self, live: Vec<NodeId>) {
        // A node's members go once two heartbeats in a row have not listed
        // it. A Redis that restarted empty lists only the nodes that have
        // heartbeated since, and the others are back within one heartbeat:
        // dropping their members at the first list made them leave and
        // rejoin in every room.
        let mut referenced: HashSet<&NodeId> = HashSet::new();
        for view in self.rooms.values() {
            referenced.extend(view.members.values().map(|m| &m.node));
        }
        let unlisted = &mut self.unlisted_nodes;
        unlisted.retain(|node, _| referenced.contains(node) && !live.contains(node));
        for node in referenced {
            if *node != self.node_id && !live.contains(node) {
                *unlisted.entry(node.clone()).or_default() += 1;
            }
        }
        let gone_nodes: HashSet<NodeId> = unlisted
            .iter()
            .filter(|(_, n)| **n >= UNLISTED_HEARTBEATS_BEFORE_GONE)
            .map(|(node, _)| node.clone())
            .collect();
        for (room, view) in &mut self.rooms {
            let gone: Vec<(PlayerId, String)> = view
                .members
                .iter()
                .filter(|(_, m)| gone_nodes.contains(&m.node))
                .map(|(id, m)| (*id, m.name.clone()))
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
        let msg = match delivery.envelope.payload.open::<LobbyMessage>() {
            Some(Ok(msg)) => msg,
            Some(Err(e)) => {
                warn!(error = %e, from = %delivery.envelope.from, "dropping a lobby message this build cannot read");
                return;
            }
            // Another area's message on a room topic: not the lobby's.
            None => return,
        };
        match msg {
            LobbyMessage::Chat(line) => view.chat(line),
            // This node applied its own presence changes when they happened.
            LobbyMessage::Presence { .. } if from_here => {}
            LobbyMessage::Presence {
                room: _,
                player_id,
                name,
                node,
                joined: true,
            } => {
                let changed = view
                    .members
                    .get(&player_id)
                    .is_none_or(|m| m.name != name || m.node != node);
                view.left.remove(&player_id);
                view.members.insert(
                    player_id,
                    Member {
                        name: name.clone(),
                        node,
                        seen: Instant::now(),
                        unlisted: 0,
                    },
                );
                if changed {
                    view.tell(&view.presence(room, player_id, &name, true), None);
                }
            }
            LobbyMessage::Presence {
                room: _,
                player_id,
                name,
                node,
                joined: false,
            } => {
                // Only the node a member is on can take them out: a player who
                // moved to another node must not vanish with the old one.
                if view.members.get(&player_id).is_some_and(|m| m.node == node) {
                    view.members.remove(&player_id);
                    view.left.insert(player_id, Instant::now());
                    view.tell(&view.presence(room, player_id, &name, false), None);
                }
            }
            LobbyMessage::Typing {
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
    use crate::bus::LocalHub;
    use futures_util::future::BoxFuture;
    use std::sync::atomic::AtomicUsize;

    /// A history whose reads always fail, counting them.
    #[derive(Debug, Default)]
    struct DownHistory {
        reads: AtomicUsize,
    }

    impl ChatHistory for DownHistory {
        fn append<'a>(&'a self, _: &'a ChatView) -> BoxFuture<'a, Result<String, HistoryError>> {
            Box::pin(std::future::ready(Err(HistoryError::Unavailable(
                "down".into(),
            ))))
        }

        fn recent<'a>(
            &'a self,
            _: &'a RoomId,
            _: usize,
        ) -> BoxFuture<'a, Result<Vec<ChatView>, HistoryError>> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            Box::pin(std::future::ready(Err(HistoryError::Unavailable(
                "down".into(),
            ))))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_history_read_waiting_on_redis_stops_when_its_join_is_cancelled() {
        // Regression: each join's read retried until Redis answered, whatever
        // became of the join, so joining and leaving during an outage piled
        // up tasks that all retried.
        let hub = LocalHub::default();
        let (bus, deliveries) = hub.connect(&NodeId::from("a"));
        let history = Arc::new(DownHistory::default());
        let (guard, _done) = mpsc::channel(1);
        let lobby = Lobby::start(
            &NodeId::from("a"),
            Arc::new(bus),
            deliveries,
            Arc::clone(&history) as Arc<dyn ChatHistory>,
            None,
            ChatRate {
                burst: 5.0,
                lines_per_s: 0.5,
            },
            guard,
        );
        let outbox = Arc::new(Outbox::new(64));
        let ada = || LocalMember {
            player_id: PlayerId(1),
            name: "ada".into(),
            conn_id: 1,
            outbox: Arc::clone(&outbox),
        };
        for _ in 0..5 {
            lobby
                .join(&RoomId::from("tavern"), ada())
                .await
                .expect("join");
            tokio::time::sleep(Duration::from_millis(300)).await;
            lobby
                .leave(&RoomId::from("tavern"), PlayerId(1), 1, Arc::clone(&outbox))
                .await;
        }
        // Every read retries at most a few seconds apart while it lives.
        tokio::time::sleep(HISTORY_MAX_BACKOFF * 2).await;
        let settled = history.reads.load(Ordering::Relaxed);
        assert!(
            settled >= 5,
            "every join read the history at least once: {settled} reads"
        );
        tokio::time::sleep(HISTORY_MAX_BACKOFF * 10).await;
        assert_eq!(
            history.reads.load(Ordering::Relaxed),
            settled,
            "reads for joins that were left went on retrying"
        );

        // The control: a join that is not left keeps retrying, so the
        // quiet above is the cancelled joins' doing, not a read that gave
        // up on its own.
        lobby
            .join(&RoomId::from("tavern"), ada())
            .await
            .expect("join");
        tokio::time::sleep(HISTORY_MAX_BACKOFF * 10).await;
        let retried = history.reads.load(Ordering::Relaxed) - settled;
        assert!(
            retried >= 5,
            "a live join retried its read only {retried} times in {:?}",
            HISTORY_MAX_BACKOFF * 10
        );
    }

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

    fn line(id: &str) -> ChatView {
        ChatView {
            room: "r".into(),
            id: id.into(),
            player_id: PlayerId(1),
            name: "ada".into(),
            text: id.into(),
            sent_at_ms: 0,
        }
    }

    fn ids(lines: &[ChatView]) -> Vec<&str> {
        lines.iter().map(|l| l.id.as_str()).collect()
    }

    #[test]
    fn a_line_announced_after_the_answer_that_the_read_had_is_not_sent_again() {
        let outbox = Arc::new(Outbox::new(64));
        let mut room = Room::new(1);
        room.local.insert(
            PlayerId(1),
            Local {
                member: LocalMember {
                    player_id: PlayerId(1),
                    name: "ada".into(),
                    conn_id: 1,
                    outbox: Arc::clone(&outbox),
                },
                joining: None,
                // The history read ended at line "7-1".
                read_up_to: history::id_key("7-1"),
            },
        );
        room.chat(line("7-1"));
        room.chat(line("6-3"));
        assert!(
            outbox.pop().is_none(),
            "lines the read had are not repeated"
        );
        room.chat(line("8-1"));
        assert!(outbox.pop().is_some(), "newer lines go out live");
    }

    #[test]
    fn a_joiner_gets_history_then_newer_live_lines_once_each() {
        let read = vec![line("5-1"), line("5-2"), line("7-1")];
        // "7-1" was stored before the read and also arrived live.
        let live = VecDeque::from(vec![line("7-1"), line("8-1"), line("10-1")]);
        assert_eq!(
            ids(&merge_history(read, live)),
            ["5-1", "5-2", "7-1", "8-1", "10-1"],
            "numeric order, not text order"
        );
        assert_eq!(
            ids(&merge_history(
                Vec::new(),
                VecDeque::from(vec![line("1-1")])
            )),
            ["1-1"]
        );
        let read: Vec<ChatView> = (1..=50).map(|i| line(&format!("{i}-0"))).collect();
        let merged = merge_history(read, VecDeque::from(vec![line("51-0")]));
        assert_eq!(merged.len(), HISTORY_ON_JOIN, "the newest 50");
        assert_eq!(
            (merged[0].id.as_str(), merged[49].id.as_str()),
            ("2-0", "51-0")
        );
    }

    fn member(name: &str, node: &NodeId, seen: Instant) -> Member {
        Member {
            name: name.into(),
            node: node.clone(),
            seen,
            unlisted: 0,
        }
    }

    fn names(room: &Room) -> Vec<String> {
        room.member_views().into_iter().map(|m| m.name).collect()
    }

    #[test]
    fn reconciling_trusts_the_read_for_older_news_and_the_bus_for_newer() {
        let t0 = Instant::now();
        let read_at = t0 + Duration::from_secs(10);
        let after = read_at + Duration::from_millis(1);
        let mut room = Room::new(1);
        // Known before the read: a ghost on b (left while the bus was
        // down), a member on b the read confirms, this node's own member.
        room.members
            .insert(PlayerId(1), member("ghost", &NodeId::from("b"), t0));
        room.members
            .insert(PlayerId(2), member("bea", &NodeId::from("b"), t0));
        room.members
            .insert(PlayerId(3), member("me", &NodeId::from("a"), t0));
        // Heard of on the bus after the read started: joined (not yet in the
        // read), and left (still in the read).
        room.members
            .insert(PlayerId(4), member("new", &NodeId::from("c"), after));
        room.left.insert(PlayerId(5), after);
        // On a node that was not read: left alone.
        room.members
            .insert(PlayerId(6), member("far", &NodeId::from("d"), t0));
        let stored = vec![
            (PlayerId(2), "bea".to_owned(), "b".into()),
            (PlayerId(5), "gone".to_owned(), "c".into()),
            // Joined while the bus was down: missing here until now.
            (PlayerId(7), "missed".to_owned(), "c".into()),
        ];
        room.reconcile(
            &"r".into(),
            &"a".into(),
            Snapshot {
                started: read_at,
                nodes: vec!["b".into(), "c".into()],
                members: stored,
            },
        );
        // One read that leaves the ghost out is not enough (Redis may have
        // restarted empty and b not written its members back yet).
        assert_eq!(names(&room), ["bea", "far", "ghost", "me", "missed", "new"]);
        assert!(
            room.left.contains_key(&PlayerId(5)),
            "still newer than the read"
        );
        let second = Snapshot {
            started: after + Duration::from_secs(1),
            nodes: vec!["b".into(), "c".into()],
            members: vec![
                (PlayerId(2), "bea".to_owned(), "b".into()),
                (PlayerId(7), "missed".to_owned(), "c".into()),
            ],
        };
        room.reconcile(&"r".into(), &"a".into(), second);
        assert_eq!(
            names(&room),
            ["bea", "far", "me", "missed", "new"],
            "left out of two reads in a row, the ghost is gone"
        );
        for n in 2..4 {
            let empty = Snapshot {
                started: after + Duration::from_secs(n),
                nodes: vec!["b".into(), "c".into()],
                members: Vec::new(),
            };
            room.reconcile(&"r".into(), &"a".into(), empty);
        }
        assert_eq!(names(&room), ["far", "me"], "two empty reads empty b and c");
        assert!(
            room.left.is_empty(),
            "departures older than the read are forgotten"
        );
    }
}
