// Files go where the user chooses (issue 15, item 6): every button that makes a file asks the
// app (which opens the native save dialog), a cancelled dialog leaves the screen as it was, and a
// saved file gets "Show in folder", which asks the app to reveal exactly that path. The dialog
// itself and the file manager call run in the E2E (tests/e2e/files.test.mjs).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { launch, openUi, ROOT } from "./harness.mjs";

const AXE = readFileSync(join(ROOT, "node_modules", "axe-core", "axe.min.js"), "utf8");

// What the app answers. `window.__answers[cmd]` is what a save command returns: a result, or null
// (the user cancelled the dialog); tests set it before clicking.
const APP = `() => {
  (window.__TAURI_INTERNALS__ ??= {}).metadata = { currentWindow: { label: "main" }, currentWebview: { windowLabel: "main", label: "main" } };
  const now = "2026-11-30T10:00:00.000Z";
  const me = { workspace: { id: "ws_1", name: "Acme" }, name: "Full", key_prefix: "pb2b_test_full", read_only: false,
    scopes: ["leads.read", "leads.write", "exports.read", "exports.write"], membership: { role: "owner" }, expires_at: null };
  const actions = ["read_leads", "create_lead", "import_leads", "read_exports", "create_export"];
  const check = { me, request_id: "req_1", scopes: [], permissions: actions.map((action) => ({ action, allowed: true, reason: null })) };
  const profile = { name: "Acme", base_url: "http://127.0.0.1:4010/v1", key_hint: "pb2b_test_full…", sandbox: false };
  const leads = Array.from({ length: 3 }, (_, i) => ({ id: "lead_" + i, email: "p" + i + "@example.com", full_name: "Person " + i, first_name: null, last_name: null,
    phone: null, job_title: null, company_name: "Acme", company_domain: null, linkedin_url: null, status: "new", source: "api", custom_fields: {}, created_at: now, updated_at: now }));
  const job = { id: "imp_1", file_path: "/home/ada/leads.csv", file_name: "leads.csv", file_size: 1000, headers: ["email"], format: { kind: "csv", delimiter: ",", encoding: "utf-8", has_bom: false },
    mapping: { columns: [] }, status: "completed", counts: { total: 3, pending: 0, in_flight: 0, created: 2, updated: 0, unchanged: 0, failed: 1, skipped: 0 }, created_at: now, updated_at: now, owner: null };
  window.__answers = {
    mirror_export: { path: "/home/ada/Downloads/prospectb2b-leads-2026-11-30.csv", count: 3 },
    import_results_file: "/home/ada/Downloads/leads-errors.csv",
    support_bundle_save: "/home/ada/Downloads/support-bundle-req_7.json",
  };
  window.__revealed = [];
  const answer = (cmd) => () => window.__answers[cmd];
  return {
    "plugin:event|listen": () => 1,
    "plugin:event|unlisten": () => null,
    connection_status: () => ({ profile, check, error: null, profiles: [profile] }),
    sync_status: () => null,
    leads_search: ({ query }) => ({ rows: leads.slice(query.offset, query.offset + query.limit), total: leads.length, offset: query.offset }),
    imports_list: () => [job],
    imports_unassigned: () => [],
    exports_list: () => [{ job_id: "job_1", profile: "Acme", export_id: "exp_1", status: "completed", idempotency_key: "k", updated_after: null, fields: null,
      row_count: 3, byte_size: 100, file_name: "leads.csv", server_error: null, expires_at: now, dest_dir: "/home/ada/Downloads", local_path: "/home/ada/Downloads/leads.csv",
      auto_download: true, polling: "done", probe_count: 1, last_probe_at: now, request_ids: ["req_1"], error: null, created_at: now, updated_at: now }],
    export_reveal: ({ id }) => { window.__revealed.push("export:" + id); return null; },
    activity: () => [{ id: 7, at: now, profile: "Acme", method: "GET", path: "/v1/leads", status: 200, duration_ms: 12, request_id: "req_7",
      attempt: 1, error_code: null, error_message: null, idempotency_key: null, response_excerpt: null, request_headers: [] }],
    mirror_export: answer("mirror_export"),
    import_results_file: answer("import_results_file"),
    support_bundle_save: answer("support_bundle_save"),
    reveal_file: ({ path }) => {
      if (path.includes("moved")) throw { code: "invalid_input", message: path + " is not shown: the file is no longer there.", request_id: null, retryable: false };
      window.__revealed.push(path);
      return null;
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

const calls = (page, cmd) => page.evaluate((c) => window.__pb2bCalls.filter((x) => x.cmd === c).length, cmd);

async function axe(page) {
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(" ")}`);
  });
  const ids = await page.evaluate(() => {
    const seen = new Map();
    for (const el of document.querySelectorAll("[id]")) seen.set(el.id, (seen.get(el.id) ?? 0) + 1);
    return [...seen].filter(([, n]) => n > 1).map(([id]) => id);
  });
  return [...result, ...ids.map((id) => `duplicate id ${id}`)];
}

test("Leads: a cancelled export leaves the screen as it was; a saved one shows its path and Show in folder", async () => {
  for (const colorScheme of ["light", "dark"]) {
    const { page, context, errors } = await openUi(browser, APP, { hash: "#/leads", colorScheme });
    await page.locator(".grid-row").first().waitFor();
    const exportCsv = page.getByRole("button", { name: "Export CSV…" });

    await page.evaluate(() => { window.__answers.mirror_export = null; });
    await exportCsv.click();
    await page.waitForFunction(() => window.__pb2bCalls.some((c) => c.cmd === "mirror_export"));
    // The answer has arrived and been handled once the next command goes out.
    // The answer is handled in microtasks, which all run before the next task.
    await page.evaluate(() => new Promise((r) => setTimeout(r, 0)));
    assert.equal(await page.locator(".saved-file").count(), 0);
    assert.equal(await page.locator("[role=alert]").count(), 0, "no error for a cancel");
    assert.equal(await calls(page, "reveal_file"), 0);

    await page.evaluate(() => { window.__answers.mirror_export = { path: "/home/ada/Downloads/prospectb2b-leads-2026-11-30.csv", count: 3 }; });
    // Keyboard: focus the button and press Enter.
    await exportCsv.focus();
    await page.keyboard.press("Enter");
    const note = page.locator(".saved-file");
    await note.waitFor();
    assert.match(await note.textContent(), /Exported 3 leads to \/home\/ada\/Downloads\/prospectb2b-leads-2026-11-30\.csv/);
    const call = await page.evaluate(() => window.__pb2bCalls.filter((c) => c.cmd === "mirror_export").at(-1).args);
    assert.equal(call.format, "csv");
    const show = note.getByRole("button", { name: "Show in folder" });
    await show.focus();
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => window.__revealed.length === 1);
    assert.deepEqual(await page.evaluate(() => window.__revealed), ["/home/ada/Downloads/prospectb2b-leads-2026-11-30.csv"]);
    assert.deepEqual(await axe(page), [], colorScheme);
    assert.deepEqual(errors, []);
    await context.close();
  }
});

test("Leads: a file that can no longer be shown says so, with what to do", async () => {
  const { page, context, errors } = await openUi(browser, APP, { hash: "#/leads" });
  await page.locator(".grid-row").first().waitFor();
  await page.evaluate(() => { window.__answers.mirror_export = { path: "/home/ada/moved/leads.jsonl", count: 3 }; });
  await page.getByRole("button", { name: "Export JSON Lines…" }).click();
  await page.locator(".saved-file").getByRole("button", { name: "Show in folder" }).click();
  const alert = page.locator(".saved-file [role=alert]");
  await alert.waitFor();
  assert.match(await alert.textContent(), /no longer there/);
  assert.equal(await page.evaluate(() => window.__pb2bCalls.filter((c) => c.cmd === "mirror_export").at(-1).args.format), "jsonl");
  assert.deepEqual(errors, []);
  await context.close();
});

test("Import: the error report and success file are saved where chosen; a cancel shows nothing", async () => {
  const { page, context, errors } = await openUi(browser, APP, { hash: "#/import" });
  const saveErrors = page.locator("[data-results='errors']");
  await saveErrors.waitFor();
  assert.equal(await saveErrors.textContent(), "Save error report…");

  await page.evaluate(() => { window.__answers.import_results_file = null; });
  await saveErrors.click();
  await page.waitForFunction(() => window.__pb2bCalls.some((c) => c.cmd === "import_results_file"));
  // The answer is handled in microtasks, which all run before the next task.
    await page.evaluate(() => new Promise((r) => setTimeout(r, 0)));
  assert.equal(await page.locator(".saved-file").count(), 0);
  assert.equal(await page.locator("[role=alert]").count(), 0);

  await page.evaluate(() => { window.__answers.import_results_file = "/home/ada/Downloads/leads-errors.csv"; });
  await saveErrors.click();
  const note = page.locator("[data-saved-path='/home/ada/Downloads/leads-errors.csv']");
  await note.waitFor();
  assert.equal(await note.locator("[data-results-path]").textContent(), "Saved /home/ada/Downloads/leads-errors.csv");
  await note.getByRole("button", { name: "Show in folder" }).click();
  await page.waitForFunction(() => window.__revealed.length === 1);
  assert.deepEqual(await page.evaluate(() => window.__revealed), ["/home/ada/Downloads/leads-errors.csv"]);

  await page.locator("[data-results='success']").click();
  await page.waitForFunction(() => window.__pb2bCalls.filter((c) => c.cmd === "import_results_file").length === 3);
  const kinds = await page.evaluate(() => window.__pb2bCalls.filter((c) => c.cmd === "import_results_file").map((c) => c.args.kind));
  assert.deepEqual(kinds, ["errors", "errors", "success"]);
  assert.deepEqual(await axe(page), []);
  assert.deepEqual(errors, []);
  await context.close();
});

test("Activity: the support bundle can be saved as a file; a cancel shows nothing", async () => {
  const { page, context, errors } = await openUi(browser, APP, { hash: "#/activity" });
  const row = page.locator("tr[data-request-id='req_7']");
  await row.waitFor();
  await row.locator("td").first().click();
  const save = page.getByRole("button", { name: "Save support bundle…" });
  await save.waitFor();

  await page.evaluate(() => { window.__answers.support_bundle_save = null; });
  await save.click();
  await page.waitForFunction(() => window.__pb2bCalls.some((c) => c.cmd === "support_bundle_save"));
  // The answer is handled in microtasks, which all run before the next task.
    await page.evaluate(() => new Promise((r) => setTimeout(r, 0)));
  assert.equal(await page.locator(".saved-file").count(), 0);
  assert.equal(await page.locator("[role=alert]").count(), 0);

  await page.evaluate(() => { window.__answers.support_bundle_save = "/home/ada/Downloads/support-bundle-req_7.json"; });
  await save.click();
  const note = page.locator(".saved-file");
  await note.waitFor();
  assert.equal(await page.evaluate(() => window.__pb2bCalls.filter((c) => c.cmd === "support_bundle_save").at(-1).args.id), 7);
  await note.getByRole("button", { name: "Show in folder" }).click();
  await page.waitForFunction(() => window.__revealed.length === 1);
  assert.deepEqual(await page.evaluate(() => window.__revealed), ["/home/ada/Downloads/support-bundle-req_7.json"]);
  assert.deepEqual(await axe(page), []);
  assert.deepEqual(errors, []);
  await context.close();
});

test("Exports: a downloaded export has Show in folder, which reveals that job's file", async () => {
  const { page, context, errors } = await openUi(browser, APP, { hash: "#/exports" });
  const card = page.locator("[data-export-job='job_1']");
  await card.waitFor();
  await card.getByRole("button", { name: "Show in folder" }).click();
  await page.waitForFunction(() => window.__revealed.length === 1);
  assert.deepEqual(await page.evaluate(() => window.__revealed), ["export:job_1"]);
  assert.deepEqual(errors, []);
  await context.close();
});
