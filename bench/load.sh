#!/usr/bin/env bash
# Load benchmark: one node (or, with --three-nodes, three nodes and a Redis)
# driven by a skirmish-bots swarm, with the server and the bots pinned to
# different cores where the machine has them. Prints one summary: server CPU,
# memory, players, tick duration p99 and ticks behind (from the server's
# metrics), snapshots replaced for slow readers, bytes per player per second,
# and the bots' own figures.
#
#   bench/load.sh [--bots N] [--duration SECONDS] [--ramp N_PER_S]
#                 [--match-seconds N] [--three-nodes] [--queue MODE | --quick-play]
#                 [--tick-threads N] [--transport ws|wt|mixed] [--perf] [--keep-logs]
#
# The bots queue for the matchmaking mode `ffa` (or --queue MODE) and follow
# redirects to the hosting node; with --quick-play each plays on its own node.
#
# Everything runs on loopback; the run is bounded by --duration.
set -euo pipefail
cd "$(dirname "$0")/.."

bots=500
duration=60
ramp=100
match_seconds=60
three_nodes=0
keep_logs=0
queue_args=()
node_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bots) bots=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --ramp) ramp=$2; shift 2 ;;
    --match-seconds) match_seconds=$2; shift 2 ;;
    --three-nodes) three_nodes=1; shift ;;
    --queue) queue_args=(--queue "$2"); shift 2 ;;
    --quick-play) queue_args=(--quick-play); shift ;;
    --tick-threads) node_args+=(--tick-threads "$2"); shift 2 ;;
    # WebTransport (or half the bots on it): the nodes serve it too.
    --transport) transport=$2; shift 2 ;;
    --keep-logs) keep_logs=1; shift ;;
    # Sample the (first) node with perf over the steady window, and print
    # the kernel's share of its time and the kernel time per snapshot.
    --perf) perf=1; shift ;;
    *) echo "unknown argument: $1" >&2; exit 1 ;;
  esac
done

transport=${transport:-ws}
case "$transport" in
  ws) ;;
  wt|mixed) node_args+=(--webtransport) ;;
  *) echo "load.sh: --transport is ws, wt or mixed" >&2; exit 1 ;;
esac
cargo build --release --quiet -p skirmish-server -p skirmish-client-sim
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ "$keep_logs" = 1 ] && echo "logs in $work" || rm -rf "$work"
}
trap cleanup EXIT

# The server gets core 0 and the bots core 1 when there are two or more.
cores=$(nproc)
server_pin=() bots_pin=()
if [ "$cores" -ge 2 ] && command -v taskset >/dev/null; then
  server_pin=(taskset -c 0) bots_pin=(taskset -c 1-$((cores - 1)))
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

redis_args=()
if [ "$three_nodes" = 1 ]; then
  redis_port=$(free_port)
  "${server_pin[@]}" redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    > "$work/redis.log" 2>&1 &
  pids+=($!)
  redis_pid=$!
  sleep 0.5
  redis_args=(--redis "redis://127.0.0.1:$redis_port/")
  # Nodes of one cluster accept each other's session tokens.
  export SKIRMISH_SESSION_SECRET="bench-$(date +%s)"
  n_nodes=3
else
  n_nodes=1
fi

urls=() node_pids=()
for i in $(seq 1 "$n_nodes"); do
  port=$(free_port)
  RUST_LOG=warn "${server_pin[@]}" target/release/skirmish-server --listen "127.0.0.1:$port" \
    --match-seconds "$match_seconds" --node-id "bench-$i" --data-dir "$work/data-$i" "${redis_args[@]}" "${node_args[@]}" \
    > "$work/node-$i.log" 2>&1 &
  pids+=($!) node_pids+=($!)
  urls+=("http://127.0.0.1:$port")
done
for url in "${urls[@]}"; do
  for _ in $(seq 1 100); do curl -fs "$url/healthz" >/dev/null && break; sleep 0.1; done
done

# The figures are read over a steady window: from a few seconds after the
# last bot has started (every bot connected and seated) until a couple of
# seconds before the bots stop, so neither the ramp nor the mass disconnect
# at the end dilutes or spoils them. Each node is scraped at both ends of
# the window and the scrapes are subtracted.
ramp_s=$(echo "$bots / $ramp" | bc -l)
window_from=$(echo "$ramp_s + 5" | bc -l)
window_to=$(echo "$duration - 2" | bc -l)
if [ "$(echo "$window_to - $window_from < 5" | bc -l)" = 1 ]; then
  least=$(echo "$ramp_s + 12.999" | bc -l | cut -d. -f1)
  echo "load.sh: --duration $duration leaves no steady window after a $(printf '%.1f' "$ramp_s")s ramp; make it at least $least" >&2
  exit 1
fi

scrape() { # scrape NAME: every node's /metrics and CPU time
  local i=0
  for url in "${urls[@]}"; do
    i=$((i + 1))
    # A failed scrape fails the benchmark: every figure below is a
    # difference of two scrapes, and a missing one would read as zero.
    if ! curl -fsS --max-time 10 "$url/metrics" > "$work/$1-metrics-$i"; then
      echo "load.sh: scraping $url/metrics failed; no figures from this run" >&2
      exit 1
    fi
    awk '{ print $14 + $15 }' "/proc/${node_pids[$((i - 1))]}/stat" > "$work/$1-cpu-$i"
  done
  if [ -n "${redis_pid:-}" ]; then
    awk '{ print $14 + $15 }' "/proc/$redis_pid/stat" > "$work/$1-cpu-redis"
    redis-cli -p "$redis_port" INFO commandstats > "$work/$1-cmdstats"
  fi
  date +%s.%N > "$work/$1-time"
}

# Sample the nodes' connections and seated players once a second. A
# sample any node did not answer is left out (and counted), never read as
# zero players.
(
  while true; do
    c=0 p=0 ok=1
    for url in "${urls[@]}"; do
      h=$(curl -fs --max-time 2 "$url/healthz") || { ok=0; break; }
      hc=$(echo "$h" | sed -n 's/.*"connections":\([0-9]*\).*/\1/p')
      hp=$(echo "$h" | sed -n 's/.*"players_in_matches":\([0-9]*\).*/\1/p')
      if [ -z "$hc" ] || [ -z "$hp" ]; then ok=0; break; fi
      c=$((c + hc)) p=$((p + hp))
    done
    if [ "$ok" = 1 ]; then
      echo "$(date +%s.%N) $c $p" >> "$work/players"
    else
      echo "$(date +%s.%N)" >> "$work/players-missed"
    fi
    sleep 1
  done
) &
sampler=$!
pids+=($sampler)

url_list=$(IFS=,; echo "${urls[*]}")
started=$(date +%s.%N)
echo "$started" > "$work/started"
"${bots_pin[@]}" target/release/skirmish-bots --url "$url_list" --bots "$bots" --ramp "$ramp" \
  --duration "$duration" --quiet --report "$work/report.json" --transport "$transport" "${queue_args[@]}" > "$work/bots.txt" &
bots_pid=$!
sleep "$window_from"
scrape from
if [ "${perf:-0}" = 1 ]; then
  perf record -q -e cpu-clock -F 997 -p "${node_pids[0]}" -o "$work/perf.data" \
    -- sleep "$(echo "$started + $window_to - $(date +%s.%N)" | bc -l)" 2> "$work/perf.log"
  # The share of the node's samples in the kernel ([k]) and in user space.
  perf report -q -i "$work/perf.data" --stdio --sort dso 2>/dev/null \
    | awk '{ gsub("%", "", $1); if ($2 == "[kernel.kallsyms]") k += $1; else u += $1 } END { printf "%.1f %.1f\n", k, u }' \
    > "$work/perf-share"
else
  sleep "$(echo "$started + $window_to - $(date +%s.%N)" | bc -l)"
fi
scrape to
set +e
wait "$bots_pid"
bots_exit=$?
set -e
kill "$sampler" 2>/dev/null || true

for pid in "${node_pids[@]}"; do awk '/VmHWM/ { print $2 }' "/proc/$pid/status"; done > "$work/rss"

python3 - "$work" "$n_nodes" "$bots" "$duration" "$cores" "${server_pin[*]:-no}" "$(getconf CLK_TCK)" "$transport" <<'PY'
import json, math, sys
work, n_nodes, bots, duration, cores, pin, hz, transport = sys.argv[1:]
n_nodes, hz = int(n_nodes), int(hz)

def die(message):
    """A figure that cannot be measured fails the run: printing a zero
    (say "0 ticks behind") for a failed measurement would lie."""
    sys.exit(f'load.sh: {message}; no figures from this run')

def metrics(path):
    """name{labels} -> value, from a Prometheus text scrape."""
    out = {}
    try:
        for line in open(path):
            if line.startswith('#') or not line.strip():
                continue
            key, value = line.rsplit(' ', 1)
            out[key] = float(value)
    except FileNotFoundError:
        die(f'the scrape {path} is missing')
    if not out:
        die(f'the scrape {path} holds no metrics')
    return out

def num(path):
    return float(open(path).read().strip())

t_from, t_to = num(f'{work}/from-time'), num(f'{work}/to-time')
window = t_to - t_from
scrapes = [(metrics(f'{work}/from-metrics-{i}'), metrics(f'{work}/to-metrics-{i}'))
           for i in range(1, n_nodes + 1)]

def delta(name):
    """A counter's increase over the window, all nodes summed. A node that
    never counted one (a node hosting no match has no ticks) adds nothing,
    but some node must export it: a name no node knows is a broken
    measurement, not a zero."""
    if not any(name in b for _, b in scrapes):
        die(f'no node exports {name}')
    return sum(b.get(name, 0.0) - a.get(name, 0.0) for a, b in scrapes)

def buckets(name):
    """Cumulative (upper bound, count) over the window, all nodes summed."""
    counts = {}
    for a, b in scrapes:
        for key, value in b.items():
            if key.startswith(name + '_bucket{'):
                le = key.split('le="', 1)[1].split('"', 1)[0]
                counts[le] = counts.get(le, 0.0) + value - a.get(key, 0.0)
    if '+Inf' not in counts:
        die(f'no node exports the histogram {name}')
    order = sorted(counts, key=lambda le: math.inf if le == '+Inf' else float(le))
    return [(math.inf if le == '+Inf' else float(le), counts[le]) for le in order]

def if_exported(histogram):
    """A histogram's buckets when a node exports it (the Redis ones do only
    with Redis), else None; what every run reads goes through buckets()."""
    if not any(key.startswith(histogram + '_bucket{') for _, b in scrapes for key in b):
        return None
    return buckets(histogram)

def quantile(bs, q):
    """The upper bound of the bucket holding quantile q (in ms), and the total."""
    total = bs[-1][1] if bs else 0
    if total == 0:
        return None, 0
    for le, count in bs:
        if count >= q * total:
            return le * 1000, total
    return math.inf, total

def over(bs, bound_s):
    """Samples above bound_s (a bucket bound)."""
    total = bs[-1][1]
    below = next((c for le, c in bs if abs(le - bound_s) < 1e-12), None)
    if below is None:
        die(f'the histogram has no bucket bound at {bound_s} s')
    return total - below

cpu = sum(num(f'{work}/to-cpu-{i}') - num(f'{work}/from-cpu-{i}') for i in range(1, n_nodes + 1))
cpu_pct = cpu / hz / window * 100
rss_mib = sum(int(x) for x in open(f'{work}/rss').read().split()) / 1024
try:
    samples = [tuple(map(float, l.split())) for l in open(f'{work}/players') if l.strip()]
except FileNotFoundError:
    samples = []
in_window = [s for s in samples if t_from <= s[0] <= t_to]
if not in_window:
    die('no /healthz sample of the players connected was taken in the steady window')
try:
    missed = sum(1 for l in open(f'{work}/players-missed') if t_from <= float(l) <= t_to)
except FileNotFoundError:
    missed = 0
connected = sum(s[1] for s in in_window) / len(in_window)
seated = sum(s[2] for s in in_window) / len(in_window)
report = json.load(open(f'{work}/report.json'))

ticks, behind = delta('skirmish_ticks_total'), delta('skirmish_ticks_behind_total')
snaps, replaced = delta('skirmish_snapshots_total'), delta('skirmish_snapshots_replaced_total')
sent, snap_bytes = delta('skirmish_bytes_sent_total'), delta('skirmish_snapshot_bytes_total')
dur = buckets('skirmish_tick_duration_seconds')
late = buckets('skirmish_tick_lateness_seconds')

def q(bs, p):
    v, _ = quantile(bs, p)
    return 'n/a' if v is None else f'<= {v:.2f} ms'

print(f'\n== skirmish load benchmark: {n_nodes} node(s), {bots} bots over {transport}, {duration}s, {cores} cores (server pinned: {pin}) ==')
t0 = num(f'{work}/started')
print(f'  steady window                         {window:.1f} s ({t_from - t0:.0f} s to {t_to - t0:.0f} s of the run)')
row = lambda k, v: print(f'  {k:<38}{v}')
row('players connected (mean in window)', f'{connected:.0f} ({seated:.0f} seated in matches; {len(in_window)} samples'
    + (f', {missed} unanswered' if missed else '') + ')')
row('server CPU (all nodes)', f'{cpu_pct:.1f}% of a core ({cpu_pct / max(connected, 1):.4f}% per player)')
row('server peak RSS (all nodes)', f'{rss_mib:.1f} MiB')
try:
    redis_cpu = num(f'{work}/to-cpu-redis') - num(f'{work}/from-cpu-redis')
    row('redis-server CPU', f'{redis_cpu / hz / window * 100:.1f}% of a core (same core as the nodes)')
except FileNotFoundError:
    pass
# Redis as the nodes use it: commands (and pipelines) by name, summed over
# the nodes, and their round trips.
commands = {}
for a, b in scrapes:
    for key, value in b.items():
        if key.startswith('skirmish_redis_command_seconds_count{'):
            name = key.split('command="', 1)[1].split('"', 1)[0]
            commands[name] = commands.get(name, 0.0) + value - a.get(key, 0.0)
if commands:
    total = sum(commands.values())
    busiest = sorted(commands.items(), key=lambda kv: -kv[1])[:5]
    row('Redis commands (all nodes)', f'{total / window:.0f}/s ({total / window / max(connected, 1):.2f} per player per s)')
    row('  busiest, per s', ', '.join(f'{name} {n / window:.0f}' for name, n in busiest))
    round_trips = if_exported('skirmish_redis_command_seconds')
    if round_trips:
        row('  round trip p50 / p99', f'{q(round_trips, 0.5)} / {q(round_trips, 0.99)}')
    every = sorted(commands.items(), key=lambda kv: -kv[1])
    row('  every command, per s', ', '.join(f'{name} {n / window:.1f}' for name, n in every))

    # What the window held, to turn the rates into costs per event.
    def counted(name):
        return sum(b.get(k, 0.0) - a.get(k, 0.0) for a, b in scrapes
                   for k in b if k == name or k.startswith(name + '{'))
    row('events, per s', f'players matched {counted("skirmish_time_to_match_seconds_count") / window:.2f}, '
        f'tickets queued {counted("skirmish_tickets_queued_total") / window:.2f}, '
        f'matches finished {counted("skirmish_matches_finished_total") / window:.2f}')

# The Redis server's own count and time of each command (a command a script
# runs is counted on its own and inside the script's EVALSHA too).
def cmdstats(path):
    out = {}
    for line in open(path):
        if line.startswith('cmdstat_'):
            name, fields = line.strip().split(':', 1)
            f = dict(kv.split('=', 1) for kv in fields.split(','))
            out[name[len('cmdstat_'):]] = (float(f['calls']), float(f['usec']))
    return out
try:
    c_from, c_to = cmdstats(f'{work}/from-cmdstats'), cmdstats(f'{work}/to-cmdstats')
except FileNotFoundError:
    pass
else:
    spent = []
    for name, (calls, usec) in c_to.items():
        calls0, usec0 = c_from.get(name, (0.0, 0.0))
        if calls > calls0:
            spent.append((usec - usec0, calls - calls0, name))
    spent.sort(reverse=True)
    row('redis-server time by command', ', '.join(
        f'{name} {n / window:.1f}/s x {u / n:.1f} us' for u, n, name in spent[:8]))
row('tick duration p50 / p99', f'{q(dur, 0.5)} / {q(dur, 0.99)}')
row('tick start lateness p50 / p99', f'{q(late, 0.5)} / {q(late, 0.99)}')
if ticks <= 0:
    die('no tick ran in the steady window')
row('ticks started > 5 ms late', f'{over(late, 0.005):.0f} of {ticks:.0f}')
row('ticks behind (a period or more late)', f'{behind:.0f} of {ticks:.0f}')
row('snapshots replaced (slow readers)', f'{replaced:.0f} of {snaps:.0f}')
row('server bytes sent per player', f'{sent / window / max(connected, 1):.0f} B/s ({snap_bytes / max(snaps, 1):.0f} B per snapshot)')
row('bots: payload down per bot', f'{report["bytes_down_per_bot_per_s"]:.0f} B/s (whole run)')
row('bots CPU', f'{report["client_cpu_pct"]:.1f}% of a core')
try:
    kernel, user = (float(x) for x in open(f'{work}/perf-share').read().split())
except FileNotFoundError:
    pass
except ValueError:
    die('perf recorded nothing readable')
else:
    node1 = (num(f'{work}/to-cpu-1') - num(f'{work}/from-cpu-1')) / hz
    per_snapshot = node1 * kernel / 100 / max(snaps, 1) * 1e6
    row('node 1 in the kernel (perf)', f'{kernel:.1f}% of its samples ({per_snapshot:.1f} us of kernel time per snapshot)')
print()
PY
cat "$work/bots.txt"
exit "$bots_exit"
