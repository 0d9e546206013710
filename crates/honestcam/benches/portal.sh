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
#   - 1,000 properties (one demo property copied under 1,000 slugs): GET /
#
# Prints a Markdown table, with the server's CPU time per request (user + system, from
# /proc) next to the rate: the rate depends on what else the machine runs, the CPU time
# much less.
#
# Then durable writes (POST, 32 connections), each next to the disk's raw fsync rate
# measured just before and just after it in the same run:
#
#   - the edit form (POST /p/{slug}/compliance/actions/{id}, form-encoded `note=...`,
#     with the Origin a browser sends), to an action with no history, and to an action
#     with 100,000 earlier events (made by demo-data: a property of one action gets
#     every generated event; the fresh action is added to its baseline before
#     db-migrate);
#   - the JSON API (POST /api/p/{slug}/actions/{id}/events).
#
# The write rows' server CPU is per event landed, until the server is idle again.
# Every write row checks, through the API, that the action's events grew by the
# requests wrk counted (so the rate is of real writes, not of refusals), and the run
# fails if wrk saw any response other than 2xx/3xx or any socket error.
#
#   bash crates/honestcam/benches/portal.sh [duration-seconds]
set -euo pipefail
cd "$(dirname "$0")/../../.."
DURATION="${1:-10}"
CONNECTIONS=32
# Targets for the write path: the form at least this many times the raw fsync rate,
# and the 100,000-event action at least this share of the fresh one's rate.
FORM_VS_FSYNC=2
HISTORY_VS_FRESH=0.8

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

die() { echo "portal.sh: $*" >&2; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# settle: waits until the server is idle (requests still queued when wrk stopped are
# served, and writes still land, after it), so that they weigh on no later measure;
# sets T_IDLE, when it was idle.
settle() {
  local a b
  for _ in $(seq 1 240); do
    T_IDLE="$(date +%s.%N)"
    a="$(cpu_ticks "$SERVER_PID")"
    sleep 0.5
    b="$(cpu_ticks "$SERVER_PID")"
    [ $((b - a)) -le 1 ] && return 0
  done
  die "the server is still busy 2 minutes after wrk stopped"
}

# run_wrk URL [wrk args...]: one wrk run against the server, then settle; sets RESULT,
# RPS, LAT, REQUESTS, CPU_US (server CPU per answered request, while wrk ran),
# TICKS_BEFORE and T_START. Fails on any response other than 2xx/3xx and on any socket error (a
# timeout included).
run_wrk() {
  local url="$1" before after
  shift
  before="$(cpu_ticks "$SERVER_PID")"
  TICKS_BEFORE="$before"
  T_START="$(date +%s.%N)"
  RESULT="$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 60s "$@" "$url")"
  after="$(cpu_ticks "$SERVER_PID")"
  RPS="$(echo "$RESULT" | awk '/Requests\/sec/ {print $2}')"
  LAT="$(echo "$RESULT" | awk '/Latency/ {print $2; exit}')"
  REQUESTS="$(echo "$RESULT" | awk '/requests in/ {print $1}')"
  if echo "$RESULT" | grep -q -e 'Non-2xx' -e 'Socket errors'; then
    echo "$RESULT" >&2
    die "$url: wrk saw failed requests (above)"
  fi
  [ "${REQUESTS:-0}" -gt 0 ] || { echo "$RESULT" >&2; die "$url: no request completed"; }
  CPU_US="$(awk -v t="$((after - before))" -v n="$REQUESTS" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%d", t * 1000000 / hz / n }')"
  settle
}

# measure LABEL URL: one table row.
measure() {
  local label="$1" url="$2" size
  size="$(curl -sf -o /dev/null -w '%{size_download}' "$url")"  # also warms the snapshot
  run_wrk "$url"
  echo "| $label | $RPS | $LAT | $CPU_US µs | $((size / 1024)) KB |"
}

# property DATA SLUG [demo-data args...]: a demo property, migrated to SQLite.
property() {
  local data="$1" slug="$2"
  shift 2
  "$BIN" --data-dir "$data" demo-data "$slug" "$@" >/dev/null
  "$BIN" --data-dir "$data" db-migrate "$slug" --execute >/dev/null
}

# start DATA: starts the server on a data dir; sets BASE (no trailing slash), the
# server's origin.
start() {
  local out
  out="$(mktemp "$WORK/server.XXXXXX")"
  RUST_LOG=warn "$BIN" --data-dir "$1" serve --addr 127.0.0.1:0 --auth none >"$out" 2>/dev/null &
  SERVER_PID=$!
  # Startup looks at every property: seconds for 1,000 of them on a busy machine.
  for _ in $(seq 1 1200); do
    grep -q "listening on" "$out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited at startup"
    sleep 0.1
  done
  BASE="$(sed -n 's/^honestcam listening on \(.*\)\/$/\1/p' "$out")"
  [ -n "$BASE" ] || die "the server did not start within 120 s"
}

# serve ACTIONS EVENTS: starts the server on a fresh property; sets BASE.
serve() {
  local data="$WORK/data-$1-$2"
  property "$data" bench --actions "$1" --events "$2"
  start "$data"
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

# --- GET / over 1,000 properties -------------------------------------------------
# One demo property (8 actions, the 12-event story), migrated, then copied under
# 1,000 slugs with its baseline's slug and name made its own.
many_properties() {
  local data="$WORK/data-many" template="$WORK/template" slug i listed unreadable
  property "$template" p0001
  mkdir -p "$data"
  for i in $(seq 1 1000); do
    slug="$(printf 'p%04d' "$i")"
    cp -r "$template/p0001" "$data/$slug"
    jq --arg slug "$slug" --arg name "Property $i" \
      '.property.slug = $slug | .property.name = $name' \
      "$template/p0001/compliance.json" >"$data/$slug/compliance.json"
  done
  start "$data"
  listed="$(curl -sf "$BASE/" | grep -c 'class="card property"' || true)"
  unreadable="$(curl -sf "$BASE/" | grep -c 'cannot be read' || true)"
  [ "$listed" -eq 1000 ] && [ "$unreadable" -eq 0 ] ||
    die "the home page lists $listed properties ($unreadable unreadable), not 1000"
  measure "1000 properties of 8 actions: GET /" "$BASE/"
  stop
}
many_properties

# --- POST: durable writes ----------------------------------------------------------
# Every request appends one note_added event: one unit of work on the property
# database's writer, acknowledged after its batch's COMMIT and fsync
# (synchronous=FULL). The raw fsync rate (append 4 KiB with O_DSYNC, by dd) is
# measured just before and just after each row; the row's reference is their mean.
raw_fsync_rate() {
  local file="$WORK/raw-fsync" n=3000 secs
  rm -f "$file"
  secs="$(LC_ALL=C dd if=/dev/zero of="$file" bs=4096 count="$n" oflag=dsync 2>&1 |
    awk -F', ' '/copied/ {sub(/ s$/, "", $(NF-1)); print $(NF-1)}')"
  rm -f "$file"
  awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }'
}

# events SLUG ACTION: how many events the action has, read through the API.
events() {
  curl -sf "$BASE/api/p/$1/events" |
    jq --arg a "$2" '[.events[] | select(.action_id == $a)] | length'
}

# write_row LABEL SLUG ACTION URL SCRIPT: one write row; sets ROW_RPS and ROW_RAW (the
# row's raw fsync reference).
write_row() {
  local label="$1" slug="$2" action="$3" url="$4" script="$5"
  local first last landed before after raw settled
  first="$(events "$slug" "$action")"
  before="$(raw_fsync_rate)"
  run_wrk "$url" -s "$script"
  settled="$(cpu_ticks "$SERVER_PID")"
  after="$(raw_fsync_rate)"
  last="$(events "$slug" "$action")"
  landed=$((last - first))
  # wrk counts the requests answered within the run; the ones in flight at its end
  # may land too.
  if [ "$landed" -lt "$REQUESTS" ] || [ "$landed" -gt $((REQUESTS + CONNECTIONS)) ]; then
    die "$label: wrk counted $REQUESTS answered requests but $landed events landed on $action"
  fi
  # CPU per write: every event that landed, those still in flight when wrk stopped
  # included, over all the work until the server settled.
  CPU_US="$(awk -v t="$((settled - TICKS_BEFORE))" -v n="$landed" \
    -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%d", t * 1000000 / hz / n }')"
  raw=$(((before + after) / 2))
  ROW_RPS="$RPS"
  ROW_RAW="$raw"
  # Writes per second from wrk's start until the server was idle: the same as wrk's
  # rate unless many requests were still queued when it stopped.
  local landed_rate
  landed_rate="$(awk -v n="$landed" -v a="$T_START" -v b="$T_IDLE" 'BEGIN { printf "%.1f", n / (b - a) }')"
  echo "| $label | $RPS | $LAT | $CPU_US µs | $landed ($first → $last), $landed_rate/s until idle | $raw ($before, $after) | $(awk -v a="$RPS" -v b="$raw" 'BEGIN { printf "%.2fx", a / b }') |"
}

post_rows() {
  local data="$WORK/data-post" baseline="$WORK/data-post/form/compliance.json"
  # `form`: ACT-001 with 100,000 events (a property of one action: every generated
  # event is its), then ACT-002 (benchmarked fresh) and ACT-003 (for the check
  # below), added to the baseline before the migration, with no history.
  "$BIN" --data-dir "$data" demo-data form --actions 1 --events 100000 >/dev/null
  jq '.actions += [
        {id: "ACT-002", title: "Fresh action (benchmark)", category: "Benchmark", status: "open"},
        {id: "ACT-003", title: "Checked action (benchmark)", category: "Benchmark", status: "open"}
      ]' "$baseline" >"$baseline.new"
  mv "$baseline.new" "$baseline"
  "$BIN" --data-dir "$data" db-migrate form --execute >/dev/null
  # `api`: as before, the demo's 8 actions with 1,000 events.
  property "$data" api --events 1000
  start "$data"

  local form_lua="$WORK/form.lua" api_lua="$WORK/api.lua" n
  cat >"$form_lua" <<LUA
wrk.method = "POST"
wrk.body = "note=a+durable+note+from+the+benchmark"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Origin"] = "$BASE"
LUA
  cat >"$api_lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"type": "note_added", "payload": {"note": "a durable note from the benchmark"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Sec-Fetch-Site"] = "same-origin"
LUA

  # What is measured lands: ACT-001 starts with 100,000 events and ACT-002 with
  # none; a form post as wrk sends it is redirected (303) and adds one event; one
  # without the Origin is refused (403) and adds none; an API post adds one.
  [ "$(events form ACT-001)" -eq 100000 ] || die "ACT-001 does not have 100000 events"
  [ "$(events form ACT-002)" -eq 0 ] || die "ACT-002 has a history"
  local form_url="$BASE/p/form/compliance/actions" api_url="$BASE/api/p/api/actions/ACT-001/events"
  n="$(curl -s -o /dev/null -w '%{http_code}' -X POST \
    -H "Origin: $BASE" -H 'Content-Type: application/x-www-form-urlencoded' \
    --data 'note=check' "$form_url/ACT-003")"
  [ "$n" = 303 ] || die "a form post answered $n, not 303"
  n="$(curl -s -o /dev/null -w '%{http_code}' -X POST \
    -H 'Content-Type: application/x-www-form-urlencoded' --data 'note=check' "$form_url/ACT-003")"
  [ "$n" = 403 ] || die "a form post without Origin answered $n, not 403"
  [ "$(events form ACT-003)" -eq 1 ] || die "the form post did not land exactly one event"
  n="$(events api ACT-001)"
  curl -sf -X POST -H 'Content-Type: application/json' -H 'Sec-Fetch-Site: same-origin' \
    --data '{"type": "note_added", "payload": {"note": "warm-up"}}' "$api_url" >/dev/null
  [ "$(events api ACT-001)" -eq $((n + 1)) ] || die "the API post did not land one event"

  local fresh fresh_raw history history_raw api
  echo
  echo "| POST, $CONNECTIONS connections | requests/s | mean latency | server CPU per request | events landed (action's events before → after) | raw fsyncs/s (before, after) | / raw fsync |"
  echo "|---|---|---|---|---|---|---|"
  write_row "form: edit note, action with no history (ACT-002)" form ACT-002 "$form_url/ACT-002" "$form_lua"
  fresh="$ROW_RPS" fresh_raw="$ROW_RAW"
  write_row "form: edit note, action with 100000 events (ACT-001)" form ACT-001 "$form_url/ACT-001" "$form_lua"
  history="$ROW_RPS" history_raw="$ROW_RAW"
  write_row "API: note_added event (synchronous=FULL)" api ACT-001 "$api_url" "$api_lua"
  api="$ROW_RPS"
  stop
  echo
  awk -v f="$fresh" -v fr="$fresh_raw" -v h="$history" -v hr="$history_raw" -v a="$api" \
    -v ff="$FORM_VS_FSYNC" -v hf="$HISTORY_VS_FRESH" 'BEGIN {
      printf "Targets: form / raw fsync >= %sx: no history %.2fx (%s), 100000 events %.2fx (%s); ", ff, f / fr, (f >= ff * fr) ? "met" : "NOT MET", h / hr, (h >= ff * hr) ? "met" : "NOT MET"
      printf "form, 100000 events / no history >= %sx: %.2fx (%s). API / form, no history: %.2fx.\n", hf, h / f, (h >= hf * f) ? "met" : "NOT MET", a / f
    }'
}
post_rows
