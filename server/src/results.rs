//! The results outbox: finished matches on their way to the leaderboards.
//!
//! A match hands its results over a channel (no I/O in the tick); the worker
//! writes each record to `data_dir/outbox/` before anything else, computes
//! rating changes from the players' current ratings, and submits everything
//! in one idempotent call. Only when the leaderboards accept it is the file
//! removed. While Redis is down the worker retries with backoff and matches
//! keep ticking; after a crash the files are submitted again at start-up,
//! and the per-match idempotency of the leaderboards makes that safe: a
//! match is counted exactly once.
//!
//! Known limit: the new ratings are computed from ratings read just before
//! the submission. Two matches of the same player finishing on different
//! nodes at the same instant could both start from the same old rating; the
//! later write wins. A player is in one match at a time, so this needs a
//! result to wait out an outage on one node while the player finishes
//! another match elsewhere.

use crate::leaderboard::{LeaderboardError, Leaderboards, MatchSubmission, PlayerResult};
use crate::node::unix_ms;
use serde::{Deserialize, Serialize};
use skirmish_shared::proto::{MatchId, PlayerId};
use skirmish_shared::rating::{self, INITIAL_RATING, Rated};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

/// One player's line in a finished match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordLine {
    /// Who.
    pub player_id: PlayerId,
    /// Their display name at the end of the match.
    pub name: String,
    /// 1 is best.
    pub placement: u8,
    /// Kills.
    pub kills: u32,
    /// Deaths.
    pub deaths: u32,
    /// Score.
    pub score: u32,
}

/// A finished match, as kept until the leaderboards have it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchRecord {
    /// The match; submissions are idempotent per id.
    pub match_id: MatchId,
    /// When it ended, Unix milliseconds.
    pub finished_at_ms: u64,
    /// `time_up` or `kill_limit`.
    pub reason: String,
    /// Everyone still seated at the end.
    pub players: Vec<RecordLine>,
}

/// A player's rating after a recorded match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RatingChange {
    /// The match.
    pub match_id: MatchId,
    /// Who.
    pub player_id: PlayerId,
    /// The new rating.
    pub rating: i32,
    /// The change.
    pub delta: i32,
}

/// Where matches hand their results; cheap to clone.
#[derive(Clone, Debug)]
pub struct ResultsSender {
    tx: mpsc::UnboundedSender<MatchRecord>,
}

impl ResultsSender {
    /// Hands a record to the worker without waiting.
    pub fn record(&self, record: MatchRecord) {
        if self.tx.send(record).is_err() {
            error!("the results worker has stopped; a match result was not recorded");
        }
    }
}

/// A channel pair for results: the sender for matches, the receiver for
/// [`run_worker`].
pub fn channel() -> (ResultsSender, mpsc::UnboundedReceiver<MatchRecord>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (ResultsSender { tx }, rx)
}

/// Why the outbox directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// Reading or writing a file failed.
    #[error("results outbox {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> OutboxError + '_ {
    move |source| OutboxError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The files of pending results.
#[derive(Clone, Debug)]
pub struct OutboxDir {
    dir: PathBuf,
}

impl OutboxDir {
    /// Uses (and creates) `data_dir/outbox`.
    pub fn open(data_dir: &Path) -> Result<Self, OutboxError> {
        let dir = data_dir.join("outbox");
        std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        Ok(OutboxDir { dir })
    }

    fn path(&self, id: MatchId) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Writes a record durably: to a temporary file, synced, then renamed.
    pub fn save(&self, record: &MatchRecord) -> Result<(), OutboxError> {
        let path = self.path(record.match_id);
        let tmp = path.with_extension("tmp");
        // Plain data always serialises.
        let json = serde_json::to_vec(record).expect("records serialise");
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&json)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(io_error(&path))
    }

    /// Forgets a record once the leaderboards have it.
    pub fn remove(&self, id: MatchId) -> Result<(), OutboxError> {
        let path = self.path(id);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(&path)(e)),
            _ => Ok(()),
        }
    }

    /// Every pending record, oldest first; unreadable files are set aside
    /// as `*.bad` and reported.
    pub fn pending(&self) -> Result<Vec<MatchRecord>, OutboxError> {
        let mut records = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io_error(&self.dir))? {
            let path = entry.map_err(io_error(&self.dir))?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let text = std::fs::read(&path).map_err(io_error(&path))?;
            match serde_json::from_slice::<MatchRecord>(&text) {
                Ok(record) => records.push(record),
                Err(e) => {
                    error!(file = %path.display(), error = %e, "unreadable pending result set aside");
                    let _ = std::fs::rename(&path, path.with_extension("bad"));
                }
            }
        }
        records.sort_by_key(|r| (r.finished_at_ms, r.match_id));
        Ok(records)
    }
}

/// Computes the submission for a record: the new rating of every player
/// from their current one (or the initial rating), and what changed.
pub fn submission(
    record: &MatchRecord,
    current: &[Option<i32>],
) -> (MatchSubmission, Vec<RatingChange>) {
    let rated: Vec<Rated> = record
        .players
        .iter()
        .zip(current.iter().chain(std::iter::repeat(&None)))
        .map(|(line, rating)| Rated {
            rating: rating.unwrap_or(INITIAL_RATING),
            placement: line.placement,
        })
        .collect();
    let deltas = rating::changes(&rated);
    let mut changes = Vec::with_capacity(rated.len());
    let players = record
        .players
        .iter()
        .zip(rated.iter().zip(&deltas))
        .map(|(line, (before, delta))| {
            let rating = before.rating + delta;
            changes.push(RatingChange {
                match_id: record.match_id,
                player_id: line.player_id,
                rating,
                delta: *delta,
            });
            PlayerResult {
                player_id: line.player_id,
                name: line.name.clone(),
                kills: line.kills,
                score: line.score,
                rating: Some(rating),
            }
        })
        .collect();
    (
        MatchSubmission {
            match_id: record.match_id,
            players,
        },
        changes,
    )
}

/// Submits pending and new records in order until shutdown, telling
/// `notify` each rating change of a record applied now.
pub async fn run_worker(
    mut incoming: mpsc::UnboundedReceiver<MatchRecord>,
    outbox: OutboxDir,
    leaderboards: Arc<dyn Leaderboards>,
    notify: impl Fn(RatingChange) + Send,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut queue: VecDeque<(MatchRecord, bool)> = match on_disk(&outbox, OutboxDir::pending).await
    {
        Ok(records) => {
            if !records.is_empty() {
                info!(
                    n = records.len(),
                    "resubmitting match results left from an earlier run"
                );
            }
            records.into_iter().map(|r| (r, true)).collect()
        }
        Err(e) => {
            error!(error = %e, "cannot read the results outbox");
            VecDeque::new()
        }
    };
    let mut backoff = Duration::from_millis(100);
    loop {
        while let Ok(record) = incoming.try_recv() {
            queue.push_back((record, false));
        }
        let Some((record, saved)) = queue.front_mut() else {
            tokio::select! {
                record = incoming.recv() => match record {
                    Some(record) => queue.push_back((record, false)),
                    None => return,
                },
                _ = shutdown.wait_for(|down| *down) => return,
            }
            continue;
        };
        if !*saved {
            let copy = record.clone();
            match on_disk(&outbox, move |dir| dir.save(&copy)).await {
                Ok(()) => *saved = true,
                Err(e) => {
                    error!(error = %e, "could not save a match result to disk; submitting it from memory")
                }
            }
        }
        match submit(record, leaderboards.as_ref()).await {
            Ok(Some(changes)) => {
                metrics::counter!("skirmish_results_recorded_total").increment(1);
                changes.into_iter().for_each(&notify);
            }
            Ok(None) => info!(match_id = %record.match_id, "match result was already recorded"),
            Err(LeaderboardError::Unavailable(e)) => {
                metrics::counter!("skirmish_results_retries_total").increment(1);
                warn!(match_id = %record.match_id, error = %e, retry_in = ?backoff, "leaderboards unavailable; will retry");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = shutdown.wait_for(|down| *down) => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
            Err(e) => {
                error!(match_id = %record.match_id, error = %e, "match result refused; dropping it")
            }
        }
        backoff = Duration::from_millis(100);
        let id = record.match_id;
        queue.pop_front();
        if let Err(e) = on_disk(&outbox, move |dir| dir.remove(id)).await {
            error!(error = %e, "could not remove a recorded result from the outbox");
        }
    }
}

/// Runs a file operation of the outbox on the blocking pool: a synced
/// write can take tens of milliseconds, which a runtime worker serving
/// sockets must not spend waiting.
async fn on_disk<T: Send + 'static>(
    outbox: &OutboxDir,
    op: impl FnOnce(&OutboxDir) -> Result<T, OutboxError> + Send + 'static,
) -> Result<T, OutboxError> {
    let dir = outbox.clone();
    match tokio::task::spawn_blocking(move || op(&dir)).await {
        Ok(result) => result,
        // Only a panic in `op` gets here; the outbox code has none to raise.
        Err(e) => Err(OutboxError::Io {
            path: outbox.dir.display().to_string(),
            source: std::io::Error::other(e),
        }),
    }
}

/// One attempt; `Ok(None)` when the match was already recorded.
async fn submit(
    record: &MatchRecord,
    leaderboards: &dyn Leaderboards,
) -> Result<Option<Vec<RatingChange>>, LeaderboardError> {
    let ids: Vec<PlayerId> = record.players.iter().map(|p| p.player_id).collect();
    let current = leaderboards.ratings(&ids).await?;
    let (submission, changes) = submission(record, &current);
    let applied = leaderboards.submit(&submission, unix_ms()).await?;
    Ok(applied.then_some(changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> MatchRecord {
        MatchRecord {
            match_id: MatchId(9),
            finished_at_ms: 5,
            reason: "time_up".into(),
            players: vec![
                RecordLine {
                    player_id: PlayerId(1),
                    name: "a".into(),
                    placement: 1,
                    kills: 3,
                    deaths: 0,
                    score: 3,
                },
                RecordLine {
                    player_id: PlayerId(2),
                    name: "b".into(),
                    placement: 2,
                    kills: 0,
                    deaths: 3,
                    score: 0,
                },
            ],
        }
    }

    #[test]
    fn submissions_carry_new_ratings_from_current_or_initial_ones() {
        let (submission, changes) = submission(&record(), &[Some(1200), None]);
        assert_eq!(submission.players[0].rating, Some(1200 + changes[0].delta));
        assert_eq!(
            submission.players[1].rating,
            Some(INITIAL_RATING + changes[1].delta)
        );
        assert!(changes[0].delta > 0 && changes[1].delta < 0);
        assert_eq!(submission.players[0].kills, 3);
    }

    #[test]
    fn the_outbox_keeps_records_until_removed_and_sets_garbage_aside() {
        let dir = std::env::temp_dir().join(format!(
            "skirmish-outbox-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let outbox = OutboxDir::open(&dir).expect("open");
        let mut later = record();
        later.match_id = MatchId(1);
        later.finished_at_ms = 10;
        outbox.save(&later).expect("save");
        outbox.save(&record()).expect("save");
        std::fs::write(dir.join("outbox/garbage.json"), b"{not json").expect("write");
        let pending = outbox.pending().expect("pending");
        assert_eq!(
            pending.iter().map(|r| r.match_id).collect::<Vec<_>>(),
            [MatchId(9), MatchId(1)],
            "oldest first"
        );
        assert!(dir.join("outbox/garbage.bad").exists());
        outbox.remove(MatchId(9)).expect("remove");
        outbox.remove(MatchId(9)).expect("removing twice is fine");
        assert_eq!(outbox.pending().expect("pending").len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
