// The Import screen with an .xlsx workbook (issue 12, item 7): a workbook of several sheets shows
// a sheet picker (labelled, keyboard-usable); choosing a sheet previews that sheet (the import is
// staged with the sheet the preview read). A workbook of one sheet, and a
// CSV, show no picker.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { launch, openUi, ROOT } from "./harness.mjs";

const AXE = readFileSync(join(ROOT, "node_modules", "axe-core", "axe.min.js"), "utf8");

const APP = `() => {
  (window.__TAURI_INTERNALS__ ??= {}).metadata = { currentWindow: { label: "main" }, currentWebview: { windowLabel: "main", label: "main" } };
  const now = "2026-11-30T10:00:00.000Z";
  const me = { workspace: { id: "ws_1", name: "Acme" }, name: "Full", key_prefix: "pb2b_test_full", read_only: false,
    scopes: ["leads.read", "leads.write"], membership: { role: "owner" }, expires_at: null };
  const actions = ["read_leads", "create_lead", "import_leads"];
  const check = { me, request_id: "req_1", scopes: [], permissions: actions.map((action) => ({ action, allowed: true, reason: null })) };
  const profile = { name: "Acme", base_url: "http://127.0.0.1:4010/v1", key_hint: "pb2b_test_full…", sandbox: false };
  const lead = (email, phone) => ({ email, full_name: "Ada", first_name: null, last_name: null, phone, job_title: null, company_name: null,
    company_domain: null, linkedin_url: null, status: null, source: null, custom_fields: {} });
  const preview = (path, sheet) => {
    const xlsx = path.endsWith(".xlsx");
    const sheets = xlsx ? (path.includes("one") ? ["Only"] : ["Leads", "Partners"]) : [];
    const chosen = xlsx ? (sheet ?? sheets[0]) : null;
    const header = chosen === "Partners" ? "Partner Email" : "Email";
    return {
      format: { encoding: xlsx ? "xlsx" : "UTF-8", bom: false, delimiter: xlsx ? "" : ",", sheet: chosen, sheets },
      headers: [header],
      mapping: { columns: [{ index: 0, header, target: { kind: "field", field: "email" }, confidence: 100 }] },
      remembered: false, mapping_problems: [],
      rows: [{ row_number: 2, lead: lead(chosen === "Partners" ? "pat@example.com" : "ada@example.com", "442079460000"), errors: [], dropped: [], duplicate: false }],
      counts: { rows: 1, will_create: 1, invalid: 0, duplicate: 0, blank_lines: 0, ragged_rows: 0, with_dropped_fields: 0 },
      complete: true, estimated_rows: 1, file_size: 5000,
    };
  };
  return {
    "plugin:event|listen": () => 1,
    "plugin:event|unlisten": () => null,
    connection_status: () => ({ profile, check, error: null, profiles: [profile] }),
    sync_status: () => null,
    imports_list: () => [],
    imports_unassigned: () => [],
    import_preview: ({ path, sheet }) => preview(path, sheet),
    import_stage: ({ path, sheet }) => ({ id: "imp_1", file_path: path, file_name: "book.xlsx", file_size: 5000, headers: ["Email"],
      format: { encoding: "xlsx", bom: false, delimiter: "", sheet, sheets: ["Leads", "Partners"] }, mapping: { columns: [] }, status: "ready",
      counts: { total: 1, pending: 1, in_flight: 0, created: 0, updated: 0, unchanged: 0, failed: 0, skipped: 0 }, created_at: now, updated_at: now, owner: null }),
  };
}`;

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const lastArgs = (page, cmd) => page.evaluate((c) => window.__pb2bCalls.filter((x) => x.cmd === c).at(-1)?.args, cmd);

test("Import: a workbook of several sheets offers a sheet picker; the chosen sheet is previewed and imported", async () => {
  for (const colorScheme of ["light", "dark"]) {
    const { page, context, errors } = await openUi(browser, APP, { hash: "#/import?file=/home/ada/book.xlsx", colorScheme });
    const picker = page.getByLabel("Sheet", { exact: true });
    await picker.waitFor();
    assert.equal(await picker.inputValue(), "Leads");
    assert.match(await page.locator("#import-preview").textContent(), /Excel workbook, sheet “Leads”/);
    assert.match(await page.locator("#import-preview").textContent(), /ada@example\.com/);
    // Keyboard: focus the picker and choose the next sheet.
    await picker.focus();
    await page.keyboard.press("ArrowDown");
    await page.getByText("pat@example.com").waitFor();
    assert.equal((await lastArgs(page, "import_preview")).sheet, "Partners");
    assert.equal(await page.getByLabel("Sheet", { exact: true }).inputValue(), "Partners");
    await page.evaluate(AXE);
    const violations = await page.evaluate(async () => {
      const r = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
      return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => v.id);
    });
    assert.deepEqual(violations, [], colorScheme);
    assert.deepEqual(errors, []);
    await context.close();
  }
});

test("Import: a workbook of one sheet and a CSV show no sheet picker", async () => {
  for (const file of ["/home/ada/one.xlsx", "/home/ada/leads.csv"]) {
    const { page, context, errors } = await openUi(browser, APP, { hash: `#/import?file=${file}` });
    await page.getByText("ada@example.com").waitFor();
    assert.equal(await page.locator("#import-sheet").count(), 0, file);
    assert.equal((await lastArgs(page, "import_preview")).sheet, null);
    assert.deepEqual(errors, []);
    await context.close();
  }
});
