#!/usr/bin/env bash
# What one Pub/Sub message costs Redis per subscriber: a redis-server on a
# free loopback port, 0, 10 and 100 subscribed clients (`redis-cli
# subscribe`), and redis-benchmark publishing 100,000 messages of 100 bytes
# (a chat line's size) to their channel. Prints, per subscriber count, the
# server's own time per PUBLISH (INFO commandstats, which leaves out writing
# to the sockets) and the publishes per second the whole machine managed
# (the subscribers share its cores). Used by README "Scale on paper".
#
#   bench/pubsub_fanout.sh
set -euo pipefail

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no > /dev/null &
server=$!
subscribers=()
cleanup() {
  kill "${subscribers[@]}" "$server" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 50); do redis-cli -p "$port" ping > /dev/null 2>&1 && break; sleep 0.1; done

line=$(printf 'x%.0s' $(seq 1 100))
printf '%-12s %-22s %s\n' subscribers 'server us per PUBLISH' 'publishes per s'
for n in 0 10 100; do
  while [ "${#subscribers[@]}" -lt "$n" ]; do
    redis-cli -p "$port" subscribe chan > /dev/null &
    subscribers+=($!)
  done
  sleep 1
  redis-cli -p "$port" config resetstat > /dev/null
  rps=$(redis-benchmark -p "$port" -n 100000 -c 20 --csv publish chan "$line" | tail -1 | cut -d, -f2 | tr -d '"')
  usec=$(redis-cli -p "$port" info commandstats | sed -n 's/.*cmdstat_publish:.*usec_per_call=\([0-9.]*\).*/\1/p')
  printf '%-12s %-22s %s\n' "$n" "$usec" "$rps"
done
