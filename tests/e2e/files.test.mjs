// End-to-end: files go where the user chooses (issue 15, item 6), in the real window against a
// real pb2b-sandbox process. The Leads screen's exports open the real GTK save dialog, answered
// with the keyboard through xdotool: Escape makes no file; Enter takes the proposed name in the
// Downloads folder; a typed path gets the format's extension; a taken name is asked again and
// replaced only after GTK's own confirmation. The support bundle is saved the same way. "Show in
// folder" (after a save, and on a downloaded server export) calls the file manager over the
// test's private session D-Bus, seen by dbus-monitor (no file manager runs here, so the app then
// says none could show it).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { connectWithKey, openApp, startDriver, startSandbox, tempDir } from "./webdriver.mjs";
import { cancelDialog, monitorBus, pressIn, saveInDialog, visibleWindows, waitForNewWindow, waitForWindow } from "./native.mjs";

let sandbox;
let driver;
let app;
let bus;
const home = tempDir("pb2b-e2e-files-");
const downloads = join(home, "Downloads");
const chosen = join(home, "Chosen folder");

before(async () => {
  sandbox = await startSandbox();
  mkdirSync(join(home, "config"), { recursive: true });
  mkdirSync(downloads, { recursive: true });
  mkdirSync(chosen, { recursive: true });
  writeFileSync(join(home, "config", "user-dirs.dirs"), `XDG_DOWNLOAD_DIR="${downloads}"\n`);
  bus = await monitorBus("org.freedesktop.FileManager1");
  driver = await startDriver({ env: { XDG_DATA_HOME: join(home, "data"), XDG_CONFIG_HOME: join(home, "config") } });
  app = await openApp(driver);
  await connectWithKey(app, sandbox);
  await app.click("a[data-screen='sync']");
  await app.click("#sync-now");
  await app.waitForText("#sync-progress-text", (t) => t.startsWith("Done"), { timeout: 60_000 });
  await app.click("a[data-screen='leads']");
  await app.waitForText("#leads-count", (t) => t === "40 leads");
});

after(async () => {
  await app?.close().catch(() => {});
  await driver?.stop();
  await sandbox?.stop();
  await bus?.stop();
});

const files = (dir) => readdirSync(dir).sort();
const alerts = () => app.exec("return document.querySelectorAll('main [role=alert]').length");

test("a cancelled save dialog makes no file and shows no error", async () => {
  await app.click("#leads-export-csv");
  await cancelDialog("Export leads");
  // The command has answered (null) once the next one can open its dialog: export again and
  // cancel again, then nothing was written anywhere and the screen says nothing.
  await app.click("#leads-export-jsonl");
  await cancelDialog("Export leads");
  assert.deepEqual(files(downloads), []);
  assert.deepEqual(files(chosen), []);
  assert.equal(await alerts(), 0);
  assert.equal(await app.exec("return document.querySelectorAll('.saved-file').length"), 0);
});

test("Enter saves under the proposed name in Downloads", async () => {
  await app.click("#leads-export-jsonl");
  await saveInDialog("Export leads");
  const text = await app.waitForText("[data-export-path]", (t) => t.startsWith("Exported"));
  const date = new Date().toISOString().slice(0, 10);
  const path = join(downloads, `prospectb2b-leads-${date}.jsonl`);
  assert.equal(text, `Exported 40 leads to ${path}`);
  const lines = readFileSync(path, "utf8").trim().split("\n");
  assert.equal(lines.length, 40);
  assert.match(JSON.parse(lines[0]).email, /@/);
  assert.deepEqual(files(downloads), [`prospectb2b-leads-${date}.jsonl`]);
});

test("a typed path gets the format's extension, is written whole and private, and Show in folder asks the file manager", async () => {
  await app.click("#leads-export-csv");
  await saveInDialog("Export leads", join(chosen, "my leads"));
  const path = join(chosen, "my leads.csv");
  await app.waitForText("[data-export-path]", (t) => t === `Exported 40 leads to ${path}`);
  const csv = readFileSync(path, "utf8");
  assert.ok(csv.startsWith("\uFEFF"), "UTF-8 with BOM");
  assert.equal(csv.trim().split(/\r?\n/).length, 41, "a header and 40 leads");
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(files(chosen), ["my leads.csv"], "no temporary file left");

  await app.click(".saved-file button.reveal");
  const uri = pathToFileURL(path).href;
  const seen = await bus.waitFor((out) => out.includes("member=ShowItems") && out.includes(uri));
  assert.match(seen, /path=\/org\/freedesktop\/FileManager1; interface=org.freedesktop.FileManager1; member=ShowItems/);
  // Nothing answers for a file manager in this session: the app says so, with what to do.
  const message = await app.waitForText(".saved-file [role=alert]", (t) => t.includes("No file manager could show"));
  assert.match(message, /open its folder yourself/);
});

test("a name the extension rule completes onto an existing file is asked again, and replaced only after GTK's confirmation", async () => {
  const path = join(chosen, "my leads.csv");
  writeFileSync(path, "old content\n");
  // The last test's note names the same file: remove it, so the one waited for below is new.
  await app.exec("document.querySelectorAll('.saved-file').forEach((e) => e.remove())");
  await app.click("#leads-export-csv");
  // "my leads" becomes "my leads.csv", which exists: the dialog opens again on that name.
  await saveInDialog("Export leads", join(chosen, "my leads"));
  assert.equal(readFileSync(path, "utf8"), "old content\n", "not replaced without asking");
  const again = await waitForWindow("Export leads");
  assert.ok(again);
  // Enter on the proposed (existing) name: GTK asks whether to replace it.
  const before = (await visibleWindows()).map((w) => w.id);
  await pressIn(again, "Return");
  // GTK's question ("A file named … already exists. Do you want to replace it?"); Enter is its
  // default answer, Replace.
  const question = await waitForNewWindow(before);
  assert.ok(question, "GTK asks before replacing");
  assert.equal(readFileSync(path, "utf8"), "old content\n", "not replaced before the confirmation");
  await pressIn(question.id, "Return");
  await app.waitForText("[data-export-path]", (t) => t === `Exported 40 leads to ${path}`);
  assert.equal(readFileSync(path, "utf8").trim().split(/\r?\n/).length, 41);
  assert.deepEqual(files(chosen), ["my leads.csv"]);
});

test("the support bundle is saved as a file in Downloads, without the key", async () => {
  await app.click("a[data-screen='activity']");
  await app.click("#activity-table tr[data-request-id^='req_'] td");
  await app.click("[data-save-bundle]");
  await saveInDialog("Save the support bundle");
  const text = await app.waitForText("[data-bundle-path]", (t) => t.startsWith("Saved"));
  const path = text.replace(/^Saved /, "");
  assert.match(path, new RegExp(`^${downloads}/support-bundle-req_[^/]+\\.json$`));
  const body = readFileSync(path, "utf8");
  const bundle = JSON.parse(body);
  assert.ok(path.includes(bundle.response.request_id), "named after its request_id");
  assert.ok(!body.includes(sandbox.keys.full), "no API key in it");
  assert.equal(statSync(path).mode & 0o777, 0o600);
});

test("a downloaded server export has Show in folder, which asks the file manager for that file", async () => {
  await app.click("a[data-screen='exports']");
  await app.click("#export-start");
  const path = await app.waitForText("[data-local-path]", (t) => t.length > 0, { timeout: 60_000 });
  assert.ok(path.startsWith(downloads), "server exports stay in Downloads");
  await app.exec(`[...document.querySelectorAll("[data-export-job] button")].find((b) => b.textContent === "Show in folder").click()`);
  const uri = pathToFileURL(path).href;
  await bus.waitFor((out) => out.includes("member=ShowItems") && out.includes(uri));
});
