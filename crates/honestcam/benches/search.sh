#!/usr/bin/env bash
# Search, "as of" and change-feed benchmark, against the release build, through the
# doors people and indexers use. Properties are made by `honestcam demo-data` and
# migrated to SQLite by `honestcam db-migrate` (which fills the search index), the
# same path as real data:
#
#   - search over a 1,000,000-event property (200 actions; about 500,000 notes and
#     assignees indexed): the API, GET /api/p/{slug}/search?q=..., and the portal's
#     search box, GET /p/{slug}/compliance/?q=..., for a word found in one generated
#     note in five, a two-word phrase, a word's beginning, a word of the titles, and a
#     word of one note only (written through the API first);
#   - "as of" on a 100,000-event property: GET /api/p/{slug}/actions?as_of=DAY and
#     the page GET /p/{slug}/compliance/?as_of=DAY;
#   - the change feed of the 1,000,000-event property: `honestcam export --jsonl`
#     whole to /dev/null, and an indexer's loop (`export --jsonl --since CURSOR
#     --limit 10000` until "more" is false), in events per second.
#
# Requests go one at a time (no concurrency: this is latency, not throughput), after
# one warm-up request; p50 and p99 are of curl's total time per request. Also printed:
# how long db-migrate took with the index filled during the load, and a rebuild of the
# index alone (db-reindex rebuilds the projection too; both times are printed).
#
#   bash crates/honestcam/benches/search.sh [requests-per-row]     (default 200)
set -euo pipefail
cd "$(dirname "$0")/../../.."
REQUESTS="${1:-200}"
BIG=big
MID=mid

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

die() { echo "search.sh: $*" >&2; exit 1; }
now() { date +%s.%N; }
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo); $(date -u +%Y-%m-%d)" >&2

# property SLUG ACTIONS EVENTS: a demo property, migrated to SQLite; prints the
# migration's time.
property() {
  local t0
  "$BIN" --data-dir "$DATA" demo-data "$1" --actions "$2" --events "$3" >/dev/null
  t0="$(now)"
  "$BIN" --data-dir "$DATA" db-migrate "$1" --execute >/dev/null
  echo "db-migrate $1 ($3 events, index filled): $(seconds "$t0" "$(now)") s; database $(du -m "$DATA/$1/honestcam.db" | cut -f1) MB" >&2
}

echo "making the properties ..." >&2
property "$BIG" 200 1000000
property "$MID" 200 100000
t0="$(now)"
"$BIN" --data-dir "$DATA" db-reindex "$BIG" --execute >/dev/null
echo "db-reindex $BIG (projection and search index, 1,000,000 events): $(seconds "$t0" "$(now)") s" >&2

# Starts the server; sets SERVER_PID and BASE.
start() {
  local out="$WORK/serve.out"
  : >"$out"
  RUST_LOG=warn "$BIN" --data-dir "$DATA" serve --addr 127.0.0.1:0 --auth none --timezone Europe/Berlin \
    >"$out" 2>"$WORK/serve.err" &
  SERVER_PID=$!
  for _ in $(seq 1 600); do
    grep -q '^honestcam listening on ' "$out" && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited at startup"
    sleep 0.1
  done
  BASE="$(sed -n 's/^honestcam listening on \(http:[^ ]*\).*/\1/p' "$out" | head -1)"
  BASE="${BASE%/}"
  [ -n "$BASE" ] || die "the server did not start"
}

# latency LABEL PATH: one table row, REQUESTS requests one after the other.
latency() {
  local label="$1" url="$BASE$2" times="$WORK/times" size status
  status="$(curl -s -o "$WORK/body" -w '%{http_code}' "$url")"
  [ "$status" = 200 ] || { cat "$WORK/body" >&2; die "$2: HTTP $status"; }
  size="$(wc -c <"$WORK/body")"
  : >"$times"
  for _ in $(seq 1 "$REQUESTS"); do
    curl -sf -o /dev/null -w '%{time_total}\n' "$url" >>"$times" || die "$2 failed"
  done
  sort -n "$times" | awk -v n="$REQUESTS" -v label="$label" -v kb="$((size / 1024))" '
    { t[NR] = $1 }
    END {
      p50 = t[int((n * 50 + 99) / 100)]; p99 = t[int((n * 99 + 99) / 100)]
      printf "| %s | %.1f ms | %.1f ms | %d KB |\n", label, p50 * 1000, p99 * 1000, kb
    }'
}

start
# One note that only it has.
curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' -H 'Sec-Fetch-Site: same-origin' \
  -d '{"type": "note_added", "payload": {"note": "Zeppelin hangar door sticks"}}' \
  "$BASE/api/p/$BIG/actions/ACT-001/events" || die "could not write the note"
DAY="$(date -u -d '-3 days' +%Y-%m-%d)"

echo
echo "| $REQUESTS requests each, one at a time | p50 | p99 | answer |"
echo "|---|---|---|---|"
for q in landlord "landlord+approval" insp generator zeppelin; do
  latency "1,000,000 events, API: search?q=$q" "/api/p/$BIG/search?q=$q"
done
for q in landlord "landlord+approval" zeppelin; do
  latency "1,000,000 events, page: compliance/?q=$q" "/p/$BIG/compliance/?q=$q"
done
latency "100,000 events, API: actions?as_of=$DAY" "/api/p/$MID/actions?as_of=$DAY"
latency "100,000 events, page: compliance/?as_of=$DAY" "/p/$MID/compliance/?as_of=$DAY"
latency "100,000 events, page: compliance/ (today, for comparison)" "/p/$MID/compliance/"
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""

# The feed: the whole data dir (both properties), then an indexer's loop.
echo
echo "| change feed (both properties) | events | time | events/s |"
echo "|---|---|---|---|"
t0="$(now)"
"$BIN" --data-dir "$DATA" export --jsonl 2>/dev/null | tail -n 1 >"$WORK/end"
t1="$(now)"
events="$(sed -n 's/.*"events":\([0-9]*\).*/\1/p' "$WORK/end")"
echo "| export --jsonl, whole, to /dev/null | $events | $(seconds "$t0" "$t1") s | $(awk -v n="$events" -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", n / (b - a) }') |"
t0="$(now)"
total=0; runs=0; since=()
while :; do
  "$BIN" --data-dir "$DATA" export --jsonl "${since[@]}" --limit 10000 2>/dev/null | tail -n 1 >"$WORK/end"
  cursor="$(sed -n 's/^{"cursor":"\([^"]*\)".*/\1/p' "$WORK/end")"
  [ -n "$cursor" ] || die "no cursor in $(cat "$WORK/end")"
  printf '%s' "$cursor" >"$WORK/cursor"
  since=(--since "@$WORK/cursor")
  total=$((total + $(sed -n 's/.*"events":\([0-9]*\).*/\1/p' "$WORK/end")))
  runs=$((runs + 1))
  grep -q '"more":false' "$WORK/end" && break
done
t1="$(now)"
echo "| export --jsonl --since CURSOR --limit 10000, looped ($runs runs) | $total | $(seconds "$t0" "$t1") s | $(awk -v n="$total" -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", n / (b - a) }') |"
