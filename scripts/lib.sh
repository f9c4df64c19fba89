# Shared by scripts/start and scripts/test. Every step is idempotent and quick when nothing
# changed: packages are installed only when missing, npm ci runs only when package-lock.json
# changed, cargo rebuilds only what changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Debian/Ubuntu packages Tauri needs to build and run on Linux.
APP_PACKAGES=(libwebkit2gtk-4.1-dev libxdo-dev libayatana-appindicator3-dev librsvg2-dev
  build-essential pkg-config file libdbus-1-dev curl)
# What the tests add: a headless X server, the WebKit WebDriver, a real Secret Service, Chromium
# for the cheap UI tests, ImageMagick for screenshots, xclip to read the clipboard as another
# program would (the copied signing secret's marks), xdotool to answer the native save dialog
# with the keyboard as a user would; dunst: a real notification server in the test session
# (tests/e2e/notifications.test.mjs).
TEST_PACKAGES=(xvfb xauth webkit2gtk-driver gnome-keyring dbus dbus-x11 chromium imagemagick xclip
  xdotool dunst)

ensure_packages() {
  local missing=()
  case "$(uname -s)" in
    Linux)
      if ! command -v dpkg-query >/dev/null; then
        log "Not a Debian/Ubuntu system: install the equivalents of: $*"
        return 0
      fi
      for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
      done
      if ((${#missing[@]})); then
        log "Installing system packages: ${missing[*]}"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
      fi
      ;;
    Darwin)
      log "macOS: needs Xcode Command Line Tools (xcode-select --install), Rust (rustup.rs) and Node.js 20+."
      ;;
    MINGW* | MSYS* | CYGWIN*)
      log "Windows: needs Visual Studio Build Tools (C++), WebView2 (preinstalled on Windows 11), Rust (rustup.rs) and Node.js 20+."
      ;;
  esac
}

ensure_toolchain() {
  command -v cargo >/dev/null || { log "Rust is missing: install it with rustup (https://rustup.rs)"; exit 1; }
  command -v node >/dev/null || { log "Node.js 20+ is missing: install it (Debian: apt-get install nodejs npm)"; exit 1; }
}

ensure_node_modules() {
  local stamp=node_modules/.package-lock.sha256
  local want
  want="$(sha256sum package-lock.json | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "Installing npm packages (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want" >"$stamp"
  fi
}

build_ui() {
  log "Building the front end (ui/dist)"
  npm run -s build:ui
}
