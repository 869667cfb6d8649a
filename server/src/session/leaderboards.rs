//! A session's leaderboard queries, answered from a task of their own so the
//! reader never waits on Redis.

use super::{Flow, Session};
use crate::leaderboard::{MAX_LIMIT, PageQuery, Period};
use crate::sessions::SessionEvent;
use bytes::Bytes;
use skirmish_shared::codec::encode;
use skirmish_shared::proto::{EntryView, ErrorCode, ServerMsg, close};
use std::sync::Arc;

impl Session {
    /// Answers a leaderboard query from its own task, so a slow Redis never
    /// holds up this player's inputs.
    pub(super) fn leaderboard(
        &mut self,
        request_id: u32,
        board: String,
        period: &str,
        around_me: bool,
        cursor: Option<String>,
        limit: u16,
    ) -> Flow {
        let Ok(period) = period.parse::<Period>() else {
            return self.refuse(
                ErrorCode::InvalidQuery,
                format!("unknown period `{period}`"),
            );
        };
        let limit = usize::from(limit);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return self.refuse(
                ErrorCode::InvalidQuery,
                format!("limit is 1 to {MAX_LIMIT}"),
            );
        }
        let query = match (around_me, cursor) {
            // The page of `limit` centred on this player; 1 is their own
            // entry.
            (true, None) => PageQuery::Centred {
                player: self.link.player_id,
                limit,
            },
            (true, Some(_)) => {
                return self.refuse(
                    ErrorCode::InvalidQuery,
                    "around_me takes no cursor: page on with the cursor alone".into(),
                );
            }
            (false, Some(cursor)) => PageQuery::After { cursor, limit },
            (false, None) => PageQuery::Top { limit },
        };
        let leaderboards = Arc::clone(&self.node.leaderboards);
        let outbox = Arc::clone(&self.link.outbox);
        let refusals = self.refusals();
        tokio::spawn(async move {
            let answer = match query
                .fetch(
                    leaderboards.as_ref(),
                    &board,
                    period,
                    crate::node::unix_ms(),
                )
                .await
            {
                Ok(page) => ServerMsg::Leaderboard {
                    request_id,
                    board: page.board,
                    period: page.period.as_str().to_owned(),
                    resets_at_ms: page.resets_at_ms,
                    total: page.total,
                    entries: page
                        .entries
                        .into_iter()
                        .map(|e| EntryView {
                            rank: e.rank,
                            player_id: e.player_id,
                            name: e.name,
                            score: e.score,
                        })
                        .collect(),
                    next_cursor: page.next_cursor,
                },
                Err(e) => {
                    let code = e.client_code().unwrap_or_else(|| {
                        tracing::error!(error = %e, "leaderboard query failed");
                        ErrorCode::Unavailable
                    });
                    let _ = refusals.send(SessionEvent::Refused(code, e.to_string()));
                    return;
                }
            };
            let _ = outbox.push(Bytes::from(encode(&answer)), close::TOO_SLOW);
        });
        Flow::Continue
    }
}
