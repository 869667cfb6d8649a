//! The node's connection for commands, to one Redis or a cluster, timed.

use futures_util::future::try_join_all;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::Slot;
use redis::{Arg, Cmd, Pipeline, RedisFuture, RedisResult, Script, Value};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Instant;

/// The Prometheus histogram of command round trips (seconds), by command.
pub const COMMAND_SECONDS: &str = "skirmish_redis_command_seconds";

/// Its buckets: from a tenth of a millisecond (a command on a quiet local
/// Redis) to the response timeout.
pub const COMMAND_BUCKETS_S: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// The node's connection for commands: a [`ConnectionManager`] to one
/// Redis, or a [`ClusterConnection`] to a cluster (which routes each
/// command to the master of its key's slot, follows `MOVED` and `ASK`, and
/// reconnects), recording how long each command (or pipeline) took,
/// answered or not, as [`COMMAND_SECONDS`] labelled with the command's name
/// (`EVALSHA` for a script; `pipeline:` and its first command's for a
/// pipeline or transaction, such as `pipeline:PUBLISH`). Cheap to clone.
///
/// On a cluster, a pipeline whose commands fall in several slots (a
/// presence read across nodes, a batch of publications) is sent as one
/// pipeline per slot, concurrently, and the answers put back in order; a
/// transaction (`MULTI`/`EXEC`) must stay within one slot, and every one
/// the node sends does (ARCHITECTURE.md lists the hash tags).
#[derive(Clone)]
pub struct Commands(Link);

#[derive(Clone)]
enum Link {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl From<ConnectionManager> for Commands {
    /// Times a manager configured otherwise (a test's, with other timeouts).
    fn from(manager: ConnectionManager) -> Self {
        Commands(Link::Single(manager))
    }
}

impl From<ClusterConnection> for Commands {
    fn from(cluster: ClusterConnection) -> Self {
        Commands(Link::Cluster(cluster))
    }
}

impl Commands {
    /// Whether it talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.0, Link::Cluster(_))
    }
}

impl std::fmt::Debug for Commands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Link::Single(_) => "Commands(single)",
            Link::Cluster(_) => "Commands(cluster)",
        })
    }
}

/// The labels of the node's scripts (`EVALSHA:<name>`) by SHA1.
static SCRIPTS: RwLock<Vec<(String, &'static str)>> = RwLock::new(Vec::new());

/// A Lua script named `name` (such as `mm.enqueue`): its commands are
/// labelled `EVALSHA:<name>` instead of a bare `EVALSHA`, so an operator
/// (and the scale table's measurements) can tell one script from another.
pub fn script(name: &str, source: &str) -> Script {
    let script = Script::new(source);
    let mut labels = SCRIPTS.write().unwrap_or_else(|p| p.into_inner());
    if !labels.iter().any(|(sha, _)| sha == script.get_hash()) {
        // Made once per distinct script, of which the node has a dozen.
        let label = Box::leak(format!("EVALSHA:{name}").into_boxed_str());
        labels.push((script.get_hash().to_owned(), label));
    }
    script
}

/// The label of an `EVALSHA` of `sha`, if the script was named.
fn script_label(sha: &[u8]) -> Option<&'static str> {
    let labels = SCRIPTS.read().unwrap_or_else(|p| p.into_inner());
    labels
        .iter()
        .find(|(known, _)| known.as_bytes() == sha)
        .map(|(_, label)| *label)
}

/// A command's name as a label: its first word, upper case (a named
/// script's `EVALSHA:<name>`), or `other` for anything that does not look
/// like one.
fn command_name(cmd: &Cmd) -> &'static str {
    let mut args = cmd.args_iter();
    let Some(Arg::Simple(name)) = args.next() else {
        return "other";
    };
    if name.eq_ignore_ascii_case(b"EVALSHA")
        && let Some(Arg::Simple(sha)) = args.next()
        && let Some(label) = script_label(sha)
    {
        return label;
    }
    // The commands the node sends, so the label set stays small.
    const KNOWN: &[&str] = &[
        "EVALSHA",
        "EVAL",
        "SCRIPT",
        "GET",
        "SET",
        "DEL",
        "EXPIRE",
        "PEXPIRE",
        "HGET",
        "HSET",
        "HDEL",
        "HGETALL",
        "HMGET",
        "ZADD",
        "ZREM",
        "ZRANGE",
        "ZREVRANGE",
        "ZSCORE",
        "ZREVRANK",
        "ZCARD",
        "ZRANGEBYSCORE",
        "ZINCRBY",
        "LPUSH",
        "LRANGE",
        "LTRIM",
        "PUBLISH",
        "SPUBLISH",
        "PING",
        "TIME",
        "EXISTS",
        "MGET",
        "SCAN",
        "INCR",
        "SMEMBERS",
        "SADD",
        "SREM",
        "ZMSCORE",
        "HMSET",
        "XADD",
        "XRANGE",
        "XREVRANGE",
        "XTRIM",
        "UNLINK",
    ];
    KNOWN
        .iter()
        .find(|known| known.as_bytes().eq_ignore_ascii_case(name))
        .copied()
        .unwrap_or("other")
}

fn record(command: impl Into<metrics::SharedString>, started: Instant) {
    metrics::histogram!(COMMAND_SECONDS, "command" => command)
        .record(started.elapsed().as_secs_f64());
}

/// The key a command routes by: the first key of a script, else its first
/// argument. `None` for a command with no key.
fn routing_key(cmd: &Cmd) -> Option<&[u8]> {
    let mut args = cmd.args_iter().map(|arg| match arg {
        Arg::Simple(bytes) => Some(bytes),
        _ => None,
    });
    let name = args.next()??;
    if name.eq_ignore_ascii_case(b"EVALSHA") || name.eq_ignore_ascii_case(b"EVAL") {
        let _script = args.next()?;
        let keys: usize = std::str::from_utf8(args.next()??).ok()?.parse().ok()?;
        return if keys == 0 { None } else { args.next()? };
    }
    if name.eq_ignore_ascii_case(b"PING") || name.eq_ignore_ascii_case(b"SCRIPT") {
        return None;
    }
    args.next()?
}

/// The indices of a pipeline's commands, grouped by slot in the order the
/// slots first appear; commands without a key go with the first group.
fn by_slot(pipeline: &Pipeline) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut slots: HashMap<Slot, usize> = HashMap::new();
    let mut keyless = Vec::new();
    for (i, cmd) in pipeline.cmd_iter().enumerate() {
        match routing_key(cmd) {
            Some(key) => {
                let group = *slots.entry(Slot::for_key(key)).or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                });
                groups[group].push(i);
            }
            None => keyless.push(i),
        }
    }
    match groups.first_mut() {
        Some(first) => {
            first.extend(keyless);
            first.sort_unstable();
        }
        None => groups.push(keyless),
    }
    groups
}

/// Sends a pipeline that spans several slots as one pipeline per slot, at
/// once, and returns the answers in the pipeline's order.
async fn across_slots(
    cluster: &mut ClusterConnection,
    pipeline: &Pipeline,
    groups: Vec<Vec<usize>>,
) -> RedisResult<Vec<Value>> {
    let cmds: Vec<&Cmd> = pipeline.cmd_iter().collect();
    let parts = groups.iter().map(|group| {
        let mut part = redis::pipe();
        for &i in group {
            part.add_command(cmds[i].clone());
        }
        let mut conn = cluster.clone();
        async move { conn.req_packed_commands(&part, 0, part.len()).await }
    });
    let answers = try_join_all(parts).await?;
    let mut ordered = vec![Value::Nil; cmds.len()];
    for (group, answer) in groups.iter().zip(answers) {
        for (&i, value) in group.iter().zip(answer) {
            ordered[i] = value;
        }
    }
    Ok(ordered)
}

impl ConnectionLike for Commands {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let started = Instant::now();
            let answer = match &mut self.0 {
                Link::Single(conn) => conn.req_packed_command(cmd).await,
                Link::Cluster(conn) => conn.req_packed_command(cmd).await,
            };
            record(command_name(cmd), started);
            answer
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let started = Instant::now();
            let answer = match &mut self.0 {
                Link::Single(conn) => conn.req_packed_commands(pipeline, offset, count).await,
                Link::Cluster(conn) if !pipeline.is_transaction() => {
                    let groups = by_slot(pipeline);
                    if groups.len() > 1 {
                        across_slots(conn, pipeline, groups).await
                    } else {
                        conn.req_packed_commands(pipeline, offset, count).await
                    }
                }
                Link::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count).await,
            };
            let first = pipeline.cmd_iter().next().map_or("empty", command_name);
            record(format!("pipeline:{first}"), started);
            answer
        })
    }

    fn get_db(&self) -> i64 {
        match &self.0 {
            Link::Single(conn) => conn.get_db(),
            Link::Cluster(conn) => conn.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_route_by_their_first_key_and_commands_by_their_first_argument() {
        let mut script = redis::cmd("EVALSHA");
        script.arg("abc").arg(2).arg("k1").arg("k2").arg("argv");
        assert_eq!(routing_key(&script), Some(&b"k1"[..]));
        let mut keyless = redis::cmd("EVALSHA");
        keyless.arg("abc").arg(0).arg("argv");
        assert_eq!(routing_key(&keyless), None);
        let mut get = redis::cmd("HGETALL");
        get.arg("p:{n1}:room");
        assert_eq!(routing_key(&get), Some(&b"p:{n1}:room"[..]));
        assert_eq!(routing_key(&redis::cmd("PING")), None);
    }

    #[test]
    fn named_scripts_are_labelled_by_name_and_others_as_evalsha() {
        let named = script("test.named", "return 1");
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(named.get_hash()).arg(0);
        assert_eq!(command_name(&cmd), "EVALSHA:test.named");
        let mut unknown = redis::cmd("evalsha");
        unknown.arg("0123").arg(0);
        assert_eq!(command_name(&unknown), "EVALSHA");
        assert_eq!(command_name(&redis::cmd("FLUSHALL")), "other");
    }

    #[test]
    fn a_pipeline_is_split_by_slot_keeping_each_slots_order() {
        let mut pipe = redis::pipe();
        pipe.hgetall("presence:{a}:r1") // 0: slot of a
            .hgetall("presence:{b}:r1") // 1: slot of b
            .cmd("PING") // 2: keyless, with the first group
            .hgetall("presence:{a}:r2") // 3: slot of a
            .hgetall("presence:{b}:r2"); // 4: slot of b
        assert_eq!(by_slot(&pipe), vec![vec![0, 2, 3], vec![1, 4]]);
        let mut same = redis::pipe();
        same.get("{x}1").get("{x}2");
        assert_eq!(by_slot(&same), vec![vec![0, 1]]);
        assert_eq!(by_slot(&redis::pipe()), vec![Vec::<usize>::new()]);
    }
}
