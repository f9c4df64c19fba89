// End-to-end: one app per data folder (issue 14, item 9). A second launch on the same data
// folder exits at once (status 0, no window) and the running app brings its window to the front;
// an app on another data folder runs side by side.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { APP_BINARY, openApp, startDriver, tempDir } from "./webdriver.mjs";

const IDENTIFIER = "com.prospectb2b.desktop";
let driver;
let app;
const home = tempDir("pb2b-e2e-instance-");
const data = join(home, "data");

before(async () => {
  driver = await startDriver({ env: { XDG_DATA_HOME: data } });
  app = await openApp(driver);
  await app.find("h1");
});

after(async () => {
  await app?.close().catch(() => {});
  await driver?.stop();
});

/** Runs the app binary with `env`; resolves its exit status, or null if still running at `deadline`. */
function launch(env, args = []) {
  const child = spawn(APP_BINARY, args, { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  return { child, exited, stderr: () => stderr };
}

function logText() {
  const dir = join(data, IDENTIFIER, "logs");
  if (!existsSync(dir)) return "";
  return readdirSync(dir).map((f) => readFileSync(join(dir, f), "utf8")).join("");
}

test("a second launch on the same data folder hands over to the running app and exits", async () => {
  const second = launch({ XDG_DATA_HOME: data }, ["--sandbox"]);
  const outcome = await Promise.race([second.exited, sleep(60_000).then(() => null)]);
  if (outcome === null) second.child.kill("SIGKILL");
  assert.deepEqual(outcome, { code: 0, signal: null }, `the second launch exited by itself: ${second.stderr()}`);

  // The first app keeps running, with its window, and brought it to the front.
  assert.equal(await app.exec("return document.querySelector('h1') !== null"), true);
  for (let i = 0; i < 100 && !logText().includes("brought the window to the front"); i++) await sleep(100);
  const log = logText();
  assert.match(log, /another launch on this data folder: brought the window to the front/);
  assert.match(log, /"arguments":1/);
});

test("an app on another data folder runs side by side", async () => {
  const otherData = join(home, "other-data");
  const other = launch({ XDG_DATA_HOME: otherData });
  // It claims its own folder (its instance file appears) and keeps running.
  const info = join(otherData, IDENTIFIER, "app-instance.json");
  let status = null;
  for (let i = 0; i < 300 && !existsSync(info) && status === null; i++) {
    status = await Promise.race([other.exited, sleep(100).then(() => null)]);
  }
  try {
    assert.equal(status, null, `the app on another folder exited: ${other.stderr()}`);
    assert.ok(existsSync(info), "the app on another folder claimed it");
    assert.equal(JSON.parse(readFileSync(info, "utf8")).pid, other.child.pid);
  } finally {
    other.child.kill("SIGTERM");
    await other.exited;
  }
});
