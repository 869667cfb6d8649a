#!/usr/bin/env bash
# Load benchmark: one node (or, with --three-nodes, three nodes and a Redis)
# driven by a skirmish-bots swarm, with the server and the bots pinned to
# different cores where the machine has them. Prints one summary: server CPU,
# memory, players, tick duration p99 and ticks behind (from the server's
# metrics), snapshots replaced for slow readers, bytes per player per second,
# and the bots' own figures.
#
#   bench/load.sh [--bots N] [--duration SECONDS] [--ramp N_PER_S]
#                 [--match-seconds N] [--three-nodes] [--queue MODE] [--keep-logs]
#
# With --queue the bots queue for a matchmaking mode (and follow redirects to
# the hosting node) instead of quick-playing on their own node.
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
while [ $# -gt 0 ]; do
  case "$1" in
    --bots) bots=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --ramp) ramp=$2; shift 2 ;;
    --match-seconds) match_seconds=$2; shift 2 ;;
    --three-nodes) three_nodes=1; shift ;;
    --queue) queue_args=(--queue "$2"); shift 2 ;;
    --keep-logs) keep_logs=1; shift ;;
    *) echo "unknown argument: $1" >&2; exit 1 ;;
  esac
done

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
    --match-seconds "$match_seconds" --node-id "bench-$i" --data-dir "$work/data-$i" "${redis_args[@]}" \
    > "$work/node-$i.log" 2>&1 &
  pids+=($!) node_pids+=($!)
  urls+=("http://127.0.0.1:$port")
done
for url in "${urls[@]}"; do
  for _ in $(seq 1 100); do curl -fs "$url/healthz" >/dev/null && break; sleep 0.1; done
done

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
declare -A cpu_start
for pid in "${node_pids[@]}"; do cpu_start[$pid]=$(cpu_ticks "$pid"); done
started=$(date +%s.%N)

# Sample players once a second while the bots run.
peak_players=0
(
  while true; do
    total=0
    for url in "${urls[@]}"; do
      n=$(curl -fs "$url/healthz" | sed -n 's/.*"connections":\([0-9]*\).*/\1/p')
      total=$((total + ${n:-0}))
    done
    echo "$total" >> "$work/players"
    sleep 1
  done
) &
sampler=$!
pids+=($sampler)

url_list=$(IFS=,; echo "${urls[*]}")
set +e
"${bots_pin[@]}" target/release/skirmish-bots --url "$url_list" --bots "$bots" --ramp "$ramp" \
  --duration "$duration" --quiet --report "$work/report.json" "${queue_args[@]}" > "$work/bots.txt"
bots_exit=$?
set -e
ended=$(date +%s.%N)
kill "$sampler" 2>/dev/null || true

wall=$(echo "$ended - $started" | bc -l)
metric() { # metric NAME [LABELS] summed over the nodes
  local sum=0 v
  for url in "${urls[@]}"; do
    v=$(curl -fs "$url/metrics" | awk -v name="$1" '$1 == name { print $2 }' | head -1)
    sum=$(echo "$sum + ${v:-0}" | bc -l)
  done
  echo "$sum"
}
tick_p99_max=0
for url in "${urls[@]}"; do
  v=$(curl -fs "$url/metrics" | awk '$1 == "skirmish_tick_duration_seconds{quantile=\"0.99\"}" { print $2 }')
  v=${v:-0}
  if [ "$(echo "$v > $tick_p99_max" | bc -l)" = 1 ]; then tick_p99_max=$v; fi
done
cpu_pct=0 rss_kb=0
hz=$(getconf CLK_TCK)
for pid in "${node_pids[@]}"; do
  used=$(( $(cpu_ticks "$pid") - ${cpu_start[$pid]} ))
  cpu_pct=$(echo "$cpu_pct + $used / $hz / $wall * 100" | bc -l)
  rss=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status")
  rss_kb=$((rss_kb + rss))
done
peak=$(sort -n "$work/players" | tail -1)
ticks=$(metric skirmish_ticks_total)
behind=$(metric skirmish_ticks_behind_total)
snapshots=$(metric skirmish_snapshots_total)
replaced=$(metric skirmish_snapshots_replaced_total)
snapshot_bytes=$(metric skirmish_snapshot_bytes_total)
down=$(sed -n 's/.*"bytes_down_per_bot_per_s": \([0-9.]*\).*/\1/p' "$work/report.json")
bots_cpu=$(sed -n 's/.*"client_cpu_pct": \([0-9.]*\).*/\1/p' "$work/report.json")

printf '\n== skirmish load benchmark: %s node(s), %s bots, %ss, %s cores (server pinned: %s) ==\n' \
  "$n_nodes" "$bots" "$duration" "$cores" "${server_pin[*]:-no}"
printf '  %-34s %.1f%% of a core\n' "server CPU (all nodes)" "$cpu_pct"
printf '  %-34s %.1f MiB\n' "server peak RSS (all nodes)" "$(echo "$rss_kb / 1024" | bc -l)"
printf '  %-34s %s\n' "players connected (peak)" "$peak"
printf '  %-34s %.3f ms\n' "tick duration p99 (worst node)" "$(echo "$tick_p99_max * 1000" | bc -l)"
printf '  %-34s %s of %s\n' "ticks behind schedule" "${behind%.*}" "${ticks%.*}"
printf '  %-34s %s of %s\n' "snapshots replaced (slow readers)" "${replaced%.*}" "${snapshots%.*}"
printf '  %-34s %.0f B/s (server: %.0f B per snapshot)\n' "payload per player (bots)" "$down" \
  "$(echo "$snapshot_bytes / ($snapshots + 0.000001)" | bc -l)"
printf '  %-34s %.1f%% of a core\n' "bots CPU" "$bots_cpu"
echo
cat "$work/bots.txt"
exit "$bots_exit"
