#!/usr/bin/env bash
# Peak memory of `pb2b exports create --wait` downloading a large export from the sandbox.
#
# Starts the sandbox binary on 127.0.0.1 (no demo leads), bulk-inserts leads through the admin
# surface until the export is about TARGET_MB, and measures the CLI's peak RSS (/usr/bin/time -v)
# for a small export and the large one: flat memory means the two peaks are about the same.
#
#   TARGET_MB=100 PROFILE=release bench/exports/run.sh
#
# Needs curl, python3 and GNU time. Figures go to docs/PERFORMANCE.md, "Exports (issue 8)".
set -euo pipefail
cd "$(dirname "$0")/../.."
TARGET_MB=${TARGET_MB:-100}
PROFILE=${PROFILE:-release}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-features}
flag=(); [ "$PROFILE" = release ] && flag=(--release)
cargo build -q "${flag[@]}" -p pb2b-sandbox -p pb2b-cli
BIN="$CARGO_TARGET_DIR/$([ "$PROFILE" = release ] && echo release || echo debug)"

work=$(mktemp -d)
"$BIN/pb2b-sandbox" --port 0 --no-demo --export-delay-ms 200 >"$work/sandbox.json" 2>"$work/sandbox.log" &
sb_pid=$!
trap 'kill $sb_pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/sandbox.json" ] && break; sleep 0.1; done
base=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["base_url"])' "$work/sandbox.json")
key=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["keys"]["full"])' "$work/sandbox.json")
admin=${base%/api/public/v1}/_sandbox
python3 -c 'import json,sys;print("X-Sandbox-Admin-Token: "+json.load(open(sys.argv[1]))["admin_token"])' "$work/sandbox.json" >"$work/admin.h"

bulk() { curl -sf -X POST "$admin/leads/bulk" -H @"$work/admin.h" -H 'content-type: application/json' -d "{\"count\": $1}" >/dev/null; }

# One run: prints "<rows> <bytes> <peak RSS KiB> <seconds>".
run() {
  local out="$work/out-$1"; mkdir -p "$out"
  PB2B_API_KEY=$key PB2B_BASE_URL=$base PB2B_DATA_DIR="$work/data-$1" \
    /usr/bin/time -v "$BIN/pb2b" exports create --wait --json --out "$out" \
    >"$work/job-$1.json" 2>"$work/time-$1.txt"
  python3 - "$work/job-$1.json" "$work/time-$1.txt" <<'PY'
import json, re, sys
job = json.load(open(sys.argv[1]))
t = open(sys.argv[2]).read()
rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1)
parts = [float(p) for p in wall.split(":")]
secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
print(job["row_count"], job["byte_size"], rss, f"{secs:.2f}")
PY
}

bulk 10000
read -r rows bytes rss secs < <(run small)
echo "small: $rows rows, $bytes bytes, peak RSS ${rss} KiB, ${secs}s"
per_row=$(( bytes / rows ))
need=$(( TARGET_MB * 1024 * 1024 / per_row - rows ))
[ "$need" -gt 0 ] && bulk "$need"
read -r rows2 bytes2 rss2 secs2 < <(run large)
echo "large: $rows2 rows, $bytes2 bytes, peak RSS ${rss2} KiB, ${secs2}s (incl. the sandbox building the CSV)"
