// End-to-end: create one lead, and import a file in the real window against a real pb2b-sandbox
// process — see the mapping and counts, import, and save the error report through the native save
// dialog. (WebDriver cannot perform a native drag-and-drop, so the test opens the file through the
// same code path the drop handler calls: `#/import?file=PATH`.)
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connectWithKey, openApp, startDriver, startSandbox, tempDir } from "./webdriver.mjs";
import { saveInDialog } from "./native.mjs";

let sandbox;
let driver;
let app;
const home = tempDir("pb2b-e2e-import-");
const downloads = join(home, "Downloads");

before(async () => {
  sandbox = await startSandbox(["--no-demo"]);
  mkdirSync(join(home, "config"), { recursive: true });
  mkdirSync(downloads, { recursive: true });
  writeFileSync(join(home, "config", "user-dirs.dirs"), `XDG_DOWNLOAD_DIR="${downloads}"\n`);
  driver = await startDriver({ env: { XDG_DATA_HOME: join(home, "data"), XDG_CONFIG_HOME: join(home, "config") } });
  app = await openApp(driver);
  await connectWithKey(app, sandbox);
});

after(async () => {
  await app?.close().catch(() => {});
  await driver?.stop();
  await sandbox?.stop();
});

async function countByEmail(email) {
  const res = await sandbox.admin(`/leads/count?email=${encodeURIComponent(email)}`);
  const body = await res.json();
  return body.data?.count ?? body.count;
}

test("create one lead: field errors as you type, then created once", async () => {
  await app.click("a[data-screen='import']");
  await app.type("#lead-email", "not-an-email");
  await app.waitForText("#lead-email-error", (t) => t.length > 0);
  await app.exec("document.querySelector('#lead-email').value = ''");
  await app.type("#lead-email", "ada@example.com");
  await app.type("#lead-full_name", "Ada Lovelace");
  await app.type("#lead-company_name", "Analytical Engine Inc.");
  await app.waitForText("#lead-email-error", (t) => t === "");
  await app.click("#lead-create");
  const result = await app.waitForText("#lead-result", (t) => t.includes("Created"));
  assert.match(result, /request_id req_/);
  assert.equal(await countByEmail("ada@example.com"), 1);
});

test("import a file: mapping and counts before sending, exactly one lead per valid row, an error report", async () => {
  const file = join(home, "contacts.csv");
  writeFileSync(file, [
    "First Name;Last Name;E-mail Address;Company;Job Title",
    "Grace;Hopper;grace@example.com;Navy;Rear Admiral",
    "Alan;Turing;alan@example.com;Bletchley Park;Cryptanalyst",
    "Bad;Row;not-an-email;Nowhere;",
    "Grace;Again;grace@example.com;Navy;Duplicate",
    "Katherine;Johnson;katherine@example.com;NASA;=HYPERLINK(\"http://x\")",
  ].join("\r\n") + "\r\n", "latin1");
  await app.exec(`location.hash = ${JSON.stringify(`#/import?file=${file}`)}`);
  const counts = await app.exec("return new Promise(r => { const t = setInterval(() => { const c = document.querySelector('[data-counts]'); if (c) { clearInterval(t); r(c.dataset.counts); } }, 100); })");
  assert.equal(counts, "3/1/1", "3 will be created, 1 invalid, 1 duplicate");
  const mapped = await app.exec("return [...document.querySelectorAll('#import-preview select')].map(s => s.value)");
  assert.deepEqual(mapped.slice(0, 4), ["field:first_name", "field:last_name", "field:email", "field:company_name"]);
  await app.screenshot("import-preview");

  // The review: every row against the workspace (the mirror synced first), in the default mode.
  await app.click("#import-review");
  const review = await app.exec("return new Promise(r => { const t = setInterval(() => { const c = document.querySelector('[data-review-counts]'); if (c) { clearInterval(t); r(c.dataset.reviewCounts); } }, 100); })");
  // create/update/unchanged/skipped_exists/skipped_missing/ambiguous/invalid/duplicate
  assert.equal(review, "3/0/0/0/0/0/1/1");
  await app.screenshot("import-review");
  assert.equal(await app.text("#import-send"), "Send 3 rows");
  await app.click("#import-send");
  await app.waitForText("#import-progress-text", (t) => t.includes("finished"), { timeout: 60_000 });
  for (const email of ["grace@example.com", "alan@example.com", "katherine@example.com"]) {
    assert.equal(await countByEmail(email), 1, email);
  }
  assert.equal(await countByEmail("not-an-email"), 0);

  // The native save dialog opens in Downloads with the report's name proposed: Enter takes it.
  await app.click("[data-results='errors']");
  await saveInDialog("Save the error report");
  const saved = await app.waitForText("[data-results-path]", (t) => t.startsWith("Saved"));
  const path = saved.replace(/^Saved /, "");
  assert.equal(path, join(downloads, "contacts-errors.csv"));
  const report = readFileSync(path, "utf8");
  assert.ok(report.startsWith("\uFEFF"), "UTF-8 with BOM for Excel");
  assert.match(report, /row_number/);
  assert.match(report, /not-an-email/);
  assert.match(report, /duplicate/i);
  await app.screenshot("import-done");
});

test("the same file again: the review skips every e-mail the workspace has and nothing is sent; upsert updates the changed row", async () => {
  const file = join(home, "contacts.csv");
  await app.exec(`location.hash = "#/overview"`);
  await app.exec(`location.hash = ${JSON.stringify(`#/import?file=${file}`)}`);
  await app.click("#import-review");
  // The mirror is synced first (the import sent leads since its last sync): the three exist.
  await app.waitForText("[data-review-class='skipped_exists']", (t) => t.endsWith(": 3"), { timeout: 60_000 });
  assert.match(await app.text("#review-status"), /synced just now for this review/);
  assert.equal(await app.text("#import-send"), "Nothing to send");
  assert.equal(await app.exec("return document.querySelector('#import-send').disabled"), true);
  for (const email of ["grace@example.com", "alan@example.com", "katherine@example.com"]) {
    assert.equal(await countByEmail(email), 1, email);
  }

  // One title changed in the file, reviewed as "Create and update": exactly that row updates.
  writeFileSync(file, [
    "First Name;Last Name;E-mail Address;Company;Job Title",
    "Grace;Hopper;grace@example.com;Navy;Rear Admiral",
    "Alan;Turing;alan@example.com;Bletchley Park;Mathematician",
  ].join("\r\n") + "\r\n", "latin1");
  await app.exec(`location.hash = "#/overview"`);
  await app.exec(`location.hash = ${JSON.stringify(`#/import?file=${file}`)}`);
  await app.click("#import-review");
  await app.waitForText("[data-review-class='skipped_exists']", (t) => t.endsWith(": 2"), { timeout: 60_000 });
  await app.click("#mode-upsert");
  await app.waitForText("[data-review-class='update']", (t) => t.endsWith(": 1"), { timeout: 60_000 });
  await app.click("[data-review-class='update']");
  await app.waitForText("#review-rows", (t) => t.includes("job_title: Cryptanalyst → Mathematician"));
  await app.screenshot("import-review-upsert");
  await app.click("#import-send");
  const line = await app.waitForText("#import-progress-text", (t) => t.includes("finished"), { timeout: 60_000 });
  assert.match(line, /0 created · 1 updated · 0 failed/);
  assert.equal(await countByEmail("alan@example.com"), 1);
  // The server holds the new title (read through the public API with the test's key).
  const page = await fetch(`${sandbox.base_url}/leads?limit=100`, { headers: { authorization: `Bearer ${sandbox.keys.full}` } }).then((r) => r.json());
  const alan = page.data.filter((l) => l.email === "alan@example.com");
  assert.deepEqual(alan.map((l) => l.job_title), ["Mathematician"]);
});
