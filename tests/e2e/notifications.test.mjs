// End-to-end: desktop notifications (issue 15, Background) reach a real notification server. A
// real one (dunst, TEST_PACKAGES) owns org.freedesktop.Notifications in the test's D-Bus session
// and dbus-monitor records every Notify call the app makes: a finished export sends "Export
// ready", and an automatic sync that fails (the server went away) sends "Sync failed".
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connectWithKey, openApp, startDriver, startSandbox, tempDir } from "./webdriver.mjs";

let sandbox;
let driver;
let app;
let dunst;
let monitor;
let calls = "";
const home = tempDir("pb2b-e2e-notify-");
const downloads = join(home, "Downloads");

function serverRunning() {
  try {
    const out = execFileSync("dbus-send", ["--session", "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
      "org.freedesktop.DBus.NameHasOwner", "string:org.freedesktop.Notifications"], { encoding: "utf8" });
    return out.includes("boolean true");
  } catch {
    return false;
  }
}

async function until(what, check, { timeout = 30_000 } = {}) {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(200);
  }
}

before(async () => {
  monitor = spawn("dbus-monitor", ["--session", "type='method_call',interface='org.freedesktop.Notifications',member='Notify'"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  monitor.stdout.on("data", (chunk) => { calls += chunk; });
  dunst = spawn("dunst", [], { stdio: "ignore" });
  await until("dunst serves notifications", () => serverRunning());

  sandbox = await startSandbox();
  mkdirSync(join(home, "config"), { recursive: true });
  mkdirSync(downloads, { recursive: true });
  writeFileSync(join(home, "config", "user-dirs.dirs"), `XDG_DOWNLOAD_DIR="${downloads}"\n`);
  // The automatic sync every 2 seconds instead of minutes.
  driver = await startDriver({
    env: { XDG_DATA_HOME: join(home, "data"), XDG_CONFIG_HOME: join(home, "config"), PB2B_SYNC_EVERY_SECONDS: "2" },
  });
  app = await openApp(driver);
  await connectWithKey(app, sandbox);
});

after(async () => {
  await app?.close().catch(() => {});
  await driver?.stop();
  await sandbox?.stop();
  dunst?.kill("SIGTERM");
  monitor?.kill("SIGTERM");
});

/** The Notify calls recorded so far, each as the text dbus-monitor printed. */
function notifyCalls() {
  return calls.split(/\n(?=method call )/).filter((c) => c.includes("member=Notify"));
}

test("a finished export sends Export ready", async () => {
  await app.click("a[data-screen='exports']");
  await app.click("#export-start");
  const path = await app.waitForText("[data-local-path]", (t) => t.length > 0, { timeout: 60_000 });
  await until("the notification was sent", () => notifyCalls().some((c) => c.includes('"Export ready"')));
  const call = notifyCalls().find((c) => c.includes('"Export ready"'));
  assert.ok(call.includes(path), `the body names the file: ${call}`);
});

test("an automatic sync that fails sends Sync failed", async () => {
  assert.ok(!notifyCalls().some((c) => c.includes('"Sync failed"')), "no failure while the server answers");
  await sandbox.stop();
  await until("the failure was notified", () => notifyCalls().some((c) => c.includes('"Sync failed"')), { timeout: 120_000 });
  const call = notifyCalls().find((c) => c.includes('"Sync failed"'));
  assert.match(call, /string "prospectb2b-desktop"/, `sent by the app (notify-rust names it by its executable): ${call}`);
});
