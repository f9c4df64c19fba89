#!/usr/bin/env bash
# Import benchmarks (issues 5 and 12), loopback only: read+map+validate speed (1M-row 8-column
# file) beside the `csv` crate reading the same file, peak memory validating a 1 GB file, the
# per-row import into an unthrottled sandbox process beside wrk's raw POST /leads rate against
# the same sandbox binary (32 connections, an Idempotency-Key per request), bulk import jobs
# against the per-row path in the same sandbox (PB2B_BENCH_BULK_ROWS, default 100,000), the
# review of 1,000,000 rows against a 1,000,000-lead mirror, import against a limit of N per
# minute (PB2B_BENCH_LIMIT, default 600), and the 10,000-row (per row) and 20,000-row (bulk)
# exactly-once runs with faults. Each benchmark runs in its own process (so its peak RSS is its
# own) and prints a `BENCH {json}` line; the lines are collected in bench/import/results.jsonl (a full run) or results.partial.jsonl (a subset).
# Needs wrk (apt-get install wrk).
# Usage: bench/import/run.sh [quick]   (quick: skip the ~2.5 min rate-limited run)
#        ONLY="validate import review" bench/import/run.sh quick   (a subset)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target-bench}"
# Optimised but quick to build (the release profile is tuned for app size).
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=3
# Symbols kept (for perf); no effect on speed.
export CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
ALL="validate memory import bulk review limited exactly_once"
ONLY="${ONLY:-$ALL}"
want() { case " $ONLY " in *" $1 "*) return 0;; *) return 1;; esac; }
export PB2B_BENCH_DIR="${PB2B_BENCH_DIR:-$(mktemp -d)}"
# A full run replaces the committed results; a subset (ONLY=..., or quick) writes beside them
# (results.partial.jsonl, not tracked), so it cannot be committed in their place by mistake.
if [ "$ONLY" = "$ALL" ] && [ "${1:-}" != quick ]; then
  out=bench/import/results.jsonl
else
  out=bench/import/results.partial.jsonl
fi
: > "$out"
cargo test --release -p pb2b-core --test import_bench --no-run
cargo test --release -p pb2b-core --test import_delivery --no-run
cargo test --release -p pb2b-core --test import_bulk --no-run
cargo build --release -p pb2b-sandbox
run() {
  cargo test -q --release -p pb2b-core --test "$1" -- --ignored --exact "$2" --nocapture --test-threads=1 \
    | tee /dev/stderr | grep '^BENCH ' | sed 's/^BENCH //' >> "$out" || true
}
want validate && run import_bench bench_read_map_validate_1m_rows
want memory && run import_bench bench_validate_1gb_peak_memory

# The per-row import and its anchor, in one run against the same sandbox binary: wrk's POST
# /leads rate (32 connections, a distinct Idempotency-Key and e-mail per request), then the
# import, each against a fresh `pb2b-sandbox --no-demo` process (in-memory store, no limit).
sandbox_pid=""
stop_sandbox() { if [ -n "$sandbox_pid" ]; then kill "$sandbox_pid" 2>/dev/null || true; wait "$sandbox_pid" 2>/dev/null || true; sandbox_pid=""; fi; }
trap stop_sandbox EXIT
start_sandbox() {
  local line="$PB2B_BENCH_DIR/sandbox.json"
  : > "$line"
  "$CARGO_TARGET_DIR/release/pb2b-sandbox" --port 0 --no-demo > "$line" 2> "$PB2B_BENCH_DIR/sandbox.log" &
  sandbox_pid=$!
  for _ in $(seq 1 200); do [ -s "$line" ] && break; sleep 0.05; done
  SB_BASE="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["base_url"])' "$line")"
  SB_KEY="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["keys"]["full"])' "$line")"
  case "$SB_BASE" in http://127.0.0.1:*) ;; *) echo "refusing non-loopback base $SB_BASE" >&2; exit 1;; esac
}
if want import; then
  command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 2; }
  WRK_SECONDS="${WRK_SECONDS:-10}"
  start_sandbox
  PB2B_KEY="$SB_KEY" wrk -t2 -c32 -d"${WRK_SECONDS}s" --latency -s bench/import/post_lead_keyed.lua "$SB_BASE/leads" \
    | tee "$PB2B_BENCH_DIR/wrk.txt" >&2
  stop_sandbox
  wrk_rps="$(awk '/^Requests\/sec:/ {print $2}' "$PB2B_BENCH_DIR/wrk.txt")"
  non2xx="$(awk '/Non-2xx/ {print $NF}' "$PB2B_BENCH_DIR/wrk.txt")"
  echo "{\"bench\":\"wrk_post_leads_keyed\",\"connections\":32,\"seconds\":$WRK_SECONDS,\"requests_per_sec\":$wrk_rps,\"non_2xx\":${non2xx:-0}}" >> "$out"
  # The import as `pb2b` runs it (one current-thread runtime) and as the app runs it (spawned
  # on a runtime's workers), each against its own fresh sandbox process.
  for how in cli app; do
    start_sandbox
    PB2B_BENCH_RUNTIME="$how" PB2B_BENCH_BASE_URL="$SB_BASE" PB2B_BENCH_KEY="$SB_KEY" PB2B_BENCH_WRK_RPS="$wrk_rps" \
      PB2B_BENCH_ROWS="${PB2B_BENCH_ROWS:-100000}" run import_bench bench_import_unthrottled
    stop_sandbox
  done
fi
want bulk && run import_bench bench_import_bulk_vs_per_row
want review && run import_bench bench_review_1m_rows_against_1m_leads
if [ "${1:-}" != quick ] && want limited; then
  run import_bench bench_import_rate_limited
fi
if want exactly_once; then
  start=$(date +%s)
  cargo test -q --release -p pb2b-core --test import_delivery -- --ignored --exact exactly_once_10k_rows_with_500s_drops_and_429_bursts
  echo "{\"bench\":\"exactly_once_10k\",\"passed\":true,\"seconds\":$(( $(date +%s) - start ))}" >> "$out"
  start=$(date +%s)
  cargo test -q --release -p pb2b-core --test import_bulk -- --ignored --exact exactly_once_in_bulk_20k_rows
  echo "{\"bench\":\"exactly_once_bulk_20k\",\"passed\":true,\"seconds\":$(( $(date +%s) - start ))}" >> "$out"
fi
rm -rf "$PB2B_BENCH_DIR"
cat "$out"
