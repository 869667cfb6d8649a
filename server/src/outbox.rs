//! [`Outbox`]: one connection's outbound queue, filled by its session and its
//! match, drained by its writer task.
//!
//! Reliable messages (roster, results, errors) queue up to a bound; a client
//! that lets them pile up past it is closed as too slow. Snapshots never
//! queue: a new one replaces the one not yet sent, so a slow reader sees
//! fewer, fresher states and never slows the tick that produces them.

use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::Notify;

/// What the writer sends next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// A protocol message.
    Message(Bytes),
    /// Close the connection with this code and reason; nothing follows.
    Close(u16, &'static str),
}

#[derive(Debug, Default)]
struct State {
    /// In send order; `true` marks the (at most one) snapshot.
    queue: VecDeque<(bool, Bytes)>,
    close: Option<(u16, &'static str)>,
    /// Set once the close was handed to the writer; later pushes are dropped.
    closed: bool,
    snapshots_replaced: u64,
}

/// One connection's outbound queue. Shared by the session, the match and the
/// writer behind an `Arc`; every method takes the lock briefly and never
/// across an await.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    notify: Notify,
    capacity: usize,
}

/// The reliable queue was full: the client is not reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overflow;

impl Outbox {
    /// An empty outbox holding at most `capacity` reliable messages.
    pub fn new(capacity: usize) -> Self {
        Outbox {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue half-updated
        // in a way that matters more than losing the connection would.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a reliable message. On overflow the outbox closes itself with
    /// `too_slow_code` and reports it.
    pub fn push(&self, msg: Bytes, too_slow_code: u16) -> Result<(), Overflow> {
        let mut state = self.lock();
        if state.closed || state.close.is_some() {
            return Ok(());
        }
        let reliable = state.queue.iter().filter(|(snapshot, _)| !snapshot).count();
        if reliable >= self.capacity {
            state.queue.clear();
            state.close = Some((too_slow_code, "too slow"));
            drop(state);
            self.notify.notify_one();
            return Err(Overflow);
        }
        state.queue.push_back((false, msg));
        drop(state);
        self.notify.notify_one();
        Ok(())
    }

    /// Queues a snapshot, replacing the one not yet sent (in its place in the
    /// order). Returns whether one was replaced.
    pub fn push_snapshot(&self, msg: Bytes) -> bool {
        let mut state = self.lock();
        if state.closed || state.close.is_some() {
            return false;
        }
        let replaced = match state.queue.iter_mut().rev().find(|(snapshot, _)| *snapshot) {
            Some(slot) => {
                slot.1 = msg;
                true
            }
            None => {
                state.queue.push_back((true, msg));
                false
            }
        };
        if replaced {
            state.snapshots_replaced += 1;
        }
        drop(state);
        if !replaced {
            self.notify.notify_one();
        }
        replaced
    }

    /// Asks the writer to close the connection after what is already queued.
    /// The first close wins.
    pub fn close(&self, code: u16, reason: &'static str) {
        let mut state = self.lock();
        if state.close.is_none() && !state.closed {
            state.close = Some((code, reason));
        }
        drop(state);
        self.notify.notify_one();
    }

    /// Whether a close has been asked for.
    pub fn is_closing(&self) -> bool {
        let state = self.lock();
        state.close.is_some() || state.closed
    }

    /// Snapshots replaced before they were sent, since the start.
    pub fn snapshots_replaced(&self) -> u64 {
        self.lock().snapshots_replaced
    }

    /// Takes what to send next, if anything: queued messages first, then the
    /// close.
    pub fn pop(&self) -> Option<Outgoing> {
        let mut state = self.lock();
        if let Some((_, msg)) = state.queue.pop_front() {
            return Some(Outgoing::Message(msg));
        }
        if let Some((code, reason)) = state.close.take() {
            state.closed = true;
            return Some(Outgoing::Close(code, reason));
        }
        None
    }

    /// Waits until something may have been queued.
    pub async fn notified(&self) {
        self.notify.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    fn drain(outbox: &Outbox) -> Vec<Outgoing> {
        std::iter::from_fn(|| outbox.pop()).collect()
    }

    #[test]
    fn a_newer_snapshot_replaces_the_unsent_one_in_place() {
        let outbox = Outbox::new(8);
        outbox.push(msg("joined"), 4004).expect("room");
        assert!(!outbox.push_snapshot(msg("s1")));
        outbox.push(msg("roster"), 4004).expect("room");
        assert!(outbox.push_snapshot(msg("s2")));
        assert!(outbox.push_snapshot(msg("s3")));
        assert_eq!(
            drain(&outbox),
            vec![
                Outgoing::Message(msg("joined")),
                Outgoing::Message(msg("s3")),
                Outgoing::Message(msg("roster"))
            ]
        );
        assert_eq!(outbox.snapshots_replaced(), 2);
    }

    #[test]
    fn overflowing_reliable_messages_closes_as_too_slow() {
        let outbox = Outbox::new(2);
        outbox.push(msg("a"), 4004).expect("room");
        outbox.push(msg("b"), 4004).expect("room");
        assert_eq!(outbox.push(msg("c"), 4004), Err(Overflow));
        assert_eq!(drain(&outbox), vec![Outgoing::Close(4004, "too slow")]);
        // Nothing is accepted after the close.
        outbox.push(msg("d"), 4004).expect("ignored");
        assert!(!outbox.push_snapshot(msg("s")));
        assert_eq!(drain(&outbox), vec![]);
    }

    #[test]
    fn close_comes_after_queued_messages_and_the_first_close_wins() {
        let outbox = Outbox::new(4);
        outbox.push(msg("error"), 4004).expect("room");
        outbox.close(4001, "too many errors");
        outbox.close(1000, "bye");
        assert!(outbox.is_closing());
        assert_eq!(
            drain(&outbox),
            vec![
                Outgoing::Message(msg("error")),
                Outgoing::Close(4001, "too many errors")
            ]
        );
    }
}
