// The Import screen's steps (issue 12, items 3 and 8), with IPC mocked: the file's columns, then
// the review against the workspace for the chosen mode (counts per class, a table filtered by
// class, old → new per field, how fresh the mirror was), saved as a file, then sent; a re-import
// whose rows all exist has nothing to send. Keyboard use and axe in light and dark.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { launch, openUi, ROOT } from "./harness.mjs";

const AXE = readFileSync(join(ROOT, "node_modules", "axe-core", "axe.min.js"), "utf8");

const APP = (allExist, staged = false) => `() => {
  (window.__TAURI_INTERNALS__ ??= {}).metadata = { currentWindow: { label: "main" }, currentWebview: { windowLabel: "main", label: "main" } };
  const now = "2026-11-30T10:00:00.000Z";
  const me = { workspace: { id: "ws_1", name: "Acme" }, name: "Full", key_prefix: "pb2b_test_full", read_only: false,
    scopes: ["leads.read", "leads.write"], membership: { role: "owner" }, expires_at: null };
  const actions = ["read_leads", "create_lead", "import_leads"];
  const check = { me, request_id: "req_1", scopes: [], permissions: actions.map((action) => ({ action, allowed: true, reason: null })) };
  const profile = { name: "Acme", base_url: "http://127.0.0.1:4010/v1", key_hint: "pb2b_test_full…", sandbox: false };
  const lead = (email) => ({ email, full_name: "Ada", first_name: null, last_name: null, phone: null, job_title: "CEO", company_name: null,
    company_domain: null, linkedin_url: null, status: null, source: null, custom_fields: {} });
  const zero = { create: 0, update: 0, unchanged: 0, skipped_exists: 0, skipped_missing: 0, ambiguous: 0, invalid: 0, duplicate: 0 };
  const rows = {
    create: [{ row_number: 2, email: "new@example.com", class: "create", lead_id: null, changes: [], reason: "" }],
    skipped_exists: [
      { row_number: 3, email: "ada@example.com", class: "skipped_exists", lead_id: "lead_1", changes: [], reason: "the workspace already has a lead with the e-mail ada@example.com (mode: create new leads only)" },
      { row_number: 4, email: "bob@example.com", class: "skipped_exists", lead_id: "lead_2", changes: [], reason: "the workspace already has a lead with the e-mail bob@example.com (mode: create new leads only)" },
    ],
    update: [{ row_number: 3, email: "ada@example.com", class: "update", lead_id: "lead_1", changes: [{ field: "job_title", old: "CTO", new: "CEO" }], reason: "" }],
    unchanged: [{ row_number: 4, email: "bob@example.com", class: "unchanged", lead_id: "lead_2", changes: [], reason: "the lead with the e-mail bob@example.com already holds these values" }],
    invalid: [{ row_number: 5, email: "", class: "invalid", lead_id: null, changes: [], reason: "email: not a valid e-mail address" }],
  };
  const review = { create: ${allExist ? "{ skipped_exists: 3 }" : "{ create: 1, skipped_exists: 2, invalid: 1 }"}, upsert: { create: 1, update: 1, unchanged: 1, invalid: 1 } };
  const byMode = { create: ${allExist ? "[]" : `["create", "skipped_exists", "invalid"]`}, upsert: ["create", "update", "unchanged", "invalid"] };
  let mode = "create";
  return {
    connection_status: () => ({ profile, check, error: null, profiles: [profile] }),
    sync_status: () => null,
    imports_list: () => ${staged} ? [{ id: "imp_3", file_path: "/home/ada/old.csv", file_name: "old.csv", file_size: 200, headers: ["Email"],
      format: { encoding: "UTF-8", bom: false, delimiter: ",", sheet: null, sheets: [] }, mapping: { columns: [] }, status: "ready", mode: "create",
      counts: { total: 4, pending: 4, in_flight: 0, created: 0, updated: 0, unchanged: 0, failed: 0, skipped: 0, blank_lines: 0, ragged_rows: 0, with_dropped_fields: 0 },
      created_at: now, updated_at: now, owner: null }] : [],
    imports_unassigned: () => [],
    import_preview: ({ path }) => ({
      format: { encoding: "UTF-8", bom: false, delimiter: ",", sheet: null, sheets: [] },
      headers: ["Email", "Title"],
      mapping: { columns: [{ index: 0, header: "Email", target: { kind: "field", field: "email" }, confidence: 100 },
        { index: 1, header: "Title", target: { kind: "field", field: "job_title" }, confidence: 100 }] },
      remembered: false, mapping_problems: [],
      rows: [{ row_number: 2, lead: lead("new@example.com"), errors: [], dropped: [], duplicate: false }],
      counts: { rows: 4, will_create: 3, invalid: 1, duplicate: 0, blank_lines: 0, ragged_rows: 0, with_dropped_fields: 0 },
      complete: true, estimated_rows: 4, file_size: 200,
    }),
    import_stage: ({ path }) => ({ id: "imp_7", file_path: path, file_name: "leads.csv", file_size: 200, headers: ["Email", "Title"],
      format: { encoding: "UTF-8", bom: false, delimiter: ",", sheet: null, sheets: [] }, mapping: { columns: [] }, status: "ready", mode: "create",
      counts: { total: 4, pending: 3, in_flight: 0, created: 0, updated: 0, unchanged: 0, failed: 0, skipped: 1, blank_lines: 0, ragged_rows: 0, with_dropped_fields: 0 },
      created_at: now, updated_at: now, owner: null }),
    import_review: (args) => {
      mode = args.mode;
      return { import_id: args.id, mode: args.mode, counts: { ...zero, ...review[args.mode] },
        mirror: { synced_at: "2026-11-30T09:58:00.000Z", leads: 2, synced_now: args.mode === "create" }, cancelled: false };
    },
    import_review_rows: ({ only, offset }) => {
      const all = byMode[mode].flatMap((c) => rows[c]).sort((a, b) => a.row_number - b.row_number);
      const list = only ? all.filter((r) => r.class === only) : all;
      return { rows: list.slice(offset, offset + 50), total: list.length, offset };
    },
    import_results_file: ({ kind }) => "/home/ada/Downloads/leads-" + kind + ".csv",
    reveal_file: () => null,
    import_resume: () => null,
  };
}`;

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const calls = (page, cmd) => page.evaluate((c) => window.__pb2bCalls.filter((x) => x.cmd === c).map((x) => x.args), cmd);
const step = (page) => page.locator(".steps").getAttribute("data-current-step");

test("Import steps: columns, then a review per mode with a filterable table, saved, then sent", async () => {
  for (const colorScheme of ["light", "dark"]) {
    const { page, context, errors } = await openUi(browser, APP(false), { hash: "#/import?file=/home/ada/leads.csv", colorScheme, mockEvents: true });
    await page.locator("#import-review").waitFor();
    assert.equal(await step(page), "2");
    assert.equal(await page.locator(".steps [aria-current=step]").textContent(), "2 Columns");
    assert.match(await page.locator("#import-review").textContent(), /Review 4 rows against the workspace/);
    await page.locator("#import-review").click();

    // The default mode: what exists is skipped; the mirror's freshness is said.
    await page.locator("[data-review-counts]").waitFor();
    assert.equal(await step(page), "3");
    assert.equal(await page.locator("[data-review-counts]").getAttribute("data-review-counts"), "1/0/0/2/0/0/1/0");
    assert.deepEqual((await calls(page, "import_stage")).map((a) => a.path), ["/home/ada/leads.csv"]);
    assert.deepEqual((await calls(page, "import_review")).map((a) => [a.id, a.mode]), [["imp_7", "create"]]);
    assert.equal(await page.locator("#mode-create").isChecked(), true);
    assert.match(await page.locator("#review-status").textContent(), /Compared with the workspace's 2 leads as synced .*\(synced just now for this review\)\./);
    await page.locator("#review-rows tr").nth(3).waitFor();
    assert.equal(await page.locator("#import-send").textContent(), "Send 1 row");

    // Filter by class: only the skipped rows, with why; again shows all.
    await page.locator("[data-review-class=skipped_exists]").click();
    await page.locator("#review-rows[data-total='2']").waitFor();
    assert.deepEqual(await page.locator("#review-rows tr").evaluateAll((trs) => trs.map((t) => t.dataset.class)), ["skipped_exists", "skipped_exists"]);
    assert.match(await page.locator("#review-rows").textContent(), /already has a lead with the e-mail ada@example\.com/);
    assert.equal(await page.locator("[data-review-class=skipped_exists]").getAttribute("aria-pressed"), "true");
    assert.equal((await calls(page, "import_review_rows")).at(-1).only, "skipped_exists");
    await page.locator("[data-review-class=skipped_exists]").click();
    await page.locator("#review-rows[data-total='4']").waitFor();

    // Another mode, by keyboard: reviewed again; the update shows old → new.
    await page.locator("#mode-create").focus();
    await page.keyboard.press("ArrowDown");
    await page.locator("[data-review-counts='1/1/1/0/0/0/1/0']").waitFor();
    assert.deepEqual((await calls(page, "import_review")).map((a) => a.mode), ["create", "upsert"]);
    assert.match(await page.locator("#review-status").textContent(), /as synced .*\.$/);
    await page.locator("[data-review-class=update]").click();
    await page.locator("#review-rows[data-total='1']").waitFor();
    assert.match(await page.locator("#review-rows").textContent(), /job_title: CTO → CEO/);
    assert.equal(await page.locator("#import-send").textContent(), "Send 2 rows");

    await page.evaluate(AXE);
    const violations = await page.evaluate(async () => {
      const r = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
      return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => v.id);
    });
    assert.deepEqual(violations, [], colorScheme);

    // Saved as a file, then sent: the run's progress, then the results step.
    await page.locator("#review-save").click();
    await page.locator("[data-results-path='/home/ada/Downloads/leads-review.csv']").waitFor();
    assert.deepEqual((await calls(page, "import_results_file")).map((a) => [a.id, a.kind]), [["imp_7", "review"]]);
    await page.locator("#import-send").click();
    await page.locator("#import-progress").waitFor();
    assert.equal(await step(page), "4");
    assert.deepEqual((await calls(page, "import_resume")).map((a) => a.id), ["imp_7"]);
    await page.evaluate(() => window.__pb2bEmit("import-finished", { import_id: "imp_7", status: "completed" }));
    await page.locator("#import-progress-text[data-import-finished='true']").waitFor();
    assert.equal(await step(page), "5");
    assert.deepEqual(errors, []);
    await context.close();
  }
});

test("A re-import whose rows all exist: the review says so and there is nothing to send", async () => {
  const { page, context, errors } = await openUi(browser, APP(true), { hash: "#/import?file=/home/ada/leads.csv", mockEvents: true });
  await page.locator("#import-review").click();
  await page.locator("[data-review-counts='0/0/0/3/0/0/0/0']").waitFor();
  assert.equal(await page.locator("#import-send").textContent(), "Nothing to send");
  assert.equal(await page.locator("#import-send").isDisabled(), true);
  assert.match(await page.locator("#import-review-card").textContent(), /Every row is skipped in this mode\./);
  assert.deepEqual(await calls(page, "import_resume"), []);
  assert.deepEqual(errors, []);
  await context.close();
});

test("An import staged earlier and never sent is reviewed from the history, not resumed blindly", async () => {
  const { page, context, errors } = await openUi(browser, APP(false, true), { hash: "#/import", mockEvents: true });
  await page.locator("[data-review-import='imp_3']").click();
  await page.locator("[data-review-counts]").waitFor();
  assert.match(await page.locator("#import-review-card h2").textContent(), /Review: old\.csv/);
  assert.deepEqual((await calls(page, "import_review")).map((a) => [a.id, a.mode]), [["imp_3", "create"]]);
  assert.equal(await page.locator("[data-import='imp_3'] button", { hasText: /^Resume$/ }).count(), 0);
  assert.deepEqual(await calls(page, "import_stage"), []);
  assert.deepEqual(errors, []);
  await context.close();
});
