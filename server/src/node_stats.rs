//! What a node tells the rest of the cluster about its health with each
//! heartbeat, for the admin dashboard: percentiles over the time since its
//! previous heartbeat, read from its own Prometheus metrics (bucket counts
//! then and now), and the gauges as they stand.
//!
//! The metrics recorder is per process, so nodes sharing a process (tests)
//! report the same figures; separate processes, as deployed, do not.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// A node's recent health, as the registry carries it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeStats {
    /// Ticks since the previous heartbeat (all matches).
    pub ticks: u64,
    /// Their 99th percentile duration, in ms (a bucket's upper bound).
    pub tick_p99_ms: Option<f64>,
    /// Redis commands and pipelines since the previous heartbeat.
    pub redis_commands: u64,
    /// Their 99th percentile round trip, in ms.
    pub redis_p99_ms: Option<f64>,
    /// Players matched since the previous heartbeat.
    pub matched: u64,
    /// Their median and 99th percentile time to match, in seconds.
    pub time_to_match_p50_s: Option<f64>,
    /// See [`NodeStats::time_to_match_p50_s`].
    pub time_to_match_p99_s: Option<f64>,
    /// Players waiting in this node's tickets, by mode.
    pub queued: BTreeMap<String, u64>,
    /// Connections by transport (`ws`, `wt`).
    pub transports: BTreeMap<String, u64>,
    /// Match results waiting in the outbox.
    pub outbox_pending: u64,
    /// How long ago the oldest of them finished, in seconds.
    pub outbox_oldest_s: f64,
}

/// Turns successive renderings of the node's metrics into [`NodeStats`].
#[derive(Debug, Default)]
pub struct Sampler {
    /// Each histogram's cumulative bucket counts at the previous sample.
    previous: HashMap<&'static str, Buckets>,
}

/// Cumulative counts by upper bound, summed over label sets, in order.
type Buckets = Vec<(f64, f64)>;

const TICK: &str = "skirmish_tick_duration_seconds";
const REDIS: &str = crate::redis_conn::COMMAND_SECONDS;
const TIME_TO_MATCH: &str = "skirmish_time_to_match_seconds";

impl Sampler {
    /// The stats of the window since the previous call, from the
    /// Prometheus text `metrics`.
    pub fn sample(&mut self, metrics: &str) -> NodeStats {
        let series = parse(metrics);
        let mut window = |name: &'static str| {
            let now = buckets(&series, name);
            let before = self.previous.insert(name, now.clone()).unwrap_or_default();
            difference(&now, &before)
        };
        let (tick, redis, matched) = (window(TICK), window(REDIS), window(TIME_TO_MATCH));
        NodeStats {
            ticks: total(&tick),
            tick_p99_ms: quantile(&tick, 0.99).map(|s| s * 1000.0),
            redis_commands: total(&redis),
            redis_p99_ms: quantile(&redis, 0.99).map(|s| s * 1000.0),
            matched: total(&matched),
            time_to_match_p50_s: quantile(&matched, 0.5),
            time_to_match_p99_s: quantile(&matched, 0.99),
            queued: by_label(&series, "skirmish_queued_players", "mode"),
            transports: by_label(&series, "skirmish_connections_by_transport", "transport"),
            outbox_pending: gauge(&series, "skirmish_outbox_pending") as u64,
            outbox_oldest_s: gauge(&series, "skirmish_outbox_oldest_finished_seconds"),
        }
    }
}

/// One sample line: its name, labels and value.
#[derive(Debug, PartialEq)]
struct Line<'a> {
    name: &'a str,
    labels: Vec<(&'a str, &'a str)>,
    value: f64,
}

/// The sample lines of Prometheus text (comments and anything unreadable
/// skipped).
fn parse(text: &str) -> Vec<Line<'_>> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Line<'_>> {
    if line.starts_with('#') {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let value = value.trim().parse().ok()?;
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => (name, rest.strip_suffix('}')?),
        None => (series, ""),
    };
    let labels = labels
        .split(',')
        .filter(|l| !l.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=')?;
            Some((key, value.trim_matches('"')))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Line {
        name,
        labels,
        value,
    })
}

fn label<'a>(line: &Line<'a>, key: &str) -> Option<&'a str> {
    line.labels.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// A histogram's cumulative bucket counts, summed over its label sets.
fn buckets(series: &[Line<'_>], name: &str) -> Buckets {
    let bucket = format!("{name}_bucket");
    let mut sums: Vec<(f64, f64)> = Vec::new();
    for line in series.iter().filter(|l| l.name == bucket) {
        let Some(le) = label(line, "le").and_then(|le| le.parse::<f64>().ok()) else {
            continue;
        };
        match sums.iter_mut().find(|(bound, _)| *bound == le) {
            Some((_, count)) => *count += line.value,
            None => sums.push((le, line.value)),
        }
    }
    sums.sort_by(|a, b| a.0.total_cmp(&b.0));
    sums
}

/// `now` minus `before`, bound by bound (a bound new since is all new).
fn difference(now: &Buckets, before: &Buckets) -> Buckets {
    now.iter()
        .map(|(bound, count)| {
            let earlier = before
                .iter()
                .find(|(b, _)| b == bound)
                .map_or(0.0, |(_, c)| *c);
            (*bound, (count - earlier).max(0.0))
        })
        .collect()
}

fn total(buckets: &Buckets) -> u64 {
    buckets.last().map_or(0, |(_, count)| *count as u64)
}

/// The upper bound of the bucket holding the `q` quantile; the largest
/// finite bound when it falls past every bound; `None` with no samples.
fn quantile(buckets: &Buckets, q: f64) -> Option<f64> {
    let all = buckets.last()?.1;
    if all <= 0.0 {
        return None;
    }
    let largest_finite = buckets
        .iter()
        .rev()
        .find(|(b, _)| b.is_finite())
        .map(|(b, _)| *b);
    buckets
        .iter()
        .find(|(_, count)| *count >= q * all)
        .map(|(bound, _)| *bound)
        .filter(|b| b.is_finite())
        .or(largest_finite)
}

/// A gauge's values by one label.
fn by_label(series: &[Line<'_>], name: &str, key: &str) -> BTreeMap<String, u64> {
    series
        .iter()
        .filter(|l| l.name == name)
        .filter_map(|l| Some((label(l, key)?.to_owned(), l.value.max(0.0) as u64)))
        .collect()
}

/// A gauge without labels (0 when absent).
fn gauge(series: &[Line<'_>], name: &str) -> f64 {
    series
        .iter()
        .find(|l| l.name == name && l.labels.is_empty())
        .map_or(0.0, |l| l.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: &str = r#"# TYPE skirmish_tick_duration_seconds histogram
skirmish_tick_duration_seconds_bucket{le="0.001"} 90
skirmish_tick_duration_seconds_bucket{le="0.01"} 99
skirmish_tick_duration_seconds_bucket{le="+Inf"} 100
skirmish_tick_duration_seconds_sum 0.2
skirmish_tick_duration_seconds_count 100
skirmish_redis_command_seconds_bucket{command="GET",le="0.001"} 4
skirmish_redis_command_seconds_bucket{command="GET",le="+Inf"} 4
skirmish_redis_command_seconds_bucket{command="SET",le="0.001"} 0
skirmish_redis_command_seconds_bucket{command="SET",le="+Inf"} 2
skirmish_queued_players{mode="ffa"} 3
skirmish_queued_players{mode="duel"} 0
skirmish_connections_by_transport{transport="ws"} 7
skirmish_outbox_pending 2
skirmish_outbox_oldest_finished_seconds 1.5
"#;

    #[test]
    fn the_first_sample_counts_everything_so_far() {
        let stats = Sampler::default().sample(FIRST);
        assert_eq!(stats.ticks, 100);
        assert_eq!(stats.tick_p99_ms, Some(10.0));
        assert_eq!(stats.redis_commands, 6);
        // Two of six past the last finite bound: the p99 is at least it.
        assert_eq!(stats.redis_p99_ms, Some(1.0));
        assert_eq!(stats.matched, 0);
        assert_eq!(stats.time_to_match_p50_s, None);
        assert_eq!(stats.queued, [("duel".into(), 0), ("ffa".into(), 3)].into());
        assert_eq!(stats.transports, [("ws".into(), 7)].into());
        assert_eq!(stats.outbox_pending, 2);
        assert_eq!(stats.outbox_oldest_s, 1.5);
    }

    #[test]
    fn later_samples_count_only_the_window_since_the_previous() {
        let mut sampler = Sampler::default();
        sampler.sample(FIRST);
        // Ten more ticks, all slow.
        let second = FIRST
            .replace(r#"{le="0.01"} 99"#, r#"{le="0.01"} 109"#)
            .replace(r#"{le="+Inf"} 100"#, r#"{le="+Inf"} 110"#);
        let stats = sampler.sample(&second);
        assert_eq!(stats.ticks, 10);
        assert_eq!(stats.tick_p99_ms, Some(10.0));
        assert_eq!(stats.redis_commands, 0);
        assert_eq!(stats.redis_p99_ms, None, "no commands in the window");
    }

    #[test]
    fn unreadable_lines_are_skipped() {
        assert_eq!(parse("garbage\nx{unclosed 1\n# c\nok 2\n").len(), 1);
        assert_eq!(
            parse_line(r#"a{b="c",d="e"} 3"#),
            Some(Line {
                name: "a",
                labels: vec![("b", "c"), ("d", "e")],
                value: 3.0
            })
        );
    }
}
