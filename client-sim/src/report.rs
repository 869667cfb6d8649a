//! The final report of a swarm run: a table for people, JSON for machines,
//! and the service-level checks that decide the exit code.

use crate::stats::{EndedMatch, Percentiles, Stats};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// What a run measured. The JSON keys are a stable interface for CI and
/// soak scripts.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Bots started.
    pub bots: u32,
    /// Wall time of the run, seconds.
    pub duration_s: f64,
    /// Matches whose results reached a bot (one per bot per match).
    pub matches_completed: u64,
    /// Distinct matches whose end a bot saw, by id: whether each ran to its
    /// end and its kills, for checking the leaderboards against.
    pub matches: BTreeMap<String, EndedMatch>,
    /// Bots that finished at least one match.
    pub bots_with_a_match: u32,
    /// Errors of every kind.
    pub errors: u64,
    /// Errors by kind.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Errors per bot per minute.
    pub error_rate: f64,
    /// Connections lost without a normal close.
    pub disconnects: u64,
    /// Connections re-established after a loss.
    pub reconnects: u64,
    /// Moves to another node that hosted a found match.
    pub redirects: u64,
    /// Moves to another live node when a bot's node refused it or was gone.
    pub failovers: u64,
    /// Ping to pong.
    pub rtt_ms: Percentiles,
    /// Time between consecutive snapshots (jitter of arrivals).
    pub snapshot_interval_ms: Percentiles,
    /// Input sent until a snapshot acknowledges it.
    pub input_ack_ms: Percentiles,
    /// Distance from the bot's predicted position after an acknowledged
    /// input to the node's (arena units; arena matches only).
    pub prediction_error_units: Percentiles,
    /// How late each decoded snapshot arrived against the earliest of its
    /// match, at its tick's place on the match's clock: delay beyond the
    /// best case (loss recovery, queueing, tick jitter).
    pub snapshot_lateness_ms: Percentiles,
    /// Of the ticks from each match's first decoded snapshot to its last,
    /// the share decoded (1.0: every one).
    pub ticks_seen_share: f64,
    /// From asking to play until seated.
    pub time_to_match_ms: Percentiles,
    /// Bots connected on average over the run (time connected, summed
    /// over bots, divided by the run's length).
    pub mean_bots_connected: f64,
    /// Payload received per bot per second connected.
    pub bytes_down_per_bot_per_s: f64,
    /// Payload sent per bot per second connected.
    pub bytes_up_per_bot_per_s: f64,
    /// This process's CPU use over the run, percent of one core.
    pub client_cpu_pct: f64,
    /// The same per bot connected on average.
    pub client_cpu_pct_per_bot: f64,
    /// Snapshots received, all bots.
    pub snapshots: u64,
    /// Of them, full snapshots.
    pub full_snapshots: u64,
    /// Of them, dropped for arriving after a newer one (WebTransport).
    pub snapshots_reordered: u64,
    /// The mean age of the deltas' baselines, ticks.
    pub mean_baseline_ticks: f64,
    /// The mean size of a snapshot message, bytes.
    pub mean_snapshot_bytes: f64,
    /// Inputs sent, all bots.
    pub inputs: u64,
    /// Chat lines sent, all bots.
    pub chats: u64,
}

impl Report {
    /// Builds the report from merged stats.
    pub fn new(
        bots: u32,
        bots_with_a_match: u32,
        wall: Duration,
        cpu: Option<Duration>,
        stats: &Stats,
    ) -> Report {
        let secs = wall.as_secs_f64().max(1e-9);
        let per_bot_s = f64::from(bots.max(1)) * secs;
        let cpu_pct = cpu.map_or(0.0, |c| c.as_secs_f64() / secs * 100.0);
        // Rates per bot are per second connected, so a ramp or time spent
        // reconnecting does not dilute them.
        let connected_s = stats.connected.as_secs_f64().max(1e-9);
        let mean_connected = stats.connected.as_secs_f64() / secs;
        Report {
            bots,
            duration_s: secs,
            matches_completed: stats.matches_completed,
            matches: stats
                .ended
                .iter()
                .map(|(id, m)| (id.to_string(), *m))
                .collect(),
            bots_with_a_match,
            errors: stats.total_errors(),
            errors_by_kind: stats.errors.clone(),
            error_rate: stats.total_errors() as f64 / per_bot_s * 60.0,
            disconnects: stats.disconnects,
            reconnects: stats.reconnects,
            redirects: stats.redirects,
            failovers: stats.failovers,
            rtt_ms: stats.rtt.percentiles(),
            snapshot_interval_ms: stats.snapshot_interval.percentiles(),
            snapshot_lateness_ms: stats.snapshot_lateness.percentiles(),
            ticks_seen_share: stats.ticks_seen as f64 / stats.ticks_spanned.max(1) as f64,
            input_ack_ms: stats.input_ack.percentiles(),
            prediction_error_units: stats.prediction_error.percentiles(),
            time_to_match_ms: stats.time_to_match.percentiles(),
            mean_bots_connected: mean_connected,
            bytes_down_per_bot_per_s: stats.bytes_down as f64 / connected_s,
            bytes_up_per_bot_per_s: stats.bytes_up as f64 / connected_s,
            client_cpu_pct: cpu_pct,
            client_cpu_pct_per_bot: if mean_connected > 0.0 {
                cpu_pct / mean_connected
            } else {
                0.0
            },
            snapshots: stats.snapshots,
            full_snapshots: stats.full_snapshots,
            snapshots_reordered: stats.snapshots_reordered,
            mean_baseline_ticks: stats.baseline_ticks as f64
                / (stats.snapshots.saturating_sub(stats.full_snapshots)).max(1) as f64,
            mean_snapshot_bytes: stats.snapshot_bytes as f64 / stats.snapshots.max(1) as f64,
            inputs: stats.inputs,
            chats: stats.chats,
        }
    }

    /// A readable summary for the terminal.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let row = |out: &mut String, label: &str, value: String| {
            let _ = writeln!(out, "  {label:<26} {value}");
        };
        let lat = |p: &Percentiles| {
            format!(
                "p50 {:>7.2}  p90 {:>7.2}  p99 {:>7.2}  p99.9 {:>7.2}  max {:>7.2}  (n={})",
                p.p50, p.p90, p.p99, p.p999, p.max, p.count
            )
        };
        let _ = writeln!(out, "skirmish-bots report");
        row(&mut out, "bots", self.bots.to_string());
        row(&mut out, "duration", format!("{:.1} s", self.duration_s));
        row(
            &mut out,
            "matches completed",
            format!(
                "{} ({} bots finished one; {} distinct, {} of them abandoned)",
                self.matches_completed,
                self.bots_with_a_match,
                self.matches.len(),
                self.matches.values().filter(|m| !m.completed).count()
            ),
        );
        row(
            &mut out,
            "errors",
            format!(
                "{} ({:.3} per bot per minute)",
                self.errors, self.error_rate
            ),
        );
        for (kind, n) in &self.errors_by_kind {
            row(&mut out, &format!("  {kind}"), n.to_string());
        }
        row(
            &mut out,
            "disconnects / reconnects",
            format!("{} / {}", self.disconnects, self.reconnects),
        );
        row(&mut out, "redirects to a host", self.redirects.to_string());
        row(
            &mut out,
            "failovers to another node",
            self.failovers.to_string(),
        );
        row(&mut out, "rtt ms", lat(&self.rtt_ms));
        row(
            &mut out,
            "snapshot interval ms",
            lat(&self.snapshot_interval_ms),
        );
        row(&mut out, "input ack ms", lat(&self.input_ack_ms));
        row(
            &mut out,
            "prediction error units",
            lat(&self.prediction_error_units),
        );
        row(
            &mut out,
            "snapshot lateness ms",
            lat(&self.snapshot_lateness_ms),
        );
        row(
            &mut out,
            "ticks seen",
            format!(
                "{:.2}% of those the matches ran",
                self.ticks_seen_share * 100.0
            ),
        );
        row(&mut out, "time to match ms", lat(&self.time_to_match_ms));
        row(
            &mut out,
            "bots connected",
            format!("{:.1} on average", self.mean_bots_connected),
        );
        row(
            &mut out,
            "down per bot",
            format!("{:.0} B/s", self.bytes_down_per_bot_per_s),
        );
        row(
            &mut out,
            "snapshots",
            format!(
                "{:.0} B on average; {} full, deltas against a tick {:.2} old on average; {} overtaken",
                self.mean_snapshot_bytes,
                self.full_snapshots,
                self.mean_baseline_ticks,
                self.snapshots_reordered
            ),
        );
        row(
            &mut out,
            "up per bot",
            format!("{:.0} B/s", self.bytes_up_per_bot_per_s),
        );
        row(
            &mut out,
            "client cpu",
            format!(
                "{:.1}% of a core ({:.4}% per bot)",
                self.client_cpu_pct, self.client_cpu_pct_per_bot
            ),
        );
        out
    }
}

/// Service-level thresholds; a run that breaks one fails.
#[derive(Clone, Debug, Default)]
pub struct Slo {
    /// Highest acceptable p99 round-trip time, ms.
    pub max_p99_rtt_ms: Option<f64>,
    /// Highest acceptable errors per bot per minute.
    pub max_error_rate: Option<f64>,
    /// Highest acceptable p99 input-acknowledgement time, ms.
    pub max_p99_input_ack_ms: Option<f64>,
}

impl Slo {
    /// The thresholds the report breaks, described. A latency threshold
    /// with nothing measured is broken too: a run where no bot got a pong
    /// (or an acknowledgement) proves nothing about latency.
    pub fn violations(&self, report: &Report) -> Vec<String> {
        let mut broken = Vec::new();
        let latency = |broken: &mut Vec<String>, what: &str, p: &Percentiles, max: Option<f64>| {
            let Some(max) = max else { return };
            if p.count == 0 {
                broken.push(format!("no {what} was measured (threshold {max} ms)"));
            } else if p.p99 > max {
                broken.push(format!("p99 {what} {:.2} ms > {max} ms", p.p99));
            }
        };
        latency(&mut broken, "rtt", &report.rtt_ms, self.max_p99_rtt_ms);
        if let Some(max) = self.max_error_rate
            && report.error_rate > max
        {
            broken.push(format!(
                "error rate {:.3}/bot/min > {max}",
                report.error_rate
            ));
        }
        latency(
            &mut broken,
            "input ack",
            &report.input_ack_ms,
            self.max_p99_input_ack_ms,
        );
        broken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> Stats {
        let mut stats = Stats {
            // Two bots connected for 10 s each.
            connected: Duration::from_secs(20),
            ..Stats::default()
        };
        for ms in [10, 20, 30, 40, 200] {
            stats.rtt.record(Duration::from_millis(ms));
        }
        stats.error("connect");
        stats.bytes_down = 60_000;
        stats.bytes_up = 6_000;
        stats.matches_completed = 4;
        stats
    }

    #[test]
    fn rates_are_per_bot_per_second() {
        let report = Report::new(
            2,
            2,
            Duration::from_secs(10),
            Some(Duration::from_secs(1)),
            &stats(),
        );
        assert_eq!(report.bytes_down_per_bot_per_s, 3000.0);
        assert_eq!(report.bytes_up_per_bot_per_s, 300.0);
        assert_eq!(
            report.error_rate, 3.0,
            "1 error / 2 bots / 10 s = 3 per bot per minute"
        );
        assert!((report.client_cpu_pct - 10.0).abs() < 1e-9);
        assert!((report.mean_bots_connected - 2.0).abs() < 1e-9);
        assert!((report.client_cpu_pct_per_bot - 5.0).abs() < 1e-9);
    }

    #[test]
    fn rates_are_per_second_connected_not_diluted_by_the_ramp() {
        // The same traffic from bots connected only half the run (a ramp,
        // or waits to reconnect): twice the rate per connected second.
        let mut half = stats();
        half.connected = Duration::from_secs(10);
        let report = Report::new(
            2,
            2,
            Duration::from_secs(10),
            Some(Duration::from_secs(1)),
            &half,
        );
        assert_eq!(report.bytes_down_per_bot_per_s, 6000.0);
        assert!((report.mean_bots_connected - 1.0).abs() < 1e-9);
        assert!((report.client_cpu_pct_per_bot - 10.0).abs() < 1e-9);
    }

    #[test]
    fn the_json_has_every_documented_key() {
        let report = Report::new(2, 2, Duration::from_secs(10), None, &stats());
        let json = serde_json::to_value(&report).expect("serialises");
        for key in [
            "bots",
            "duration_s",
            "matches_completed",
            "matches",
            "errors",
            "errors_by_kind",
            "disconnects",
            "reconnects",
            "failovers",
            "rtt_ms",
            "snapshot_interval_ms",
            "input_ack_ms",
            "prediction_error_units",
            "snapshot_lateness_ms",
            "ticks_seen_share",
            "time_to_match_ms",
            "mean_bots_connected",
            "bytes_down_per_bot_per_s",
            "bytes_up_per_bot_per_s",
            "client_cpu_pct",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        for key in ["p50", "p90", "p99", "p999", "max"] {
            assert!(json["rtt_ms"].get(key).is_some(), "missing rtt_ms.{key}");
        }
        assert!(report.table().contains("rtt ms"));
    }

    #[test]
    fn slo_breaches_are_named() {
        let report = Report::new(2, 2, Duration::from_secs(10), None, &stats());
        let slo = Slo {
            max_p99_rtt_ms: Some(100.0),
            max_error_rate: Some(5.0),
            max_p99_input_ack_ms: None,
        };
        let broken = slo.violations(&report);
        assert_eq!(broken.len(), 1, "{broken:?}");
        assert!(broken[0].starts_with("p99 rtt"));
        assert!(Slo::default().violations(&report).is_empty());
    }

    #[test]
    fn a_latency_threshold_with_nothing_measured_is_broken() {
        let report = Report::new(2, 0, Duration::from_secs(10), None, &Stats::default());
        let slo = Slo {
            max_p99_rtt_ms: Some(100.0),
            max_error_rate: Some(5.0),
            max_p99_input_ack_ms: Some(50.0),
        };
        let broken = slo.violations(&report);
        assert_eq!(broken.len(), 2, "{broken:?}");
        assert!(broken.iter().all(|b| b.starts_with("no ")), "{broken:?}");
    }
}
