//! Abuse limits, with time passed in so they test without a clock: a token
//! bucket for the message rate, leaky counters for strikes (refused
//! messages) and rate-limit drops, and token buckets per player that
//! outlive a connection (the chat rate).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A token bucket: `rate` tokens per second up to `capacity`.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: f32,
    capacity: f32,
    tokens: f32,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f32, capacity: f32, now: Instant) -> Self {
        TokenBucket {
            rate,
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f32();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket has refilled to capacity by `now`: then it is no
    /// different from a new one.
    fn is_full(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f32();
        self.tokens + elapsed * self.rate >= self.capacity
    }
}

/// One token bucket per key (a player), kept only while it matters: a
/// bucket that has refilled is the same as a new one, so it is forgotten.
/// Memory is bounded by the keys that took a token within the last two
/// refill times (`capacity / rate`).
#[derive(Debug)]
pub struct KeyedBuckets<K> {
    rate: f32,
    capacity: f32,
    buckets: HashMap<K, TokenBucket>,
    /// When to next forget refilled buckets.
    next_sweep: Option<Instant>,
}

impl<K: Hash + Eq> KeyedBuckets<K> {
    /// Buckets of `rate` tokens per second up to `capacity`, new ones full.
    pub fn new(rate: f32, capacity: f32) -> Self {
        KeyedBuckets {
            rate,
            capacity,
            buckets: HashMap::new(),
            next_sweep: None,
        }
    }

    /// Takes one token from `key`'s bucket if there is one.
    pub fn try_take(&mut self, key: K, now: Instant) -> bool {
        if self.next_sweep.is_none_or(|at| now >= at) {
            self.buckets.retain(|_, bucket| !bucket.is_full(now));
            // At least once a minute, so a slow refill cannot let the
            // buckets of every key ever seen pile up.
            let refill = Duration::from_secs_f32(self.capacity / self.rate);
            self.next_sweep = Some(now + refill.min(Duration::from_secs(60)));
        }
        let (rate, capacity) = (self.rate, self.capacity);
        self.buckets
            .entry(key)
            .or_insert_with(|| TokenBucket::new(rate, capacity, now))
            .try_take(now)
    }

    /// Keys with a bucket kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.buckets.len()
    }
}

/// A counter that drains at a fixed rate; tripped when it exceeds a limit.
#[derive(Clone, Debug)]
pub struct LeakyCounter {
    level: f32,
    drain_per_s: f32,
    limit: f32,
    last: Instant,
}

impl LeakyCounter {
    /// An empty counter.
    pub fn new(drain_per_s: f32, limit: f32, now: Instant) -> Self {
        LeakyCounter {
            level: 0.0,
            drain_per_s,
            limit,
            last: now,
        }
    }

    /// Adds one; returns whether the limit is now exceeded.
    pub fn add(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f32();
        self.last = now;
        self.level = (self.level - elapsed * self.drain_per_s).max(0.0) + 1.0;
        self.level > self.limit
    }
}

/// Lets something happen at most once per interval (error replies to a
/// flooding client, so refusing costs less than flooding).
#[derive(Clone, Debug)]
pub struct Throttle {
    interval: Duration,
    next: Option<Instant>,
}

impl Throttle {
    /// Allows the first event at once.
    pub fn new(interval: Duration) -> Self {
        Throttle {
            interval,
            next: None,
        }
    }

    /// Whether the event may happen now; if so, the next is allowed one
    /// interval later.
    pub fn allow(&mut self, now: Instant) -> bool {
        if self.next.is_some_and(|next| now < next) {
            return false;
        }
        self.next = Some(now + self.interval);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 5.0, t0);
        assert_eq!(
            (0..8).filter(|_| bucket.try_take(t0)).count(),
            5,
            "the burst"
        );
        assert!(
            !bucket.try_take(t0 + Duration::from_millis(50)),
            "half a token"
        );
        assert!(
            bucket.try_take(t0 + Duration::from_millis(100)),
            "one token per 100 ms"
        );
        let later = t0 + Duration::from_secs(10);
        assert_eq!(
            (0..8).filter(|_| bucket.try_take(later)).count(),
            5,
            "refills only to capacity"
        );
    }

    #[test]
    fn keyed_buckets_survive_between_takes_and_forget_refilled_keys() {
        let t0 = Instant::now();
        let mut chat = KeyedBuckets::new(0.5, 5.0);
        assert_eq!((0..8).filter(|_| chat.try_take("ada", t0)).count(), 5);
        assert!(chat.try_take("bob", t0), "each key has its own bucket");
        // The same key later (a new connection, say) finds its bucket as
        // it left it: one token per two seconds.
        let t1 = t0 + Duration::from_secs(1);
        assert!(!chat.try_take("ada", t1));
        assert!(chat.try_take("ada", t0 + Duration::from_secs(2)));
        assert_eq!(chat.len(), 2);
        // Once refilled (10 s), a bucket is forgotten at the next sweep.
        let t2 = t0 + Duration::from_secs(30);
        assert!(chat.try_take("cyd", t2));
        assert_eq!(chat.len(), 1, "only cyd's bucket is kept");
        assert_eq!(
            (0..8).filter(|_| chat.try_take("ada", t2)).count(),
            5,
            "a forgotten key starts full"
        );
    }

    #[test]
    fn the_counter_trips_on_bursts_but_forgives_a_steady_trickle() {
        let t0 = Instant::now();
        let mut strikes = LeakyCounter::new(1.0, 3.0, t0);
        assert!(!strikes.add(t0));
        assert!(!strikes.add(t0));
        assert!(!strikes.add(t0));
        assert!(strikes.add(t0), "the fourth at once");

        let mut strikes = LeakyCounter::new(1.0, 3.0, t0);
        for s in 0..100 {
            assert!(
                !strikes.add(t0 + Duration::from_secs(s)),
                "one a second drains away"
            );
        }
    }

    #[test]
    fn the_throttle_allows_once_per_interval() {
        let t0 = Instant::now();
        let mut throttle = Throttle::new(Duration::from_secs(1));
        assert!(throttle.allow(t0));
        assert!(!throttle.allow(t0 + Duration::from_millis(999)));
        assert!(throttle.allow(t0 + Duration::from_secs(1)));
    }
}
