#!/usr/bin/env bash
# Sandbox benchmark (issue 3): POST /leads and GET /leads?limit=100 throughput on loopback with
# 32 connections (wrk), and the sandbox's resident memory with 1,000,000 leads stored.
# Only 127.0.0.1 is contacted; every run is bounded in time (DURATION seconds per load test).
#
#   crates/pb2b-sandbox/bench/run.sh            # needs wrk: apt-get install -y wrk
#   DURATION=10 CONNECTIONS=32 LEADS=1000000 crates/pb2b-sandbox/bench/run.sh
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"
LEADS="${LEADS:-1000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-sandbox}"

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 2; }
(cd "$root" && cargo build --release -p pb2b-sandbox >&2)
bin="$CARGO_TARGET_DIR/release/pb2b-sandbox"

out="$(mktemp -d)"
pid=""
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$out"; }
trap cleanup EXIT
start_sandbox() {
  : >"$out/stdout"
  "$bin" --port 0 --no-demo >"$out/stdout" 2>"$out/stderr" &
  pid=$!
  for _ in $(seq 1 100); do [ -s "$out/stdout" ] && break; sleep 0.05; done
  base="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["base_url"])' "$out/stdout")"
  key="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["keys"]["full"])' "$out/stdout")"
  admin="${base%/api/public/v1}/_sandbox"
  python3 -c 'import json,sys; print("X-Sandbox-Admin-Token: " + json.load(open(sys.argv[1]))["admin_token"])' "$out/stdout" >"$out/admin.h"
  case "$base" in http://127.0.0.1:*) ;; *) echo "refusing non-loopback base $base" >&2; exit 1;; esac
  export PB2B_KEY="$key"
}
stop_sandbox() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }
start_sandbox

rss_mib() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$pid/status"; }

echo "## wrk POST /leads: ${THREADS} threads, ${CONNECTIONS} connections, ${DURATION}s"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$here/post_lead.lua" "$base/leads" | tee "$out/post.txt"
posted="$(curl -s -H @"$out/admin.h" "$admin/state" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["leads"])')"
echo "leads stored after POST run: $posted"

echo "## wrk GET /leads?limit=100: ${THREADS} threads, ${CONNECTIONS} connections, ${DURATION}s"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$here/get_leads.lua" "$base/leads?limit=100" | tee "$out/get.txt"

echo "## memory (a fresh process)"
stop_sandbox
start_sandbox
echo "RSS empty store: $(rss_mib) MiB"
left="$LEADS"
while [ "$left" -gt 0 ]; do
  n=$(( left > 250000 ? 250000 : left ))
  curl -s --max-time 300 -X POST "$admin/leads/bulk" -H @"$out/admin.h" -H 'Content-Type: application/json' -d "{\"count\": $n}" >/dev/null
  left=$(( left - n ))
done
stored="$(curl -s -H @"$out/admin.h" "$admin/state" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["leads"])')"
echo "leads stored: $stored"
echo "RSS with $stored leads: $(rss_mib) MiB"
echo "## wrk GET /leads?limit=100 with $stored leads stored, ${DURATION}s"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$here/get_leads.lua" "$base/leads?limit=100" | tee "$out/get_big.txt"
echo "RSS after: $(rss_mib) MiB"
