//! What bots measure: latency histograms (HDR, microsecond resolution),
//! counters and errors by kind, merged across bots into one report.

use hdrhistogram::Histogram;
use serde::Serialize;
use skirmish_shared::proto::MatchId;
use std::collections::BTreeMap;
use std::time::Duration;

/// Latencies from a microsecond up to a minute, to two significant figures
/// (every value within 1%).
///
/// Every bot keeps four, so their size is the swarm's memory: at three
/// significant figures with 64-bit counts each takes ~140 KB, and 2,000
/// bots needed 1.2 GB; at two with 32-bit counts, ~10 KB.
#[derive(Clone, Debug)]
pub struct Latency(Histogram<u32>);

impl Default for Latency {
    fn default() -> Self {
        // The bounds are constants within what the crate accepts.
        Latency(Histogram::new_with_bounds(1, 60_000_000, 2).expect("valid histogram bounds"))
    }
}

/// Percentiles of a latency, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Samples recorded.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
}

impl Percentiles {
    /// A histogram's percentiles, each recorded value divided by `per_unit`
    /// (all zero without samples).
    fn of(histogram: &Histogram<u32>, per_unit: f64) -> Percentiles {
        if histogram.is_empty() {
            return Percentiles::default();
        }
        let at = |q: f64| histogram.value_at_quantile(q) as f64 / per_unit;
        Percentiles {
            count: histogram.len(),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: histogram.max() as f64 / per_unit,
        }
    }
}

impl Latency {
    /// Records one sample; values beyond a minute count as a minute.
    pub fn record(&mut self, d: Duration) {
        let micros = (d.as_micros() as u64).clamp(1, 60_000_000);
        self.0.saturating_record(micros);
    }

    /// Adds another histogram's samples.
    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    /// Forgets every sample.
    pub fn clear(&mut self) {
        self.0.reset();
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The percentiles in milliseconds (all zero without samples).
    pub fn percentiles(&self) -> Percentiles {
        Percentiles::of(&self.0, 1000.0)
    }
}

/// Distances in arena units, kept in hundredths of a unit (up to 100,000
/// units), with two significant figures like [`Latency`].
#[derive(Clone, Debug)]
pub struct Distances(Histogram<u32>);

impl Default for Distances {
    fn default() -> Self {
        // The bounds are constants within what the crate accepts.
        Distances(Histogram::new_with_bounds(1, 10_000_000, 2).expect("valid histogram bounds"))
    }
}

impl Distances {
    /// Records one distance (a NaN or negative one as zero).
    pub fn record(&mut self, units: f32) {
        let hundredths = (units.max(0.0) * 100.0).round() as u64;
        // A zero is recorded as the smallest value the histogram holds.
        self.0.saturating_record(hundredths.clamp(1, 10_000_000));
    }

    /// Adds another histogram's samples.
    pub fn merge(&mut self, other: &Distances) {
        let _ = self.0.add(&other.0);
    }

    /// The percentiles in units (all zero without samples).
    pub fn percentiles(&self) -> Percentiles {
        Percentiles::of(&self.0, 100.0)
    }
}

/// Everything one bot (or, merged, a whole swarm) measured.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Round trip of `ping` to `pong`.
    pub rtt: Latency,
    /// Time between consecutive snapshots within a match: the jitter of
    /// arrivals.
    pub snapshot_interval: Latency,
    /// From sending an input until a snapshot acknowledges it.
    pub input_ack: Latency,
    /// How far the bot's predicted position after an acknowledged input
    /// was from where the node put it (arena bots; units).
    pub prediction_error: Distances,
    /// How late each decoded snapshot arrived against the earliest of its
    /// match, each at its tick's place on the match's clock.
    pub snapshot_lateness: Latency,
    /// Ticks of which a snapshot was decoded, and ticks from each match's
    /// first decoded to its last: their ratio is the share seen.
    pub ticks_seen: u64,
    pub ticks_spanned: u64,
    /// From asking to play until seated.
    pub time_to_match: Latency,
    /// Matches whose results arrived.
    pub matches_completed: u64,
    /// Connections lost without a normal close.
    pub disconnects: u64,
    /// Connections re-established after a loss.
    pub reconnects: u64,
    /// Moves to another node that hosted a found match.
    pub redirects: u64,
    /// Moves to another live node when the bot's node refused it or was
    /// gone.
    pub failovers: u64,
    /// Errors by kind (`login`, `connect`, `decode`, `closed_4001`,
    /// `server_rate_limited`, …).
    pub errors: BTreeMap<String, u64>,
    /// Time spent connected, summed over connections: the divisor of
    /// per-bot rates, so a ramp or a reconnect wait does not dilute them.
    pub connected: Duration,
    /// Payload bytes received.
    pub bytes_down: u64,
    /// Payload bytes sent.
    pub bytes_up: u64,
    /// Snapshots received.
    pub snapshots: u64,
    /// Of them, full snapshots (the rest are deltas).
    pub full_snapshots: u64,
    /// Snapshots dropped for arriving after a newer one (datagrams).
    pub snapshots_reordered: u64,
    /// The ages of the deltas' baselines, in ticks, summed: how far behind
    /// the node's view of what the bot has is.
    pub baseline_ticks: u64,
    /// Bytes of snapshot messages received.
    pub snapshot_bytes: u64,
    /// Inputs sent.
    pub inputs: u64,
    /// Chat lines sent.
    pub chats: u64,
    /// Every match whose end a bot saw, by id: what a soak checks the
    /// leaderboards against.
    pub ended: BTreeMap<MatchId, EndedMatch>,
}

/// How a match a bot was in ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct EndedMatch {
    /// It ran to its end (not `abandoned`), so its result counts.
    pub completed: bool,
    /// The bots' own kills in it, from the results (a bot adds its own
    /// line; merged, the bots that saw it end add up): the kills the
    /// leaderboards get from it, which do not count server bots'.
    pub kills: i64,
}

impl Stats {
    /// Counts one error of a kind.
    pub fn error(&mut self, kind: impl Into<String>) {
        *self.errors.entry(kind.into()).or_default() += 1;
    }

    /// Errors of every kind.
    pub fn total_errors(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Adds another bot's measurements.
    pub fn merge(&mut self, other: &Stats) {
        self.rtt.merge(&other.rtt);
        self.snapshot_interval.merge(&other.snapshot_interval);
        self.input_ack.merge(&other.input_ack);
        self.prediction_error.merge(&other.prediction_error);
        self.snapshot_lateness.merge(&other.snapshot_lateness);
        self.ticks_seen += other.ticks_seen;
        self.ticks_spanned += other.ticks_spanned;
        self.time_to_match.merge(&other.time_to_match);
        self.matches_completed += other.matches_completed;
        self.disconnects += other.disconnects;
        self.reconnects += other.reconnects;
        self.redirects += other.redirects;
        self.failovers += other.failovers;
        for (kind, n) in &other.errors {
            *self.errors.entry(kind.clone()).or_default() += n;
        }
        self.connected += other.connected;
        self.bytes_down += other.bytes_down;
        self.bytes_up += other.bytes_up;
        self.snapshots += other.snapshots;
        self.full_snapshots += other.full_snapshots;
        self.snapshots_reordered += other.snapshots_reordered;
        self.baseline_ticks += other.baseline_ticks;
        self.snapshot_bytes += other.snapshot_bytes;
        self.inputs += other.inputs;
        self.chats += other.chats;
        for (id, ended) in &other.ended {
            self.ended
                .entry(*id)
                .and_modify(|seen| seen.kills += ended.kills)
                .or_insert(*ended);
        }
    }
}

/// CPU time this process has used, from `/proc/self/stat` (Linux; `None`
/// elsewhere). The kernel reports it in USER_HZ ticks, which are 1/100 s on
/// every Linux ABI.
pub fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut latency = Latency::default();
        for ms in 1..=1000u64 {
            latency.record(Duration::from_millis(ms));
        }
        let p = latency.percentiles();
        assert_eq!(p.count, 1000);
        // Two significant figures: within 1% of the exact values.
        for (got, want) in [
            (p.p50, 500.0),
            (p.p90, 900.0),
            (p.p99, 990.0),
            (p.p999, 999.0),
            (p.max, 1000.0),
        ] {
            assert!((got - want).abs() <= want * 0.01 + 0.001, "{got} vs {want}");
        }
    }

    #[test]
    fn empty_histograms_report_zeros_and_extremes_are_clamped() {
        assert_eq!(Latency::default().percentiles(), Percentiles::default());
        let mut latency = Latency::default();
        latency.record(Duration::ZERO);
        latency.record(Duration::from_secs(3600));
        let p = latency.percentiles();
        assert_eq!(p.count, 2);
        assert!(
            (p.max - 60_000.0).abs() < 60.0,
            "a minute at most: {}",
            p.max
        );
    }

    #[test]
    fn merging_adds_samples_counters_and_errors() {
        let mut a = Stats::default();
        a.rtt.record(Duration::from_millis(10));
        a.error("connect");
        a.matches_completed = 2;
        let mut b = Stats::default();
        b.rtt.record(Duration::from_millis(30));
        b.error("connect");
        b.error("closed_4001");
        b.matches_completed = 1;
        a.merge(&b);
        assert_eq!(a.rtt.count(), 2);
        assert_eq!(a.matches_completed, 3);
        assert_eq!(a.errors.get("connect"), Some(&2));
        assert_eq!(a.total_errors(), 3);
    }

    #[test]
    fn cpu_time_is_readable_and_grows() {
        // Spin until the process has used at least 50 ms more CPU time (the
        // kernel counts in 10 ms steps); a reading that never grows would
        // spin until the wall-clock bound and fail.
        let before = process_cpu_time().expect("Linux /proc");
        let started = std::time::Instant::now();
        let mut x = 0u64;
        let mut after = before;
        while after < before + Duration::from_millis(50) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "CPU time stayed at {after:?} from {before:?}"
            );
            for i in 0..1_000_000u64 {
                x = x.wrapping_add(i * i);
            }
            std::hint::black_box(x);
            after = process_cpu_time().expect("Linux /proc");
        }
    }
}
