#!/usr/bin/env bash
# Issue 6 benchmark: a first `pb2b sync` of LEADS leads from the sandbox on loopback (leads/s end
# to end, peak RSS), an incremental sync with nothing changed, and searches of the local mirror
# through `pb2b leads list --local` (each timing includes starting the process and opening the
# database, so it is an upper bound for the app, which keeps the database open).
#
#   LEADS=100000 bench/sync/run.sh
#   LEADS=100000 scripts/with-postgres bench/sync/run.sh     # also into a private PostgreSQL
#
# Starts the release sandbox binary on 127.0.0.1 only (no demo leads, no rate limit, no faults),
# bulk-inserts through the admin surface, syncs into a fresh SQLite file. Needs curl, python3 and
# GNU time. Figures go to docs/PERFORMANCE.md, "Sync (issue 6)".
set -euo pipefail
cd "$(dirname "$0")/../.."
LEADS=${LEADS:-100000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-features}
cargo build -q --release -p pb2b-sandbox -p pb2b-cli
BIN="$CARGO_TARGET_DIR/release"

work=$(mktemp -d)
"$BIN/pb2b-sandbox" --port 0 --no-demo >"$work/sandbox.json" 2>"$work/sandbox.log" &
sb_pid=$!
trap 'kill $sb_pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/sandbox.json" ] && break; sleep 0.1; done
base=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["base_url"])' "$work/sandbox.json")
key=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["keys"]["full"])' "$work/sandbox.json")
admin=${base%/api/public/v1}/_sandbox
python3 -c 'import json,sys;print("X-Sandbox-Admin-Token: "+json.load(open(sys.argv[1]))["admin_token"])' "$work/sandbox.json" >"$work/admin.h"
curl -sf -X POST "$admin/leads/bulk" -H @"$work/admin.h" -H 'content-type: application/json' \
  -d "{\"count\": $LEADS}" >/dev/null

export PB2B_API_KEY=$key PB2B_BASE_URL=$base PB2B_DATA_DIR="$work/data"
db="$work/mirror.sqlite"

sync_run() { # label [sync args] -> "label leads pages seconds leads/s peakRSS_MiB requests"
  local label=$1
  shift
  /usr/bin/time -v "$BIN/pb2b" sync --json "${@:---db=$db}" >"$work/$label.json" 2>"$work/$label.time"
  set -- "$label"
  python3 - "$1" "$work/$1.json" "$work/$1.time" <<'PY'
import json, re, sys
label, rep, t = sys.argv[1], json.load(open(sys.argv[2]))["report"], open(sys.argv[3]).read()
wall = t.split("Elapsed (wall clock) time (h:mm:ss or m:ss): ")[1].split()[0].split(":")
secs = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
p = rep["progress"]
print(f"{label}: {p['leads']} leads, {p['pages']} pages, {rep['requests']} list requests, "
      f"{secs:.2f} s wall, {p['leads'] / secs:,.0f} leads/s, peak RSS {rss:.1f} MiB")
PY
}

# The raw page rate in this same run: the whole listing read page by page (limit=100, cursor),
# as a sync reads it, over one keep-alive connection, parsing each page; nothing is written.
python3 - "$base" "$key" <<'PY'
import http.client, json, sys, time, urllib.parse
base, key = sys.argv[1], sys.argv[2]
u = urllib.parse.urlparse(base)
conn = http.client.HTTPConnection(u.hostname, u.port)
n, cursor, t0 = 0, None, time.time()
while True:
    q = "limit=100" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
    conn.request("GET", f"{u.path}/leads?{q}", headers={"Authorization": f"Bearer {key}"})
    page = json.loads(conn.getresponse().read())
    n += len(page["data"])
    if not page["pagination"]["has_more"]:
        break
    cursor = page["pagination"]["next_cursor"]
secs = time.time() - t0
print(f"raw pages: {n} leads in {secs:.2f} s, {n / secs:,.0f} leads/s (one connection, sequential)")
PY

sync_run first
sync_run unchanged
ls -l "$db" | awk '{printf "mirror file: %.1f MiB\n", $5/1048576}'

search() { # args... -> median of 5 runs in ms, and total
  local times=()
  for _ in 1 2 3 4 5; do
    local t0=$(date +%s%N)
    "$BIN/pb2b" leads list --local --json --db "$db" --limit 100 "$@" >"$work/search.json"
    times+=($(( ($(date +%s%N) - t0) / 1000000 )))
  done
  local total=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["total"])' "$work/search.json")
  printf '%s\n' "${times[@]}" | sort -n | sed -n 3p | xargs -I{} echo "search [$*]: median {} ms, total $total"
}
search
search --search smith
search --search "ada lov"
search --search a
search --status qualified --sort full-name
search --search engineer --sort company-name --desc
search --offset 90000 --sort email

# The PostgreSQL destination, when a server is given (scripts/with-postgres bench/sync/run.sh sets
# PB2B_TEST_POSTGRES_URL): a first sync into a fresh schema, then one with nothing changed.
if [ -n "${PB2B_TEST_POSTGRES_URL:-}" ]; then
  schema="bench_$$"
  sync_run pg-first --to "$PB2B_TEST_POSTGRES_URL" --schema "$schema"
  sync_run pg-unchanged --to "$PB2B_TEST_POSTGRES_URL" --schema "$schema"
fi
