//! One player's connection: a reader loop that validates and dispatches
//! every client message, and a writer task (`writer.rs`) that drains the
//! connection's [`Outbox`] into the socket and sends heartbeat pings. Each
//! concern's messages are handled in a file of its own: `game.rs` (play,
//! inputs, a formed match's seat), `queue.rs` (matchmaking and parties),
//! `chat.rs`, `leaderboards.rs`.
//!
//! The session is written against a transport-neutral [`Inbound`] stream and
//! [`Frame`] sink, so tests drive it with channels and WebTransport can plug
//! in later; `http.rs` adapts axum's WebSocket to them.

mod chat;
mod game;
mod leaderboards;
mod party;
mod queue;
mod writer;

use crate::auth::Claims;
use crate::bus::Topic;
use crate::config::Limits;
use crate::limits::{LeakyCounter, Throttle, TokenBucket};
use crate::matches::MatchHandle;
use crate::node::{Kick, Node};
use crate::outbox::Outbox;
use crate::runner::{PlayerLink, Sent};
use crate::sessions::{SessionEvent, SessionsMessage};
use bytes::Bytes;
use futures_util::{Sink, Stream, StreamExt};
use skirmish_shared::codec::{DecodeError, decode_client, encode};
use skirmish_shared::proto::PlayerId;
use skirmish_shared::proto::RoomId;
use skirmish_shared::proto::{ChatView, ClientMsg, ErrorCode, PROTOCOL_VERSION, ServerMsg, close};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info};

/// What a transport delivers to a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A binary message: one protocol message.
    Binary(Bytes),
    /// One protocol message by a path that may lose and reorder them (a
    /// WebTransport datagram): an `input` older than the last one is
    /// dropped quietly rather than refused as stale.
    Unordered(Bytes),
    /// A text message, which the protocol does not use.
    Text,
    /// A ping or pong: the peer is alive.
    Control,
    /// A message or frame over the size limit; the transport cannot go on.
    TooLarge,
    /// The transport's own framing broke (a WebTransport stream record of
    /// an unknown kind); it cannot go on.
    Malformed,
    /// The peer closed (with its close code, if it sent one), or the
    /// transport failed (no code).
    Closed(Option<u16>),
}

/// What a session asks a transport to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// One protocol message.
    Binary(Bytes),
    /// A snapshot, which a transport may send unreliably: the next one
    /// supersedes it, and a client's baseline is only what it acknowledged.
    Snapshot(Bytes),
    /// A heartbeat ping.
    Ping,
    /// A close with a code and reason.
    Close(u16, &'static str),
}

/// Inputs arriving this soon after a match ended were in flight when it did;
/// they are dropped without an error.
const LATE_INPUT_GRACE: Duration = Duration::from_secs(2);

/// How long an ending connection waits for the seat quick play is taking
/// for it, so it can give it back.
const SEAT_IN_FLIGHT: Duration = Duration::from_secs(5);

/// How long the writer may take to flush the final close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a session in a match waits, when the node shuts down, for the
/// match to end and say so (`match_end` `abandoned`, at its next tick)
/// before closing with 1001 anyway.
const MATCH_END_ON_SHUTDOWN: Duration = Duration::from_secs(1);

/// Per-connection state of the reader loop.
struct Session {
    node: Arc<Node>,
    link: Arc<PlayerLink>,
    /// Events for this connection: what the tasks it starts report back.
    events: mpsc::UnboundedSender<SessionEvent>,
    current: Option<MatchHandle>,
    left_match_at: Option<Instant>,
    last_seq: Option<u32>,
    rate: TokenBucket,
    drops: LeakyCounter,
    strikes: LeakyCounter,
    rate_error: Throttle,
    /// Quick play is under way.
    joining: bool,
    /// `leave` came while quick play was under way (the client had its
    /// `joined`, but the session had not yet heard it was seated): leave as
    /// soon as the seat is confirmed.
    leave_on_seat: bool,
    /// Chat rooms joined on this connection (answered or not yet).
    rooms: HashSet<RoomId>,
    /// The last typing announcement per room, to send at most one per
    /// [`TYPING_INTERVAL`].
    typing_sent: HashMap<RoomId, Instant>,
    /// This connection's chat lines on their way to the lobby, posted one
    /// after another so they are stored in the order they were sent.
    chat_poster: Option<mpsc::Sender<ChatView>>,
    /// The node is shutting down: close (1001) once the match has ended.
    stopping: bool,
}

/// Chat lines a connection may have on their way to the lobby at once, at
/// least; a configured chat burst larger than this raises it to the burst,
/// so the chat rate, not this queue, decides what a burst may post.
const CHAT_POSTS_QUEUED: usize = 16;

/// The shortest time between two typing announcements for one room.
const TYPING_INTERVAL: Duration = Duration::from_secs(2);

/// How a message came: in order, or by a path that may reorder them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delivery {
    Ordered,
    Unordered,
}

/// Whether the reader loop goes on.
enum Flow {
    Continue,
    Close(u16, &'static str),
}

/// Runs one connection to its end: opening (welcome, and the seat back on a
/// reconnect), the loop, and closing (the seat, rooms and queue let go, the
/// closing handshake finished).
pub async fn run<R, W>(node: Arc<Node>, claims: Claims, mut inbound: R, outbound: W)
where
    R: Stream<Item = Inbound> + Unpin + Send,
    W: Sink<Frame> + Unpin + Send + 'static,
{
    let (mut session, mut conn) = open(node, &claims, outbound).await;
    let ending = serve(&mut session, &mut conn, &mut inbound).await;
    finish(session, conn, ending, &mut inbound).await;
}

/// What a connection holds besides the session's state: its queue, its
/// writer, and what can end it from outside.
struct Conn {
    conn_id: u64,
    outbox: Arc<Outbox>,
    writer: tokio::task::JoinHandle<writer::WriterEnd>,
    /// Fires when a newer connection of the player replaces this one, or
    /// the node drops it.
    kicked: oneshot::Receiver<Kick>,
    /// What the node and the tasks this session started tell it.
    events: mpsc::UnboundedReceiver<SessionEvent>,
    shutdown: watch::Receiver<bool>,
    connections: metrics::Gauge,
}

/// How the loop ended.
#[derive(Clone, Copy, Debug, Default)]
struct Ending {
    /// The writer task has ended (the transport failed, or the client was
    /// too slow).
    writer_done: bool,
    /// The writer gave up on a client too slow to take what it is sent and
    /// could not get the 4004 out to it: nothing more will reach it.
    unreachable: bool,
    /// The node dropped the connection without a closing handshake.
    dropped: bool,
    /// The client closed; `Some(1000)` means it meant to leave.
    peer_closed: Option<Option<u16>>,
}

/// Registers the connection, starts its writer, sends `welcome` and gives
/// a reconnecting player their seat back.
async fn open<W>(node: Arc<Node>, claims: &Claims, outbound: W) -> (Session, Conn)
where
    W: Sink<Frame> + Unpin + Send + 'static,
{
    let limits = &node.config.limits;
    let conn_id = node.next_conn_id();
    let outbox =
        Arc::new(Outbox::new(limits.outbound_queue).max_bytes(limits.outbound_queue_bytes));
    let (events_tx, events) = mpsc::unbounded_channel();
    let link = Arc::new(PlayerLink {
        player_id: claims.player_id,
        name: claims.name.clone(),
        conn_id,
        outbox: Arc::clone(&outbox),
        over: Box::new(events_tx.clone()),
    });
    let writer = tokio::spawn(writer::write_loop(
        outbound,
        Arc::clone(&outbox),
        Limits::secs(limits.heartbeat_s),
        Limits::secs(limits.send_backlog_s),
    ));
    let kicked = node.sessions.register(
        claims.player_id,
        conn_id,
        Arc::clone(&outbox),
        events_tx.clone(),
    );
    // Where this player is, for party invitations from other nodes and so
    // that an older connection of theirs on another node closes.
    {
        let (node, player_id) = (Arc::clone(&node), claims.player_id);
        tokio::spawn(async move {
            match node
                .matchmaking
                .store()
                .place(player_id, &node.node_id)
                .await
            {
                Ok(placed) => {
                    node.sessions.placed(player_id, conn_id, placed.generation);
                    if let Some(previous) = placed.previous.filter(|p| *p != node.node_id) {
                        node.bus.send(
                            &Topic::Node(previous),
                            &SessionsMessage::Replaced {
                                player_id,
                                generation: placed.generation,
                            },
                        );
                    }
                }
                Err(e) => debug!(error = %e, "could not record where a player is"),
            }
        });
    }
    let connections = metrics::gauge!("skirmish_connections");
    connections.increment(1.0);
    info!(player = %claims.player_id, name = %claims.name, conn_id, "connected");

    let now = Instant::now();
    let tick_rate = f32::from(node.config.tick_rate);
    let per_s = limits.messages_per_tick * tick_rate + limits.extra_messages_per_s;
    let mut session = Session {
        node: Arc::clone(&node),
        link: Arc::clone(&link),
        events: events_tx,
        current: None,
        left_match_at: None,
        last_seq: None,
        rate: TokenBucket::new(per_s, per_s, now),
        // Dropping more than three seconds' worth of over-limit messages,
        // draining at one second's worth per second, means a flood.
        drops: LeakyCounter::new(tick_rate, 3.0 * tick_rate, now),
        strikes: LeakyCounter::new(1.0, limits.max_strikes, now),
        rate_error: Throttle::new(Duration::from_secs(1)),
        joining: false,
        leave_on_seat: false,
        rooms: HashSet::new(),
        typing_sent: HashMap::new(),
        chat_poster: None,
        stopping: false,
    };
    let seat = node.matches.match_of(claims.player_id);
    session.send(&ServerMsg::Welcome {
        protocol: PROTOCOL_VERSION,
        player_id: claims.player_id,
        name: claims.name.clone(),
        tick_rate: node.config.tick_rate,
        resuming: seat.is_some(),
    });
    session.current = node.matches.rejoin(link).await;
    if let (Some(match_id), None) = (seat, &session.current) {
        // The seat went between the lookup and the rejoin (the match ended
        // or the grace ran out): say so, as welcome promised an answer.
        session.send(&ServerMsg::Left { match_id });
    }
    let conn = Conn {
        conn_id,
        outbox,
        writer,
        kicked,
        events,
        shutdown: node.shutdown.clone(),
        connections,
    };
    (session, conn)
}

/// The loop: reads and dispatches the client's messages and the session's
/// events until something closes the connection.
async fn serve<R>(session: &mut Session, conn: &mut Conn, inbound: &mut R) -> Ending
where
    R: Stream<Item = Inbound> + Unpin + Send,
{
    let idle = Limits::secs(session.node.config.limits.idle_timeout_s);
    // Not reset on every frame (30 a second in a match): each frame notes
    // when it came, and the timer, when it fires, looks at that and sleeps
    // on if the connection was heard from meanwhile.
    let idle_timer = tokio::time::sleep(idle);
    tokio::pin!(idle_timer);
    let mut heard_at = tokio::time::Instant::now();
    // Armed when the node starts shutting down with this player in a match.
    let stop_timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(stop_timer);
    let mut ending = Ending::default();
    loop {
        let flow = tokio::select! {
            biased;
            () = shutting_down(&mut conn.shutdown), if !session.stopping => {
                // A player in a match hears it end (`abandoned`) before the
                // close, as PROTOCOL.md promises; the match ends at its next
                // tick.
                session.stopping = true;
                // Not `current()`: a match whose handle is already over may
                // not have queued its `match_end` yet; its `MatchOver`
                // event, which follows it, ends the wait.
                if session.current.is_some() {
                    stop_timer.as_mut().reset(tokio::time::Instant::now() + MATCH_END_ON_SHUTDOWN);
                    Flow::Continue
                } else {
                    Flow::Close(1001, "server shutting down")
                }
            }
            () = &mut stop_timer, if session.stopping => Flow::Close(1001, "server shutting down"),
            kick = &mut conn.kicked => match kick {
                Ok(Kick::Dropped) => {
                    ending.dropped = true;
                    return ending;
                }
                _ => Flow::Close(close::REPLACED, "connected elsewhere"),
            },
            end = &mut conn.writer => {
                ending.writer_done = true;
                ending.unreachable = matches!(end, Ok(writer::WriterEnd::TooSlow { told: false }));
                return ending;
            }
            Some(event) = conn.events.recv() => session.on_event(event).await,
            () = &mut idle_timer => {
                let quiet_until = heard_at + idle;
                if quiet_until > tokio::time::Instant::now() {
                    idle_timer.as_mut().reset(quiet_until);
                    Flow::Continue
                } else {
                    Flow::Close(close::IDLE_TIMEOUT, "idle timeout")
                }
            }
            frame = inbound.next() => {
                heard_at = tokio::time::Instant::now();
                match frame.unwrap_or(Inbound::Closed(None)) {
                    Inbound::Binary(bytes) => session.on_message(&bytes, Delivery::Ordered).await,
                    Inbound::Unordered(bytes) => session.on_message(&bytes, Delivery::Unordered).await,
                    Inbound::Text => session.refuse(ErrorCode::TextFrame, "send binary frames".into()),
                    // Pings and pongs count against the message budget
                    // like any message: a ping flood is a flood.
                    Inbound::Control => session.over_budget(Instant::now()).unwrap_or(Flow::Continue),
                    Inbound::TooLarge => Flow::Close(1009, "message too big"),
                    Inbound::Malformed => Flow::Close(1002, "malformed stream"),
                    Inbound::Closed(code) => {
                        ending.peer_closed = Some(code);
                        Flow::Close(1000, "bye")
                    }
                }
            }
        };
        if let Flow::Close(code, reason) = flow {
            debug!(conn_id = conn.conn_id, code, reason, "closing");
            conn.outbox.close(code, reason);
            return ending;
        }
        if conn.outbox.is_closing() {
            return ending;
        }
    }
}

/// Lets go of the seat (freed on a quit, held otherwise), the rooms, and
/// (unless the player is back on a newer connection) the queue and party;
/// then finishes the closing handshake.
async fn finish<R>(mut session: Session, mut conn: Conn, ending: Ending, inbound: &mut R)
where
    R: Stream<Item = Inbound> + Unpin + Send,
{
    let node = Arc::clone(&session.node);
    let (player_id, conn_id) = (session.link.player_id, conn.conn_id);
    // A connection that ends while quick play is under way (the client may
    // already have its `joined`) gives back the seat it is about to get, as
    // it would a seat it had: otherwise the match keeps a player nobody
    // will detach, and the node keeps them placed.
    if session.joining && session.current.is_none() {
        session.current = seat_in_flight(&mut conn.events).await;
    }
    if let Some(handle) = session.current.take() {
        // A normal close (1000) is a player quitting: free the seat now. Any
        // other end (tab closed with 1001, network loss) holds the seat for
        // the reconnect grace time.
        if ending.peer_closed == Some(Some(1000)) {
            handle.leave(player_id, conn_id).await;
        } else {
            handle.detach(player_id, conn_id).await;
        }
    }
    if !session.rooms.is_empty() {
        node.lobby.disconnected(player_id, conn_id).await;
    }
    // Unless the same player is already back on a newer connection, a
    // queued ticket and a party go with the connection.
    node.sessions.deregister(player_id, conn_id);
    if !node.sessions.is_here(player_id) {
        forget_player(&node, player_id).await;
    }
    // Finish the closing handshake: the writer sends our close while we read
    // (and discard) until the client's close arrives. Dropping the socket
    // with unread input would reset the connection and could lose the close
    // frame, and with it the code that tells the client why.
    // A connection the node dropped, or one that takes nothing more, has no
    // handshake to finish.
    if ending.dropped || ending.unreachable {
        conn.writer.abort();
        conn.connections.decrement(1.0);
        info!(player = %player_id, conn_id, "connection dropped");
        return;
    }
    // The writer first (its close is bounded by its own grace), so a client
    // it could not get the close to (too slow) is not waited for; then the
    // client's close, which waits in the socket meanwhile.
    let drain = async {
        if !ending.writer_done {
            let end = (&mut conn.writer).await;
            if matches!(end, Ok(writer::WriterEnd::TooSlow { told: false })) {
                return;
            }
        }
        if ending.peer_closed.is_none() {
            while let Some(frame) = inbound.next().await {
                if matches!(frame, Inbound::Closed(_)) {
                    break;
                }
            }
        }
    };
    if tokio::time::timeout(2 * CLOSE_TIMEOUT, drain)
        .await
        .is_err()
    {
        conn.writer.abort();
    }
    conn.connections.decrement(1.0);
    info!(player = %player_id, conn_id, "disconnected");
}

/// Waits, up to [`SEAT_IN_FLIGHT`], for quick play to report the seat it
/// took for a connection that is ending.
async fn seat_in_flight(events: &mut mpsc::UnboundedReceiver<SessionEvent>) -> Option<MatchHandle> {
    let seated = async {
        while let Some(event) = events.recv().await {
            if let SessionEvent::Seated(seated) = event {
                return seated.ok();
            }
        }
        None
    };
    tokio::time::timeout(SEAT_IN_FLIGHT, seated)
        .await
        .ok()
        .flatten()
}

/// Takes a player who left this node out of the queue and their party.
async fn forget_player(node: &Arc<Node>, player_id: PlayerId) {
    if let Some(ticket) = node.matchmaking.cancel(player_id) {
        node.matchmaking
            .tell_left(&ticket, "party_changed", Some(player_id));
    }
    node.matchmaking.leave_party(player_id);
    node.matchmaking.parties().forget(player_id);
    // A seat held here keeps the place: a node the player turns up at
    // learns from it where the seat is. The seat's end forgets it.
    if node.matches.match_of(player_id).is_some() {
        return;
    }
    if let Err(e) = node
        .matchmaking
        .store()
        .unplace(player_id, &node.node_id)
        .await
    {
        debug!(error = %e, "could not forget where a player was");
    }
}

/// Completes when the node starts shutting down (or its signal is gone).
async fn shutting_down(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|down| *down).await;
}

impl Session {
    /// Queues a reliable message.
    fn send(&self, msg: &ServerMsg) {
        // On overflow the outbox closes itself, which ends the loop.
        let _ = self
            .link
            .outbox
            .push(Bytes::from(encode(msg)), close::TOO_SLOW);
    }

    /// Answers a refused message with its error. Every `error` a session
    /// sends goes through here but the throttled `rate_limited` of
    /// [`Session::over_budget`] (the tasks it starts report back with
    /// [`SessionEvent::Refused`]), so the strike rule of PROTOCOL.md
    /// (`ErrorCode::is_strike`) holds for all of them.
    fn refuse(&mut self, code: ErrorCode, message: String) -> Flow {
        metrics::counter!("skirmish_client_errors_total", "code" => code.as_str()).increment(1);
        self.send(&ServerMsg::Error { code, message });
        if code.is_strike() && self.strikes.add(Instant::now()) {
            Flow::Close(close::TOO_MANY_ERRORS, "too many bad messages")
        } else {
            Flow::Continue
        }
    }

    /// Takes one message's worth (a protocol message, a ping or a pong)
    /// from the rate budget. `None` when there was room; otherwise the
    /// message is dropped, answered with `rate_limited` at most once a
    /// second, and the answer says whether the flood has gone on long
    /// enough to close.
    fn over_budget(&mut self, now: Instant) -> Option<Flow> {
        if self.rate.try_take(now) {
            return None;
        }
        metrics::counter!("skirmish_client_errors_total", "code" => "rate_limited").increment(1);
        if self.drops.add(now) {
            return Some(Flow::Close(close::RATE_LIMIT, "rate limit exceeded"));
        }
        if self.rate_error.allow(now) {
            self.send(&ServerMsg::Error {
                code: ErrorCode::RateLimited,
                message: "too many messages; this one was dropped".into(),
            });
        }
        Some(Flow::Continue)
    }

    /// A sender for the tasks this session starts, to report a refusal.
    fn refusals(&self) -> mpsc::UnboundedSender<SessionEvent> {
        self.events.clone()
    }

    async fn on_event(&mut self, event: SessionEvent) -> Flow {
        match event {
            SessionEvent::MatchOver { match_id } => {
                if self.current.as_ref().is_some_and(|m| m.id == match_id) {
                    self.current = None;
                    self.left_match_at = Some(Instant::now());
                }
                if self.stopping && self.current.is_none() {
                    // Its `match_end` is queued ahead of the close.
                    return Flow::Close(1001, "server shutting down");
                }
                Flow::Continue
            }
            SessionEvent::MatchFound(found) => {
                self.send(&found);
                Flow::Continue
            }
            SessionEvent::Seated(seated) => {
                self.joining = false;
                let leave = std::mem::take(&mut self.leave_on_seat);
                match seated {
                    Ok(handle) if leave => {
                        handle.leave(self.link.player_id, self.link.conn_id).await;
                        self.left_match_at = Some(Instant::now());
                        self.last_seq = None;
                        Flow::Continue
                    }
                    Ok(handle) => {
                        self.current = Some(handle);
                        self.last_seq = None;
                        Flow::Continue
                    }
                    Err(e) => self.refuse(ErrorCode::NoMatchAvailable, e),
                }
            }
            SessionEvent::Refused(code, message) => self.refuse(code, message),
        }
    }

    /// The current match, forgetting it if it has ended.
    fn current(&mut self) -> Option<&MatchHandle> {
        if self.current.as_ref().is_some_and(|m| m.is_over()) {
            self.current = None;
            self.left_match_at = Some(Instant::now());
        }
        self.current.as_ref()
    }

    async fn on_message(&mut self, bytes: &[u8], delivery: Delivery) -> Flow {
        let now = Instant::now();
        if let Some(flow) = self.over_budget(now) {
            return flow;
        }
        let msg = match decode_client(bytes) {
            Ok(msg) => msg,
            Err(DecodeError::Malformed(why)) => return self.refuse(ErrorCode::Malformed, why),
            Err(DecodeError::UnknownType(t)) => {
                return self.refuse(
                    ErrorCode::UnknownType,
                    format!("unknown message type `{t}`"),
                );
            }
        };
        match msg {
            ClientMsg::Play => self.play(),
            ClientMsg::Leave => self.leave(now).await,
            ClientMsg::Input {
                seq,
                tick,
                input,
                shown,
                earlier,
            } => {
                let sent = Sent {
                    seq,
                    ack_tick: tick,
                    shown,
                };
                self.input(sent, input, &earlier, delivery, now)
            }
            ClientMsg::Ping { client_time } => self.pong(client_time),
            ClientMsg::JoinRoom { room } => self.join_room(room).await,
            ClientMsg::LeaveRoom { room } => self.leave_room(room).await,
            ClientMsg::Chat { room, text } => self.chat(room, &text, now),
            ClientMsg::Typing { room } => self.typing(room, now),
            ClientMsg::Queue { mode } => self.queue(mode),
            ClientMsg::CancelQueue => self.cancel_queue(),
            ClientMsg::JoinMatch { ticket } => self.join_match(&ticket),
            ClientMsg::PartyInvite { player_id } => self.party_invite(player_id),
            ClientMsg::PartyAccept { party_id } => self.party_accept(&party_id),
            ClientMsg::PartyLeave => self.party_leave(),
            ClientMsg::Leaderboard {
                request_id,
                board,
                period,
                around_me,
                cursor,
                limit,
            } => self.leaderboard(request_id, board, &period, around_me, cursor, limit),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The session driven through channels instead of a socket, with tokio's
    //! clock paused so timeouts take no real time.

    use super::*;
    use crate::config::Config;
    use skirmish_shared::codec::decode_server;
    use skirmish_shared::proto::PlayerId;
    use tokio::sync::watch;

    struct Harness {
        to_session: mpsc::UnboundedSender<Inbound>,
        from_session: mpsc::UnboundedReceiver<Frame>,
        _shutdown: watch::Sender<bool>,
        /// The node's results outbox, removed with the harness.
        data_dir: std::path::PathBuf,
    }

    impl Drop for Harness {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }

    async fn start() -> Harness {
        let mut config = Config::for_tests(concat!(env!("CARGO_MANIFEST_DIR"), "/../assets"));
        config.limits.idle_timeout_s = IDLE.as_secs_f32();
        config.limits.heartbeat_s = 1.0;
        let data_dir = config.data_dir.clone();
        let (shutdown_tx, shutdown) = watch::channel(false);
        let (guard, _done) = mpsc::channel(1);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let arena =
            skirmish_arena::load(&config.assets, config.tick_rate, None).expect("the arena");
        let hill = skirmish_hill::load(&config.assets, config.tick_rate, None).expect("the hill");
        let (_, files) = config.game_files("arena-64");
        let arena_64 = skirmish_arena::load_variant(&config.assets, &files, config.tick_rate, None)
            .expect("the shipped variant");
        let games = crate::games::Games::default()
            .with::<skirmish_arena::ArenaMatch>(arena)
            .with::<skirmish_hill::HillMatch>(hill)
            .with_name::<skirmish_arena::ArenaMatch>("arena-64", arena_64);
        let node = Node::new(config, games, addr, shutdown, guard)
            .await
            .expect("shipped assets load");
        let (to_session, inbound) = mpsc::unbounded_channel();
        let inbound = Box::pin(futures_util::stream::unfold(inbound, |mut rx| async move {
            rx.recv().await.map(|frame| (frame, rx))
        }));
        let (outbound, from_session) = mpsc::unbounded_channel::<Frame>();
        let outbound = Box::pin(futures_util::sink::unfold(
            outbound,
            |tx, frame: Frame| async move {
                tx.send(frame).map_err(|_| ())?;
                Ok::<_, ()>(tx)
            },
        ));
        let claims = Claims {
            player_id: PlayerId(1),
            name: "Test".into(),
            expires_at: u64::MAX,
        };
        tokio::spawn(run(node, claims, inbound, outbound));
        Harness {
            to_session,
            from_session,
            _shutdown: shutdown_tx,
            data_dir,
        }
    }

    impl Harness {
        async fn next(&mut self) -> Frame {
            self.from_session.recv().await.expect("the session sends")
        }

        async fn next_message(&mut self) -> ServerMsg {
            loop {
                match self.next().await {
                    Frame::Binary(bytes) | Frame::Snapshot(bytes) => {
                        return decode_server(&bytes).expect("a protocol message");
                    }
                    Frame::Ping => {}
                    Frame::Close(code, reason) => panic!("closed: {code} {reason}"),
                }
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn welcome_then_errors_for_bad_frames() {
        let mut h = start().await;
        assert!(matches!(
            h.next_message().await,
            ServerMsg::Welcome {
                protocol: PROTOCOL_VERSION,
                ..
            }
        ));
        h.to_session
            .send(Inbound::Binary(Bytes::from_static(&[0xc1])))
            .expect("send");
        assert!(matches!(
            h.next_message().await,
            ServerMsg::Error {
                code: ErrorCode::Malformed,
                ..
            }
        ));
        h.to_session.send(Inbound::Text).expect("send");
        assert!(matches!(
            h.next_message().await,
            ServerMsg::Error {
                code: ErrorCode::TextFrame,
                ..
            }
        ));
    }

    /// The harness's idle timeout.
    const IDLE: Duration = Duration::from_secs(3);

    /// Reads past pings to the close and checks it is the idle close, one
    /// idle time after `last_frame` (a tick of the clock late at most).
    async fn closes_idle_after(h: &mut Harness, last_frame: tokio::time::Instant) {
        let code = loop {
            match h.next().await {
                Frame::Ping => {}
                Frame::Close(code, _) => break code,
                Frame::Binary(_) | Frame::Snapshot(_) => panic!("no messages expected"),
            }
        };
        assert_eq!(code, close::IDLE_TIMEOUT);
        let after = tokio::time::Instant::now() - last_frame;
        assert!(
            after >= IDLE && after < IDLE + Duration::from_millis(100),
            "closed {after:?} after the last frame; the idle time is {IDLE:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_pinged_then_closed_as_idle() {
        let mut h = start().await;
        assert!(matches!(h.next_message().await, ServerMsg::Welcome { .. }));
        let welcomed = tokio::time::Instant::now();
        assert_eq!(
            h.next().await,
            Frame::Ping,
            "pinged after the heartbeat interval"
        );
        closes_idle_after(&mut h, welcomed).await;
    }

    /// Regression: the test said a pong resets the idle timer, but with the
    /// clock paused nothing checked when the close came, so a pong that
    /// reset nothing passed too.
    #[tokio::test(start_paused = true)]
    async fn a_pong_resets_the_idle_timer() {
        let mut h = start().await;
        assert!(matches!(h.next_message().await, ServerMsg::Welcome { .. }));
        assert_eq!(h.next().await, Frame::Ping);
        // Most of the idle time passes, then the pong comes.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        h.to_session.send(Inbound::Control).expect("send");
        let ponged = tokio::time::Instant::now();
        closes_idle_after(&mut h, ponged).await;
    }

    impl Harness {
        fn send(&self, msg: &ClientMsg) {
            self.to_session
                .send(Inbound::Binary(Bytes::from(encode(msg))))
                .expect("send");
        }

        /// The codes of the next `n` errors, skipping other messages;
        /// `Err(code)` if the session closes first.
        async fn errors(&mut self, n: usize) -> Result<Vec<ErrorCode>, u16> {
            let mut codes = Vec::new();
            while codes.len() < n {
                match self.next().await {
                    Frame::Binary(bytes) | Frame::Snapshot(bytes) => {
                        if let Ok(ServerMsg::Error { code, .. }) = decode_server(&bytes) {
                            codes.push(code);
                        }
                    }
                    Frame::Ping => {}
                    Frame::Close(code, _) => return Err(code),
                }
            }
            Ok(codes)
        }

        /// The close code, skipping everything before it.
        async fn close_code(&mut self) -> u16 {
            loop {
                if let Frame::Close(code, _) = self.next().await {
                    return code;
                }
            }
        }
    }

    /// Errors a correct client can get from a race (here `leave` after the
    /// match is gone, and `queue` while already queued, answered by a task)
    /// are not strikes, so they never close the connection; PROTOCOL.md
    /// used to say every error but four counted, while the task-answered
    /// ones silently did not.
    #[tokio::test(start_paused = true)]
    async fn racing_state_errors_are_answered_but_not_counted_as_strikes() {
        let mut h = start().await;
        assert!(matches!(h.next_message().await, ServerMsg::Welcome { .. }));
        for _ in 0..25 {
            h.send(&ClientMsg::Leave);
        }
        let codes = h.errors(25).await.expect("still open");
        assert!(
            codes.iter().all(|c| *c == ErrorCode::NotInMatch),
            "{codes:?}"
        );

        h.send(&ClientMsg::Queue { mode: "ffa".into() });
        for _ in 0..15 {
            h.send(&ClientMsg::Queue { mode: "ffa".into() });
        }
        let codes = h.errors(15).await.expect("still open");
        assert!(
            codes.iter().all(|c| *c == ErrorCode::AlreadyQueued),
            "{codes:?}"
        );
        assert!(!ErrorCode::AlreadyQueued.is_strike());
    }

    /// A strike found by a task the session started (a leaderboard query
    /// for a board that does not exist) counts like one the reader finds.
    #[tokio::test(start_paused = true)]
    async fn strikes_found_by_a_task_count_like_the_readers_own() {
        let mut h = start().await;
        assert!(matches!(h.next_message().await, ServerMsg::Welcome { .. }));
        for i in 0..20 {
            h.send(&ClientMsg::Leaderboard {
                request_id: i,
                board: "no_such_board".into(),
                period: "all_time".into(),
                around_me: false,
                cursor: None,
                limit: 10,
            });
        }
        assert_eq!(h.errors(20).await, Err(close::TOO_MANY_ERRORS));
    }

    /// Regression: pings and pongs from the client (`Inbound::Control`)
    /// skipped the rate limit, so a ping flood was never answered.
    #[tokio::test(start_paused = true)]
    async fn a_ping_flood_is_rate_limited_and_closed_like_any_flood() {
        let mut h = start().await;
        assert!(matches!(h.next_message().await, ServerMsg::Welcome { .. }));
        // A second's budget (55 at 30 Hz) plus three seconds' worth of
        // drops (90) and then some.
        for _ in 0..400 {
            if h.to_session.send(Inbound::Control).is_err() {
                break;
            }
        }
        let mut rate_limited = false;
        loop {
            match h.next().await {
                Frame::Binary(bytes) | Frame::Snapshot(bytes) => {
                    if let Ok(ServerMsg::Error { code, .. }) = decode_server(&bytes) {
                        rate_limited |= code == ErrorCode::RateLimited;
                    }
                }
                Frame::Ping => {}
                Frame::Close(code, _) => {
                    assert_eq!(code, close::RATE_LIMIT);
                    break;
                }
            }
        }
        assert!(rate_limited, "the flood was told it was dropped");
    }

    /// A client pinging at a sane rate is never limited.
    #[tokio::test(start_paused = true)]
    async fn occasional_pings_stay_within_the_budget() {
        let mut h = start().await;
        assert!(matches!(h.next_message().await, ServerMsg::Welcome { .. }));
        for _ in 0..40 {
            h.to_session.send(Inbound::Control).expect("send");
        }
        h.send(&ClientMsg::Leave);
        assert_eq!(h.errors(1).await, Ok(vec![ErrorCode::NotInMatch]));
        h.to_session
            .send(Inbound::Closed(Some(1000)))
            .expect("send");
        assert_eq!(h.close_code().await, 1000);
    }

    #[tokio::test(start_paused = true)]
    async fn an_oversized_frame_closes_with_1009() {
        let mut h = start().await;
        assert!(matches!(h.next_message().await, ServerMsg::Welcome { .. }));
        h.to_session.send(Inbound::TooLarge).expect("send");
        loop {
            if let Frame::Close(code, _) = h.next().await {
                assert_eq!(code, 1009);
                break;
            }
        }
    }
}
