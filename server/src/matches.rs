//! The node's matches: a directory of running matches, quick play (join an
//! open match with room, or start one), and the messages a session exchanges
//! with a match.
//!
//! Each match is owned by one task ([`crate::runner::MatchRunner`]); the
//! directory only holds handles and counts, updated by the runners when
//! players come and go, and it is a hint: the runner is the authority on
//! whether a seat is free, so quick play retries when a match refuses.
//!
//! Quick play is the single-node seam for matchmaking: a cross-node
//! matchmaker decides *which* match a player joins, and then hands the
//! player to that match's runner exactly as [`Matches::quick_play`] does.

use crate::games::{Games, HostedGame};
use crate::results::{MatchRecord, ResultsSender};
use crate::runner::{
    Directory, Hosting, JoinRefused, MatchCommand, MatchPlan, PlayerLink, Reservation,
    RunnerSettings, Sent,
};
use crate::ticker::TickThreads;
use skirmish_shared::proto::{MatchId, PlayerId};
use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// A cheap handle to one running match.
#[derive(Clone, Debug)]
pub struct MatchHandle {
    /// The match.
    pub id: MatchId,
    /// The game it plays.
    pub game: Arc<dyn HostedGame>,
    tx: mpsc::Sender<MatchCommand>,
}

/// Why an input did not reach its match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The match has ended.
    Gone,
    /// The match's queue is full (it is overloaded); the input was dropped.
    Busy,
}

impl MatchHandle {
    /// Whether the match task has ended.
    pub fn is_over(&self) -> bool {
        self.tx.is_closed()
    }

    /// Queues an input without waiting; inputs are droppable.
    pub fn input(
        &self,
        player_id: PlayerId,
        conn_id: u64,
        sent: Sent,
        input: Box<dyn Any + Send>,
    ) -> Result<(), SendError> {
        self.tx
            .try_send(MatchCommand::Input {
                player_id,
                conn_id,
                sent,
                input,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SendError::Busy,
                mpsc::error::TrySendError::Closed(_) => SendError::Gone,
            })
    }

    /// Leaves the match.
    pub async fn leave(&self, player_id: PlayerId, conn_id: u64) {
        // A match that is gone has no seat to free.
        let _ = self
            .tx
            .send(MatchCommand::Leave { player_id, conn_id })
            .await;
    }

    /// Reports the connection lost.
    pub async fn detach(&self, player_id: PlayerId, conn_id: u64) {
        let _ = self
            .tx
            .send(MatchCommand::Detach { player_id, conn_id })
            .await;
    }

    async fn join(&self, link: Arc<PlayerLink>) -> Result<(), JoinRefused> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(MatchCommand::Join { link, reply })
            .await
            .map_err(|_| JoinRefused::Over)?;
        // A match that ends before answering drops the reply.
        answer.await.unwrap_or(Err(JoinRefused::Over))
    }
}

/// What [`Matches::host`] did with a formed match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostOutcome {
    /// The match is open, its seats held.
    Opened,
    /// It was open already (the former asked again).
    AlreadyHosting,
    /// The node runs its maximum number of matches; another node must host.
    AtCapacity,
}

/// Why quick play found no match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuickPlayError {
    /// Every match is full and the node runs as many as it may.
    #[error("no match has room and the node runs its maximum number of matches")]
    NoRoom,
    /// The node is shutting down and starts no match and seats no one new.
    #[error("this node is shutting down; play on another")]
    Draining,
}

#[derive(Debug)]
struct Entry {
    handle: MatchHandle,
    n_players: usize,
    /// Quick play may seat anyone here; a formed match takes only the
    /// players it was formed for.
    public: bool,
    /// Players a formed match still holds a seat for, until they arrive or
    /// it starts: part of the node's load.
    awaited: HashSet<PlayerId>,
}

#[derive(Debug, Default)]
struct Listing {
    matches: HashMap<MatchId, Entry>,
    by_player: HashMap<PlayerId, MatchId>,
}

/// The node's running matches.
#[derive(Debug)]
pub struct Matches {
    directory: Mutex<Listing>,
    games: Games,
    settings: RunnerSettings,
    max_matches: usize,
    /// Where finished matches hand their results.
    results: ResultsSender,
    shutdown: watch::Receiver<bool>,
    /// Set when the node starts shutting down: running matches play on,
    /// but none starts and quick play seats no one.
    draining: AtomicBool,
    /// Told of each player whose seat here is gone (they left, their grace
    /// ran out, or the match ended).
    seat_released: OnceLock<SeatReleased>,
    /// Held by every runner task, so the node can wait for them at shutdown.
    task_guard: mpsc::Sender<()>,
    /// Where runner tasks run.
    ticker: TickThreads,
}

/// What [`Matches::on_seat_released`] calls.
pub struct SeatReleased(pub Box<dyn Fn(PlayerId) + Send + Sync>);

impl std::fmt::Debug for SeatReleased {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SeatReleased")
    }
}

/// Commands queued per match before senders wait (inputs are dropped).
const MATCH_QUEUE: usize = 4096;

/// Quick play attempts before giving up (matches that fill up or end
/// between choosing and joining).
const QUICK_PLAY_ATTEMPTS: usize = 4;

impl Matches {
    /// An empty directory whose matches play `games` and run with
    /// `settings`.
    pub fn new(
        games: Games,
        settings: RunnerSettings,
        max_matches: usize,
        results: ResultsSender,
        shutdown: watch::Receiver<bool>,
        task_guard: mpsc::Sender<()>,
        ticker: TickThreads,
    ) -> Arc<Self> {
        Arc::new(Matches {
            directory: Mutex::default(),
            games,
            settings,
            max_matches,
            results,
            shutdown,
            draining: AtomicBool::new(false),
            seat_released: OnceLock::new(),
            task_guard,
            ticker,
        })
    }

    /// Starts no match and seats no one by quick play from now on; running
    /// matches play on (players with a seat may come back to it).
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Calls `f` with each player whose seat here is gone, from then on (a
    /// second call changes nothing). It runs on a match's thread: it must
    /// not block.
    pub fn on_seat_released(&self, f: SeatReleased) {
        let _ = self.seat_released.set(f);
    }

    fn released(&self, players: impl IntoIterator<Item = PlayerId>) {
        if let Some(SeatReleased(f)) = self.seat_released.get() {
            players.into_iter().for_each(f);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Listing> {
        self.directory
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Seats the player in the fullest match of the quick play game with
    /// room, starting a new match when none has room.
    pub async fn quick_play(
        self: &Arc<Self>,
        link: Arc<PlayerLink>,
    ) -> Result<MatchHandle, QuickPlayError> {
        if self.draining() {
            return Err(QuickPlayError::Draining);
        }
        let Some(game) = self.games.quick_play().cloned() else {
            return Err(QuickPlayError::NoRoom);
        };
        let max_players = usize::from(game.max_players());
        let mut refused: Vec<MatchId> = Vec::new();
        for _ in 0..QUICK_PLAY_ATTEMPTS {
            let handle = {
                let mut dir = self.lock();
                let best = dir
                    .matches
                    .values()
                    .filter(|e| {
                        e.public
                            && e.handle.game.name() == game.name()
                            && e.n_players < max_players
                            && !e.handle.is_over()
                            && !refused.contains(&e.handle.id)
                    })
                    .max_by_key(|e| (e.n_players, std::cmp::Reverse(e.handle.id)))
                    .map(|e| e.handle.clone());
                match best {
                    Some(handle) => handle,
                    None if dir.matches.len() < self.max_matches => {
                        self.open(&mut dir, None, None, &game)
                    }
                    None => return Err(QuickPlayError::NoRoom),
                }
            };
            match handle.join(Arc::clone(&link)).await {
                Ok(()) => return Ok(handle),
                Err(JoinRefused::OutOfIds) => {
                    // It will never take anyone new: stop offering it.
                    if let Some(entry) = self.lock().matches.get_mut(&handle.id) {
                        entry.public = false;
                    }
                    refused.push(handle.id);
                }
                Err(JoinRefused::Full | JoinRefused::Over) => refused.push(handle.id),
            }
        }
        Err(QuickPlayError::NoRoom)
    }

    /// Gives a reconnecting player their seat back, if their match still
    /// holds it.
    pub async fn rejoin(&self, link: Arc<PlayerLink>) -> Option<MatchHandle> {
        let handle = {
            let dir = self.lock();
            let id = dir.by_player.get(&link.player_id)?;
            dir.matches.get(id)?.handle.clone()
        };
        handle.join(link).await.ok().map(|()| handle)
    }

    /// The match holding a seat for the player, if any.
    pub fn match_of(&self, player_id: PlayerId) -> Option<MatchId> {
        self.lock().by_player.get(&player_id).copied()
    }

    /// Opens a match of `game` with `hosting` reservations (a formed match),
    /// or a public one; `id` is generated when not given.
    fn open(
        self: &Arc<Self>,
        dir: &mut Listing,
        id: Option<MatchId>,
        hosting: Option<Hosting>,
        game: &Arc<dyn HostedGame>,
    ) -> MatchHandle {
        let id = id.unwrap_or_else(|| {
            loop {
                let id = MatchId(rand::random());
                if !dir.matches.contains_key(&id) {
                    break id;
                }
            }
        });
        let (tx, rx) = mpsc::channel(MATCH_QUEUE);
        let handle = MatchHandle {
            id,
            game: Arc::clone(game),
            tx,
        };
        let public = hosting.is_none();
        let awaited = hosting
            .as_ref()
            .map(|h| h.reserved.keys().copied().collect())
            .unwrap_or_default();
        dir.matches.insert(
            id,
            Entry {
                handle: handle.clone(),
                n_players: 0,
                public,
                awaited,
            },
        );
        let plan = MatchPlan {
            id,
            seed: rand::random(),
            hosting,
        };
        let runner = game.runner(
            plan,
            self.settings.clone(),
            rx,
            Arc::clone(self) as Arc<dyn Directory>,
            self.shutdown.clone(),
        );
        let guard = self.task_guard.clone();
        self.ticker.spawn(async move {
            runner.await;
            drop(guard);
        });
        metrics::gauge!("skirmish_matches").increment(1.0);
        handle
    }

    /// Opens a formed match of `game` with seats held for `reserved`
    /// players until `join_window` passes, and `bots` server bots added at
    /// the start.
    pub fn host(
        self: &Arc<Self>,
        id: MatchId,
        game: &str,
        reserved: Vec<Reservation>,
        bots: u8,
        join_window: Duration,
    ) -> HostOutcome {
        let hosting = Hosting {
            reserved: reserved.into_iter().map(|r| (r.player_id, r)).collect(),
            arrive_by: tokio::time::Instant::now() + join_window,
            bots,
        };
        let mut dir = self.lock();
        if dir.matches.contains_key(&id) {
            return HostOutcome::AlreadyHosting;
        }
        let Some(game) = self.games.get(game).cloned() else {
            tracing::warn!(%id, game, "asked to host a game this node does not serve");
            return HostOutcome::AtCapacity;
        };
        if dir.matches.len() >= self.max_matches || self.draining() {
            return HostOutcome::AtCapacity;
        }
        self.open(&mut dir, Some(id), Some(hosting), &game);
        HostOutcome::Opened
    }

    /// Stops holding seats in a formed match for players who will not come.
    pub fn release(&self, id: MatchId, players: Vec<PlayerId>) {
        let mut dir = self.lock();
        let Some(entry) = dir.matches.get_mut(&id) else {
            return;
        };
        // The directory stops counting the seats only when the match is told
        // to stop holding them. A full command queue means an overloaded
        // match; the seats then lapse with the join window, and count until
        // then.
        let released = players.clone();
        if entry
            .handle
            .tx
            .try_send(MatchCommand::Release { players })
            .is_ok()
        {
            for p in &released {
                entry.awaited.remove(p);
            }
        }
    }

    /// The players that formed matches here hold seats for and who are not
    /// seated yet.
    pub fn awaited(&self) -> Vec<PlayerId> {
        self.lock()
            .matches
            .values()
            .flat_map(|e| e.awaited.iter().copied())
            .collect()
    }

    /// Seats a player in the formed match their join ticket names.
    pub async fn join_formed(
        &self,
        id: MatchId,
        link: Arc<PlayerLink>,
    ) -> Result<MatchHandle, JoinRefused> {
        let handle = self
            .lock()
            .matches
            .get(&id)
            .map(|e| e.handle.clone())
            .ok_or(JoinRefused::Over)?;
        handle.join(link).await.map(|()| handle)
    }

    /// Running matches and the players seated in them.
    pub fn counts(&self) -> (usize, usize) {
        let dir = self.lock();
        (dir.matches.len(), dir.by_player.len())
    }

    /// Completes once no match runs (looking every 100 ms).
    pub async fn until_none(&self) {
        while self.counts().0 > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The runners report here: the directory's counts follow them.
impl Directory for Matches {
    fn formed_started(&self, match_id: MatchId) {
        if let Some(entry) = self.lock().matches.get_mut(&match_id) {
            entry.awaited.clear();
        }
    }

    fn player_joined(&self, match_id: MatchId, player_id: PlayerId) {
        let mut dir = self.lock();
        if let Some(entry) = dir.matches.get_mut(&match_id) {
            entry.n_players += 1;
            entry.awaited.remove(&player_id);
            dir.by_player.insert(player_id, match_id);
        }
    }

    fn player_left(&self, match_id: MatchId, player_id: PlayerId) {
        let mut dir = self.lock();
        if let Some(entry) = dir.matches.get_mut(&match_id) {
            entry.n_players = entry.n_players.saturating_sub(1);
        }
        if dir.by_player.get(&player_id) == Some(&match_id) {
            dir.by_player.remove(&player_id);
            drop(dir);
            self.released([player_id]);
        }
    }

    fn record(&self, record: MatchRecord) {
        self.results.record(record);
    }

    fn remove(&self, match_id: MatchId) {
        let mut dir = self.lock();
        if dir.matches.remove(&match_id).is_some() {
            let seated: Vec<PlayerId> = dir
                .by_player
                .iter()
                .filter(|(_, m)| **m == match_id)
                .map(|(p, _)| *p)
                .collect();
            dir.by_player.retain(|_, m| *m != match_id);
            metrics::gauge!("skirmish_matches").decrement(1.0);
            drop(dir);
            self.released(seated);
        }
    }
}
