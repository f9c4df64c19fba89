#!/usr/bin/env bash
# Issue 6: search, sort and scroll of the Leads table with LEADS (100,000) synced leads, on screen in
# the real app (debug build, as the E2E tests use). Prints JSON; figures go to docs/PERFORMANCE.md.
source "$(dirname "$0")/../../scripts/lib.sh"
ensure_node_modules
build_ui
cargo build -p prospectb2b-desktop -p pb2b-sandbox --bins
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
XDG_DATA_HOME="$scratch" dbus-run-session -- bash -c '
  eval "$(printf pw | gnome-keyring-daemon --unlock --components=secrets)"
  xvfb-run -a -s "-screen 0 1280x800x24" node bench/ui/leads-search.mjs
  kill "$GNOME_KEYRING_PID" 2>/dev/null || true
' 2>/dev/null
