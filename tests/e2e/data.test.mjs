// End-to-end: the mirror and exports in the real window against a real pb2b-sandbox process —
// sync, see the leads in the table, edit one on the server, sync again, see the change; start an
// export, watch it become ready, find the file on disk.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connectWithKey, openApp, startDriver, startSandbox, tempDir } from "./webdriver.mjs";

let sandbox;
let driver;
let app;
/** What the Overview announced when the first sync, started by connecting, ended. */
let firstSync;
const home = tempDir("pb2b-e2e-data-");
const downloads = join(home, "Downloads");

before(async () => {
  sandbox = await startSandbox();
  // The app's Downloads folder (XDG user dirs) and data folder are this test's own.
  mkdirSync(join(home, "config"), { recursive: true });
  mkdirSync(downloads, { recursive: true });
  writeFileSync(join(home, "config", "user-dirs.dirs"), `XDG_DOWNLOAD_DIR="${downloads}"\n`);
  driver = await startDriver({ env: { XDG_DATA_HOME: join(home, "data"), XDG_CONFIG_HOME: join(home, "config") } });
  app = await openApp(driver);
  firstSync = await connectWithKey(app, sandbox);
});

after(async () => {
  await app?.close().catch(() => {});
  await driver?.stop();
  await sandbox?.stop();
});

async function syncNow() {
  await app.click("a[data-screen='sync']");
  await app.click("#sync-now");
  return app.waitForText("#sync-progress-text", (t) => t.startsWith("Done"), { timeout: 60_000 });
}

test("sync mirrors the leads, the table shows them, and a server-side edit arrives with the next sync", async () => {
  // Connecting started the first sync on the Overview.
  assert.equal(firstSync, "The first sync finished: 40 leads.");
  await app.click("a[data-screen='leads']");
  await app.waitForText("#leads-count", (t) => t === "40 leads");
  await app.type("#leads-search", "knuth");
  await app.waitForText("#leads-count", (t) => t !== "40 leads" && /\d+ leads?/.test(t));
  const id = await app.exec("return document.querySelector('.grid-row').dataset.leadId");

  // Someone changes the lead in the web app.
  const res = await sandbox.admin(`/leads/${id}`, {
    method: "PATCH",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ company_name: "Literate Programming Ltd" }),
  });
  assert.equal(res.status, 200, await res.text());

  const second = await syncNow();
  assert.match(second, /1 updated/);
  await app.click("a[data-screen='leads']");
  await app.type("#leads-search", "literate");
  await app.waitForText("#leads-count", (t) => t === "1 lead");
  assert.equal(await app.exec("return document.querySelector('.grid-row').dataset.leadId"), id);
  await app.click(".grid-row");
  const detail = await app.waitForText("#lead-detail", (t) => t.includes("Literate Programming Ltd"));
  assert.match(detail, /Literate Programming Ltd/);
  await app.screenshot("leads-after-edit");
});

test("an export is started, becomes ready, and its file is on disk with every lead", async () => {
  await app.click("a[data-screen='exports']");
  await app.click("#export-start");
  const path = await app.waitForText("[data-local-path]", (t) => t.length > 0, { timeout: 60_000 });
  assert.ok(path.startsWith(downloads), `${path} is in the Downloads folder`);
  const csv = readFileSync(path, "utf8").trim().split(/\r?\n/);
  assert.equal(csv.length, 41, "a header and 40 leads");
  assert.match(csv[0], /email/);
  await app.screenshot("exports-downloaded");
});
