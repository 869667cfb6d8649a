#!/usr/bin/env bash
# Runs the whole Skirmish test suite on a fresh machine: installs what is
# missing (Chromium, redis-server and redis-cli from Debian, npm packages;
# the tests start their own redis-server processes and three-master Redis
# Clusters on free ports), builds the browser client,
# then checks formatting and lints and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing ${missing[*]} with apt-get"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

npm --prefix assets/web ci --no-audit --no-fund --loglevel=error
npm --prefix assets/web run --silent build
npm --prefix assets/web test --silent
npm --prefix tests/browser ci --no-audit --no-fund --loglevel=error

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The server as scripts/play.sh builds it (alone, so with its own feature
# set), so the test that starts the script does not compile it meanwhile.
cargo build --locked -p skirmish-server
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
cargo test --workspace --locked --doc
