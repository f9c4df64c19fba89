// The Leads drawer's Edit mode: inputs checked as the user types (the core's answer, mocked),
// Enter saves, Escape cancels, a conflict shows their changes old → new with Reapply / Keep
// theirs, a read-only key disables Save with the reason, and axe finds nothing in either theme.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { launch, openUi, ROOT } from "./harness.mjs";

const AXE = readFileSync(join(ROOT, "node_modules", "axe-core", "axe.min.js"), "utf8");

const app = (allowed) => `() => {
  const now = "2026-11-30T10:00:00.000Z";
  const me = { workspace: { id: "ws_sandbox", name: "Sandbox workspace" }, name: "Key", key_prefix: "pb2b_test_full", read_only: ${!allowed},
    scopes: ["leads.read", "leads.write"], membership: { role: "owner" }, expires_at: null };
  const permissions = ["read_leads", "create_lead", "update_lead"].map((action) => ({ action,
    allowed: action === "read_leads" || ${allowed}, reason: action === "read_leads" || ${allowed} ? null : "This key is read-only: use a key without the read-only setting to edit leads" }));
  const check = { me, request_id: "req_0123456789abcdef01234567", scopes: [], permissions };
  const profile = { name: "Local sandbox", base_url: "http://127.0.0.1:4010/v1", key_hint: "pb2b_test_full…", sandbox: true };
  const status = { profile, check, error: null, profiles: [profile] };
  const lead = { id: "lead_1", email: "ada@example.com", full_name: "Ada Lovelace", first_name: null, last_name: null, phone: null, job_title: "Engineer",
    company_name: "Engines", company_domain: null, linkedin_url: null, status: "new", source: "api", custom_fields: {}, created_at: now, updated_at: now };
  window.__edits = [];
  return {
    "plugin:event|listen": () => 1,
    "plugin:event|unlisten": () => null,
    connection_status: () => status,
    leads_search: ({ query }) => ({ rows: query.offset === 0 ? [lead] : [], total: 1, offset: query.offset }),
    lead_detail: () => lead,
    lead_edit_validate: ({ edit }) => (edit.values.email ?? "").includes("@") ? [] :
      [{ field: "email", code: "invalid_email", message: "'" + edit.values.email + "' is not a valid e-mail address" }],
    lead_edit: ({ edit }) => {
      window.__edits.push(edit);
      if (edit.loaded.updated_at === now) {
        const server = { ...lead, company_name: "Someone Else Ltd", updated_at: "2026-11-30T11:00:00.000Z" };
        return { saved: null, message: "Someone else changed this lead after you opened it (company_name: Engines → Someone Else Ltd). Nothing was saved.",
          conflict: { server, theirs: [{ field: "company_name", old: "Engines", new: "Someone Else Ltd" }],
            mine: [{ field: "job_title", old: "Engineer", new: "CTO" }], reapply: { loaded: server, values: { job_title: "CTO" } } } };
      }
      Object.assign(lead, edit.loaded, edit.values);
      return { saved: { lead, changed: [{ field: "job_title", old: "Engineer", new: "CTO" }], request_id: "req_0123456789abcdef01234568" }, conflict: null, message: null };
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

async function axe(page, selector) {
  await page.evaluate(AXE);
  return page.evaluate(async (sel) => {
    const result = await window.axe.run(document.querySelector(sel), { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    const ids = new Map();
    for (const el of document.querySelectorAll("[id]")) ids.set(el.id, (ids.get(el.id) ?? 0) + 1);
    return [
      ...result.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => v.id),
      ...[...ids].filter(([, n]) => n > 1).map(([id]) => "duplicate id " + id),
    ];
  }, selector);
}

async function openDrawer(page) {
  await page.locator(".grid-row").first().waitFor();
  await page.locator("[role=grid]").focus();
  await page.keyboard.press("Enter");
  await page.locator("#lead-detail").getByRole("heading", { name: "Ada Lovelace" }).waitFor();
}

for (const colorScheme of ["light", "dark"]) {
  test(`Edit: checked as typed, Escape cancels, Enter saves, a conflict is explained and reapplied (${colorScheme})`, async () => {
    const { page, context, errors } = await openUi(browser, app(true), { hash: "#/leads", colorScheme });
    await openDrawer(page);
    await page.locator("#lead-edit").click();
    const form = page.getByRole("form", { name: "Edit lead" });
    await form.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), "lead-edit-full_name");
    // Checked as typed, under the field.
    const email = form.getByLabel("Email", { exact: true });
    await email.fill("ada-at-example.com");
    await page.locator("#lead-edit-email-error").filter({ hasText: "not a valid e-mail address" }).waitFor();
    assert.equal(await email.getAttribute("aria-invalid"), "true");
    assert.deepEqual(await axe(page, "#lead-detail"), [], "edit form");
    // Enter with a wrong field sends nothing.
    await page.keyboard.press("Enter");
    await email.fill("ada@example.com");
    await page.locator("#lead-edit-email-error").filter({ hasText: /^$/ }).waitFor();
    assert.deepEqual(await page.evaluate(() => window.__edits), []);
    // Escape cancels: back to the details, the drawer stays open.
    await form.getByLabel("Job title", { exact: true }).fill("CTO");
    await page.keyboard.press("Escape");
    await page.locator("#lead-edit").waitFor();
    assert.equal(await page.locator("#lead-detail").isHidden(), false);
    // Again, and Enter saves: the lead changed meanwhile, so the conflict panel explains it.
    await page.locator("#lead-edit").click();
    await form.getByLabel("Job title", { exact: true }).fill("CTO");
    await page.keyboard.press("Enter");
    const conflict = page.locator("#lead-edit-conflict");
    await conflict.waitFor();
    assert.match(await conflict.textContent(), /company_name.*Engines.*Someone Else Ltd/);
    assert.deepEqual(await axe(page, "#lead-detail"), [], "conflict panel");
    const sent = await page.evaluate(() => window.__edits[0]);
    assert.equal(sent.values.job_title, "CTO");
    assert.equal(sent.loaded.id, "lead_1");
    // Reapply sends the same changes on their version, then the details show the result.
    await page.locator("#lead-edit-reapply").click();
    await page.locator("#lead-detail dd").filter({ hasText: "Someone Else Ltd" }).waitFor();
    await page.locator("#lead-detail dd").filter({ hasText: "CTO" }).waitFor();
    const again = await page.evaluate(() => window.__edits[1]);
    assert.deepEqual(again.values, { job_title: "CTO" });
    assert.deepEqual(errors.map(String), []);
    await context.close();
  });
}

test("a read-only key shows Edit disabled with the reason", async () => {
  const { page, context, errors } = await openUi(browser, app(false), { hash: "#/leads" });
  await openDrawer(page);
  const edit = page.locator("#lead-edit");
  assert.equal(await edit.isDisabled(), true);
  const why = await page.locator(`#${await edit.getAttribute("aria-describedby")}`).textContent();
  assert.match(why, /read-only/);
  assert.deepEqual(await axe(page, "#lead-detail"), []);
  assert.deepEqual(errors.map(String), []);
  await context.close();
});
