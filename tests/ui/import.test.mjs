import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { launch, openUi } from "./harness.mjs";

// The Import screen's preview, with the core's answers as the app would get them: a file whose
// Website column holds a company name (the lead is sent without it) and an empty file.
const APP = `() => {
  (window.__TAURI_INTERNALS__ ??= {}).metadata = { currentWindow: { label: "main" }, currentWebview: { windowLabel: "main", label: "main" } };
  const me = { workspace: { id: "ws_sandbox", name: "Sandbox workspace" }, name: "Full access", key_prefix: "pb2b_test_full", read_only: false,
    scopes: ["leads.read", "leads.write"], membership: { role: "owner" }, expires_at: null };
  const check = { me, request_id: "req_0123456789abcdef01234567", scopes: [], permissions: [{ action: "import_leads", allowed: true, reason: null }, { action: "create_lead", allowed: true, reason: null }] };
  const profile = { name: "Local sandbox", base_url: "http://127.0.0.1:4010/v1", key_hint: "pb2b_test_full…", sandbox: true };
  const lead = (email, name, domain) => ({ email, full_name: name, first_name: null, last_name: null, phone: null, job_title: null, company_name: null,
    company_domain: domain, linkedin_url: null, status: null, source: null, custom_fields: null });
  const columns = ["Name", "Email", "Website"].map((header, index) => ({ index, header, confidence: 100,
    target: { kind: "field", field: ["full_name", "email", "company_domain"][index] } }));
  const preview = { format: { encoding: "UTF-8", bom: false, delimiter: ",", sheet: null, sheets: [] }, headers: ["Name", "Email", "Website"], mapping: { columns }, remembered: false,
    mapping_problems: [], complete: true, estimated_rows: 2, file_size: 120,
    counts: { rows: 2, will_create: 2, invalid: 0, duplicate: 0, blank_lines: 0, ragged_rows: 0, with_dropped_fields: 1 },
    rows: [
      { row_number: 2, lead: lead("j@example.com", "Jürgen", "xn--mnchen-3ya.de"), errors: [], dropped: [], duplicate: false },
      { row_number: 3, lead: lead("ada@example.com", "Ada", null), errors: [], duplicate: false,
        dropped: [{ field: "company_domain", value: "Acme Inc", code: "invalid_format", message: "must be a web address or host name such as example.com" }] },
    ] };
  let picked = "/home/ada/sheet.csv";
  window.__pick = (p) => { picked = p; };
  return {
    "plugin:event|listen": () => 1,
    "plugin:event|unlisten": () => null,
    connection_status: () => ({ profile, check, error: null, profiles: [profile] }),
    imports_list: () => [],
    imports_unassigned: () => [],
    import_pick_file: () => picked,
    import_preview: ({ path }) => {
      if (path.endsWith("empty.csv")) throw { code: "empty_file", message: "The file has a header but no rows: empty.csv has no leads under its column names. Add rows, or choose the file that holds your leads.", request_id: null, retryable: false };
      return preview;
    },
  };
}`;

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test("the preview counts the rows that lose an optional value and says which value and why", async () => {
  const { page, context, errors } = await openUi(browser, APP, { hash: "#/import" });
  await page.locator("#import-choose").click();
  const dropped = page.locator("[data-dropped]");
  await dropped.waitFor();
  assert.equal(await dropped.getAttribute("data-dropped"), "1");
  assert.match(await dropped.textContent(), /1 will lose an optional value/);
  assert.equal(await page.locator("[data-counts]").getAttribute("data-counts"), "2/0/0");
  const row = page.locator("#import-preview tbody tr", { hasText: "ada@example.com" });
  assert.match(await row.textContent(), /sent without company_domain “Acme Inc” \(must be a web address/);
  assert.match(await page.locator("#import-preview").textContent(), /dropped_fields column/);
  assert.deepEqual(errors, []);
  await context.close();
});

test("an empty file is reported as empty, with its code", async () => {
  const { page, context, errors } = await openUi(browser, APP, { hash: "#/import" });
  await page.evaluate(() => window.__pick("/home/ada/empty.csv"));
  await page.locator("#import-choose").click();
  const panel = page.locator("#import-preview [data-error-code]");
  await panel.waitFor();
  assert.equal(await panel.getAttribute("data-error-code"), "empty_file");
  assert.match(await panel.textContent(), /has a header but no rows/);
  assert.equal(await page.locator("[data-counts]").count(), 0);
  assert.deepEqual(errors, []);
  await context.close();
});
