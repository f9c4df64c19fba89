#!/usr/bin/env bash
# Builds the app and a minimal Tauri window in release (.deb bundles too), then measures both in
# the same run and writes the figures to docs/PERFORMANCE.md (section "App footprint").
# Takes a while on 2 cores: two release builds.
source "$(dirname "$0")/../scripts/lib.sh"
ensure_toolchain
ensure_packages "${APP_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
ensure_node_modules
command -v tauri-driver >/dev/null || cargo install --locked tauri-driver --version 2.1.0
log "Release build and .deb of the app"
npx tauri build --bundles deb
log "Release build and .deb of the minimal Tauri window (same versions, same profile)"
cp Cargo.lock bench/minimal-tauri/Cargo.lock
(cd bench/minimal-tauri && CARGO_TARGET_DIR="$ROOT/target" npx tauri build --bundles deb)
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
XDG_DATA_HOME="$scratch" dbus-run-session -- bash -c '
  eval "$(printf pw | gnome-keyring-daemon --unlock --components=secrets)"
  xvfb-run -a -s "-screen 0 1280x800x24" node bench/footprint.mjs
  kill "$GNOME_KEYRING_PID" 2>/dev/null || true
'
