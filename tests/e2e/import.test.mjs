// End-to-end: create one lead, and import a file in the real window against a real pb2b-sandbox
// process — see the mapping and counts, import, and download the error report. (WebDriver cannot
// perform a native drag-and-drop, so the test opens the file through the same code path the drop
// handler calls: `#/import?file=PATH`.)
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connectWithKey, openApp, startDriver, startSandbox, tempDir } from "./webdriver.mjs";

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

  await app.click("#import-start");
  await app.waitForText("#import-progress-text", (t) => t.includes("finished"), { timeout: 60_000 });
  for (const email of ["grace@example.com", "alan@example.com", "katherine@example.com"]) {
    assert.equal(await countByEmail(email), 1, email);
  }
  assert.equal(await countByEmail("not-an-email"), 0);

  await app.click("[data-results='errors']");
  const saved = await app.waitForText("[data-results-path]", (t) => t.startsWith("Saved"));
  const path = saved.replace(/^Saved /, "");
  assert.ok(path.startsWith(downloads));
  const report = readFileSync(path, "utf8");
  assert.ok(report.startsWith("\uFEFF"), "UTF-8 with BOM for Excel");
  assert.match(report, /row_number/);
  assert.match(report, /not-an-email/);
  assert.match(report, /duplicate/i);
  await app.screenshot("import-done");
});
