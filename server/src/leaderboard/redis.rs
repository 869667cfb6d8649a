//! The leaderboards in Redis sorted sets (key layout, order and scripts are
//! described in the module doc). Writes go through `submit.lua`, reads of a
//! slice with names through `read.lua`, both by `EVALSHA` (loaded again
//! after a Redis restart empties the script cache); current ratings are one
//! `ZMSCORE`.

use super::score::{self, Cursor};
use super::{
    Entry, LeaderboardConfig, LeaderboardError, Leaderboards, MatchId, MatchSubmission, Operator,
    Page, Period, PlayerId, Row,
};
use crate::redis_conn::{self, Commands};
use futures_util::future::BoxFuture;
use redis::{RedisError, RetryMethod, Script};
use std::sync::Arc;

/// Records a match on every board and period at once.
const SUBMIT: &str = include_str!("submit.lua");

/// Reads a slice of a board with names.
const READ: &str = include_str!("read.lua");

/// The leaderboards of a node in multi-node mode; cheap to clone.
#[derive(Clone)]
pub struct RedisLeaderboards {
    /// Commands go here; it reconnects by itself.
    conn: Commands,
    /// `<prefix>:{lb}`, the start of every key (the hash tag keeps all of
    /// them in one cluster slot).
    root: String,
    /// Which boards and periods exist, and how long things live.
    config: Arc<LeaderboardConfig>,
    /// `submit.lua`, with its SHA1 for `EVALSHA`.
    submit: Arc<Script>,
    /// `read.lua`, with its SHA1 for `EVALSHA`.
    read: Arc<Script>,
}

impl std::fmt::Debug for RedisLeaderboards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLeaderboards")
            .field("root", &self.root)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What the read script returned.
struct Slice {
    /// Entries on the board.
    total: u64,
    /// The position of the first row, or `None` if the member asked about
    /// is not on the board.
    start: Option<u64>,
    /// The rows read.
    rows: Vec<Row>,
}

impl RedisLeaderboards {
    /// Leaderboards under `prefix` (keys `<prefix>:{lb}:…`) as `config`
    /// defines them. `prefix` must not contain `{` or `}`, which would move
    /// the hash tag.
    pub fn new(conn: Commands, prefix: &str, config: LeaderboardConfig) -> Self {
        RedisLeaderboards {
            conn,
            root: format!("{prefix}:{{lb}}"),
            config: Arc::new(config),
            submit: Arc::new(redis_conn::script("lb.submit", SUBMIT)),
            read: Arc::new(redis_conn::script("lb.read", READ)),
        }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &LeaderboardConfig {
        &self.config
    }

    fn board_key(&self, suffix: &str) -> String {
        format!("{}:board:{suffix}", self.root)
    }

    fn names_key(&self) -> String {
        format!("{}:names", self.root)
    }

    fn applied_key(&self, match_id: MatchId) -> String {
        format!("{}:applied:{match_id}", self.root)
    }

    async fn submit_now(
        &self,
        submission: &MatchSubmission,
        now_ms: u64,
    ) -> Result<bool, LeaderboardError> {
        let plan = super::plan(&self.config, submission, now_ms)?;
        let mut invocation = self.submit.prepare_invoke();
        invocation
            .key(self.applied_key(submission.match_id))
            .key(self.names_key());
        for target in &plan.targets {
            invocation.key(self.board_key(&target.key));
        }
        invocation
            .arg(self.config.applied_ttl_s * 1000)
            .arg(plan.time_part)
            .arg(submission.players.len());
        for player in &submission.players {
            invocation
                .arg(player.player_id.to_string())
                .arg(&player.name);
        }
        let text = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
        for target in &plan.targets {
            let operator = match target.operator {
                Operator::Increment => "increment",
                Operator::Best => "best",
                Operator::Set => "set",
            };
            invocation.arg(operator).arg(text(target.expires_at_ms));
            for value in &target.values {
                invocation.arg(text(*value));
            }
        }
        let mut conn = self.conn.clone();
        let reply: Vec<String> = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        match reply.as_slice() {
            [status] if status == "applied" => Ok(true),
            [status] if status == "duplicate" => Ok(false),
            [status, target, player, total] if status == "too_large" => {
                let index = |s: &str, len: usize| {
                    s.parse::<usize>()
                        .ok()
                        .filter(|i| (1..=len).contains(i))
                        .map(|i| i - 1)
                };
                let target = index(target, plan.targets.len());
                let player = index(player, submission.players.len());
                match (target, player, total.parse()) {
                    (Some(t), Some(p), Ok(total)) => Err(super::total_too_large(
                        &plan.targets[t],
                        submission.players[p].player_id,
                        total,
                    )),
                    _ => Err(unexpected(&reply)),
                }
            }
            _ => Err(unexpected(&reply)),
        }
    }

    /// Runs the read script on one board.
    async fn read_slice(
        &self,
        key_suffix: &str,
        args: &[String],
    ) -> Result<Slice, LeaderboardError> {
        let mut invocation = self.read.prepare_invoke();
        invocation
            .key(self.board_key(key_suffix))
            .key(self.names_key());
        for arg in args {
            invocation.arg(arg);
        }
        let mut conn = self.conn.clone();
        let reply: Vec<String> = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        let [total, start, rest @ ..] = reply.as_slice() else {
            return Err(unexpected(&reply));
        };
        let total: u64 = total.parse().map_err(|_| unexpected(&reply))?;
        let start: i64 = start.parse().map_err(|_| unexpected(&reply))?;
        if rest.len() % 3 != 0 {
            return Err(unexpected(&reply));
        }
        let rows = rest
            .chunks_exact(3)
            .map(|row| {
                let [member, stored, name] = row else {
                    unreachable!("chunks of three")
                };
                let player = parse_member(member)?;
                let composite = stored
                    .parse::<f64>()
                    .ok()
                    .and_then(score::from_stored)
                    .ok_or_else(|| {
                        LeaderboardError::Store(format!(
                            "board entry {member} has a score this module never writes: {stored}"
                        ))
                    })?;
                Ok(Row {
                    composite,
                    player,
                    name: name.clone(),
                })
            })
            .collect::<Result<Vec<_>, LeaderboardError>>()?;
        Ok(Slice {
            total,
            start: u64::try_from(start).ok(),
            rows,
        })
    }

    /// Reads one board and makes the page.
    async fn read_page(
        &self,
        board: &str,
        period: Period,
        now_ms: u64,
        args: impl FnOnce() -> Vec<String>,
    ) -> Result<Page, LeaderboardError> {
        let (key, resets_at_ms) = super::query_key(&self.config, board, period, now_ms)?;
        let slice = self.read_slice(&key, &args()).await?;
        Ok(match slice.start {
            Some(start) => {
                super::page_of(board, period, resets_at_ms, slice.total, start, slice.rows)
            }
            None => super::page_of(board, period, resets_at_ms, slice.total, 0, Vec::new()),
        })
    }

    async fn ratings_now(
        &self,
        players: &[PlayerId],
    ) -> Result<Vec<Option<i32>>, LeaderboardError> {
        let Some(board) = self.config.rating_board() else {
            return Ok(vec![None; players.len()]);
        };
        // ZMSCORE needs at least one member.
        if players.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.board_key(&format!("{}:{}", board.id, Period::AllTime.window(0).id));
        let mut cmd = redis::cmd("ZMSCORE");
        cmd.arg(key);
        for player in players {
            cmd.arg(player.to_string());
        }
        let mut conn = self.conn.clone();
        let stored: Vec<Option<f64>> = cmd.query_async(&mut conn).await.map_err(store_error)?;
        stored
            .into_iter()
            .map(|s| {
                s.map(|s| {
                    score::from_stored(s)
                        // Scores are below 2^22, so every one fits an i32.
                        .map(|c| score::score_of(c) as i32)
                        .ok_or_else(|| {
                            LeaderboardError::Store(format!("a rating is stored as {s}"))
                        })
                })
                .transpose()
            })
            .collect()
    }
}

impl Leaderboards for RedisLeaderboards {
    fn submit<'a>(
        &'a self,
        submission: &'a MatchSubmission,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<bool, LeaderboardError>> {
        Box::pin(self.submit_now(submission, now_ms))
    }

    fn top<'a>(
        &'a self,
        board: &'a str,
        period: Period,
        limit: usize,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Page, LeaderboardError>> {
        Box::pin(async move {
            let limit = super::check_limit(limit)?;
            self.read_page(board, period, now_ms, || {
                vec!["top".into(), limit.to_string()]
            })
            .await
        })
    }

    fn rank<'a>(
        &'a self,
        board: &'a str,
        period: Period,
        player: PlayerId,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Option<Entry>, LeaderboardError>> {
        Box::pin(async move {
            let page = self
                .read_page(board, period, now_ms, || {
                    vec!["rank".into(), player.to_string()]
                })
                .await?;
            Ok(page.entries.into_iter().next())
        })
    }

    fn around<'a>(
        &'a self,
        board: &'a str,
        period: Period,
        player: PlayerId,
        k: usize,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Page, LeaderboardError>> {
        Box::pin(async move {
            let k = super::check_around(k)?;
            self.read_page(board, period, now_ms, || {
                vec!["around".into(), player.to_string(), k.to_string()]
            })
            .await
        })
    }

    fn centred<'a>(
        &'a self,
        board: &'a str,
        period: Period,
        player: PlayerId,
        limit: usize,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Page, LeaderboardError>> {
        Box::pin(async move {
            let limit = super::check_limit(limit)?;
            self.read_page(board, period, now_ms, || {
                vec!["centred".into(), player.to_string(), limit.to_string()]
            })
            .await
        })
    }

    fn page<'a>(
        &'a self,
        board: &'a str,
        period: Period,
        cursor: Option<&'a str>,
        limit: usize,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Page, LeaderboardError>> {
        Box::pin(async move {
            let limit = super::check_limit(limit)?;
            let cursor = cursor.map(Cursor::decode).transpose()?;
            self.read_page(board, period, now_ms, || match cursor {
                None => vec!["top".into(), limit.to_string()],
                Some(cursor) => vec![
                    "after".into(),
                    // Rust prints an integral f64 in full, never with an
                    // exponent, so this is the exact stored score.
                    score::stored(cursor.composite).to_string(),
                    cursor.player.to_string(),
                    limit.to_string(),
                ],
            })
            .await
        })
    }

    fn ratings<'a>(
        &'a self,
        players: &'a [PlayerId],
    ) -> BoxFuture<'a, Result<Vec<Option<i32>>, LeaderboardError>> {
        Box::pin(self.ratings_now(players))
    }
}

/// A member as written: the player id in 16 lowercase hex digits.
fn parse_member(member: &str) -> Result<PlayerId, LeaderboardError> {
    (member.len() == 16)
        .then(|| member.parse().ok())
        .flatten()
        .ok_or_else(|| {
            LeaderboardError::Store(format!("board member {member:?} is not a player id"))
        })
}

fn unexpected(reply: &[String]) -> LeaderboardError {
    LeaderboardError::Store(format!("unexpected script reply {reply:?}"))
}

/// Sorts Redis errors into what a caller may retry (unreachable, slow,
/// loading, failing over, out of memory, busy with a script) and the rest.
/// The distinction matters: the results outbox retries `Unavailable` and
/// drops a match on anything else.
fn store_error(e: RedisError) -> LeaderboardError {
    let transient = redis_conn::is_unavailable(&e)
        || !matches!(e.retry_method(), RetryMethod::NoRetry)
        || matches!(e.code(), Some("OOM" | "BUSY" | "LOADING" | "MASTERDOWN"));
    if transient {
        LeaderboardError::Unavailable(e.to_string())
    } else {
        LeaderboardError::Store(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_sixteen_hex_digits() {
        assert_eq!(
            parse_member("00000000000000ff").expect("valid"),
            PlayerId(255)
        );
        for bad in ["ff", "00000000000000fff", "000000000000000g", ""] {
            assert!(
                matches!(parse_member(bad), Err(LeaderboardError::Store(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn connection_failures_are_retryable_and_refusals_are_not() {
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(matches!(
            store_error(refused),
            LeaderboardError::Unavailable(_)
        ));
        let timed_out = RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert!(matches!(
            store_error(timed_out),
            LeaderboardError::Unavailable(_)
        ));
        let wrong_type = RedisError::from((redis::ErrorKind::UnexpectedReturnType, "wrong type"));
        assert!(matches!(
            store_error(wrong_type),
            LeaderboardError::Store(_)
        ));
    }
}
