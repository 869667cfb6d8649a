//! Global leaderboards: boards defined in `assets/leaderboards.toml`, each
//! kept per period (all-time, UTC day, ISO week), fed by match results and
//! read as top N, one player's rank, the page around a player, or a cursor
//! over the whole board.
//!
//! One trait, two implementations with the same behaviour, checked by one
//! contract suite (`tests/it/leaderboard.rs`): [`MemoryLeaderboards`] for a
//! node running alone, [`RedisLeaderboards`] over Redis sorted sets. Time
//! is passed into every call (`now_ms`, Unix milliseconds): it picks the
//! period and, in memory, decides what has expired.
//!
//! # Order and ties
//!
//! A board orders players by one integer, the composite
//! `score * 2^31 + (2^31 - 1 - seconds since 2024-01-01 UTC)` (see
//! `score.rs`): higher scores first, and among equal scores whoever reached
//! the score earlier, by whole second. "Reached" is the submission time for
//! increment and set boards (when the new total or value was reached) and for
//! best boards the submission that first reached the best score, since an
//! equal later score does not replace it. Scores are whole numbers in
//! `0..2^22`, which keeps the composite exact in an `f64`; a submission with
//! a value outside that (or an increment total past it) is refused whole.
//!
//! Among identical composites (same score, same second) the lower player id
//! ranks first. Redis orders equal sorted-set scores by member bytes, and the
//! member is the player id as 16 lowercase hex digits, so byte order is
//! numeric order. Because `ZREVRANGE` would reverse that tie order, the set
//! stores the *negated* composite and every read uses ascending `ZRANGE`,
//! `ZRANK` and `ZCOUNT`; the memory twin sorts `(Reverse(composite),
//! player_id)`, the same order.
//!
//! # Key layout (Redis)
//!
//! Every key carries the hash tag `{lb}`, so all of them live in one Redis
//! Cluster slot and the submit script may touch any of them atomically:
//!
//! - `<prefix>:{lb}:board:<board>:<period id>`: a sorted set, member = player
//!   id (16 hex digits), score = negated composite. Period ids are `all`,
//!   `2026-12-31` (UTC day) and `2026-W53` (ISO week).
//! - `<prefix>:{lb}:names`: a hash, player id -> latest display name.
//! - `<prefix>:{lb}:applied:<match id>`: the marker of a recorded match.
//!
//! The trade-off: one slot means a single cluster node holds and serves
//! every leaderboard of a deployment (and of every deployment sharing the
//! cluster: like the registry's `{nodes}`, the tag leaves the prefix out).
//! That is the price of writing a match to all its boards in one atomic
//! script. The data is small (a member and a score per player, board and
//! period; a name per player), so one node holds millions of players.
//! Spreading boards over slots would need a multi-step write with its own
//! recovery instead of one script.
//!
//! # Periods and expiry
//!
//! A daily or weekly board is a new key per period, so a period "resets" by
//! writing to a new key; every answer carries `resets_at_ms`, when the
//! current period ends (`None` for all-time). Each period key expires at its
//! period's end plus `grace_s` (`PEXPIREAT`, set on every write; in memory,
//! dropped once the passed-in time reaches it). Queries only read the
//! current period, so the grace only decides how long old periods stay
//! inspectable. The period is chosen by the submission time, not the time
//! the match ended: results that wait out an outage count in the period
//! they are written in. Redis expires keys by its own clock, so the callers'
//! clocks must be roughly right (NTP); the memory twin uses `now_ms`.
//!
//! # Idempotency
//!
//! [`Leaderboards::submit`] writes every board and period of a match and
//! the names in one Lua script (`submit.lua`, run by `EVALSHA`), which first
//! checks and finally sets the match's applied marker (kept
//! `applied_ttl_s`). Scripts run atomically, so a match is either fully
//! recorded or not at all, and a second submission of the same match id,
//! even with other content, changes nothing and returns `Ok(false)`. A retry
//! later than `applied_ttl_s` would count again. The script checks every
//! value before writing anything, because a Lua error does not roll back
//! writes already made.
//!
//! # Paging
//!
//! A cursor names the last entry handed out (its composite and player id);
//! the next page starts just after the place that entry had, even if it has
//! since moved or gone. So entries added or moved above the cursor do not
//! make later pages repeat or skip entries, as offsets would. Ranks are
//! computed at query time. When the cursor's entry has moved, Redis finds
//! its old place with `ZCOUNT` plus a scan of the entries sharing its exact
//! composite (same score in the same second), normally a handful.

mod config;
mod memory;
mod period;
mod redis;
mod score;

pub use config::{
    BoardDef, DEFAULT_APPLIED_TTL_S, DEFAULT_GRACE_S, LeaderboardConfig, Operator, Source,
};
pub use memory::MemoryLeaderboards;
pub use period::Period;
pub use redis::RedisLeaderboards;
pub use score::MAX_SCORE;
pub use skirmish_shared::proto::{MatchId, PlayerId};

use futures_util::future::BoxFuture;
use score::Cursor;
use serde::Serialize;
use skirmish_shared::proto::ErrorCode;
use std::collections::{BTreeMap, HashSet};

/// Most entries a top or cursor page returns.
pub const MAX_LIMIT: usize = 100;

/// Most entries on each side of a player in [`Leaderboards::around`].
pub const MAX_AROUND: usize = 50;

/// One player's line in a finished match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlayerResult {
    /// Who; also the member in every board.
    pub player_id: PlayerId,
    /// Their display name, stored (latest wins) and returned with entries.
    pub name: String,
    /// What the game counted, by stat name, for boards whose source names
    /// a stat.
    pub stats: BTreeMap<String, i64>,
    /// The new rating after the match, for boards with source `rating`;
    /// `None` (ratings off) leaves those boards alone for this player.
    pub rating: Option<i32>,
}

/// A finished match's results, recorded once per match id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchSubmission {
    /// Makes the submission idempotent: a match id is recorded once.
    pub match_id: MatchId,
    /// Everyone to record; a player may appear only once.
    pub players: Vec<PlayerResult>,
}

/// One line of a board.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// 1 is the best, computed when the query ran.
    pub rank: u64,
    /// Who.
    pub player_id: PlayerId,
    /// Their latest display name.
    pub name: String,
    /// Their score on the board.
    pub score: i64,
}

/// A slice of a board in one period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Page {
    /// The board's id.
    pub board: String,
    /// The period read (the current one of that kind).
    pub period: Period,
    /// Consecutive entries, best first.
    pub entries: Vec<Entry>,
    /// Continues after the last entry with [`Leaderboards::page`]; `None`
    /// when the board has nothing after it (or the page is empty).
    pub next_cursor: Option<String>,
    /// When this period's board starts afresh (Unix ms); `None` for
    /// all-time.
    pub resets_at_ms: Option<u64>,
    /// Players on the board in this period.
    pub total: u64,
}

/// Why a leaderboard call failed, and what the caller may do.
#[derive(Debug, thiserror::Error)]
pub enum LeaderboardError {
    /// No board has this id; a client error (`unknown_board`).
    #[error("no leaderboard named `{0}`")]
    UnknownBoard(String),
    /// No period has this name, or this server does not keep it; a client
    /// error (`invalid_query`).
    #[error("no leaderboard period named `{0}`")]
    UnknownPeriod(String),
    /// The cursor is not one this server hands out; a client error
    /// (`invalid_query`).
    #[error("the leaderboard cursor is not valid")]
    BadCursor,
    /// A number is outside what is accepted: a query's `limit` or `k` (a
    /// client error, `invalid_query`), or a submitted value or increment
    /// total (the submission is refused whole; retrying cannot help).
    #[error("{what} is {value}; it must be from {min} to {max}")]
    OutOfRange {
        /// What the number is.
        what: String,
        /// The number given.
        value: i64,
        /// The smallest accepted.
        min: i64,
        /// The largest accepted.
        max: i64,
    },
    /// A submission lists a player twice; refused whole.
    #[error("player {0} appears twice in one match submission")]
    DuplicatePlayer(PlayerId),
    /// Redis did not answer, timed out, or is failing over; nothing was
    /// changed or it was changed completely. The caller may retry.
    #[error("the leaderboards are unavailable: {0}")]
    Unavailable(String),
    /// Redis refused a command or answered with data this module did not
    /// write (a wrong key type, a bug); retrying as is will not help.
    #[error("the leaderboard store failed: {0}")]
    Store(String),
    /// The configuration file could not be read.
    #[error("{file}: cannot read: {source}")]
    ConfigRead {
        /// The file.
        file: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The configuration is not valid TOML of the expected shape; the
    /// message names the key and line.
    #[error("{file}: {message}")]
    ConfigParse {
        /// The file.
        file: String,
        /// The parser's description.
        message: String,
    },
    /// A configuration field has a value the leaderboards cannot use.
    #[error("{file}: field `{field}`: {reason}")]
    Config {
        /// The file.
        file: String,
        /// The dotted path of the field, e.g. `boards[1].id`.
        field: String,
        /// What is wrong and what would be accepted.
        reason: String,
    },
}

impl LeaderboardError {
    /// The documented code a client sees for a failed query (`unknown_board`,
    /// `invalid_query`, `unavailable`), or `None` for a server-side failure
    /// the client should see as an internal error (and the node should log).
    pub fn client_code(&self) -> Option<ErrorCode> {
        match self {
            LeaderboardError::UnknownBoard(_) => Some(ErrorCode::UnknownBoard),
            LeaderboardError::UnknownPeriod(_)
            | LeaderboardError::BadCursor
            | LeaderboardError::OutOfRange { .. } => Some(ErrorCode::InvalidQuery),
            LeaderboardError::Unavailable(_) => Some(ErrorCode::Unavailable),
            LeaderboardError::DuplicatePlayer(_)
            | LeaderboardError::Store(_)
            | LeaderboardError::ConfigRead { .. }
            | LeaderboardError::ConfigParse { .. }
            | LeaderboardError::Config { .. } => None,
        }
    }
}

/// Which page of a board a client asks for, over HTTP or the WebSocket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageQuery {
    /// The best `limit` entries.
    Top {
        /// 1 to [`MAX_LIMIT`].
        limit: usize,
    },
    /// The `limit` entries after a cursor from an earlier page.
    After {
        /// From [`Page::next_cursor`].
        cursor: String,
        /// 1 to [`MAX_LIMIT`].
        limit: usize,
    },
    /// A player's entry with up to `k` on each side.
    Around {
        /// Whose.
        player: PlayerId,
        /// 0 to [`MAX_AROUND`].
        k: usize,
    },
    /// The `limit` entries centred on a player (see
    /// [`Leaderboards::centred`]).
    Centred {
        /// Whose.
        player: PlayerId,
        /// 1 to [`MAX_LIMIT`].
        limit: usize,
    },
}

impl PageQuery {
    /// Runs the query.
    pub async fn fetch(
        &self,
        leaderboards: &dyn Leaderboards,
        board: &str,
        period: Period,
        now_ms: u64,
    ) -> Result<Page, LeaderboardError> {
        match self {
            PageQuery::Top { limit } => leaderboards.top(board, period, *limit, now_ms).await,
            PageQuery::After { cursor, limit } => {
                leaderboards
                    .page(board, period, Some(cursor), *limit, now_ms)
                    .await
            }
            PageQuery::Around { player, k } => {
                leaderboards
                    .around(board, period, *player, *k, now_ms)
                    .await
            }
            PageQuery::Centred { player, limit } => {
                leaderboards
                    .centred(board, period, *player, *limit, now_ms)
                    .await
            }
        }
    }
}

/// Records match results and answers leaderboard queries. Implementations
/// are cheap-to-clone handles; every call takes the current time.
pub trait Leaderboards: Send + Sync + std::fmt::Debug {
    /// Records a match on every board and period at once. `Ok(true)` if
    /// applied now, `Ok(false)` if this match id was already applied (then
    /// nothing changes, whatever the content).
    fn submit<'a>(
        &'a self,
        submission: &'a MatchSubmission,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<bool, LeaderboardError>>;

    /// The best `limit` (1 to [`MAX_LIMIT`]) entries of the current period.
    fn top<'a>(
        &'a self,
        board: &'a str,
        period: Period,
        limit: usize,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Page, LeaderboardError>>;

    /// One player's entry, or `None` if they are not on the board.
    fn rank<'a>(
        &'a self,
        board: &'a str,
        period: Period,
        player: PlayerId,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Option<Entry>, LeaderboardError>>;

    /// The player's entry with up to `k` (0 to [`MAX_AROUND`]) entries on
    /// each side; an empty page if the player is not on the board.
    fn around<'a>(
        &'a self,
        board: &'a str,
        period: Period,
        player: PlayerId,
        k: usize,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Page, LeaderboardError>>;

    /// The `limit` (1 to [`MAX_LIMIT`]) entries centred on the player: as
    /// many above as below (one more below for an even `limit`), shifted at
    /// either end of the board so the page holds `limit` entries whenever
    /// the board does (see [`centred_start`]); an empty page if the player
    /// is not on the board. `limit` 1 is the player's own entry.
    fn centred<'a>(
        &'a self,
        board: &'a str,
        period: Period,
        player: PlayerId,
        limit: usize,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Page, LeaderboardError>>;

    /// `limit` (1 to [`MAX_LIMIT`]) entries after `cursor` (a previous
    /// page's `next_cursor`), or from the top without one.
    fn page<'a>(
        &'a self,
        board: &'a str,
        period: Period,
        cursor: Option<&'a str>,
        limit: usize,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Page, LeaderboardError>>;

    /// The current all-time ratings of `players`, in their order, from the
    /// board with operator set and source rating; `None` for an unrated
    /// player (or every player, when no such board is configured). The
    /// results outbox reads them to compute rating changes.
    fn ratings<'a>(
        &'a self,
        players: &'a [PlayerId],
    ) -> BoxFuture<'a, Result<Vec<Option<i32>>, LeaderboardError>>;
}

/// A submission checked and laid out for storage. Both implementations
/// write from the same plan, so they cannot disagree on what a match means.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The time part of every composite this submission writes.
    pub time_part: u64,
    /// Every board and period the match is written to.
    pub targets: Vec<Target>,
}

/// One board in one period of a [`Plan`].
#[derive(Debug)]
pub(crate) struct Target {
    /// `<board>:<period id>`: the key suffix in Redis, the map key in memory.
    pub key: String,
    /// The board's operator.
    pub operator: Operator,
    /// When the period's data may be dropped; `None` for all-time.
    pub expires_at_ms: Option<u64>,
    /// The value for each player of the submission, in its order; `None`
    /// keeps the player off this board (no rating).
    pub values: Vec<Option<u64>>,
}

/// Checks a submission (no player twice, every value in range) and lists
/// the writes it makes at `now_ms`.
pub(crate) fn plan(
    config: &LeaderboardConfig,
    submission: &MatchSubmission,
    now_ms: u64,
) -> Result<Plan, LeaderboardError> {
    let mut seen = HashSet::with_capacity(submission.players.len());
    for p in &submission.players {
        if !seen.insert(p.player_id) {
            return Err(LeaderboardError::DuplicatePlayer(p.player_id));
        }
    }
    let grace_ms = config.grace_s * 1000;
    let mut targets = Vec::with_capacity(config.boards.len() * config.periods.len());
    for board in &config.boards {
        let values = submission
            .players
            .iter()
            .map(|p| {
                let (what, value) = match &board.source {
                    Source::Stat(name) => (name.as_str(), p.stats.get(name).copied()),
                    Source::Rating => ("rating", p.rating.map(i64::from)),
                };
                value
                    .map(|v| {
                        check_range(
                            &format!("the {what} of player {}", p.player_id),
                            v,
                            0,
                            MAX_SCORE,
                        )
                    })
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()?;
        // A board whose stat the match's game does not report (the hill's
        // board after an arena match) is not touched at all.
        if values.iter().all(Option::is_none) {
            continue;
        }
        for &period in &config.periods {
            let window = period.window(now_ms);
            targets.push(Target {
                key: format!("{}:{}", board.id, window.id),
                operator: board.operator,
                expires_at_ms: window.resets_at_ms.map(|end| end + grace_ms),
                values: values.clone(),
            });
        }
    }
    Ok(Plan {
        time_part: score::time_part(now_ms),
        targets,
    })
}

/// The refusal of a submission whose increment would take a player's total
/// on `target` to `total`, past [`MAX_SCORE`].
pub(crate) fn total_too_large(target: &Target, player: PlayerId, total: u64) -> LeaderboardError {
    LeaderboardError::OutOfRange {
        what: format!("the total of player {player} on `{}`", target.key),
        value: total as i64,
        min: 0,
        max: MAX_SCORE as i64,
    }
}

/// The board and period a query reads at `now_ms`: its key suffix
/// (`<board>:<period id>`) and when it resets.
pub(crate) fn query_key(
    config: &LeaderboardConfig,
    board: &str,
    period: Period,
    now_ms: u64,
) -> Result<(String, Option<u64>), LeaderboardError> {
    if config.board(board).is_none() {
        return Err(LeaderboardError::UnknownBoard(board.to_owned()));
    }
    if !config.periods.contains(&period) {
        return Err(LeaderboardError::UnknownPeriod(period.as_str().to_owned()));
    }
    let window = period.window(now_ms);
    Ok((format!("{board}:{}", window.id), window.resets_at_ms))
}

/// `value` as a `u64` if it is within `min..=max`.
pub(crate) fn check_range(
    what: &str,
    value: i64,
    min: u64,
    max: u64,
) -> Result<u64, LeaderboardError> {
    u64::try_from(value)
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| LeaderboardError::OutOfRange {
            what: what.to_owned(),
            value,
            min: min as i64,
            max: max as i64,
        })
}

/// Checks a query's `limit` (or `k`).
fn check_count(what: &str, value: usize, min: usize, max: usize) -> Result<u64, LeaderboardError> {
    let value = i64::try_from(value).unwrap_or(i64::MAX);
    check_range(what, value, min as u64, max as u64)
}

/// Checks a top or cursor page's `limit`.
pub(crate) fn check_limit(limit: usize) -> Result<u64, LeaderboardError> {
    check_count("limit", limit, 1, MAX_LIMIT)
}

/// The 0-based position where the `limit` entries centred on the entry at
/// `idx` of a board of `total` start: `(limit - 1) / 2` entries above it
/// unless the board ends first, then moved up so the page is full when the
/// board holds `limit` entries. `read.lua` computes the same.
pub(crate) fn centred_start(idx: usize, total: usize, limit: usize) -> usize {
    idx.saturating_sub((limit.saturating_sub(1)) / 2)
        .min(total.saturating_sub(limit))
}

/// Checks `around`'s `k`.
pub(crate) fn check_around(k: usize) -> Result<u64, LeaderboardError> {
    check_count("k", k, 0, MAX_AROUND)
}

/// One stored entry as both implementations read it.
#[derive(Debug)]
pub(crate) struct Row {
    /// Its composite (see `score.rs`).
    pub composite: u64,
    /// Who.
    pub player: PlayerId,
    /// Their stored name ("" if none was ever stored).
    pub name: String,
}

impl Row {
    /// The entry at 0-based position `idx`.
    fn entry(self, idx: u64) -> Entry {
        Entry {
            rank: idx + 1,
            player_id: self.player,
            name: self.name,
            score: score::score_of(self.composite) as i64,
        }
    }
}

/// Builds a page of the rows at positions `start..` of a board holding
/// `total` entries.
pub(crate) fn page_of(
    board: &str,
    period: Period,
    resets_at_ms: Option<u64>,
    total: u64,
    start: u64,
    rows: Vec<Row>,
) -> Page {
    let end = start + rows.len() as u64;
    let next_cursor = rows.last().filter(|_| end < total).map(|last| {
        Cursor {
            composite: last.composite,
            player: last.player,
        }
        .encode()
    });
    Page {
        board: board.to_owned(),
        period,
        entries: rows
            .into_iter()
            .zip(start..)
            .map(|(row, idx)| row.entry(idx))
            .collect(),
        next_cursor,
        resets_at_ms,
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn player(id: u64, kills: u32, score: u32, rating: Option<i32>) -> PlayerResult {
        PlayerResult {
            player_id: PlayerId(id),
            name: format!("p{id}"),
            stats: [("kills", kills), ("score", score)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), i64::from(v)))
                .collect(),
            rating,
        }
    }

    #[test]
    fn a_plan_writes_every_board_and_period() {
        let config = LeaderboardConfig::default();
        let submission = MatchSubmission {
            match_id: MatchId(1),
            players: vec![player(1, 3, 30, Some(1016)), player(2, 0, 5, None)],
        };
        // 2026-12-31T10:00:00Z, a Thursday in ISO week 2026-W53.
        let now = 1_798_711_200_000;
        let plan = plan(&config, &submission, now).expect("valid");
        let keys: Vec<&str> = plan.targets.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "kills:all",
                "kills:2026-12-31",
                "kills:2026-W53",
                "best_score:all",
                "best_score:2026-12-31",
                "best_score:2026-W53",
                "rating:all",
                "rating:2026-12-31",
                "rating:2026-W53",
            ]
        );
        let day_end = 1_798_761_600_000;
        let week_end = 1_799_020_800_000;
        let grace = DEFAULT_GRACE_S * 1000;
        assert_eq!(plan.targets[0].expires_at_ms, None);
        assert_eq!(plan.targets[1].expires_at_ms, Some(day_end + grace));
        assert_eq!(plan.targets[2].expires_at_ms, Some(week_end + grace));
        assert_eq!(plan.targets[0].values, [Some(3), Some(0)]);
        assert_eq!(plan.targets[3].values, [Some(30), Some(5)]);
        assert_eq!(plan.targets[6].values, [Some(1016), None]);
    }

    #[test]
    fn plans_refuse_duplicates_and_out_of_range_values() {
        let config = LeaderboardConfig::default();
        let submit = |players| {
            plan(
                &config,
                &MatchSubmission {
                    match_id: MatchId(1),
                    players,
                },
                0,
            )
        };
        assert!(matches!(
            submit(vec![player(1, 0, 0, None), player(1, 1, 1, None)]),
            Err(LeaderboardError::DuplicatePlayer(PlayerId(1)))
        ));
        assert!(matches!(
            submit(vec![player(1, 0, 1 << 22, None)]),
            Err(LeaderboardError::OutOfRange { value, max, .. })
                if value == 1 << 22 && max == (1 << 22) - 1
        ));
        assert!(matches!(
            submit(vec![player(1, 0, 0, Some(-1))]),
            Err(LeaderboardError::OutOfRange {
                value: -1,
                min: 0,
                ..
            })
        ));
        assert!(submit(vec![player(1, 0, (1 << 22) - 1, Some(0))]).is_ok());
    }

    #[test]
    fn queries_check_board_period_and_counts() {
        let config = LeaderboardConfig {
            periods: vec![Period::AllTime],
            ..LeaderboardConfig::default()
        };
        assert!(matches!(
            query_key(&config, "deaths", Period::AllTime, 0),
            Err(LeaderboardError::UnknownBoard(b)) if b == "deaths"
        ));
        assert!(matches!(
            query_key(&config, "kills", Period::Daily, 0),
            Err(LeaderboardError::UnknownPeriod(p)) if p == "daily"
        ));
        assert_eq!(
            query_key(&config, "kills", Period::AllTime, 0).expect("known"),
            ("kills:all".to_owned(), None)
        );
        assert!(check_limit(0).is_err());
        assert_eq!(check_limit(100).expect("in range"), 100);
        assert!(matches!(
            check_limit(101),
            Err(LeaderboardError::OutOfRange {
                value: 101,
                min: 1,
                max: 100,
                ..
            })
        ));
        assert_eq!(check_around(0).expect("in range"), 0);
        assert!(check_around(51).is_err());
        assert!(check_limit(usize::MAX).is_err());
    }

    #[test]
    fn centred_pages_hold_the_player_in_the_middle_or_fill_up_at_the_ends() {
        // (idx, total, limit) -> start
        assert_eq!(centred_start(50, 100, 11), 45, "5 above, 5 below");
        assert_eq!(centred_start(50, 100, 10), 46, "4 above, 5 below");
        assert_eq!(centred_start(50, 100, 1), 50, "just the player");
        assert_eq!(centred_start(2, 100, 11), 0, "near the top: from the top");
        assert_eq!(
            centred_start(98, 100, 11),
            89,
            "near the bottom: the last 11"
        );
        assert_eq!(centred_start(3, 5, 11), 0, "a short board: all of it");
        assert_eq!(centred_start(0, 1, 100), 0);
    }

    #[test]
    fn query_errors_map_to_documented_client_codes() {
        let code = |e: LeaderboardError| e.client_code().map(ErrorCode::as_str);
        assert_eq!(
            code(LeaderboardError::UnknownBoard("x".into())),
            Some("unknown_board")
        );
        assert_eq!(code(LeaderboardError::BadCursor), Some("invalid_query"));
        assert_eq!(
            code(check_limit(0).expect_err("out of range")),
            Some("invalid_query")
        );
        assert_eq!(
            code("yearly".parse::<Period>().expect_err("unknown")),
            Some("invalid_query")
        );
        assert_eq!(
            code(LeaderboardError::Unavailable("down".into())),
            Some("unavailable")
        );
        assert_eq!(code(LeaderboardError::Store("WRONGTYPE".into())), None);
    }

    #[test]
    fn pages_rank_from_their_start_and_continue_only_when_more_remain() {
        let row = |composite, id| Row {
            composite,
            player: PlayerId(id),
            name: String::new(),
        };
        let page = page_of(
            "kills",
            Period::AllTime,
            None,
            5,
            2,
            vec![row(9 << 31, 1), row(8 << 31, 2)],
        );
        assert_eq!(
            page.entries
                .iter()
                .map(|e| (e.rank, e.score))
                .collect::<Vec<_>>(),
            [(3, 9), (4, 8)]
        );
        let cursor = page.next_cursor.expect("one more entry");
        assert_eq!(
            Cursor::decode(&cursor).expect("valid"),
            Cursor {
                composite: 8 << 31,
                player: PlayerId(2)
            }
        );
        let last = page_of(
            "kills",
            Period::AllTime,
            None,
            4,
            2,
            vec![row(9 << 31, 1), row(8 << 31, 2)],
        );
        assert_eq!(last.next_cursor, None);
        assert_eq!(
            page_of("kills", Period::AllTime, None, 4, 0, vec![]).next_cursor,
            None
        );
    }
}
