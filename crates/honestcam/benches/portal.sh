#!/usr/bin/env bash
# Portal benchmark: requests per second against the release build, with wrk (Debian
# package `wrk`, installed if missing; 2 threads, 32 connections, on the same machine
# as the server). Properties are made by `honestcam demo-data` and migrated to SQLite
# by `honestcam db-migrate`, the same path as real data:
#
#   - the demo's 8 actions with 1,000 and with 100,000 events: GET /compliance/
#   - 200 actions with 100,000 events: GET /, GET /compliance/, and a search
#     (GET /compliance/?q=act, which matches every action and is rendered afresh each
#     time: rendered pages are kept only for unsearched views)
#
# Prints a Markdown table, with the server's CPU time per request (user + system, from
# /proc) next to the rate: the rate depends on what else the machine runs, the CPU time
# much less.
#
# Then durable note appends (POST, 32 connections) next to the disk's raw fsync rate
# measured in the same run.
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
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/honestcam"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# measure LABEL URL: one table row.
measure() {
  local label="$1" url="$2"
  local size before after result rps lat requests cpu
  size="$(curl -sf -o /dev/null -w '%{size_download}' "$url")"  # also warms the snapshot
  before="$(cpu_ticks "$SERVER_PID")"
  result="$(wrk -t2 -c32 -d"${DURATION}s" "$url")"
  after="$(cpu_ticks "$SERVER_PID")"
  rps="$(echo "$result" | awk '/Requests\/sec/ {print $2}')"
  lat="$(echo "$result" | awk '/Latency/ {print $2; exit}')"
  requests="$(echo "$result" | awk '/requests in/ {print $1}')"
  cpu="$(awk -v t="$((after - before))" -v n="$requests" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%d", t * 1000000 / hz / n }')"
  echo "| $label | $rps | $lat | $cpu µs | $((size / 1024)) KB |"
}

# serve ACTIONS EVENTS: starts the server on a fresh property; sets BASE.
serve() {
  local actions="$1" events="$2" data="$WORK/data-$1-$2"
  "$BIN" --data-dir "$data" demo-data bench --actions "$actions" --events "$events" >/dev/null
  "$BIN" --data-dir "$data" db-migrate bench --execute >/dev/null
  local out="$WORK/server-$1-$2.out"
  RUST_LOG=warn "$BIN" --data-dir "$data" serve --addr 127.0.0.1:0 --auth none >"$out" 2>/dev/null &
  SERVER_PID=$!
  for _ in $(seq 1 100); do grep -q "listening on" "$out" 2>/dev/null && break; sleep 0.1; done
  BASE="$(sed -n 's/^honestcam listening on \(.*\)\/$/\1/p' "$out")"
}

stop() { kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""; }

echo "| property, request | requests/s | mean latency | server CPU per request | page |"
echo "|---|---|---|---|---|"
for EVENTS in 1000 100000; do
  serve 8 "$EVENTS"
  measure "8 actions, $EVENTS events: GET /compliance/" "$BASE/compliance/"
  stop
done
serve 200 100000
measure "200 actions, 100000 events: GET /" "$BASE/"
measure "200 actions, 100000 events: GET /compliance/" "$BASE/compliance/"
measure "200 actions, 100000 events: GET /compliance/?q=act (a search)" "$BASE/compliance/?q=act"
stop

# --- POST: durable note appends -------------------------------------------------
# Every request appends one note_added event through the JSON API: one unit of work
# on the property database's writer, acknowledged after its batch's COMMIT and fsync
# (synchronous=FULL). The raw fsync rate (append 4 KiB with O_DSYNC, by dd) is
# measured just before and just after the POST run; the reference is their mean.
raw_fsync_rate() {
  local file="$WORK/raw-fsync" n=3000 secs
  rm -f "$file"
  secs="$(LC_ALL=C dd if=/dev/zero of="$file" bs=4096 count="$n" oflag=dsync 2>&1 |
    awk -F', ' '/copied/ {sub(/ s$/, "", $(NF-1)); print $(NF-1)}')"
  rm -f "$file"
  awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }'
}

post_row() {
  local data="$WORK/data-post" out="$WORK/server-post.out" script="$WORK/post.lua"
  "$BIN" --data-dir "$data" demo-data bench --events 1000 >/dev/null
  "$BIN" --data-dir "$data" db-migrate bench --execute >/dev/null
  RUST_LOG=warn "$BIN" --data-dir "$data" serve --addr 127.0.0.1:0 --auth none >"$out" 2>/dev/null &
  SERVER_PID=$!
  for _ in $(seq 1 100); do grep -q "listening on" "$out" 2>/dev/null && break; sleep 0.1; done
  local url
  url="$(sed -n 's/^honestcam listening on \(.*\)$/\1/p' "$out")api/p/bench/actions/ACT-001/events"
  cat >"$script" <<'LUA'
wrk.method = "POST"
wrk.body = '{"type": "note_added", "payload": {"note": "a durable note from the benchmark"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Sec-Fetch-Site"] = "same-origin"
LUA
  curl -sf -X POST -H 'Content-Type: application/json' -H 'Sec-Fetch-Site: same-origin' \
    --data '{"type": "note_added", "payload": {"note": "warm-up"}}' "$url" >/dev/null
  local before after result rps lat bad raw
  before="$(raw_fsync_rate)"
  result="$(wrk -t2 -c32 -d"${DURATION}s" -s "$script" "$url")"
  after="$(raw_fsync_rate)"
  kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""
  rps="$(echo "$result" | awk '/Requests\/sec/ {print $2}')"
  lat="$(echo "$result" | awk '/Latency/ {print $2; exit}')"
  bad="$(echo "$result" | awk '/Non-2xx/ {print $NF}')"
  raw=$(( (before + after) / 2 ))
  echo
  echo "| POST note appends, 32 connections | requests/s | mean latency | raw fsyncs/s (before, after) | POST / raw fsync |"
  echo "|---|---|---|---|---|"
  echo "| durable (synchronous=FULL) | $rps | $lat | $raw ($before, $after) | $(awk -v a="$rps" -v b="$raw" 'BEGIN { printf "%.2fx", a / b }') |"
  if [ -n "$bad" ]; then echo "($bad responses were not 2xx)"; fi
}
post_row
