// The native desktop around the app window under Xvfb, driven and watched as a user's desktop
// would be: the GTK save dialog answered with the keyboard through xdotool, and the session
// D-Bus (the test's private `dbus-run-session` bus) watched with dbus-monitor.
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";

const run = promisify(execFile);

async function xdotool(...args) {
  const { stdout } = await run("xdotool", args);
  return stdout.trim();
}

/** Waits for a visible top-level window whose title is `title`; returns its X id. */
export async function waitForWindow(title, { timeout = 30_000 } = {}) {
  const pattern = `^${title.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`;
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      const ids = await xdotool("search", "--onlyvisible", "--name", pattern);
      if (ids) return ids.split("\n").at(-1);
    } catch {
      // xdotool exits 1 while no window matches
    }
    if (Date.now() > deadline) throw new Error(`no window titled "${title}" within ${timeout} ms`);
    await sleep(200);
  }
}

/** Waits until the window `id` is no longer shown. */
export async function waitForWindowGone(id, { timeout = 30_000 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      const visible = await xdotool("search", "--onlyvisible", "--name", ".*");
      if (!visible.split("\n").includes(id)) return;
    } catch {
      return;
    }
    if (Date.now() > deadline) throw new Error(`window ${id} still shown after ${timeout} ms`);
    await sleep(200);
  }
}

/**
 * Answers the save dialog titled `title` as a user would: focus it, and either accept what it
 * proposes (`path` null) or select the name field's text, type `path` (GTK takes a whole path
 * there) and press Enter. Resolves when the dialog has closed.
 */
export async function saveInDialog(title, path = null) {
  const id = await waitForWindow(title);
  await xdotool("windowfocus", "--sync", id);
  if (path !== null) {
    await xdotool("key", "--clearmodifiers", "ctrl+a");
    await xdotool("type", "--delay", "15", path);
  }
  await xdotool("key", "--clearmodifiers", "Return");
  await waitForWindowGone(id);
}

/** Every visible window: [{ id, name }] (newest last). */
export async function visibleWindows() {
  let ids = [];
  try {
    ids = (await xdotool("search", "--onlyvisible", "--name", ".*")).split("\n").filter(Boolean);
  } catch {
    return [];
  }
  const out = [];
  for (const id of ids) {
    const name = await xdotool("getwindowname", id).catch(() => "");
    out.push({ id, name });
  }
  return out;
}

/** Waits for a visible window whose id is not in `before` (a dialog just opened); returns it. */
export async function waitForNewWindow(before, { timeout = 20_000 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const fresh = (await visibleWindows()).find((w) => !before.includes(w.id));
    if (fresh) return fresh;
    if (Date.now() > deadline) throw new Error(`no new window within ${timeout} ms`);
    await sleep(200);
  }
}

/** Focuses the window `id` and presses `key` there. */
export async function pressIn(id, key) {
  await xdotool("windowfocus", "--sync", id);
  await xdotool("key", "--clearmodifiers", key);
}

/** Presses Escape in the dialog titled `title` (Cancel); resolves when it has closed. */
export async function cancelDialog(title) {
  const id = await waitForWindow(title);
  await xdotool("windowfocus", "--sync", id);
  await xdotool("key", "--clearmodifiers", "Escape");
  await waitForWindowGone(id);
}

/**
 * Watches method calls to `iface` on the session bus with dbus-monitor. `seen()` is everything
 * printed so far; `waitFor(predicate)` waits until it holds; `stop()` ends the monitor.
 */
export async function monitorBus(iface) {
  const child = spawn("dbus-monitor", ["--session", `type='method_call',interface='${iface}'`], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (chunk) => {
    out += chunk;
  });
  // dbus-monitor prints its own NameAcquired/NameLost signals once it is a monitor.
  const deadline = Date.now() + 10_000;
  while (!out.includes("NameLost") && Date.now() < deadline && child.exitCode === null) await sleep(100);
  if (child.exitCode !== null) throw new Error(`dbus-monitor exited with ${child.exitCode}`);
  return {
    seen: () => out,
    async waitFor(predicate, { timeout = 20_000 } = {}) {
      const end = Date.now() + timeout;
      while (!predicate(out)) {
        if (Date.now() > end) throw new Error(`dbus-monitor did not see it; it saw:\n${out}`);
        await sleep(100);
      }
      return out;
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await new Promise((r) => child.once("exit", r));
      }
    },
  };
}
