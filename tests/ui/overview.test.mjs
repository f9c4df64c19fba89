import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { launch, openUi } from "./harness.mjs";

const CONNECTED = `{
  profile: { name: "Sandbox", base_url: "http://127.0.0.1:1", key_hint: "pb2b_…", sandbox: true },
  check: { me: { workspace: { id: "ws_sandbox", name: "Sandbox workspace" }, name: "k", key_prefix: "pb2b_", read_only: false, scopes: [], membership: { role: "owner" }, expires_at: null },
    request_id: "req_1", scopes: [], permissions: [{ action: "read_leads", allowed: true, reason: null }] },
  error: null, profiles: [],
}`;

function days() {
  const out = [];
  for (let i = 6; i >= 0; i--) {
    const d = new Date(Date.now() - i * 86400000).toISOString().slice(0, 10);
    out.push({ day: d, succeeded: 10 - i, failed: i % 2, pending: 0 });
  }
  return JSON.stringify(out);
}

const SYNCED = `() => ({
  connection_status: () => (${CONNECTED}),
  sync_schedule: () => ({ interval_minutes: 15, next_at: "2026-11-30T10:17:00.000Z" }),
  overview: () => ({
    workspace_name: "Sandbox workspace",
    leads_total: 40,
    by_status: [{ value: "new", count: 25 }, { value: "qualified", count: 10 }, { value: "lost", count: 5 }],
    by_source: [{ value: "api", count: 30 }, { value: "import", count: 10 }],
    created_per_week: Array.from({ length: 12 }, (_, i) => ({ week_start: "2026-09-" + String(7 + (i % 3)).padStart(2, "0"), count: i })),
    sync: { mirror: "ws_sandbox", profile: "Sandbox", total_leads: 40, watermark: null, interrupted: false, running: false,
      last_started_at: "2026-11-30T10:00:00.000Z", last_finished_at: "2026-11-30T10:00:02.000Z", last_outcome: "completed",
      last_mode: "incremental", last_error: null, last: null },
    recent_imports: [{ id: "imp_1", file_path: "/tmp/leads.csv", file_name: "leads.csv", file_size: 100, headers: [], format: { kind: "csv", delimiter: ",", encoding: "utf-8", has_bom: false },
      mapping: { columns: [] }, status: "completed", counts: { total: 3, pending: 0, in_flight: 0, created: 3, updated: 0, unchanged: 0, failed: 0, skipped: 0 },
      created_at: "2026-11-29T09:00:00.000Z", updated_at: "2026-11-29T09:00:00.000Z", owner: null }],
    recent_exports: [],
    deliveries: { endpoints: 1, days: ${days()}, error: null },
    first_sync_due: false,
  }),
})`;

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

for (const colorScheme of ["light", "dark"]) {
  test(`the Overview draws its four charts under the app's CSP (${colorScheme})`, async () => {
    const { page, context, errors } = await openUi(browser, SYNCED, { hash: "#/overview", colorScheme });
    await page.locator("[data-chart='deliveries'] canvas").waitFor();
    for (const id of ["status", "source", "weeks", "deliveries"]) {
      const size = await page.locator(`#chart-${id}`).evaluate((c) => [c.width, c.height]);
      assert.ok(size[0] > 100 && size[1] > 100, `${id}: ${size}`);
      // Something was drawn: some pixel is not transparent.
      const painted = await page.locator(`#chart-${id}`).evaluate((c) => {
        const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
        return false;
      });
      assert.ok(painted, `${id} drew nothing`);
    }
    // Each chart's figures are in a table for screen readers.
    const statusRows = await page.locator("[data-chart-table='status'] tbody tr").allTextContents();
    assert.deepEqual(statusRows, ["new25", "qualified10", "lost5"]);
    assert.equal(await page.locator("[data-stat='leads'] .stat-value").textContent(), "40");
    assert.match(await page.locator("[data-stat='deliveries'] .stat-value").textContent(), /% succeeded/);
    // Times in the user's zone, UTC on hover.
    const last = page.locator("[data-stat='last-sync'] time");
    assert.equal(await last.getAttribute("datetime"), "2026-11-30T10:00:02.000Z");
    assert.equal(await last.getAttribute("title"), "2026-11-30 10:00:02 UTC");
    // The next sync is the time the app's schedule waits for, not one the screen works out.
    assert.equal(await page.locator("[data-stat='next-sync'] time").getAttribute("datetime"), "2026-11-30T10:17:00.000Z");
    assert.match(await page.locator("[data-recent='imports']").textContent(), /leads\.csv · completed · 3 created/);
    assert.match(await page.locator("[data-recent='exports']").textContent(), /No exports yet/);
    assert.deepEqual(await page.evaluate(() => window.__cspViolations), []);
    assert.deepEqual(errors, []);
    // Nothing was synced: the mirror had synced before.
    assert.equal(await page.evaluate(() => window.__pb2bCalls.filter((c) => c.cmd === "sync_now").length), 0);
    await context.close();
  });
}

test("a workspace never synced starts its first sync by itself, once, and then shows the charts", async () => {
  const handlers = `() => {
    let synced = false;
    const base = (${SYNCED})();
    return {
      ...base,
      overview: () => synced ? base.overview() : { ...base.overview(), leads_total: 0, by_status: [], by_source: [],
        sync: { ...base.overview().sync, total_leads: 0, last_started_at: null, last_finished_at: null, last_outcome: null }, first_sync_due: true },
      sync_now: async () => {
        // Runs until the test lets it finish, so the running state can be seen however slow the machine.
        await new Promise((r) => { window.__finishSync = r; });
        synced = true;
        return { outcome: "completed", progress: { pages: 1, leads: 40, new: 40, updated: 0, resumed: false }, requests: 1 };
      },
    };
  }`;
  const { page, context, errors } = await openUi(browser, handlers, { hash: "#/overview" });
  await page.getByText("The first sync is running").waitFor();
  await page.waitForFunction(() => typeof window.__finishSync === "function");
  await page.evaluate(() => window.__finishSync());
  await page.locator("[data-chart='status'] canvas").waitFor();
  assert.equal(await page.locator("[data-stat='leads'] .stat-value").textContent(), "40");
  assert.equal(await page.evaluate(() => window.__pb2bCalls.filter((c) => c.cmd === "sync_now").length), 1);
  assert.match(await page.locator("#overview-announce").textContent(), /first sync finished: 40 leads/);
  assert.deepEqual(errors, []);
  await context.close();
});

test("a first sync the interval started and ended before the Overview could follow it is still announced as finished", async () => {
  // The automatic sync won the race: sync_now answers sync_running, and by the time the screen
  // listens that sync has ended (sync_running false); its outcome is read from the status.
  const handlers = `() => {
    let synced = false;
    const base = (${SYNCED})();
    return {
      ...base,
      overview: () => synced ? base.overview() : { ...base.overview(), leads_total: 0, by_status: [], by_source: [],
        sync: { ...base.overview().sync, total_leads: 0, last_started_at: null, last_finished_at: null, last_outcome: null }, first_sync_due: true },
      sync_now: () => {
        synced = true;
        throw { code: "sync_running", message: "A sync is already running.", request_id: null, retryable: true };
      },
      sync_running: () => false,
      sync_status: () => ({ mirror: "ws_1", profile: "Acme", total_leads: 40, watermark: null, interrupted: false, running: false,
        last_started_at: "2026-11-30T10:00:00.000Z", last_finished_at: "2026-11-30T10:00:02.000Z", last_outcome: "completed", last_mode: "incremental",
        last_error: null, last: { pages: 1, leads: 40, new: 40, updated: 0, watermark: null, resumed: false } }),
    };
  }`;
  const { page, context, errors } = await openUi(browser, handlers, { hash: "#/overview", mockEvents: true });
  await page.waitForFunction(() => /first sync finished: 40 leads/.test(document.querySelector("#overview-announce")?.textContent ?? ""));
  assert.equal(await page.evaluate(() => window.__pb2bCalls.filter((c) => c.cmd === "sync_now").length), 1);
  assert.deepEqual(errors, []);
  await context.close();
});

test("while connected to the sandbox, the sidebar says nothing leaves this computer", async () => {
  const { page, context } = await openUi(browser, SYNCED, { hash: "#/overview" });
  const banner = page.locator("[data-sandbox-banner]");
  await banner.waitFor();
  assert.equal(await banner.textContent(), "Sandbox: nothing leaves this computer");
  await context.close();
});

test("Try the local sandbox lands on the Overview, and a start already connected opens there", async () => {
  const handlers = `() => {
    const base = (${SYNCED})();
    let connected = false;
    return {
      ...base,
      connection_status: () => connected ? base.connection_status() : { profile: null, check: null, error: null, profiles: [] },
      connect_sandbox: () => { connected = true; return base.connection_status(); },
    };
  }`;
  const { page, context } = await openUi(browser, handlers);
  // Not connected, no screen left before: Connect.
  await page.waitForFunction(() => location.hash === "#/connect");
  await page.locator("#try-sandbox").click();
  await page.waitForFunction(() => location.hash === "#/overview");
  await page.locator("[data-chart='status'] canvas").waitFor();
  await context.close();

  // A start that is connected already (the app was started with --sandbox): the Overview.
  const second = await openUi(browser, SYNCED);
  await second.page.waitForFunction(() => location.hash === "#/overview");
  await second.page.locator("[data-stat='leads']").waitFor();
  await second.context.close();
});
