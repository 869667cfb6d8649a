//! [`Outbox`]: one connection's outbound queue, filled by its session and its
//! match, drained by its writer task.
//!
//! Reliable messages (roster, results, errors) queue up to a bound in
//! messages and in bytes; a client that lets them pile up past it is closed
//! as too slow. Snapshots never queue: a new one replaces the one not yet
//! sent, so a slow reader sees fewer, fresher states and never slows the tick
//! that produces them. Each entry remembers when it was queued (a snapshot
//! that replaces another keeps the older time), so the writer can tell how
//! long the oldest unsent message has waited.

use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

/// What the writer sends next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// A reliable protocol message.
    Message(Bytes),
    /// A snapshot: a transport may send it unreliably (the next one
    /// supersedes it, and a client acknowledges what it decoded).
    Snapshot(Bytes),
    /// Close the connection with this code and reason; nothing follows.
    Close(u16, &'static str),
}

#[derive(Debug)]
struct Entry {
    /// The (at most one) snapshot, rather than a reliable message.
    snapshot: bool,
    bytes: Bytes,
    queued_at: Instant,
}

#[derive(Debug, Default)]
struct State {
    /// In send order.
    queue: VecDeque<Entry>,
    /// Reliable messages in `queue`, and their bytes.
    reliable: usize,
    reliable_bytes: usize,
    close: Option<(u16, &'static str)>,
    /// Set once the close was handed to the writer; later pushes are dropped.
    closed: bool,
    snapshots_replaced: u64,
}

impl State {
    /// Bytes held, reliable and snapshot.
    fn bytes(&self) -> usize {
        self.queue.iter().map(|e| e.bytes.len()).sum()
    }
}

/// One connection's outbound queue. Shared by the session, the match and the
/// writer behind an `Arc`; every method takes the lock briefly and never
/// across an await.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    notify: Notify,
    capacity: usize,
    max_bytes: usize,
    /// `skirmish_outbound_queued_bytes`: what every outbox holds.
    queued_bytes: metrics::Gauge,
}

/// The reliable queue was full: the client is not reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overflow;

impl Outbox {
    /// An empty outbox holding at most `capacity` reliable messages, of any
    /// size (see [`Outbox::max_bytes`]).
    pub fn new(capacity: usize) -> Self {
        Outbox {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            capacity,
            max_bytes: usize::MAX,
            queued_bytes: metrics::gauge!("skirmish_outbound_queued_bytes"),
        }
    }

    /// Holds at most `max_bytes` of reliable messages as well.
    #[must_use]
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue half-updated
        // in a way that matters more than losing the connection would.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a reliable message. On overflow (in messages or in bytes) the
    /// outbox closes itself with `too_slow_code` and reports it. A message
    /// larger than the byte limit is taken when no other waits.
    pub fn push(&self, msg: Bytes, too_slow_code: u16) -> Result<(), Overflow> {
        let mut state = self.lock();
        if state.closed || state.close.is_some() {
            return Ok(());
        }
        let too_many_bytes =
            state.reliable > 0 && state.reliable_bytes + msg.len() > self.max_bytes;
        if state.reliable >= self.capacity || too_many_bytes {
            self.clear(&mut state);
            state.close = Some((too_slow_code, "too slow"));
            drop(state);
            metrics::counter!("skirmish_clients_too_slow_total", "why" => "queue_full")
                .increment(1);
            self.notify.notify_one();
            return Err(Overflow);
        }
        state.reliable += 1;
        state.reliable_bytes += msg.len();
        self.queued_bytes.increment(msg.len() as f64);
        state.queue.push_back(Entry {
            snapshot: false,
            bytes: msg,
            queued_at: Instant::now(),
        });
        drop(state);
        self.notify.notify_one();
        Ok(())
    }

    /// Queues a snapshot, replacing the one not yet sent (in its place in the
    /// order, and keeping its queue time: the client has waited since then).
    /// Returns whether one was replaced.
    pub fn push_snapshot(&self, msg: Bytes) -> bool {
        let mut state = self.lock();
        if state.closed || state.close.is_some() {
            return false;
        }
        let (added, replaced) = match state.queue.iter_mut().rev().find(|e| e.snapshot) {
            Some(slot) => {
                let old = std::mem::replace(&mut slot.bytes, msg);
                (slot.bytes.len() as f64 - old.len() as f64, true)
            }
            None => {
                let len = msg.len() as f64;
                state.queue.push_back(Entry {
                    snapshot: true,
                    bytes: msg,
                    queued_at: Instant::now(),
                });
                (len, false)
            }
        };
        if replaced {
            state.snapshots_replaced += 1;
        }
        drop(state);
        self.queued_bytes.increment(added);
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

    /// Drops everything queued and accepts nothing more: the writer closes
    /// the connection itself (a client too slow to take what it was sent).
    pub fn abandon(&self) {
        let mut state = self.lock();
        self.clear(&mut state);
        state.close = None;
        state.closed = true;
    }

    fn clear(&self, state: &mut State) {
        self.queued_bytes.decrement(state.bytes() as f64);
        state.queue.clear();
        state.reliable = 0;
        state.reliable_bytes = 0;
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
        self.pop_timed().map(|(item, _)| item)
    }

    /// [`Outbox::pop`], with when the message was queued (the close: now).
    pub fn pop_timed(&self) -> Option<(Outgoing, Instant)> {
        let mut state = self.lock();
        if let Some(entry) = state.queue.pop_front() {
            if !entry.snapshot {
                state.reliable -= 1;
                state.reliable_bytes -= entry.bytes.len();
            }
            drop(state);
            self.queued_bytes.decrement(entry.bytes.len() as f64);
            let item = if entry.snapshot {
                Outgoing::Snapshot(entry.bytes)
            } else {
                Outgoing::Message(entry.bytes)
            };
            return Some((item, entry.queued_at));
        }
        if let Some((code, reason)) = state.close.take() {
            state.closed = true;
            return Some((Outgoing::Close(code, reason), Instant::now()));
        }
        None
    }

    /// Waits until something may have been queued.
    pub async fn notified(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let state = self.lock();
        self.queued_bytes.decrement(state.bytes() as f64);
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
                Outgoing::Snapshot(msg("s3")),
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

    #[test]
    fn reliable_bytes_past_the_limit_close_as_too_slow() {
        let outbox = Outbox::new(64).max_bytes(10);
        outbox
            .push(msg("larger than ten"), 4004)
            .expect("alone, it fits");
        assert_eq!(drain(&outbox).len(), 1);
        outbox.push(msg("12345"), 4004).expect("room");
        outbox
            .push(msg("67890"), 4004)
            .expect("room: exactly the limit");
        // A snapshot does not count against it.
        assert!(!outbox.push_snapshot(msg("a large snapshot")));
        assert_eq!(outbox.push(msg("!"), 4004), Err(Overflow));
        assert_eq!(drain(&outbox), vec![Outgoing::Close(4004, "too slow")]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_replacing_snapshot_keeps_the_time_the_first_was_queued() {
        let outbox = Outbox::new(8);
        let start = Instant::now();
        outbox.push_snapshot(msg("s1"));
        tokio::time::advance(std::time::Duration::from_secs(3)).await;
        outbox.push_snapshot(msg("s2"));
        outbox.push(msg("r"), 4004).expect("room");
        let (first, at) = outbox.pop_timed().expect("the snapshot");
        assert_eq!((first, at), (Outgoing::Snapshot(msg("s2")), start));
        let (_, at) = outbox.pop_timed().expect("the reliable message");
        assert_eq!(at, start + std::time::Duration::from_secs(3));
    }

    #[test]
    fn an_abandoned_outbox_is_empty_and_takes_nothing() {
        let outbox = Outbox::new(8);
        outbox.push(msg("a"), 4004).expect("room");
        outbox.push_snapshot(msg("s"));
        outbox.close(1000, "bye");
        outbox.abandon();
        assert!(outbox.is_closing());
        outbox.push(msg("b"), 4004).expect("ignored");
        assert!(!outbox.push_snapshot(msg("t")));
        assert_eq!(drain(&outbox), vec![]);
    }
}
