#!/usr/bin/env bash
# Runs inside `dbus-run-session` (started by scripts/test): a private session bus, a throwaway
# keyring unlocked with a dummy password, then the test runners.
source "$(dirname "$0")/lib.sh"

scratch="$(mktemp -d -t pb2b-test-XXXXXX)"
export XDG_DATA_HOME="$scratch/data" XDG_CONFIG_HOME="$scratch/config" XDG_CACHE_HOME="$scratch/cache"
mkdir -p "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME"
keyring_pid=""
cleanup() {
  [ -n "$keyring_pid" ] && kill "$keyring_pid" 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT

log "Starting a private gnome-keyring (Secret Service) in this D-Bus session"
eval "$(printf 'pw' | gnome-keyring-daemon --unlock --components=secrets)"
keyring_pid="${GNOME_KEYRING_PID:-}"
export PB2B_EXPECT_KEYCHAIN=1

log "cargo test --workspace"
cargo test --workspace --locked --no-fail-fast

log "UI tests (node --test, playwright-core + chromium, IPC mocked)"
npm run -s test:ui

log "Building the app binary for end-to-end tests"
cargo build --locked -p prospectb2b-desktop -p pb2b-sandbox -p pb2b-cli --bins
log "Contract: schemathesis against docs/api/openapi.yaml and the sandbox"
PB2B_SANDBOX_BIN="$ROOT/target/debug/pb2b-sandbox" "$ROOT/scripts/schemathesis"

log "End-to-end tests (tauri-driver + WebKitWebDriver under Xvfb)"
xvfb-run -a -s "-screen 0 1280x800x24" npm run -s test:e2e
