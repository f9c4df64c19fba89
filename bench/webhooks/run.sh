#!/usr/bin/env bash
# Webhooks benchmark (issue 7): signature verification cost and end-to-end delivery into the
# local test receiver, against the in-process sandbox on 127.0.0.1. Release build; bounded
# (100,000 verifications, 200 leads). Prints the BENCH lines recorded in docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo test --release -p pb2b-core --test webhooks bench_webhooks -- --ignored --nocapture 2>&1 | grep BENCH
