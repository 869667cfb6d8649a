//! One bot playing the whole flow: log in, join a chat room if asked,
//! quick-play, play with the shared [`Brain`] once per tick, read the
//! results, play again until the run ends. A lost connection is retried
//! with exponential backoff and full jitter, and the node gives the bot its
//! seat back when it returns in time.

use crate::client::{ClientError, Connection, Incoming, Lazy, Transport, login};
use crate::pilot::Pilot;
use crate::repeats::Repeats;
use crate::replica::{Replica, ReplicaError};
use crate::stats::{EndedMatch, Latency, Stats};
use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};
use skirmish_arena::brain::Behavior;
use skirmish_shared::codec::read_snapshot;
use skirmish_shared::game::GameData;
use skirmish_shared::proto::{ClientMsg, MatchId, ModeId, RoomId, ServerMsg};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};

/// A chat plan: which room to join and how often to say something.
#[derive(Clone, Debug)]
pub struct ChatPlan {
    /// The room.
    pub room: RoomId,
    /// About how often to post (the first post comes at a random point in
    /// the first interval).
    pub every: Duration,
}

/// What one bot does.
#[derive(Clone, Debug)]
pub struct BotConfig {
    /// Node base URL, e.g. `http://127.0.0.1:8080`.
    pub base_url: String,
    /// Every node the bot was told of (its own among them): where it asks
    /// for another live node when its own refuses it or is gone.
    pub nodes: Vec<String>,
    /// Display name.
    pub name: String,
    /// Seeds the bot's brain and its jitter.
    pub seed: u64,
    /// How it plays.
    pub behavior: Behavior,
    /// When to stop.
    pub until: Instant,
    /// Chat, if any.
    pub chat: Option<ChatPlan>,
    /// Queue for this matchmaking mode (following the redirect to the host)
    /// rather than quick-play on the node the bot is on.
    pub queue: Option<ModeId>,
    /// At `until`, a bot in a match plays it to its end before it leaves,
    /// so every match it started ends with a result (for soak runs that
    /// check the leaderboards against the matches).
    pub finish_matches: bool,
    /// WebSocket or WebTransport.
    pub transport: Transport,
}

/// Swarm-wide live counters, for the progress display.
#[derive(Debug, Default)]
pub struct Live {
    /// Bots with an open connection.
    pub connected: AtomicU32,
    /// Bots seated in a match.
    pub in_match: AtomicU32,
    /// Matches finished (per bot).
    pub matches: AtomicU64,
    /// Errors so far.
    pub errors: AtomicU64,
    /// Recent round trips, cleared by the display.
    pub recent_rtt: Mutex<Latency>,
}

impl Live {
    fn error(&self, stats: &mut Stats, kind: impl Into<String>) {
        stats.error(kind);
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// What one bot did.
#[derive(Debug, Default)]
pub struct BotOutcome {
    /// Its measurements.
    pub stats: Stats,
}

/// How a connection ended.
enum End {
    /// The run is over; closed normally.
    Done,
    /// A match was found on another node: connect there and take the seat.
    Redirect {
        /// The host's base URL.
        host_url: String,
        /// The join ticket.
        ticket: String,
    },
    /// The bot's seat is held in a match on another node: connect there,
    /// where the seat comes back.
    Rejoin {
        /// The host's base URL.
        host_url: String,
    },
    /// Lost; try again.
    Lost,
    /// Closed for a reason retrying cannot fix (replaced by another
    /// connection of the same player).
    Fatal,
}

/// Backoff before retry `attempt` (0-based): a uniform random wait up to
/// `min(5 s, 250 ms * 2^attempt)` ("full jitter"), so a crowd of bots that
/// lost a node together does not come back in lockstep.
pub fn backoff(rng: &mut ChaCha8Rng, attempt: u32) -> Duration {
    let cap = Duration::from_millis(250)
        .saturating_mul(1 << attempt.min(10))
        .min(Duration::from_secs(5));
    let unit = f64::from(rng.next_u32()) / f64::from(u32::MAX);
    cap.mul_f64(unit)
}

/// Plays until `config.until`, reconnecting as needed; never fails (errors
/// are counted in the stats).
pub async fn run_bot(http: &reqwest::Client, config: &BotConfig, live: &Live) -> BotOutcome {
    let mut stats = Stats::default();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x5eed);
    let mut attempt = 0;
    let session = loop {
        match login(http, &config.base_url, &config.name).await {
            Ok(session) => break session,
            Err(e) => {
                live.error(&mut stats, "login");
                tracing::debug!(bot = %config.name, error = %e, "login failed");
                if !pause(backoff(&mut rng, attempt), config.until).await {
                    return BotOutcome { stats };
                }
                attempt += 1;
            }
        }
    };
    attempt = 0;
    let mut connected_before = false;
    // Where the bot connects (the host after a redirect: a player stays on
    // the node that hosted their last match), and what it is waiting for.
    let mut flow = Flow {
        base_url: config.base_url.clone(),
        join_ticket: None,
        asked_at: None,
        connected_at: Instant::now(),
        pilot: None,
        tick_rate: 30,
    };
    while Instant::now() < config.until {
        let conn = match Connection::open(http, &flow.base_url, &session.token, config.transport)
            .await
        {
            Ok(conn) => conn,
            Err(e) => {
                live.error(&mut stats, "connect");
                tracing::debug!(bot = %config.name, error = %e, "connect failed");
                // The node is gone or draining: play on another live one
                // (in its lobby: a match on the lost node is lost with it).
                if let Some(url) = another_node(http, config, &flow.base_url, &mut rng).await {
                    tracing::debug!(bot = %config.name, from = %flow.base_url, to = %url, "failing over");
                    stats.failovers += 1;
                    flow.base_url = url;
                    flow.join_ticket = None;
                    flow.asked_at = None;
                    flow.pilot = None;
                }
                if !pause(backoff(&mut rng, attempt), config.until).await {
                    break;
                }
                attempt += 1;
                continue;
            }
        };
        if connected_before && flow.join_ticket.is_none() {
            stats.reconnects += 1;
        }
        connected_before = true;
        attempt = 0;
        live.connected.fetch_add(1, Ordering::Relaxed);
        let end = play(conn, config, &mut flow, &mut rng, &mut stats, live).await;
        live.connected.fetch_sub(1, Ordering::Relaxed);
        match end {
            End::Done | End::Fatal => break,
            End::Redirect { host_url, ticket } => {
                stats.redirects += 1;
                flow.base_url = host_url;
                flow.join_ticket = Some(ticket);
            }
            End::Rejoin { host_url } => {
                stats.redirects += 1;
                flow.base_url = host_url;
                flow.join_ticket = None;
            }
            End::Lost => {
                stats.disconnects += 1;
                if !pause(backoff(&mut rng, attempt), config.until).await {
                    break;
                }
                attempt += 1;
            }
        }
    }
    BotOutcome { stats }
}

/// A live node other than `failing`, picked at random from what `GET
/// /api/nodes` answers at the first of the bot's known nodes that answers
/// (`failing` last); `None` if none answers or lists another.
async fn another_node(
    http: &reqwest::Client,
    config: &BotConfig,
    failing: &str,
    rng: &mut ChaCha8Rng,
) -> Option<String> {
    let same = |a: &str, b: &str| a.trim_end_matches('/') == b.trim_end_matches('/');
    let ask = config
        .nodes
        .iter()
        .filter(|u| !same(u, failing))
        .chain(config.nodes.iter().filter(|u| same(u, failing)));
    for url in ask {
        let listed = async {
            let body: serde_json::Value = http
                .get(format!("{}/api/nodes", url.trim_end_matches('/')))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .ok()?
                .error_for_status()
                .ok()?
                .json()
                .await
                .ok()?;
            let urls: Vec<String> = body["nodes"]
                .as_array()?
                .iter()
                .filter_map(|n| n["public_url"].as_str())
                .filter(|u| !same(u, failing))
                .map(str::to_owned)
                .collect();
            Some(urls)
        };
        if let Some(urls) = listed.await.filter(|u| !u.is_empty()) {
            let pick = rng.next_u32() as usize % urls.len();
            return urls.into_iter().nth(pick);
        }
    }
    None
}

/// Sleeps for `d` unless that passes `until`; returns whether time is left.
async fn pause(d: Duration, until: Instant) -> bool {
    let wake = Instant::now() + d;
    if wake >= until {
        tokio::time::sleep_until(until).await;
        return false;
    }
    tokio::time::sleep_until(wake).await;
    true
}

/// The match a bot is in.
struct InMatch {
    match_id: MatchId,
    you: u16,
    /// What the game asks of the bot.
    pilot: Pilot,
    /// The match's state, from its snapshots.
    replica: Replica,
    seq: u32,
    /// The last inputs sent, for `earlier`.
    repeats: Repeats,
    /// When each recent input was sent, by `seq % INPUT_RING`.
    sent_at: Vec<Option<(u32, Instant)>>,
    last_ack: u32,
    last_snapshot: Option<Instant>,
    /// When each decoded snapshot arrived, with its tick: folded into the
    /// stats when the bot's part in the match ends.
    arrivals: Vec<(u32, Instant)>,
    /// The match's tick period.
    period: Duration,
}

/// Inputs remembered for acknowledgement timing (8.5 s at 30 Hz).
const INPUT_RING: usize = 256;

impl InMatch {
    fn new(match_id: MatchId, you: u16, pilot: Pilot, replica: Replica, tick_rate: u16) -> Self {
        InMatch {
            arrivals: Vec::new(),
            period: Duration::from_secs(1) / u32::from(tick_rate.max(1)),
            match_id,
            you,
            pilot,
            replica,
            seq: 0,
            repeats: Repeats::default(),
            sent_at: vec![None; INPUT_RING],
            last_ack: 0,
            last_snapshot: None,
        }
    }

    /// The `input` for `input`, the next `seq`: it says the newest tick
    /// decoded as the tick shown (a bot aims at what it decoded), and over
    /// WebTransport, whose datagrams may be lost, repeats the inputs before
    /// it not yet acknowledged.
    fn input_message(&mut self, input: GameData, transport: Transport) -> ClientMsg {
        let tick = self.replica.ack();
        let earlier = if transport == Transport::Wt {
            self.repeats.next(self.seq, self.last_ack, &input)
        } else {
            Vec::new()
        };
        ClientMsg::Input {
            seq: self.seq,
            tick,
            input,
            shown: (tick > 0).then_some(tick),
            earlier,
        }
    }

    /// Adds this match's snapshot arrivals to the stats: how late each
    /// arrived against the earliest of them, each taken at its tick's place
    /// on the match's clock (so network delay beyond the best case, queueing
    /// and the node's tick jitter, not the base latency), and how many of
    /// the ticks between the first and the last it decoded.
    fn fold_arrivals(&mut self, stats: &mut Stats) {
        let arrivals = std::mem::take(&mut self.arrivals);
        let (Some(&(first_tick, first_at)), Some(&(last_tick, _))) =
            (arrivals.first(), arrivals.last())
        else {
            return;
        };
        let period = self.period.as_secs_f64();
        let offset = |(tick, at): &(u32, Instant)| {
            at.duration_since(first_at).as_secs_f64()
                - f64::from(tick.wrapping_sub(first_tick)) * period
        };
        let earliest = arrivals.iter().map(offset).fold(f64::INFINITY, f64::min);
        for arrival in &arrivals {
            let late = (offset(arrival) - earliest).max(0.0);
            stats
                .snapshot_lateness
                .record(Duration::from_secs_f64(late));
        }
        stats.ticks_seen += arrivals.len() as u64;
        stats.ticks_spanned += u64::from(last_tick.wrapping_sub(first_tick)) + 1;
    }
}

/// What carries over from one connection to the next.
struct Flow {
    /// The node to connect to.
    base_url: String,
    /// A seat to take on arrival (after a redirect).
    join_ticket: Option<String>,
    /// When the bot asked to play, for time to match across a redirect.
    asked_at: Option<Instant>,
    /// When the current connection opened; pings carry times relative to it.
    connected_at: Instant,
    /// The last match's pilot, kept across a dropped connection so a bot
    /// that gets its seat back plays on with the same brain.
    pilot: Option<(MatchId, Pilot)>,
    /// The node's tick rate, from its `welcome`.
    tick_rate: u16,
}

/// Where the bot is in the flow.
enum Phase {
    /// In the lobby, not asking to play (the run is ending).
    Lobby,
    /// Asked to play (at the instant, if the bot asked rather than resumed).
    Waiting(Option<Instant>),
    /// Seated.
    Playing(Box<InMatch>),
}

/// One connection's life.
async fn play(
    mut conn: Connection,
    config: &BotConfig,
    flow: &mut Flow,
    rng: &mut ChaCha8Rng,
    stats: &mut Stats,
    live: &Live,
) -> End {
    flow.connected_at = Instant::now();
    let started = flow.connected_at;
    let tick_rate = match tokio::time::timeout(Duration::from_secs(10), conn.recv()).await {
        Ok(Ok(Incoming::Msg(ServerMsg::Welcome {
            tick_rate,
            resuming,
            ..
        }))) => {
            let phase = if resuming {
                Phase::Waiting(None)
            } else {
                Phase::Lobby
            };
            (tick_rate, phase)
        }
        Ok(Ok(other)) => {
            live.error(stats, "protocol");
            tracing::debug!(bot = %config.name, got = ?other, "expected welcome");
            return End::Lost;
        }
        Ok(Err(_)) | Err(_) => {
            live.error(stats, "welcome");
            return End::Lost;
        }
    };
    let (tick_rate, mut phase) = tick_rate;
    flow.tick_rate = tick_rate;
    let end = async {
                if matches!(phase, Phase::Lobby) {
            match flow.join_ticket.take() {
                Some(ticket) => {
                    conn.send(&ClientMsg::JoinMatch { ticket }).await?;
                    phase = Phase::Waiting(flow.asked_at);
                }
                None => phase = ask_to_play(&mut conn, config, flow).await?,
            }
        }
        if let Some(chat) = &config.chat {
            conn.send(&ClientMsg::JoinRoom { room: chat.room.clone() }).await?;
        }
        let mut ticker = tokio::time::interval(Duration::from_secs(1) / u32::from(tick_rate));
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut pinger = tokio::time::interval(Duration::from_secs(1));
        let chat_every = config.chat.as_ref().map_or(Duration::from_secs(3600), |c| c.every);
        let first_chat = chat_every.mul_f64(f64::from(rng.next_u32()) / f64::from(u32::MAX));
        let mut chatter = tokio::time::interval_at(Instant::now() + first_chat, chat_every);
        let mut n_chats = 0u32;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(config.until),
                    if !(config.finish_matches && matches!(phase, Phase::Playing(_))) => {
                    conn.close().await;
                    return Ok::<End, ClientError>(End::Done);
                }
                _ = ticker.tick() => {
                    let Phase::Playing(m) = &mut phase else { continue };
                    let input = m.pilot.decide(tick_rate).unwrap_or_else(|| m.pilot.idle());
                    m.seq += 1;
                    m.pilot.sent(m.seq);
                    m.sent_at[m.seq as usize % INPUT_RING] = Some((m.seq, Instant::now()));
                    let msg = m.input_message(input, conn.transport());
                    conn.send(&msg).await?;
                    stats.inputs += 1;
                }
                _ = pinger.tick() => {
                    let client_time = started.elapsed().as_secs_f64() * 1000.0;
                    conn.send(&ClientMsg::Ping { client_time }).await?;
                }
                _ = chatter.tick(), if config.chat.is_some() => {
                    if let Some(chat) = &config.chat {
                        n_chats += 1;
                        let text = format!("{} says hello #{n_chats}", config.name);
                        conn.send(&ClientMsg::Chat { room: chat.room.clone(), text }).await?;
                        stats.chats += 1;
                    }
                }
                incoming = conn.recv_lazy() => match incoming? {
                    Lazy::Snapshot { ack, raw, .. } => on_snapshot(ack, &raw, &mut phase, stats, live),
                    Lazy::Other(Incoming::Msg(msg)) => {
                                                if let Some(end) = on_message(msg, &mut phase, &mut conn, config, flow, stats, live).await? {
                            return Ok(end);
                        }
                    }
                    Lazy::Other(Incoming::Closed(frame)) => {
                        // A close the node chose is an error worth counting;
                        // a connection that just dropped is a disconnect.
                        let code = frame.map(|(code, _)| code);
                        if let Some(code) = code {
                            live.error(stats, format!("closed_{code}"));
                        }
                        return Ok(if code == Some(4003) { End::Fatal } else { End::Lost });
                    }
                }
            }
        }
    }
    .await;
    if let Phase::Playing(mut m) = phase {
        m.fold_arrivals(stats);
        live.in_match.fetch_sub(1, Ordering::Relaxed);
        // Kept for a reconnect into the same match, which resumes it.
        flow.pilot = Some((m.match_id, m.pilot));
    }
    stats.connected += started.elapsed();
    stats.bytes_down += conn.bytes_down;
    stats.bytes_up += conn.bytes_up;
    match end {
        Ok(end) => end,
        Err(e) => {
            // A connection that just went away is a disconnect; anything
            // else (a message the bot cannot read, a broken frame) is an
            // error too.
            if let Some(kind) = e.error_kind() {
                live.error(stats, kind);
            }
            tracing::debug!(bot = %config.name, error = %e, "connection lost");
            End::Lost
        }
    }
}

/// Queues for the configured mode, or quick-plays; returns the phase.
async fn ask_to_play(
    conn: &mut Connection,
    config: &BotConfig,
    flow: &mut Flow,
) -> Result<Phase, ClientError> {
    match &config.queue {
        Some(mode) => conn.send(&ClientMsg::Queue { mode: mode.clone() }).await?,
        None => conn.send(&ClientMsg::Play).await?,
    }
    let now = Instant::now();
    flow.asked_at = Some(now);
    Ok(Phase::Waiting(Some(now)))
}

/// Times a snapshot and, when due, reads where everyone is.
fn on_snapshot(ack: u32, raw: &[u8], phase: &mut Phase, stats: &mut Stats, live: &Live) {
    let now = Instant::now();
    stats.snapshots += 1;
    let Phase::Playing(m) = phase else { return };
    if let Some(previous) = m.last_snapshot {
        stats.snapshot_interval.record(now - previous);
    }
    m.last_snapshot = Some(now);
    if ack > m.last_ack {
        if let Some((seq, sent)) = m.sent_at[ack as usize % INPUT_RING]
            && seq == ack
        {
            stats.input_ack.record(now - sent);
        }
        m.last_ack = ack;
    }
    // Every snapshot is decoded: the next is a delta against one of them.
    let Some(view) = read_snapshot(raw) else {
        return;
    };
    stats.snapshot_bytes += raw.len() as u64;
    match view.base {
        None => stats.full_snapshots += 1,
        Some(base) => stats.baseline_ticks += u64::from(view.tick.saturating_sub(base)),
    }
    match m.replica.apply(&view) {
        // Overtaken by a newer one on the way: nothing to show.
        Err(ReplicaError::Stale(_)) => stats.snapshots_reordered += 1,
        Ok(_) => {
            m.arrivals.push((view.tick, now));
            if let Some((_, state)) = m.replica.latest() {
                m.pilot.observe(m.you, state, m.replica.schema());
                if let Some(error) = m.pilot.reconcile(ack) {
                    stats.prediction_error.record(error);
                }
            }
        }
        Err(e) => {
            live.error(stats, "snapshot");
            tracing::debug!(error = %e, "a snapshot did not decode");
        }
    }
}

/// Handles one message; `Some(end)` ends the connection.
async fn on_message(
    msg: ServerMsg,
    phase: &mut Phase,
    conn: &mut Connection,
    config: &BotConfig,
    flow: &mut Flow,
    stats: &mut Stats,
    live: &Live,
) -> Result<Option<End>, ClientError> {
    let now = Instant::now();
    match msg {
        ServerMsg::Joined { you, match_id, .. } => {
            // The same match again (a reconnect) keeps its brain; a new one
            // is seeded afresh from the bot's seed.
            let pilot = match flow.pilot.take() {
                Some((id, mut pilot)) if id == match_id => {
                    pilot.forget_inputs();
                    pilot
                }
                _ => {
                    let seed =
                        config.seed ^ stats.matches_completed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                    Pilot::of_joined(&msg, config.behavior, seed, flow.tick_rate)?
                }
            };
            if let Phase::Waiting(Some(asked)) = phase {
                stats.time_to_match.record(now - *asked);
            }
            match phase {
                Phase::Playing(m) => m.fold_arrivals(stats),
                _ => {
                    live.in_match.fetch_add(1, Ordering::Relaxed);
                }
            }
            let replica = Replica::of_joined(&msg)
                .ok_or_else(|| ClientError::Decode("a `joined` without a schema".into()))?;
            let m = InMatch::new(match_id, you, pilot, replica, flow.tick_rate);
            *phase = Phase::Playing(Box::new(m));
        }
        ServerMsg::MatchEnd { .. } | ServerMsg::Left { .. } => {
            if let ServerMsg::MatchEnd {
                match_id,
                reason,
                results,
            } = &msg
            {
                stats.matches_completed += 1;
                live.matches.fetch_add(1, Ordering::Relaxed);
                // The results must place this bot, best first.
                let me = match phase {
                    Phase::Playing(m) => Some(m.you),
                    _ => None,
                };
                let own = results.iter().filter(|r| Some(r.id) == me);
                stats.ended.insert(
                    *match_id,
                    EndedMatch {
                        completed: reason != "abandoned",
                        kills: own.map(|r| r.stat("kills")).sum(),
                    },
                );
                let ordered = results.windows(2).all(|w| w[0].placement <= w[1].placement);
                if !ordered || me.is_some_and(|you| !results.iter().any(|r| r.id == you)) {
                    live.error(stats, "bad_results");
                }
            }
            if let Phase::Playing(m) = phase {
                m.fold_arrivals(stats);
                live.in_match.fetch_sub(1, Ordering::Relaxed);
            }
            *phase = Phase::Lobby;
            if now < config.until {
                *phase = ask_to_play(conn, config, flow).await?;
            }
        }
        ServerMsg::MatchFound {
            host_url,
            ticket,
            same_node,
            ..
        } => {
            if same_node {
                conn.send(&ClientMsg::JoinMatch { ticket }).await?;
            } else {
                conn.close().await;
                return Ok(Some(End::Redirect { host_url, ticket }));
            }
        }
        ServerMsg::SeatElsewhere { host_url, .. } => {
            conn.close().await;
            return Ok(Some(End::Rejoin { host_url }));
        }
        ServerMsg::Pong { client_time, .. } => {
            let sent = Duration::from_secs_f64((client_time / 1000.0).max(0.0));
            let rtt = flow.connected_at.elapsed().saturating_sub(sent);
            stats.rtt.record(rtt);
            live.recent_rtt
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .record(rtt);
        }
        ServerMsg::Error { code, .. } => live.error(stats, format!("server_{code}")),
        _ => {}
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_with_full_jitter_and_a_cap() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for attempt in 0..16 {
            let cap = Duration::from_millis(250)
                .saturating_mul(1 << attempt.min(10))
                .min(Duration::from_secs(5));
            let waits: Vec<Duration> = (0..200).map(|_| backoff(&mut rng, attempt)).collect();
            assert!(waits.iter().all(|w| *w <= cap), "attempt {attempt}");
            let mean = waits.iter().sum::<Duration>() / 200;
            assert!(
                mean > cap / 3 && mean < cap * 2 / 3,
                "jitter spreads over the whole range: {mean:?} of {cap:?}"
            );
        }
    }
}
