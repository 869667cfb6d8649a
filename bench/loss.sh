#!/usr/bin/env bash
# Loss benchmark: the same bots over WebSocket and then over WebTransport,
# through added latency and packet loss on loopback, side by side: how late
# snapshots arrive (p50/p99, against the best case of their match), the
# share of ticks a player saw, and the bots' prediction error.
#
#   bench/loss.sh [--bots N] [--duration SECONDS] [--loss PERCENT]
#                 [--delay-ms MS] [--jitter-ms MS]
#
# Defaults: 32 bots, 40 s each way, 5% loss, 25 ms each way (50 ms round
# trip) with up to 5 ms of jitter. The kernel here has no netem, so the
# delay is skirmish-lag's (a userspace proxy for TCP and UDP) and the loss
# the kernel's: iptables drops that share of the packets to and from the
# proxy's client side, in a network namespace of the script's own (root
# needed; nothing outside it is touched), so TCP recovers from real loss.
set -euo pipefail
cd "$(dirname "$0")/.."

bots=32 duration=40 loss=5 delay=25 jitter=5
while [ $# -gt 0 ]; do
  case "$1" in
    --bots) bots=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --loss) loss=$2; shift 2 ;;
    --delay-ms) delay=$2; shift 2 ;;
    --jitter-ms) jitter=$2; shift 2 ;;
    *) echo "loss.sh: unknown argument $1" >&2; exit 1 ;;
  esac
done

if [ -z "${SKIRMISH_LOSS_NETNS:-}" ]; then
  command -v iptables >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables >/dev/null
  }
  cargo build --release --quiet -p skirmish-server -p skirmish-client-sim -p skirmish-lag
  exec unshare -n env SKIRMISH_LOSS_NETNS=1 "$0" --bots "$bots" --duration "$duration" \
    --loss "$loss" --delay-ms "$delay" --jitter-ms "$jitter"
fi

# In the namespace: loopback only, nothing else listening.
ip link set lo up
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

node=8080 tcp=9080 udp=9081
target/release/skirmish-lag --tcp "127.0.0.1:$tcp=127.0.0.1:$node" --udp "127.0.0.1:$udp=127.0.0.1:$node" \
  --delay-ms "$delay" --jitter-ms "$jitter" > "$work/lag.log" 2>&1 &
pids+=($!)
RUST_LOG=warn target/release/skirmish-server --listen "127.0.0.1:$node" --public-url "http://127.0.0.1:$tcp" \
  --webtransport --webtransport-public-port "$udp" --match-seconds 30 --data-dir "$work/data" \
  > "$work/node.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$node/healthz" >/dev/null && break; sleep 0.1; done

p=$(echo "$loss / 100" | bc -l)
for port in "$tcp" "$udp"; do
  proto=tcp; [ "$port" = "$udp" ] && proto=udp
  for dir in --dport --sport; do
    iptables -A INPUT -p "$proto" "$dir" "$port" -m statistic --mode random --probability "$p" -j DROP
  done
done

for transport in ws wt; do
  target/release/skirmish-bots --url "http://127.0.0.1:$tcp" --bots "$bots" --ramp 50 --duration "$duration" \
    --quick-play --chat-every 0 --quiet --transport "$transport" --report "$work/$transport.json" \
    > "$work/$transport.txt" || true
done
dropped=$(iptables -L INPUT -v -n -x | awk '/DROP/ { n += $1 } END { print n + 0 }')

python3 - "$work" "$bots" "$duration" "$loss" "$delay" "$jitter" "$dropped" <<'PY'
import json, sys
work, bots, duration, loss, delay, jitter, dropped = sys.argv[1:]
print(f"\n== skirmish loss benchmark: {bots} bots for {duration} s on each transport, "
      f"{loss}% loss each way, {delay} ms (+0..{jitter} ms) each way; {dropped} packets dropped ==")
rows = [("", "WebSocket", "WebTransport")]
reports = []
for t in ("ws", "wt"):
    try:
        reports.append(json.load(open(f"{work}/{t}.json")))
    except (FileNotFoundError, ValueError):
        sys.exit(f"loss.sh: the {t} run wrote no report; no figures")
def both(label, f):
    rows.append((label, *(f(r) for r in reports)))
both("snapshot lateness p50 (ms)", lambda r: f"{r['snapshot_lateness_ms']['p50']:.1f}")
both("snapshot lateness p99 (ms)", lambda r: f"{r['snapshot_lateness_ms']['p99']:.1f}")
both("ticks seen", lambda r: f"{r['ticks_seen_share'] * 100:.1f}%")
both("snapshot interval p99 (ms)", lambda r: f"{r['snapshot_interval_ms']['p99']:.1f}")
both("input ack p50 / p99 (ms)", lambda r: f"{r['input_ack_ms']['p50']:.0f} / {r['input_ack_ms']['p99']:.0f}")
both("rtt p50 / p99 (ms)", lambda r: f"{r['rtt_ms']['p50']:.0f} / {r['rtt_ms']['p99']:.0f}")
both("prediction error p99 / p99.9 / max (units)", lambda r: "{p99:.2f} / {p999:.2f} / {max:.1f}".format(**r['prediction_error_units']))
both("  over snapshots acknowledging an input", lambda r: str(r['prediction_error_units']['count']))
both("snapshots overtaken", lambda r: str(r.get('snapshots_reordered', 0)))
both("errors", lambda r: f"{r['errors']} {r['errors_by_kind'] or ''}")
both("matches completed", lambda r: str(r['matches_completed']))
w = [max(len(r[i]) for r in rows) for i in range(3)]
for r in rows:
    print(f"  {r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:>{w[2]}}")
PY
