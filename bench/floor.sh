#!/usr/bin/env bash
# The transport floor: what a node's CPU per player could not go below.
# For each transport, `skirmish-floor` serves N players the traffic a node
# serves them (one input in and one snapshot out per player per tick, 30 Hz,
# a node's message sizes) with no game, no protocol and no encoding, the
# server pinned to core 0 and the players to core 1, and prints the server's
# CPU per player over a steady window.
#
#   bench/floor.sh [--players N] [--duration SECONDS] [--modes "tcp-task tcp-direct udp udp-batch"]
#                  [--in-bytes B] [--out-bytes B]
#
# Everything runs on loopback; each run is bounded by --duration.
set -euo pipefail
cd "$(dirname "$0")/.."

players=1024
duration=25
modes="tcp-task tcp-direct udp udp-batch"
in_bytes=30
out_bytes=76
while [ $# -gt 0 ]; do
  case "$1" in
    --players) players=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --in-bytes) in_bytes=$2; shift 2 ;;
    --out-bytes) out_bytes=$2; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 1 ;;
  esac
done

cargo build --release --quiet -p skirmish-floor
bin=target/release/skirmish-floor
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

server_pin=() load_pin=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  server_pin=(taskset -c 0) load_pin=(taskset -c 1-$(($(nproc) - 1)))
fi
hz=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

echo "== transport floor: $players players, 30 Hz, $in_bytes B in and $out_bytes B out per player per tick =="
printf '  %-11s %14s %18s %22s\n' mode "server CPU" "per player" "per player per tick"
for mode in $modes; do
  "${server_pin[@]}" "$bin" serve --mode "$mode" --bytes "$out_bytes" > "$work/$mode.addr" 2> "$work/$mode.err" &
  server=$!
  pids+=("$server")
  for _ in $(seq 1 50); do [ -s "$work/$mode.addr" ] && break; sleep 0.1; done
  addr=$(head -1 "$work/$mode.addr")
  [ -n "$addr" ] || { echo "floor.sh: the $mode server did not start" >&2; exit 1; }
  # The players ramp up at 500 a second; the window starts 3 s after.
  ramp_s=$(( players / 500 + 1 ))
  "${load_pin[@]}" "$bin" load --mode "$mode" --addr "$addr" --players "$players" --bytes "$in_bytes" \
    --duration $(( ramp_s + 3 + duration + 2 )) > "$work/$mode.load" 2>&1 &
  load=$!
  pids+=("$load")
  for _ in $(seq 1 $(( (ramp_s + 5) * 10 ))); do grep -q READY "$work/$mode.load" && break; sleep 0.1; done
  grep -q READY "$work/$mode.load" || { echo "floor.sh: the $mode players did not start" >&2; cat "$work/$mode.load" >&2; exit 1; }
  sleep 3
  c0=$(cpu "$server"); t0=$(date +%s.%N)
  sleep "$duration"
  c1=$(cpu "$server"); t1=$(date +%s.%N)
  wait "$load" || { echo "floor.sh: the $mode players failed" >&2; cat "$work/$mode.load" >&2; exit 1; }
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  python3 - "$mode" "$c0" "$c1" "$t0" "$t1" "$hz" "$players" <<'PY'
import sys
mode, c0, c1, t0, t1, hz, n = sys.argv[1:]
share = (float(c1) - float(c0)) / int(hz) / (float(t1) - float(t0))
per_player = share / int(n)
print(f'  {mode:<11} {share * 100:12.1f} % {per_player * 100:15.4f} % {per_player / 30 * 1e6:17.2f} µs')
PY
  if [ -s "$work/$mode.err" ]; then sed 's/^/    server: /' "$work/$mode.err" | tail -3; fi
done
