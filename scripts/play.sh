#!/usr/bin/env bash
# Starts a playable single-node Skirmish game at http://127.0.0.1:8080/
# (no Redis needed): builds the browser client, then runs the server in
# release mode. Extra arguments go to skirmish-server (see --help).
#
# SKIRMISH_PROFILE=dev builds the server without optimisations instead: a
# quicker build, a slower node (the tests start the script that way).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${SKIRMISH_PROFILE:-release}

if ! command -v npm >/dev/null; then
  echo "play.sh: Node.js and npm are needed to build the browser client" >&2
  exit 1
fi
if [ ! -d assets/web/node_modules ]; then
  npm --prefix assets/web ci --no-audit --no-fund
fi
npm --prefix assets/web run --silent build
echo "Skirmish: open http://127.0.0.1:8080/ once the server says it is listening."
exec cargo run --profile "$profile" -p skirmish-server -- "$@"
