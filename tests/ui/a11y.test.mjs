// axe-core on every screen, in light and dark, with realistic answers from the app: no serious
// or critical violation of WCAG 2.1 A/AA (contrast, names, roles, unique ids, ...) is allowed.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { launch, openUi, ROOT } from "./harness.mjs";

const AXE = readFileSync(join(ROOT, "node_modules", "axe-core", "axe.min.js"), "utf8");

const APP = `() => {
  // What Tauri's webview metadata would say (the Import screen listens for dropped files).
  (window.__TAURI_INTERNALS__ ??= {}).metadata = { currentWindow: { label: "main" }, currentWebview: { windowLabel: "main", label: "main" } };
  const now = "2026-11-30T10:00:00.000Z";
  const me = { workspace: { id: "ws_sandbox", name: "Sandbox workspace" }, name: "Full access", key_prefix: "pb2b_test_full", read_only: false,
    scopes: ["leads.read", "leads.write", "webhooks.read", "webhooks.write", "exports.read", "exports.write"], membership: { role: "owner" }, expires_at: null };
  const actions = ["read_leads", "create_lead", "import_leads", "read_webhooks", "manage_webhooks", "read_exports", "create_export"];
  const check = { me, request_id: "req_0123456789abcdef01234567", scopes: me.scopes.map((s) => ({ scope: s, description: s })),
    permissions: actions.map((action) => ({ action, allowed: true, reason: null })) };
  const profile = { name: "Local sandbox", base_url: "http://127.0.0.1:4010/v1", key_hint: "pb2b_test_full…", sandbox: true };
  const status = { profile, check, error: null, profiles: [profile, { name: "Acme live", base_url: "https://login.prospectb2b.com/api/public/v1", key_hint: "pb2b_live_ab…", sandbox: false }] };
  const leads = Array.from({ length: 60 }, (_, i) => ({ id: "lead_" + i, email: "p" + i + "@example.com", full_name: "Person " + i, first_name: null, last_name: null,
    phone: "+44 20 7946 0" + String(i).padStart(3, "0"), job_title: "Buyer", company_name: "Acme " + (i % 5), company_domain: "acme.example", linkedin_url: null,
    status: ["new", "qualified", "lost"][i % 3], source: "api", custom_fields: { tier: "gold" }, created_at: now, updated_at: now }));
  const endpoint = (id, url) => ({ id, url, events: ["lead.created", "export.completed"], description: "CRM", enabled: true, secret_prefix: "whsec_ab12", created_at: now, updated_at: now });
  const job = { id: "imp_1", file_path: "/home/ada/leads.csv", file_name: "leads.csv", file_size: 1000, headers: ["email"], format: { kind: "csv", delimiter: ",", encoding: "utf-8", has_bom: false },
    mapping: { columns: [] }, status: "completed", counts: { total: 3, pending: 0, in_flight: 0, created: 2, updated: 0, unchanged: 0, failed: 1, skipped: 0 }, created_at: now, updated_at: now, owner: null };
  const sync = { mirror: "ws_sandbox", profile: "Local sandbox", total_leads: 60, watermark: { updated_at: now, id: "lead_59" }, interrupted: false, running: false,
    last_started_at: now, last_finished_at: now, last_outcome: "completed", last_mode: "incremental", last_error: null, last: { pages: 1, leads: 60, new: 60, updated: 0, resumed: false } };
  return {
    "plugin:event|listen": () => 1,
    "plugin:event|unlisten": () => null,
    connection_status: () => status,
    diagnostics: () => ({ app_version: "0.1.0", core_version: "0.1.0", os: "Debian 12", arch: "x86_64", data_dir: "/home/ada/.local/share/com.prospectb2b.desktop",
      keychain: { reachable: true, backend: "Secret Service (D-Bus)", detail: "A probe entry was written, read back and deleted." },
      base_url: "http://127.0.0.1:4010/v1", trust_store: "the operating system's trust store", proxy: "none (direct)" }),
    overview: () => ({ workspace_name: "Sandbox workspace", leads_total: 60, by_status: [{ value: "new", count: 20 }, { value: "qualified", count: 20 }, { value: "lost", count: 20 }],
      by_source: [{ value: "api", count: 60 }], created_per_week: Array.from({ length: 12 }, (_, i) => ({ week_start: "2026-09-14", count: i })), sync,
      recent_imports: [job], recent_exports: [], deliveries: { endpoints: 2, days: Array.from({ length: 7 }, (_, i) => ({ day: "2026-11-2" + (4 + i > 9 ? 9 : 4 + i), succeeded: i, failed: 1, pending: 0 })), error: null }, first_sync_due: false }),
    sync_status: () => sync,
    sync_destination: () => ({ destination: { kind: "this_computer" }, password_saved: false, label: "This computer" }),
    sync_interval: () => 15,
    sync_schedule: () => ({ interval_minutes: 15, next_at: "2026-11-30T10:15:00.000Z" }),
    background_settings: () => ({ close_to_tray: null, start_at_login: false }),
    leads_search: ({ query }) => ({ rows: leads.slice(query.offset, query.offset + query.limit), total: leads.length, offset: query.offset }),
    lead_detail: ({ id }) => leads.find((l) => l.id === id) ?? null,
    imports_list: () => [job],
    imports_unassigned: () => [],
    exports_list: () => [{ job_id: "job_1", profile: "Local sandbox", export_id: "exp_1", status: "downloaded", idempotency_key: "k", updated_after: null, fields: null,
      row_count: 60, byte_size: 4096, file_name: "leads.csv", server_error: null, expires_at: now, dest_dir: "/home/ada/Downloads", local_path: "/home/ada/Downloads/leads.csv",
      auto_download: true, polling: "stopped", probe_count: 1, last_probe_at: now, request_ids: ["req_1"], error: null, created_at: now, updated_at: now }],
    webhooks_list: () => [endpoint("wh_1", "https://hooks.example.com/a"), endpoint("wh_2", "https://hooks.example.com/b")],
    webhook_events: () => [{ name: "lead.created", description: "A lead was created" }, { name: "export.completed", description: "An export is ready" }],
    receiver_available: () => true,
    webhook_deliveries: () => ({ deliveries: [], next_cursor: null, has_more: false }),
    activity: () => [{ id: 1, at: now, profile: "Local sandbox", method: "GET", path: "/v1/leads", status: 200, duration_ms: 12, request_id: "req_0123456789abcdef01234567",
      attempt: 1, error_code: null, error_message: null, idempotency_key: null, response_excerpt: null }],
  };
}`;

// Regions that announce the answer to an action the user took, and nothing else.
const OUTCOME_REGIONS = ["connection-status", "verify-result", "lead-result", "sig-verdict", "dest-result"];

const SCREENS = ["connect", "overview", "leads", "import", "sync", "exports", "webhooks", "activity", "diagnostics"];

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

for (const colorScheme of ["light", "dark"]) {
  test(`axe finds no serious or critical violation on any screen (${colorScheme})`, async () => {
    const found = [];
    for (const screen of SCREENS) {
      const { page, context, errors } = await openUi(browser, APP, { hash: `#/${screen}`, colorScheme });
      await page.locator("main h1").waitFor();
      // Let the screen's first answers render (lists, charts, the grid's rows).
      await page.waitForLoadState("networkidle");
      await page.waitForTimeout(400);
      if (screen === "leads") await page.locator(".grid-row").first().waitFor();
      await page.evaluate(AXE);
      const violations = await page.evaluate(async () => {
        const result = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
        return result.violations
          .filter((v) => v.impact === "serious" || v.impact === "critical")
          .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
      });
      found.push(...violations.map((v) => `${screen}: ${v}`));
      // Ids are unique (axe rates duplicates minor; labels and aria references break on them).
      const duplicates = await page.evaluate(() => {
        const seen = new Map();
        for (const el of document.querySelectorAll("[id]")) seen.set(el.id, (seen.get(el.id) ?? 0) + 1);
        return [...seen].filter(([, n]) => n > 1).map(([id]) => id);
      });
      found.push(...duplicates.map((id) => `${screen}: duplicate id ${id}`));
      // A repaint is not news: the screen is not a live region, and inside it only the answer to
      // a button the user pressed is (progress goes through the throttled announcer).
      const live = await page.locator("main[aria-live], main [aria-live]").evaluateAll((els) => els.map((e) => e.id || e.tagName));
      const unexpected = live.filter((id) => !OUTCOME_REGIONS.includes(id));
      if (unexpected.length) found.push(`${screen}: live regions that are not outcomes: ${unexpected.join(", ")}`);
      assert.deepEqual(errors.map(String), [], `${screen}: page errors`);
      await context.close();
    }
    assert.deepEqual(found, []);
  });
}

test("Enter in the Connect form saves and connects", async () => {
  const handlers = `() => ({ ...(${APP})(), save_profile: (args) => { window.__saved = args; return (${APP})().connection_status(); } })`;
  const { page, context } = await openUi(browser, handlers, { hash: "#/connect" });
  await page.locator("#api-key").fill("pb2b_test_full_0123456789");
  await page.locator("#api-key").press("Enter");
  await page.waitForFunction(() => window.__saved !== undefined);
  assert.equal(await page.evaluate(() => window.__saved.key), "pb2b_test_full_0123456789");
  await context.close();
});

test("screen shortcuts are Cmd+digit on macOS and Alt+digit elsewhere", async () => {
  const mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko)";
  const { page, context } = await openUi(browser, APP, { hash: "#/diagnostics", userAgent: mac });
  await page.locator("main h1").waitFor();
  await page.keyboard.press("Alt+2");
  assert.equal(await page.evaluate(() => location.hash), "#/diagnostics", "Option+digit types a character on a Mac");
  await page.keyboard.press("Meta+2");
  await page.waitForFunction(() => location.hash === "#/overview");
  await context.close();
});

test("the leads grid names its size and its focused row, and the detail opens as a drawer that Escape closes", async () => {
  const { page, context } = await openUi(browser, APP, { hash: "#/leads" });
  const grid = page.locator("[role=grid]");
  await page.locator(".grid-row").first().waitFor();
  assert.equal(await grid.getAttribute("aria-rowcount"), "61");
  assert.equal(await page.locator("[role=grid] [role=columnheader]").count(), 5);
  await grid.focus();
  await page.keyboard.press("ArrowDown");
  await page.waitForFunction(() => document.querySelector("[role=grid]").getAttribute("aria-activedescendant") === "lead-row-1");
  assert.equal(await page.locator("#lead-row-1").getAttribute("aria-selected"), "true");
  await page.keyboard.press("Enter");
  const drawer = page.locator("#lead-detail");
  await drawer.getByRole("heading", { name: "Person 1" }).waitFor();
  // The table keeps the window's width: the drawer lies over it instead of taking a column.
  const widths = await page.evaluate(() => [document.querySelector(".grid").getBoundingClientRect().width, document.querySelector("main").clientWidth]);
  assert.ok(widths[0] > widths[1] - 80, `grid ${widths[0]} of main ${widths[1]}`);
  await drawer.getByRole("button", { name: "Close lead details" }).focus();
  await page.keyboard.press("Escape");
  await page.waitForFunction(() => document.querySelector("#lead-detail").hidden);
  await context.close();
});

test("the leads table's columns can be chosen and resized (mouse or keyboard), and are remembered", async () => {
  const { page, context } = await openUi(browser, APP, { hash: "#/leads" });
  await page.locator(".grid-row").first().waitFor();
  const headers = () => page.locator("[role=columnheader]").allTextContents();
  assert.deepEqual(await headers(), ["Name", "Email", "Company", "Status", "Updated ↓"]);
  await page.getByText("Columns", { exact: true }).click();
  await page.locator("#col-phone").check();
  await page.locator("#col-company_name").uncheck();
  await page.locator(".grid-row").first().waitFor();
  assert.deepEqual(await headers(), ["Name", "Email", "Phone", "Status", "Updated ↓"]);
  assert.equal(await page.locator(".grid-row").first().locator("[role=gridcell]").count(), 5);
  assert.match(await page.locator(".grid-row").first().textContent(), /\+44 20 7946 0/);
  // Keyboard: the separator on Name's edge, three steps wider.
  const nameWidth = () => page.locator("[data-column=full_name]").evaluate((el) => el.getBoundingClientRect().width);
  const before = await nameWidth();
  await page.locator("[data-resize=full_name]").focus();
  for (let i = 0; i < 3; i++) await page.keyboard.press("ArrowRight");
  assert.equal(Math.round((await nameWidth()) - before), 48);
  // Mouse: drag Email's edge 100 px to the left.
  const emailWidth = () => page.locator("[data-column=email]").evaluate((el) => el.getBoundingClientRect().width);
  const email = await emailWidth();
  const box = await page.locator("[data-resize=email]").boundingBox();
  await page.mouse.move(box.x + 3, box.y + 5);
  await page.mouse.down();
  await page.mouse.move(box.x - 97, box.y + 5, { steps: 5 });
  await page.mouse.up();
  assert.equal(Math.round(email - (await emailWidth())), 100);
  // Cells follow their header.
  const cell = await page.locator(".grid-row").first().locator("[role=gridcell]").first().evaluate((el) => el.getBoundingClientRect().width);
  assert.equal(Math.round(cell), Math.round(await nameWidth()));
  // A new start keeps the choice and the widths.
  await page.goto(page.url());
  await page.reload();
  await page.locator(".grid-row").first().waitFor();
  assert.deepEqual(await headers(), ["Name", "Email", "Phone", "Status", "Updated ↓"]);
  assert.equal(Math.round(await nameWidth()), Math.round(before + 48));
  await context.close();
});

test("the question asked when the window is first closed is a labelled modal dialog, focus on its first answer, axe-clean in both themes", async () => {
  for (const colorScheme of ["light", "dark"]) {
    const handlers = `() => ({ ...(${APP})(), answer_close: ({ keep }) => { window.__answered = keep; return null; } })`;
    const { page, context, errors } = await openUi(browser, handlers, { hash: "#/overview", colorScheme, mockEvents: true });
    await page.locator("main h1").waitFor();
    await page.waitForLoadState("networkidle");
    await page.evaluate(() => window.__pb2bEmit("close-requested", null));
    const dialog = page.getByRole("dialog", { name: "Keep syncing when the window is closed?" });
    await dialog.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), "close-keep");
    await page.evaluate(AXE);
    const violations = await page.evaluate(async () => {
      const result = await window.axe.run(document.getElementById("close-dialog"), { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
      return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => v.id);
    });
    assert.deepEqual(violations, [], colorScheme);
    // Escape keeps the window and asks again next time; the answer is sent only when given.
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    assert.equal(await page.evaluate(() => window.__answered), undefined);
    await page.evaluate(() => window.__pb2bEmit("close-requested", null));
    await dialog.waitFor();
    await page.keyboard.press("Enter");
    await dialog.waitFor({ state: "detached" });
    assert.equal(await page.evaluate(() => window.__answered), true);
    assert.deepEqual(errors, []);
    await context.close();
  }
});
