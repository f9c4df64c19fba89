// End-to-end: a new user's first minute in the real window. From a fresh data folder, "Try the
// local sandbox" lands on the Overview, whose first sync starts by itself: the leads and the
// charts are there without the Sync screen ever being opened.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { openApp, startDriver, tempDir } from "./webdriver.mjs";

const data = tempDir("pb2b-e2e-first-run-");
let driver;

before(async () => {
  driver = await startDriver({ env: { XDG_DATA_HOME: data } });
});

after(async () => {
  await driver?.stop();
});

test("a first run reaches the Overview with synced leads without touching Sync", async () => {
  const app = await openApp(driver);
  try {
    // A fresh folder: Connect, with the sandbox offered.
    await app.waitForText("main h1", (t) => t === "Connect");
    await app.click("#try-sandbox");
    await app.waitForText("main h1", (t) => t === "Overview", { timeout: 60_000 });
    assert.equal(await app.exec("return location.hash"), "#/overview");
    // The embedded sandbox's 40 demo leads, synced by the Overview itself.
    const leads = await app.waitForText("[data-stat='leads'] .stat-value", (t) => t === "40", { timeout: 60_000 });
    assert.equal(leads, "40");
    await app.find("[data-chart='status'] canvas");
    const statuses = await app.exec(
      "return [...document.querySelectorAll(\"[data-chart-table='status'] tbody tr td\")].reduce((n, td) => n + Number(td.textContent.replace(/\\D/g, '')), 0)",
    );
    assert.equal(statuses, 40, "the status chart counts every lead");
    assert.match(await app.text("[data-stat='last-sync']"), /Last sync/);
    assert.match(await app.text("[data-sandbox-banner]"), /nothing leaves this computer/);
    assert.equal(await app.exec("return document.querySelector(\"a[data-screen='sync'][aria-current='page']\") === null"), true);
    await app.screenshot("first-run-overview");
  } finally {
    await app.close();
  }

  // Reopened, the app is where the user left it: the Overview, still connected.
  const again = await openApp(driver);
  try {
    await again.waitForText("main h1", (t) => t === "Overview", { timeout: 60_000 });
    await again.waitForText("[data-stat='leads'] .stat-value", (t) => t === "40", { timeout: 60_000 });
  } finally {
    await again.close();
  }
});
