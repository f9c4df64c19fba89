// The app shell: navigation and a hash router. A screen is listed only once it works: later
// features add themselves to SCREENS when they are real, never as placeholders.
import { clear, h } from "./dom";
import { api } from "./ipc";
import { onConnection, setConnection } from "./state";
import { renderActivity } from "./screens/activity";
import { renderConnect } from "./screens/connect";
import { renderExports } from "./screens/exports";
import { renderImport } from "./screens/import";
import { renderLeads } from "./screens/leads";
import { renderOverview } from "./screens/overview";
import { renderSync } from "./screens/sync";
import { renderWebhooks } from "./screens/webhooks";
import { renderDiagnostics } from "./screens/diagnostics";
import { followCloseRequests } from "./background";

followCloseRequests();

interface Screen {
  id: string;
  title: string;
  render: (root: HTMLElement) => Promise<void> | void;
}

const SCREENS: Screen[] = [
  { id: "connect", title: "Connect", render: renderConnect },
  { id: "overview", title: "Overview", render: renderOverview },
  { id: "leads", title: "Leads", render: renderLeads },
  { id: "import", title: "Import", render: renderImport },
  { id: "sync", title: "Sync", render: renderSync },
  { id: "exports", title: "Exports", render: renderExports },
  { id: "webhooks", title: "Webhooks", render: renderWebhooks },
  { id: "activity", title: "Activity", render: renderActivity },
  { id: "diagnostics", title: "Diagnostics", render: renderDiagnostics },
];

// The sidebar's connection line follows the active profile everywhere.
onConnection((status) => {
  const badge = document.getElementById("connection-badge");
  if (!badge) return;
  clear(badge);
  if (status?.profile) {
    badge.append(
      h("span", { class: `badge ${status.check ? "ok" : "bad"}` }, status.check ? "Connected" : "Not verified"),
      h("div", { "data-connection": status.profile.name }, status.profile.name),
    );
    if (status.check) badge.append(h("div", { class: "muted" }, status.check.me.workspace.name));
    // The embedded sandbox: say so wherever the user is, so demo data is never taken for real.
    if (status.profile.sandbox) {
      badge.append(h("div", { class: "sandbox-banner", role: "note", "data-sandbox-banner": "" }, "Sandbox: nothing leaves this computer"));
    }
  } else {
    badge.append(h("span", {}, "Not connected"));
  }
});

function currentId(): string {
  const id = location.hash.replace(/^#\/?/, "").split("?")[0];
  return SCREENS.some((s) => s.id === id) ? id : SCREENS[0].id;
}

function renderNav(active: string): void {
  const nav = document.getElementById("nav");
  if (!nav) return;
  // Built once; later only the current screen's mark moves, so a link found a moment ago (by a
  // user's assistive technology or a test) stays the same element.
  if (!nav.querySelector("ul")) {
    nav.append(
      h("ul", {}, ...SCREENS.map((screen) => h("li", {}, h("a", { href: `#/${screen.id}`, "data-screen": screen.id }, screen.title)))),
    );
  }
  for (const link of nav.querySelectorAll<HTMLAnchorElement>("a[data-screen]")) {
    if (link.dataset.screen === active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

// The app reopens on the screen the user left (kept in the webview's own storage, in the app's
// data folder; a screen id only, nothing about the workspace).
const LAST_SCREEN = "pb2b.lastScreen";

async function route(): Promise<void> {
  const id = currentId();
  try {
    localStorage.setItem(LAST_SCREEN, id);
  } catch {
    // Storage refused (private mode): the app opens on Connect next time.
  }
  renderNav(id);
  const main = document.getElementById("main");
  if (!main) return;
  clear(main);
  const screen = SCREENS.find((s) => s.id === id) ?? SCREENS[0];
  document.title = `${screen.title} · ProspectB2B Desktop`;
  const rendering = screen.render(main);
  // Move focus to the new screen's heading so keyboard and screen-reader users land on it.
  main.querySelector<HTMLElement>("h1")?.focus();
  await rendering;
}

// Keyboard: Alt+1..9 (Cmd+1..9 on macOS, where Option+digit types a character) jumps to the
// n-th screen. `event.code` is used, not `event.key`, which Option changes on a Mac.
const MAC = /Mac|iPhone|iPad/.test(navigator.platform) || /Mac OS X/.test(navigator.userAgent);
window.addEventListener("keydown", (event) => {
  const digit = /^Digit([1-9])$/.exec(event.code)?.[1] ?? (/^[1-9]$/.test(event.key) ? event.key : null);
  const chord = MAC ? event.metaKey && !event.altKey && !event.ctrlKey : event.altKey && !event.ctrlKey && !event.metaKey;
  if (chord && digit) {
    const screen = SCREENS[Number(digit) - 1];
    if (screen) {
      event.preventDefault();
      location.hash = `#/${screen.id}`;
    }
  }
});

window.addEventListener("hashchange", () => void route());
document.addEventListener("DOMContentLoaded", () => {
  if (!location.hash) {
    let last: string | null = null;
    try {
      last = localStorage.getItem(LAST_SCREEN);
    } catch {
      last = null;
    }
    if (last && SCREENS.some((s) => s.id === last)) history.replaceState(null, "", `#/${last}`);
  }
  if (!location.hash) {
    // A first start: the Overview when a workspace is connected already (the app was started
    // with --sandbox, or a profile was made with pb2b), else Connect. The navigation is there
    // at once; the screen follows the answer.
    renderNav("");
    api.connectionStatus().then(
      (status) => {
        setConnection(status);
        if (!location.hash) location.hash = status.check ? "#/overview" : "#/connect";
      },
      () => {
        setConnection(null);
        if (!location.hash) location.hash = "#/connect";
      },
    );
    return;
  }
  void route();
  // Restore the active profile (key from the keychain) for the sidebar, whatever screen opens.
  api.connectionStatus().then(setConnection, () => setConnection(null));
});
