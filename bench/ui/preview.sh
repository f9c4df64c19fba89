#!/usr/bin/env bash
# The import preview of a 1,000,000-row file on screen in the real app (debug build, as the E2E
# tests use). Prints one JSON line; copy the figures into docs/PERFORMANCE.md.
source "$(dirname "$0")/../../scripts/lib.sh"
ensure_node_modules
build_ui
cargo build -p prospectb2b-desktop -p pb2b-sandbox --bins
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
XDG_DATA_HOME="$scratch" dbus-run-session -- bash -c '
  eval "$(printf pw | gnome-keyring-daemon --unlock --components=secrets)"
  xvfb-run -a -s "-screen 0 1280x800x24" node bench/ui/preview.mjs
  kill "$GNOME_KEYRING_PID" 2>/dev/null || true
' 2>/dev/null
