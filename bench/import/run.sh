#!/usr/bin/env bash
# Import benchmarks (issue 5), loopback only: read+map+validate speed (1M-row 8-column file),
# peak memory validating a 1 GB file, import into an unthrottled sandbox, import against a limit
# of N per minute (PB2B_BENCH_LIMIT, default 600), and the 10,000-row exactly-once run with
# faults. Each benchmark runs in its own process (so its peak RSS is its own) and prints a
# `BENCH {json}` line; the lines are collected in bench/import/results.jsonl.
# Usage: bench/import/run.sh [quick]   (quick: skip the ~2.5 min rate-limited run)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-import-bench}"
# Optimised but quick to build (the release profile is tuned for app size).
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=3
export PB2B_BENCH_DIR="${PB2B_BENCH_DIR:-$(mktemp -d)}"
out=bench/import/results.jsonl
: > "$out"
cargo test --release -p pb2b-core --test import_bench --no-run
cargo test --release -p pb2b-core --test import_delivery --no-run
run() {
  cargo test -q --release -p pb2b-core --test "$1" -- --ignored --exact "$2" --nocapture --test-threads=1 \
    | tee /dev/stderr | grep '^BENCH ' | sed 's/^BENCH //' >> "$out" || true
}
run import_bench bench_read_map_validate_1m_rows
run import_bench bench_validate_1gb_peak_memory
run import_bench bench_import_unthrottled
if [ "${1:-}" != quick ]; then
  run import_bench bench_import_rate_limited
fi
start=$(date +%s)
cargo test -q --release -p pb2b-core --test import_delivery -- --ignored --exact exactly_once_10k_rows_with_500s_drops_and_429_bursts
echo "{\"bench\":\"exactly_once_10k\",\"passed\":true,\"seconds\":$(( $(date +%s) - start ))}" >> "$out"
rm -rf "$PB2B_BENCH_DIR"
cat "$out"
