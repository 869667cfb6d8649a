//! The leaderboards in process memory, for a node running alone. Same
//! behaviour as Redis (periods, expiry, ties, idempotency; see the module
//! doc), with time taken only from the `now_ms` each call passes in.
//!
//! Each board is a vector sorted like the Redis set, `(Reverse(composite),
//! player id)`, plus a map from player to composite: ranks and cursor
//! positions are binary searches, and an update moves one element. All state
//! sits behind one `std::sync::Mutex`, held for a call's few statements and
//! never across an `.await` (every future here is ready at once).

use super::score::{self, Cursor};
use super::{
    Entry, LeaderboardConfig, LeaderboardError, Leaderboards, MatchId, MatchSubmission, Page,
    Period, PlayerId, Row,
};
use futures_util::future::BoxFuture;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

/// The leaderboards of a node running alone; cheap to clone, and clones
/// share the boards.
#[derive(Clone, Debug)]
pub struct MemoryLeaderboards {
    /// The configuration and the state, shared by clones.
    inner: Arc<Inner>,
}

/// What clones of a [`MemoryLeaderboards`] share.
#[derive(Debug)]
struct Inner {
    /// Which boards and periods exist, and how long things live.
    config: LeaderboardConfig,
    /// Every board, name and applied match.
    state: Mutex<State>,
}

/// Everything stored, as Redis would hold it.
#[derive(Debug, Default)]
struct State {
    /// Boards by `<board>:<period id>`, like the Redis keys.
    boards: HashMap<String, Board>,
    /// Latest display name of every player ever submitted.
    names: HashMap<PlayerId, String>,
    /// Applied matches and when their marker expires (Unix ms).
    applied: HashMap<MatchId, u64>,
    /// The same markers soonest-expiring first, so sweeping them does not
    /// scan a month of matches on every submission.
    applied_expiry: BinaryHeap<Reverse<(u64, MatchId)>>,
}

/// One board in one period: the sorted set of the Redis implementation.
#[derive(Debug, Default)]
struct Board {
    /// Every entry in board order: best composite first, then player id.
    order: Vec<(Reverse<u64>, PlayerId)>,
    /// Each player's composite, to find their place in `order`.
    composites: HashMap<PlayerId, u64>,
    /// When this period's data is dropped; `None` for all-time.
    expires_at_ms: Option<u64>,
}

impl Board {
    fn get(&self, player: PlayerId) -> Option<u64> {
        self.composites.get(&player).copied()
    }

    fn set(&mut self, player: PlayerId, composite: u64) {
        if let Some(old) = self.composites.insert(player, composite)
            && let Ok(idx) = self.order.binary_search(&(Reverse(old), player))
        {
            self.order.remove(idx);
        }
        let item = (Reverse(composite), player);
        let idx = self.order.binary_search(&item).unwrap_or_else(|idx| idx);
        self.order.insert(idx, item);
    }

    /// The 0-based position of a player.
    fn index_of(&self, player: PlayerId) -> Option<usize> {
        let composite = self.get(player)?;
        self.order.binary_search(&(Reverse(composite), player)).ok()
    }

    /// The position just after the cursor's entry, wherever that entry is
    /// now (or if it is gone).
    fn after(&self, cursor: Cursor) -> usize {
        let at = (Reverse(cursor.composite), cursor.player);
        self.order.partition_point(|item| *item <= at)
    }

    fn len(&self) -> usize {
        self.order.len()
    }
}

impl State {
    /// Drops expired period boards and applied markers.
    fn sweep(&mut self, now_ms: u64) {
        self.boards
            .retain(|_, board| board.expires_at_ms.is_none_or(|at| at > now_ms));
        while let Some(&Reverse((at, match_id))) = self.applied_expiry.peek() {
            if at > now_ms {
                break;
            }
            self.applied_expiry.pop();
            // A marker set again later has a later expiry of its own.
            if self.applied.get(&match_id) == Some(&at) {
                self.applied.remove(&match_id);
            }
        }
    }

    /// A board as of `now_ms`, if it has data that has not expired.
    fn board(&self, key: &str, now_ms: u64) -> Option<&Board> {
        self.boards
            .get(key)
            .filter(|board| board.expires_at_ms.is_none_or(|at| at > now_ms))
    }

    /// The rows at positions `start..end` of a board.
    fn rows(&self, board: &Board, start: usize, end: usize) -> Vec<Row> {
        board.order[start..end]
            .iter()
            .map(|&(Reverse(composite), player)| Row {
                composite,
                player,
                name: self.names.get(&player).cloned().unwrap_or_default(),
            })
            .collect()
    }
}

impl MemoryLeaderboards {
    /// Empty boards as `config` defines them.
    pub fn new(config: LeaderboardConfig) -> Self {
        MemoryLeaderboards {
            inner: Arc::new(Inner {
                config,
                state: Mutex::default(),
            }),
        }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &LeaderboardConfig {
        &self.inner.config
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn submit_now(
        &self,
        submission: &MatchSubmission,
        now_ms: u64,
    ) -> Result<bool, LeaderboardError> {
        let config = &self.inner.config;
        let plan = super::plan(config, submission, now_ms)?;
        let mut state = self.lock();
        state.sweep(now_ms);
        if state.applied.contains_key(&submission.match_id) {
            return Ok(false);
        }
        // Work out every write before making any, so a refused submission
        // changes nothing (the Lua script does the same).
        let mut writes = Vec::new();
        for (target_idx, target) in plan.targets.iter().enumerate() {
            let board = state.boards.get(&target.key);
            for (result, value) in submission.players.iter().zip(&target.values) {
                let Some(value) = *value else { continue };
                let player = result.player_id;
                let old = board.and_then(|b| b.get(player));
                match score::next_composite(target.operator, old, value, plan.time_part) {
                    Ok(Some(composite)) => writes.push((target_idx, player, composite)),
                    Ok(None) => {}
                    Err(total) => return Err(super::total_too_large(target, player, total)),
                }
            }
        }
        for (target_idx, player, composite) in writes {
            let target = &plan.targets[target_idx];
            let board = state.boards.entry(target.key.clone()).or_default();
            board.expires_at_ms = target.expires_at_ms;
            board.set(player, composite);
        }
        for result in &submission.players {
            state.names.insert(result.player_id, result.name.clone());
        }
        let expires_at = now_ms.saturating_add(config.applied_ttl_s * 1000);
        state.applied.insert(submission.match_id, expires_at);
        state
            .applied_expiry
            .push(Reverse((expires_at, submission.match_id)));
        Ok(true)
    }

    /// Reads positions `start..start + len` (clamped) of a board and makes
    /// the page.
    fn read(
        &self,
        board_id: &str,
        period: Period,
        now_ms: u64,
        position: impl FnOnce(&Board) -> Option<(usize, usize)>,
    ) -> Result<Page, LeaderboardError> {
        let (key, resets_at_ms) = super::query_key(&self.inner.config, board_id, period, now_ms)?;
        let state = self.lock();
        let (total, start, rows) = match state.board(&key, now_ms) {
            None => (0, 0, Vec::new()),
            Some(board) => match position(board) {
                None => (board.len(), 0, Vec::new()),
                Some((start, len)) => {
                    let start = start.min(board.len());
                    let end = start.saturating_add(len).min(board.len());
                    (board.len(), start, state.rows(board, start, end))
                }
            },
        };
        Ok(super::page_of(
            board_id,
            period,
            resets_at_ms,
            total as u64,
            start as u64,
            rows,
        ))
    }

    fn rank_now(
        &self,
        board_id: &str,
        period: Period,
        player: PlayerId,
        now_ms: u64,
    ) -> Result<Option<Entry>, LeaderboardError> {
        let page = self.read(board_id, period, now_ms, |board| {
            board.index_of(player).map(|idx| (idx, 1))
        })?;
        Ok(page.entries.into_iter().next())
    }

    fn ratings_now(&self, players: &[PlayerId]) -> Vec<Option<i32>> {
        let Some(board) = self.inner.config.rating_board() else {
            return vec![None; players.len()];
        };
        let key = format!("{}:{}", board.id, Period::AllTime.window(0).id);
        let state = self.lock();
        let board = state.boards.get(&key);
        players
            .iter()
            .map(|&p| {
                let composite = board?.get(p)?;
                // Scores are below 2^22, so every one fits an i32.
                Some(score::score_of(composite) as i32)
            })
            .collect()
    }
}

impl Leaderboards for MemoryLeaderboards {
    fn submit<'a>(
        &'a self,
        submission: &'a MatchSubmission,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<bool, LeaderboardError>> {
        Box::pin(std::future::ready(self.submit_now(submission, now_ms)))
    }

    fn top<'a>(
        &'a self,
        board: &'a str,
        period: Period,
        limit: usize,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Page, LeaderboardError>> {
        let result = super::check_limit(limit)
            .and_then(|_| self.read(board, period, now_ms, |_| Some((0, limit))));
        Box::pin(std::future::ready(result))
    }

    fn rank<'a>(
        &'a self,
        board: &'a str,
        period: Period,
        player: PlayerId,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Option<Entry>, LeaderboardError>> {
        Box::pin(std::future::ready(
            self.rank_now(board, period, player, now_ms),
        ))
    }

    fn around<'a>(
        &'a self,
        board: &'a str,
        period: Period,
        player: PlayerId,
        k: usize,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Page, LeaderboardError>> {
        let result = super::check_around(k).and_then(|_| {
            self.read(board, period, now_ms, |b| {
                let idx = b.index_of(player)?;
                let start = idx.saturating_sub(k);
                Some((start, idx + k + 1 - start))
            })
        });
        Box::pin(std::future::ready(result))
    }

    fn centred<'a>(
        &'a self,
        board: &'a str,
        period: Period,
        player: PlayerId,
        limit: usize,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Page, LeaderboardError>> {
        let result = super::check_limit(limit).and_then(|_| {
            self.read(board, period, now_ms, |b| {
                let idx = b.index_of(player)?;
                Some((super::centred_start(idx, b.len(), limit), limit))
            })
        });
        Box::pin(std::future::ready(result))
    }

    fn page<'a>(
        &'a self,
        board: &'a str,
        period: Period,
        cursor: Option<&'a str>,
        limit: usize,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Page, LeaderboardError>> {
        let result = (|| {
            super::check_limit(limit)?;
            let cursor = cursor.map(Cursor::decode).transpose()?;
            self.read(board, period, now_ms, |b| {
                Some((cursor.map_or(0, |c| b.after(c)), limit))
            })
        })();
        Box::pin(std::future::ready(result))
    }

    fn ratings<'a>(
        &'a self,
        players: &'a [PlayerId],
    ) -> BoxFuture<'a, Result<Vec<Option<i32>>, LeaderboardError>> {
        Box::pin(std::future::ready(Ok(self.ratings_now(players))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaderboard::{PlayerResult, period::MS_PER_DAY};

    fn submission(match_id: u64, players: &[(u64, u32)]) -> MatchSubmission {
        MatchSubmission {
            match_id: MatchId(match_id),
            players: players
                .iter()
                .map(|&(id, kills)| PlayerResult {
                    player_id: PlayerId(id),
                    name: format!("p{id}"),
                    stats: [("kills", kills), ("score", kills)]
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), i64::from(v)))
                        .collect(),
                    rating: None,
                })
                .collect(),
        }
    }

    #[tokio::test]
    async fn expired_periods_and_markers_are_dropped_at_the_passed_in_time() {
        let config = LeaderboardConfig {
            grace_s: 3600,
            applied_ttl_s: 2 * 86_400,
            ..LeaderboardConfig::default()
        };
        let lb = MemoryLeaderboards::new(config);
        // 2027-01-04T00:00:00Z, a Monday.
        let monday = 1_799_020_800_000;
        assert!(
            lb.submit(&submission(1, &[(1, 2)]), monday)
                .await
                .expect("ok")
        );
        let n_boards = |lb: &MemoryLeaderboards| lb.lock().boards.len();
        assert_eq!(
            n_boards(&lb),
            6,
            "2 boards x 3 periods; no ratings, no rating boards"
        );

        // Within the grace after Monday, Monday's daily boards stay.
        let tuesday = monday + MS_PER_DAY;
        assert!(
            lb.submit(&submission(2, &[(1, 1)]), tuesday)
                .await
                .expect("ok")
        );
        assert_eq!(n_boards(&lb), 8, "Monday's and Tuesday's daily boards");
        assert!(lb.lock().boards.contains_key("kills:2027-01-04"));

        // After the grace, Monday's go.
        let later = tuesday + 3_600_000;
        assert!(
            lb.submit(&submission(3, &[(1, 1)]), later)
                .await
                .expect("ok")
        );
        assert!(!lb.lock().boards.contains_key("kills:2027-01-04"));
        assert!(lb.lock().boards.contains_key("kills:2027-01-05"));

        // The marker of match 1 lives two days: a repeat inside them is a
        // duplicate, one after them counts again.
        assert!(
            !lb.submit(&submission(1, &[(1, 2)]), monday + 2 * MS_PER_DAY - 1)
                .await
                .expect("ok")
        );
        assert!(
            lb.submit(&submission(1, &[(1, 2)]), monday + 2 * MS_PER_DAY)
                .await
                .expect("ok")
        );
        assert_eq!(lb.lock().applied.len(), 3);
        let entry = lb
            .rank("kills", Period::AllTime, PlayerId(1), later)
            .await
            .expect("ok")
            .expect("on the board");
        assert_eq!(entry.score, 2 + 1 + 1 + 2);
    }

    #[test]
    fn boards_keep_their_order_through_updates() {
        let mut board = Board::default();
        for (player, composite) in [(3, 5), (1, 7), (2, 5), (4, 9)] {
            board.set(PlayerId(player), composite);
        }
        board.set(PlayerId(4), 1);
        let order: Vec<u64> = board.order.iter().map(|(_, p)| p.0).collect();
        assert_eq!(order, [1, 2, 3, 4]);
        assert_eq!(board.index_of(PlayerId(3)), Some(2));
        assert_eq!(board.index_of(PlayerId(9)), None);
        let after = |composite, player| {
            board.after(Cursor {
                composite,
                player: PlayerId(player),
            })
        };
        assert_eq!(after(5, 2), 2, "just after player 2");
        assert_eq!(after(5, 0), 1, "a gone entry's position still counts");
        assert_eq!(after(100, 0), 0);
        assert_eq!(after(0, 0), 4);
    }
}
