//! What `/healthz` says about the parts a node leans on besides itself:
//! Redis (as its last heartbeat found it), the bus's subscriber link, and
//! the results outbox. Each part writes its own state here as it runs, so
//! answering `/healthz` never waits on Redis or the disk.

use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// Redis as the node's heartbeats find it.
#[derive(Debug, Default)]
pub struct RedisHealth {
    /// Whether the node has Redis at all (multi-node mode).
    configured: bool,
    /// Whether the last heartbeat (a write and a read) failed.
    failing: AtomicBool,
}

/// How `/healthz` names Redis's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RedisState {
    /// Single-node mode: there is no Redis.
    NotConfigured,
    /// The last heartbeat went through.
    Ok,
    /// The last heartbeat failed; the node retries every heartbeat.
    Unreachable,
}

impl RedisHealth {
    /// For a node with (`true`) or without Redis.
    pub fn new(configured: bool) -> Self {
        RedisHealth {
            configured,
            failing: AtomicBool::new(false),
        }
    }

    /// Records how the last heartbeat went.
    pub fn heartbeat(&self, ok: bool) {
        self.failing.store(!ok, Ordering::Relaxed);
    }

    /// The state to report.
    pub fn state(&self) -> RedisState {
        match (self.configured, self.failing.load(Ordering::Relaxed)) {
            (false, _) => RedisState::NotConfigured,
            (true, false) => RedisState::Ok,
            (true, true) => RedisState::Unreachable,
        }
    }
}

/// The results outbox as its worker last left it.
#[derive(Debug, Default)]
pub struct OutboxHealth {
    pending: AtomicUsize,
    /// When the oldest pending match ended, Unix ms; 0 when none is.
    oldest_finished_at_ms: AtomicU64,
    retrying: AtomicBool,
}

/// What `/healthz` says of the outbox.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct OutboxReport {
    /// Finished matches not yet on the leaderboards.
    pub pending: usize,
    /// Seconds since the oldest of them ended; `None` when none is pending.
    pub oldest_age_s: Option<f64>,
    /// Whether the last attempt found the leaderboards unavailable, so the
    /// worker is waiting to try again.
    pub retrying: bool,
}

impl OutboxHealth {
    /// Records the worker's queue: how many records, when the oldest ended
    /// (Unix ms), and whether it is backing off after a failure.
    pub fn set(&self, pending: usize, oldest_finished_at_ms: Option<u64>, retrying: bool) {
        self.pending.store(pending, Ordering::Relaxed);
        self.oldest_finished_at_ms
            .store(oldest_finished_at_ms.unwrap_or(0), Ordering::Relaxed);
        self.retrying.store(retrying, Ordering::Relaxed);
        metrics::gauge!("skirmish_outbox_pending").set(pending as f64);
        // When the oldest waiting result was finished (Unix seconds), 0 when
        // none waits: alert on `time() - this` past a few minutes.
        let oldest_s = oldest_finished_at_ms.filter(|_| pending > 0).unwrap_or(0) as f64 / 1000.0;
        metrics::gauge!("skirmish_outbox_oldest_finished_seconds").set(oldest_s);
    }

    /// The report as of `now_ms` (Unix ms).
    pub fn report(&self, now_ms: u64) -> OutboxReport {
        let pending = self.pending.load(Ordering::Relaxed);
        let oldest = self.oldest_finished_at_ms.load(Ordering::Relaxed);
        OutboxReport {
            pending,
            oldest_age_s: (pending > 0 && oldest > 0)
                .then(|| now_ms.saturating_sub(oldest) as f64 / 1000.0),
            retrying: self.retrying.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_is_reported_by_its_last_heartbeat() {
        assert_eq!(RedisHealth::new(false).state(), RedisState::NotConfigured);
        let redis = RedisHealth::new(true);
        assert_eq!(redis.state(), RedisState::Ok);
        redis.heartbeat(false);
        assert_eq!(redis.state(), RedisState::Unreachable);
        redis.heartbeat(true);
        assert_eq!(redis.state(), RedisState::Ok);
    }

    #[test]
    fn the_outbox_reports_its_oldest_record_only_while_one_waits() {
        let outbox = OutboxHealth::default();
        assert_eq!(
            outbox.report(5_000),
            OutboxReport {
                pending: 0,
                oldest_age_s: None,
                retrying: false
            }
        );
        outbox.set(2, Some(1_000), true);
        assert_eq!(
            outbox.report(5_500),
            OutboxReport {
                pending: 2,
                oldest_age_s: Some(4.5),
                retrying: true
            }
        );
        outbox.set(0, None, false);
        assert_eq!(outbox.report(9_000).oldest_age_s, None);
    }
}
