//! [`MatchRunner`]: the task that owns one match of any [`Game`] and steps
//! it at the tick rate.
//!
//! Each tick it drains the commands queued since the last one (joins,
//! inputs, leaves), steps the game, and hands every connected player a
//! snapshot through their [`Outbox`](crate::outbox::Outbox). It never awaits
//! anything but its own timer: sending to players is a non-blocking push
//! where a newer snapshot replaces an unsent one. It knows no game: what a
//! match plays comes in as the type parameter.

mod inputs;
mod link;

pub use link::{Directory, JoinRefused, MatchCommand, MatchOver, PlayerLink, Sent};

use crate::clock::unix_ms;
use crate::results::{MatchRecord, RecordLine};
use bytes::{BufMut, Bytes, BytesMut};
use inputs::{InputQueue, Queued};
use metrics::{Counter, Histogram};
use skirmish_shared::codec::{encode, write_snapshot};
use skirmish_shared::game::{
    AdmitError, Control, EntityId, Game, GameData, Standing, TeamId, Tick,
};
use skirmish_shared::proto::{self, MatchId, PlayerId, ResultLine, RosterEntry, ServerMsg, close};
use skirmish_shared::replication::Replicator;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{info, warn};

/// How a match runs, besides its rules.
#[derive(Clone, Debug)]
pub struct RunnerSettings {
    /// How long a disconnected player's seat is held.
    pub reconnect_grace: Duration,
    /// How long a match with nobody seated lives before it is abandoned.
    pub empty_timeout: Duration,
    /// Steps per second.
    pub tick_rate: u16,
}

/// What a formed match starts with: seats held for the players it was
/// formed for until they arrive (or `arrive_by` passes), and server bots to
/// add when it starts.
#[derive(Debug)]
pub struct Hosting {
    /// Players with a seat held, by id.
    pub reserved: HashMap<PlayerId, Reservation>,
    /// When the match starts whoever has arrived.
    pub arrive_by: Instant,
    /// Server bots to add at the start.
    pub bots: u8,
}

/// A seat a formed match holds for one player.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// Who.
    pub player_id: PlayerId,
    /// Their display name.
    pub name: String,
    /// Their team, in a team mode (balanced by the matchmaker).
    pub team: Option<TeamId>,
}

/// What a match is: its id, its seed, and (for a formed match) its
/// reserved seats.
#[derive(Debug)]
pub struct MatchPlan {
    /// The match.
    pub id: MatchId,
    /// Seeds the game's randomness.
    pub seed: u64,
    /// Reserved seats and bots, for a formed match.
    pub hosting: Option<Hosting>,
}

/// A server bot: a participant driven by the game's bot brain.
#[derive(Debug)]
struct BotSeat<B> {
    entity: EntityId,
    name: String,
    brain: B,
}

/// One player's seat in the match.
#[derive(Debug)]
struct Seat<G: Game> {
    entity: EntityId,
    player_id: PlayerId,
    name: String,
    /// `None` while the player is disconnected.
    link: Option<Arc<PlayerLink>>,
    /// The tick the connection dropped, while it is down.
    away_since: Option<Tick>,
    /// The last input seq applied, echoed in snapshots.
    ack: u32,
    /// Inputs received and not yet applied, one a tick.
    inputs: InputQueue<G>,
}

/// Hands out a match's entity ids: 1, 2, … up to `u16::MAX`, each once.
/// Ids are never reused within a match (a client could mistake a newcomer
/// for the player who left), so a match that has seated 65,535 bodies over
/// its life has none left and seats no one new.
#[derive(Debug)]
struct EntityIds {
    /// The next id to hand out; `u16::MAX + 1` once all are used.
    next: u32,
}

impl Default for EntityIds {
    fn default() -> Self {
        EntityIds { next: 1 }
    }
}

impl EntityIds {
    /// The id [`EntityIds::take`] would hand out, if any is left.
    fn peek(&self) -> Option<EntityId> {
        u16::try_from(self.next).ok().map(EntityId)
    }

    /// Marks the peeked id used. Call only after the body was added, so a
    /// refused join does not use up an id.
    fn take(&mut self) {
        if self.peek().is_some() {
            self.next += 1;
        }
    }
}

/// The metric handles a runner records into every tick.
#[derive(Debug)]
struct Meters {
    /// The work of one tick: from its start to its last snapshot handed over.
    tick_duration: Histogram,
    /// How long after its deadline a tick started: the node's scheduling,
    /// which the duration alone does not show.
    tick_lateness: Histogram,
    ticks: Counter,
    ticks_behind: Counter,
    snapshots_sent: Counter,
    snapshots_replaced: Counter,
    snapshot_bytes: Counter,
}

impl Meters {
    fn new() -> Self {
        Meters {
            tick_duration: metrics::histogram!("skirmish_tick_duration_seconds"),
            tick_lateness: metrics::histogram!("skirmish_tick_lateness_seconds"),
            ticks: metrics::counter!("skirmish_ticks_total"),
            ticks_behind: metrics::counter!("skirmish_ticks_behind_total"),
            snapshots_sent: metrics::counter!("skirmish_snapshots_total"),
            snapshots_replaced: metrics::counter!("skirmish_snapshots_replaced_total"),
            snapshot_bytes: metrics::counter!("skirmish_snapshot_bytes_total"),
        }
    }
}

/// The task state of one match.
#[derive(Debug)]
pub struct MatchRunner<G: Game> {
    id: MatchId,
    game: G,
    /// What `joined` tells a client to draw the game with; the same for
    /// every player.
    setup: GameData,
    commands: mpsc::Receiver<MatchCommand>,
    directory: Arc<dyn Directory>,
    shutdown: watch::Receiver<bool>,
    settings: RunnerSettings,
    seats: Vec<Seat<G>>,
    entity_ids: EntityIds,
    roster_changed: bool,
    /// Present until a formed match starts.
    hosting: Option<Hosting>,
    /// Whether the match was formed by matchmaking (only its players may
    /// join) rather than opened for quick play.
    formed: bool,
    bots: Vec<BotSeat<G::Bot>>,
    /// Ticks in a row with no one seated.
    empty_ticks: u32,
    /// The most ticks the game judges inputs back in time
    /// ([`Game::rewind_limit`]).
    rewind_limit: Tick,
    // Buffers reused every tick.
    inputs: Vec<Control<G::Input>>,
    /// The frames of the last ticks and what each player acknowledged.
    replicator: Replicator,
    /// One player's delta, reused.
    delta: Vec<u8>,
    /// The tick's snapshot messages, one allocation for all players: each
    /// is split off and handed over as its own `Bytes`.
    messages: BytesMut,
    meters: Meters,
}

impl<G: Game> MatchRunner<G> {
    /// A match at tick 0; it starts ticking when [`MatchRunner::run`] is
    /// spawned.
    pub fn new(
        config: Arc<G::Config>,
        plan: MatchPlan,
        settings: RunnerSettings,
        commands: mpsc::Receiver<MatchCommand>,
        directory: Arc<dyn Directory>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let MatchPlan { id, seed, hosting } = plan;
        let replicator = Replicator::new(Arc::new(G::schema(&config)));
        let rewind_limit = G::rewind_limit(&config);
        let game = G::new(config, seed);
        MatchRunner {
            id,
            formed: hosting.is_some(),
            hosting,
            bots: Vec::new(),
            setup: game.setup(),
            game,
            commands,
            directory,
            shutdown,
            settings,
            seats: Vec::new(),
            entity_ids: EntityIds::default(),
            roster_changed: false,
            empty_ticks: 0,
            rewind_limit,
            inputs: Vec::new(),
            replicator,
            delta: Vec::new(),
            messages: BytesMut::new(),
            meters: Meters::new(),
        }
    }

    /// Runs the fixed-timestep loop until the match ends.
    pub async fn run(mut self) {
        let tick_rate = self.settings.tick_rate;
        let period = Duration::from_secs(1) / u32::from(tick_rate);
        info!(match_id = %self.id, game = G::ID, tick_rate, "match started");
        let mut deadline = Instant::now() + period;
        loop {
            tokio::time::sleep_until(deadline).await;
            let started = Instant::now();
            // A tick that starts more than a period late means the node is
            // overloaded; skip the missed deadlines rather than bursting to
            // catch up, and count them.
            let behind = started.saturating_duration_since(deadline);
            self.meters.tick_lateness.record(behind.as_secs_f64());
            if behind >= period {
                let missed = (behind.as_nanos() / period.as_nanos()) as u32;
                self.meters.ticks_behind.increment(u64::from(missed));
                deadline += period * missed;
            }
            deadline += period;

            let reason = self.tick();
            self.meters
                .tick_duration
                .record(started.elapsed().as_secs_f64());
            self.meters.ticks.increment(1);
            if let Some(reason) = reason {
                self.finish(reason);
                return;
            }
        }
    }

    /// One tick; returns why the match ends, if it does.
    fn tick(&mut self) -> Option<&'static str> {
        while let Ok(command) = self.commands.try_recv() {
            self.handle(command);
        }
        if let Some(hosting) = &self.hosting {
            if *self.shutdown.borrow() {
                return Some(proto::ABANDONED);
            }
            if !hosting.reserved.is_empty() && Instant::now() < hosting.arrive_by {
                // Waiting for the players it was formed for: show them the
                // game, but the clock does not run yet.
                if self.roster_changed {
                    self.send_roster();
                }
                self.send_snapshots();
                return None;
            }
            if !self.start_formed() {
                return Some(proto::ABANDONED);
            }
        }
        self.inputs.clear();
        let step = self.game.tick() + 1;
        for seat in &mut self.seats {
            if let Some(queued) = seat.inputs.next() {
                seat.ack = queued.seq;
                let rewind = inputs::rewind(step, queued.shown, self.rewind_limit);
                self.inputs
                    .push(Control::new(seat.entity, queued.input).rewound(rewind));
            }
        }
        for bot in &mut self.bots {
            if let Some(input) = self.game.bot_input(&mut bot.brain, bot.entity) {
                self.inputs.push(Control::new(bot.entity, input));
            }
        }
        self.game.step(&self.inputs);
        self.expire_away_seats();
        if self.roster_changed {
            self.send_roster();
        }
        self.send_snapshots();

        if let Some(reason) = self.game.end() {
            return Some(reason);
        }
        if *self.shutdown.borrow() {
            return Some(proto::ABANDONED);
        }
        if self.seats.is_empty() {
            self.empty_ticks += 1;
            let limit =
                self.settings.empty_timeout.as_secs_f32() * f32::from(self.settings.tick_rate);
            if self.empty_ticks as f32 >= limit {
                return Some(proto::ABANDONED);
            }
        } else {
            self.empty_ticks = 0;
        }
        None
    }

    fn seat_of(&mut self, player_id: PlayerId, conn_id: u64) -> Option<&mut Seat<G>> {
        self.seats.iter_mut().find(|s| {
            s.player_id == player_id && s.link.as_ref().is_some_and(|l| l.conn_id == conn_id)
        })
    }

    fn handle(&mut self, command: MatchCommand) {
        match command {
            MatchCommand::Join { link, reply } => {
                let result = self.join(link);
                // The asker may have gone away; then there is no one to tell.
                let _ = reply.send(result);
            }
            MatchCommand::Input {
                player_id,
                conn_id,
                sent,
                input,
            } => {
                // The session decoded it with this match's game, so it is
                // this game's input.
                let Ok(input) = input.downcast::<G::Input>() else {
                    return;
                };
                let input = *input;
                if let Some(seat) = self.seat_of(player_id, conn_id) {
                    seat.inputs.push(Queued {
                        seq: sent.seq,
                        shown: sent.shown,
                        input,
                    });
                    let entity = seat.entity;
                    self.replicator.ack(entity, sent.ack_tick);
                }
            }
            MatchCommand::Leave { player_id, conn_id } => {
                if let Some(idx) = self.seats.iter().position(|s| {
                    s.player_id == player_id
                        && s.link.as_ref().is_some_and(|l| l.conn_id == conn_id)
                }) {
                    let seat = self.seats.remove(idx);
                    self.game.remove(seat.entity);
                    self.replicator.remove(seat.entity);
                    self.directory.player_left(self.id, player_id);
                    self.roster_changed = true;
                    if let Some(link) = seat.link {
                        let _ = link.outbox.push(
                            Bytes::from(encode(&ServerMsg::Left { match_id: self.id })),
                            close::TOO_SLOW,
                        );
                    }
                }
            }
            MatchCommand::Release { players } => {
                if let Some(hosting) = self.hosting.as_mut() {
                    for p in &players {
                        hosting.reserved.remove(p);
                    }
                }
            }
            MatchCommand::Detach { player_id, conn_id } => {
                let tick = self.game.tick();
                if let Some(seat) = self.seat_of(player_id, conn_id) {
                    seat.link = None;
                    seat.away_since = Some(tick);
                    // No controls rather than the last ones held on.
                    let ack = seat.ack;
                    seat.inputs.replace(ack, G::Input::default());
                    self.roster_changed = true;
                }
            }
        }
    }

    fn join(&mut self, link: Arc<PlayerLink>) -> Result<(), JoinRefused> {
        if self.game.end().is_some() || *self.shutdown.borrow() {
            return Err(JoinRefused::Over);
        }
        let idx = match self
            .seats
            .iter()
            .position(|s| s.player_id == link.player_id)
        {
            Some(idx) => idx,
            None => {
                let Some(entity) = self.entity_ids.peek() else {
                    return Err(JoinRefused::OutOfIds);
                };
                // A formed match seats only the players it was formed for,
                // and only until it starts, on the team it holds for them.
                let mut team = None;
                if self.formed {
                    let reserved = self
                        .hosting
                        .as_mut()
                        .and_then(|h| h.reserved.remove(&link.player_id));
                    let Some(reserved) = reserved else {
                        return Err(JoinRefused::Over);
                    };
                    team = reserved.team;
                }
                self.game.admit(entity, team).map_err(|e| match e {
                    AdmitError::Full => JoinRefused::Full,
                    AdmitError::Over => JoinRefused::Over,
                })?;
                self.entity_ids.take();
                self.seats.push(Seat {
                    entity,
                    player_id: link.player_id,
                    name: link.name.clone(),
                    link: None,
                    away_since: None,
                    ack: 0,
                    inputs: InputQueue::default(),
                });
                self.directory.player_joined(self.id, link.player_id);
                self.seats.len() - 1
            }
        };
        let joined = ServerMsg::Joined {
            match_id: self.id,
            you: self.seats[idx].entity.0,
            tick: self.game.tick(),
            game: G::ID.to_owned(),
            setup: self.setup.clone(),
            schema: self.replicator.schema().as_ref().clone(),
        };
        let _ = link
            .outbox
            .push(Bytes::from(encode(&joined)), close::TOO_SLOW);
        let seat = &mut self.seats[idx];
        // A reconnecting client numbers its inputs afresh, and has no
        // snapshot to take a delta against.
        self.replicator.reset(seat.entity);
        seat.ack = 0;
        seat.away_since = None;
        seat.link = Some(link);
        self.roster_changed = true;
        Ok(())
    }

    /// Starts a formed match with whoever arrived, adding its bots; `false`
    /// when nobody did (the match is abandoned).
    fn start_formed(&mut self) -> bool {
        let Some(hosting) = self.hosting.take() else {
            return true;
        };
        self.directory.formed_started(self.id);
        if !hosting.reserved.is_empty() {
            info!(match_id = %self.id, missing = hosting.reserved.len(), "starting without players who did not arrive");
        }
        if self.seats.is_empty() {
            return false;
        }
        for i in 0..hosting.bots {
            let Some(entity) = self.entity_ids.peek() else {
                break;
            };
            if self.game.admit(entity, None).is_err() {
                break;
            }
            self.entity_ids.take();
            let seed = self.id.0 ^ u64::from(entity.0).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            self.bots.push(BotSeat {
                entity,
                name: format!("Bot {}", i + 1),
                brain: self.game.new_bot(entity, usize::from(i), seed),
            });
        }
        self.roster_changed = true;
        true
    }

    fn expire_away_seats(&mut self) {
        let grace = (self.settings.reconnect_grace.as_secs_f32()
            * f32::from(self.settings.tick_rate)) as Tick;
        let now = self.game.tick();
        let expired: Vec<usize> = (0..self.seats.len())
            .rev()
            .filter(|&i| {
                self.seats[i]
                    .away_since
                    .is_some_and(|t| now.saturating_sub(t) >= grace)
            })
            .collect();
        for i in expired {
            let seat = self.seats.remove(i);
            self.game.remove(seat.entity);
            self.directory.player_left(self.id, seat.player_id);
            self.roster_changed = true;
        }
    }

    fn send_roster(&mut self) {
        self.roster_changed = false;
        let roster = ServerMsg::Roster {
            players: self
                .seats
                .iter()
                .map(|s| RosterEntry {
                    id: s.entity.0,
                    name: s.name.clone(),
                    connected: s.link.is_some(),
                })
                .chain(self.bots.iter().map(|b| RosterEntry {
                    id: b.entity.0,
                    name: b.name.clone(),
                    connected: true,
                }))
                .collect(),
        };
        let bytes = Bytes::from(encode(&roster));
        for link in self.seats.iter().filter_map(|s| s.link.as_ref()) {
            if link.outbox.push(bytes.clone(), close::TOO_SLOW).is_err() {
                warn!(match_id = %self.id, player = %link.player_id, "closing a client too slow to read");
            }
        }
    }

    fn send_snapshots(&mut self) {
        let tick = self.game.tick();
        // Every tick, watched or not: a player's baseline must be kept.
        self.game.replicate(self.replicator.frame_mut());
        self.replicator.commit(tick);
        // Counted once a tick, not once a snapshot.
        let (mut sent, mut bytes, mut replaced) = (0u64, 0u64, 0u64);
        self.messages.reserve(self.seats.len() * 128);
        for seat in &self.seats {
            let Some(link) = &seat.link else { continue };
            self.delta.clear();
            let interest = self.game.interest(seat.entity);
            let base = self
                .replicator
                .write(seat.entity, interest, &mut self.delta);
            write_snapshot(
                tick,
                seat.ack,
                base,
                &self.delta,
                &mut (&mut self.messages).writer(),
            );
            sent += 1;
            bytes += self.messages.len() as u64;
            if link.outbox.push_snapshot(self.messages.split().freeze()) {
                replaced += 1;
            }
        }
        self.meters.snapshots_sent.increment(sent);
        self.meters.snapshot_bytes.increment(bytes);
        self.meters.snapshots_replaced.increment(replaced);
    }

    /// The display name of a participant, player or bot.
    fn name_of(&self, entity: EntityId) -> Option<&str> {
        self.seats
            .iter()
            .find(|seat| seat.entity == entity)
            .map(|seat| seat.name.as_str())
            .or_else(|| {
                self.bots
                    .iter()
                    .find(|b| b.entity == entity)
                    .map(|b| b.name.as_str())
            })
    }

    /// Everyone's result line, best first.
    fn result_lines(&self, standings: &[Standing]) -> Vec<ResultLine> {
        standings
            .iter()
            .filter_map(|s| {
                Some(ResultLine {
                    id: s.id.0,
                    name: self.name_of(s.id)?.to_owned(),
                    placement: s.placement,
                    team: s.team.map(|t| t.0),
                    stats: s
                        .stats
                        .iter()
                        .map(|stat| (stat.name.to_owned(), stat.value))
                        .collect(),
                })
            })
            .collect()
    }

    /// Sends the results to everyone still connected and takes the match
    /// out of the directory.
    fn finish(&mut self, reason: &'static str) {
        // Every handle says the match is over before any player can read
        // its `match_end`. Regression: a client that answered `match_end`
        // with `queue` at once could be refused `already_in_match`, when
        // this thread was descheduled between sending `match_end` and the
        // session's `MatchOver`.
        self.commands.close();
        let results = self.result_lines(&self.game.standings());
        info!(
            match_id = %self.id,
            reason,
            ticks = self.game.tick(),
            players = results.len(),
            winner = results.first().map(|r| r.name.as_str()).unwrap_or("-"),
            "match ended"
        );
        // Abandoned matches (everyone left, the node shutting down) are
        // not recorded: their standings do not mean what a finished
        // match's do.
        if self.game.end().is_some() {
            let players = results
                .iter()
                .filter_map(|line| {
                    let seat = self.seats.iter().find(|seat| seat.entity.0 == line.id)?;
                    Some(RecordLine {
                        player_id: seat.player_id,
                        name: line.name.clone(),
                        placement: line.placement,
                        team: line.team,
                        stats: line.stats.clone(),
                    })
                })
                .collect();
            self.directory.record(MatchRecord {
                match_id: self.id,
                game: G::ID.to_owned(),
                finished_at_ms: unix_ms(),
                reason: reason.to_owned(),
                players,
            });
        }
        let msg = Bytes::from(encode(&ServerMsg::MatchEnd {
            match_id: self.id,
            reason: reason.to_owned(),
            results,
        }));
        for link in self.seats.iter().filter_map(|s| s.link.as_ref()) {
            let _ = link.outbox.push(msg.clone(), close::TOO_SLOW);
            link.over.match_over(self.id);
        }
        self.directory.remove(self.id);
        metrics::counter!("skirmish_matches_finished_total", "reason" => reason).increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::games::Games;
    use crate::matches::Matches;
    use crate::outbox::{Outbox, Outgoing};
    use crate::ticker::TickThreads;
    use skirmish_arena::ArenaMatch;
    use skirmish_arena::sim::GameSpec;
    use skirmish_shared::codec::decode_server;

    // These tests run the arena, the game the server binary ships with; the
    // runner itself knows no game.

    fn spec() -> GameSpec {
        spec_lasting(None)
    }

    /// The shipped arena, with the match length overridden if given.
    fn spec_lasting(duration_s: Option<u32>) -> GameSpec {
        let assets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets");
        skirmish_arena::load(&assets, 30, duration_s).expect("the shipped arena")
    }

    fn settings() -> RunnerSettings {
        RunnerSettings {
            reconnect_grace: Duration::from_secs(10),
            empty_timeout: Duration::from_secs(10),
            tick_rate: 30,
        }
    }

    fn directory(spec: GameSpec) -> (Arc<Matches>, watch::Sender<bool>) {
        let (matches, stop, _recorded) = recording_directory(spec);
        (matches, stop)
    }

    /// A directory of matches, the switch that shuts them down, and what
    /// they hand the results outbox.
    fn recording_directory(
        spec: GameSpec,
    ) -> (
        Arc<Matches>,
        watch::Sender<bool>,
        mpsc::UnboundedReceiver<MatchRecord>,
    ) {
        let (stop, shutdown) = watch::channel(false);
        // The runners' guards go nowhere: these tests do not wait for them.
        let (guard, _) = mpsc::channel(1);
        let (results, recorded) = crate::results::channel();
        let matches = Matches::new(
            Games::default().with::<ArenaMatch>(spec),
            settings(),
            8,
            results,
            shutdown,
            guard,
            TickThreads::shared(),
        );
        (matches, stop, recorded)
    }

    #[test]
    fn entity_ids_run_out_at_u16_max_instead_of_wrapping() {
        let mut ids = EntityIds {
            next: u32::from(u16::MAX) - 1,
        };
        assert_eq!(ids.peek(), Some(EntityId(u16::MAX - 1)));
        ids.take();
        assert_eq!(ids.peek(), Some(EntityId(u16::MAX)));
        ids.take();
        assert_eq!(ids.peek(), None, "no id 0 after 65535");
        ids.take();
        assert_eq!(ids.peek(), None);
    }

    /// Regression: `next_entity: u16` was incremented for every new seat, so
    /// play/leave churn in a long match overflowed it (a panic in debug, a
    /// reused id 0 and then 1 in release).
    #[tokio::test(start_paused = true)]
    async fn a_match_out_of_entity_ids_refuses_new_players_but_not_returning_ones() {
        let (matches, _stop) = directory(spec());
        let (_commands, rx) = mpsc::channel(8);
        let plan = MatchPlan {
            id: MatchId(1),
            seed: 1,
            hosting: None,
        };
        let (_stop2, shutdown) = watch::channel(false);
        let mut runner = MatchRunner::<ArenaMatch>::new(
            Arc::new(spec()),
            plan,
            settings(),
            rx,
            matches,
            shutdown,
        );
        runner.entity_ids.next = u32::from(u16::MAX);

        let last = link(1);
        runner.join(Arc::clone(&last)).expect("the last id is free");
        assert_eq!(runner.seats[0].entity, EntityId(u16::MAX));
        assert_eq!(runner.join(link(2)), Err(JoinRefused::OutOfIds));
        assert_eq!(runner.seats.len(), 1, "the refusal changed nothing");

        // The player who holds a seat can still come back to it.
        runner.handle(MatchCommand::Detach {
            player_id: last.player_id,
            conn_id: last.conn_id,
        });
        let back = link(1);
        runner.join(Arc::clone(&back)).expect("a returning player");
        assert_eq!(runner.seats[0].entity, EntityId(u16::MAX));
        let joined = drain(&back.outbox);
        assert!(
            matches!(joined[0], ServerMsg::Joined { you: u16::MAX, .. }),
            "{joined:?}"
        );
    }

    /// The same through quick play, end to end: 65,535 players come and go
    /// through one long match, which then takes no one new, so quick play
    /// opens another match rather than trying it again and again, and the
    /// player still in the first one plays on.
    #[tokio::test(start_paused = true)]
    async fn quick_play_moves_on_from_a_match_out_of_entity_ids() {
        let (matches, _stop) = directory(spec_lasting(Some(3600)));
        let stayer = link(0);
        let first = matches
            .quick_play(Arc::clone(&stayer))
            .await
            .expect("seated");
        // The stayer has id 1; batches of 15 come and go until every other
        // id is used.
        let mut next_player = 1_u64;
        let mut used = 1_u32;
        while used < u32::from(u16::MAX) {
            let batch = (u32::from(u16::MAX) - used).min(15);
            let links: Vec<Arc<PlayerLink>> = (0..batch)
                .map(|i| link(next_player + u64::from(i)))
                .collect();
            next_player += u64::from(batch);
            let seated = futures_util::future::join_all(
                links.iter().map(|l| matches.quick_play(Arc::clone(l))),
            )
            .await;
            for handle in &seated {
                let handle = handle.as_ref().expect("seated");
                assert_eq!(handle.id, first.id, "all in the one match");
            }
            for (l, handle) in links.iter().zip(&seated) {
                let handle = handle.as_ref().expect("seated");
                handle.leave(l.player_id, l.conn_id).await;
            }
            used += batch;
            // Wait for the leaves to land so the directory shows the room.
            while matches.counts().1 > 1 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let _ = drain_lossy(&stayer.outbox);
        }

        let newcomer = link(next_player);
        let elsewhere = matches
            .quick_play(Arc::clone(&newcomer))
            .await
            .expect("seated elsewhere");
        assert_ne!(elsewhere.id, first.id, "a new match");
        let next = matches
            .quick_play(link(next_player + 1))
            .await
            .expect("seated");
        assert_eq!(
            next.id, elsewhere.id,
            "the spent match is not offered again"
        );
        assert_eq!(matches.counts(), (2, 3));
        // The first match goes on for the player still in it.
        let _ = drain_lossy(&stayer.outbox);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            drain_lossy(&stayer.outbox)
                .iter()
                .any(|m| matches!(m, ServerMsg::Snapshot { .. })),
            "still ticking"
        );
    }

    /// What the runner records: a match that runs out its clock, and not
    /// one that the node's shutdown ends, whose players hear `abandoned`.
    #[tokio::test(start_paused = true)]
    async fn a_match_ended_by_shutdown_says_abandoned_and_is_not_recorded() {
        let (matches, stop, mut recorded) = recording_directory(spec_lasting(Some(1)));
        let ended = |outbox: &Outbox| {
            drain_lossy(outbox).into_iter().find_map(|m| match m {
                ServerMsg::MatchEnd { reason, .. } => Some(reason),
                _ => None,
            })
        };

        // The control: a match that runs its one second is recorded.
        let finisher = link(1);
        matches
            .quick_play(Arc::clone(&finisher))
            .await
            .expect("seated");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(ended(&finisher.outbox).as_deref(), Some("time_up"));
        let record = recorded.try_recv().expect("a finished match is recorded");
        assert_eq!(record.players.len(), 1);

        // The node shuts down during the next one.
        let stayer = link(2);
        matches
            .quick_play(Arc::clone(&stayer))
            .await
            .expect("seated");
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.send(true).expect("the runner listens");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(ended(&stayer.outbox).as_deref(), Some("abandoned"));
        assert!(
            recorded.try_recv().is_err(),
            "an abandoned match was recorded"
        );
    }

    fn link(id: u64) -> Arc<PlayerLink> {
        let (events, _) = mpsc::unbounded_channel();
        Arc::new(PlayerLink {
            player_id: PlayerId(id),
            name: format!("p{id}"),
            conn_id: id,
            outbox: Arc::new(Outbox::new(64)),
            over: Box::new(events),
        })
    }

    /// What an outbox holds, without failing on a close.
    fn drain_lossy(outbox: &Outbox) -> Vec<ServerMsg> {
        std::iter::from_fn(|| outbox.pop())
            .filter_map(|o| match o {
                Outgoing::Message(bytes) | Outgoing::Snapshot(bytes) => decode_server(&bytes).ok(),
                Outgoing::Close(..) => None,
            })
            .collect()
    }

    fn drain(outbox: &Outbox) -> Vec<ServerMsg> {
        std::iter::from_fn(|| outbox.pop())
            .map(|o| match o {
                Outgoing::Message(bytes) | Outgoing::Snapshot(bytes) => {
                    decode_server(&bytes).expect("decodes")
                }
                Outgoing::Close(code, _) => panic!("closed with {code}"),
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_player_who_never_reads_loses_old_snapshots_not_ticks() {
        let (matches, _stop) = directory(spec());
        let (slow, fast) = (link(1), link(2));
        let first = matches.quick_play(Arc::clone(&slow)).await.expect("seated");
        let second = matches.quick_play(Arc::clone(&fast)).await.expect("seated");
        assert_eq!(first.id, second.id, "quick play fills the open match");

        let mut ticks_seen = Vec::new();
        for _ in 0..90 {
            tokio::time::sleep(Duration::from_millis(1000 / 30)).await;
            for msg in drain(&fast.outbox) {
                if let ServerMsg::Snapshot { tick, .. } = msg {
                    ticks_seen.push(tick);
                }
            }
        }
        assert!(
            ticks_seen.len() >= 85,
            "the reader got a snapshot every tick: {}",
            ticks_seen.len()
        );
        assert!(ticks_seen.windows(2).all(|w| w[0] < w[1]));

        // The slow player holds its joined and roster messages and only the
        // newest snapshot; every older one was replaced.
        assert!(slow.outbox.snapshots_replaced() >= 85);
        let queued = drain(&slow.outbox);
        let snapshots: Vec<u32> = queued
            .iter()
            .filter_map(|m| {
                if let ServerMsg::Snapshot { tick, .. } = m {
                    Some(*tick)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(snapshots.len(), 1);
        assert!(
            snapshots[0] >= *ticks_seen.last().expect("ticks"),
            "the newest state"
        );
        assert!(matches!(queued[0], ServerMsg::Joined { .. }));
    }
}
