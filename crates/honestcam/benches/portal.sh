#!/usr/bin/env bash
# Portal benchmark: GET /compliance/ requests per second against the release build,
# with 1,000 and with 100,000 events in the property's log. Uses wrk (Debian package
# `wrk`, installed if missing). Prints a Markdown table.
#
#   bash crates/honestcam/benches/portal.sh [duration-seconds]
set -euo pipefail
cd "$(dirname "$0")/../../.."
DURATION="${1:-10}"

if ! command -v wrk >/dev/null 2>&1; then
  SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi
cargo build --release -q -p honestcam
BIN="$PWD/target/release/honestcam"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "| events in log | GET /compliance/ requests/s | mean latency |"
echo "|---|---|---|"
for EVENTS in 1000 100000; do
  DATA="$WORK/data-$EVENTS"
  "$BIN" --data-dir "$DATA" demo-data bench --events "$EVENTS" >/dev/null
  "$BIN" --data-dir "$DATA" db-migrate bench --execute >/dev/null
  OUT="$WORK/server-$EVENTS.out"
  RUST_LOG=warn "$BIN" --data-dir "$DATA" serve --addr 127.0.0.1:0 --auth none >"$OUT" 2>/dev/null &
  SERVER_PID=$!
  for _ in $(seq 1 100); do grep -q "listening on" "$OUT" 2>/dev/null && break; sleep 0.1; done
  URL="$(sed -n 's/^honestcam listening on \(.*\)$/\1/p' "$OUT")compliance/"
  curl -sf "$URL" >/dev/null  # warm the folded snapshot
  RESULT="$(wrk -t2 -c32 -d"${DURATION}s" "$URL")"
  RPS="$(echo "$RESULT" | awk '/Requests\/sec/ {print $2}')"
  LAT="$(echo "$RESULT" | awk '/Latency/ {print $2; exit}')"
  echo "| $EVENTS | $RPS | $LAT |"
  kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""
done
