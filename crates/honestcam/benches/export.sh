#!/usr/bin/env bash
# Export benchmark: the whole event log of a large property, downloaded from the release
# build through the doors people and scripts use, each on a freshly started server:
#
#   - GET /compliance/events.csv (the streamed CSV export)
#   - GET /api/p/{slug}/events (the streamed JSON export of the whole log)
#   - a full walk of GET /api/p/{slug}/events?after=CURSOR&limit=10000 (the paged API,
#     the largest page), following "next" until null
#
# The property is made by `honestcam demo-data SLUG --events N` and migrated to SQLite
# by `honestcam db-migrate SLUG --execute`, the same path as real data. For each
# download: the time taken, the bytes and events received, and the server's peak
# resident memory (VmHWM from /proc/PID/status) just after start and after the
# download. The target is a peak under 100 MB whatever the log's size.
#
#   bash crates/honestcam/benches/export.sh [events]     (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/../../.."
EVENTS="${1:-1000000}"
SLUG=bench
LIMIT=10000

cargo build --release -q -p honestcam
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/honestcam"
WORK="$(mktemp -d)"
DATA="$WORK/data"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f s", b - a }'; }
hwm_mb() { awk '/^VmHWM/ { printf "%.1f MB", $2 / 1024 }' "/proc/$1/status"; }

echo "making a property with $EVENTS events (demo-data, then db-migrate) ..." >&2
t0="$(now)"
"$BIN" --data-dir "$DATA" demo-data "$SLUG" --events "$EVENTS" >/dev/null
"$BIN" --data-dir "$DATA" db-migrate "$SLUG" --execute >/dev/null
echo "made in $(elapsed "$t0" "$(now)"); database $(du -sh "$DATA/$SLUG/honestcam.db" | cut -f1)" >&2

# Starts a fresh server on a free port; sets SERVER_PID and BASE.
start() {
  local out="$WORK/serve.out"
  : >"$out"
  RUST_LOG=warn "$BIN" --data-dir "$DATA" serve --addr 127.0.0.1:0 --auth none --property "$SLUG" \
    >"$out" 2>"$WORK/serve.err" &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    if grep -q '^honestcam listening on ' "$out"; then break; fi
    sleep 0.05
  done
  BASE="$(sed -n 's/^honestcam listening on \(http:[^ ]*\).*/\1/p' "$out" | head -1)"
  BASE="${BASE%/}"
  [ -n "$BASE" ] || { echo "server did not start:" >&2; cat "$WORK/serve.err" >&2; exit 1; }
}

stop() {
  kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""
}

# download LABEL PATH: one table row for a single streamed download.
download() {
  local label="$1" path="$2" t0 t1 at_start size
  start
  at_start="$(hwm_mb "$SERVER_PID")"
  t0="$(now)"
  size="$(curl -sfS -o "$WORK/body" -w '%{size_download}' "$BASE$path")"
  t1="$(now)"
  local rows
  case "$path" in
    *.csv) rows=$(( $(wc -l <"$WORK/body") - 1 )) ;;
    *) rows="$(grep -o '"event_id":' "$WORK/body" | wc -l)" ;;
  esac
  echo "| $label | $(elapsed "$t0" "$t1") | $((size / 1024 / 1024)) MB | $rows | $at_start | $(hwm_mb "$SERVER_PID") |"
  rm -f "$WORK/body"
  stop
}

# walk: one table row for a full walk of the paged API.
walk() {
  local t0 t1 at_start after="" pages=0 bytes=0 events=0 next size
  start
  at_start="$(hwm_mb "$SERVER_PID")"
  t0="$(now)"
  while :; do
    size="$(curl -sfS -o "$WORK/page" -w '%{size_download}' "$BASE/api/p/$SLUG/events?after=$after&limit=$LIMIT")"
    pages=$((pages + 1)); bytes=$((bytes + size))
    events=$((events + $(grep -o '"event_id":' "$WORK/page" | wc -l)))
    next="$(grep -o '"next":\("[0-9]*"\|null\)' "$WORK/page" | tail -1 | cut -d: -f2 | tr -d '"')"
    [ "$next" = "null" ] && break
    after="$next"
  done
  t1="$(now)"
  echo "| paged API, limit=$LIMIT ($pages pages) | $(elapsed "$t0" "$t1") | $((bytes / 1024 / 1024)) MB | $events | $at_start | $(hwm_mb "$SERVER_PID") |"
  stop
}

echo
echo "$EVENTS events, $(nproc) cores, $(date -u +%Y-%m-%d)"
echo
echo "| download | time | size | events | server VmHWM at start | server VmHWM after |"
echo "|---|---|---|---|---|---|"
download "GET /compliance/events.csv" "/compliance/events.csv"
download "GET /api/p/$SLUG/events (whole log)" "/api/p/$SLUG/events"
walk
