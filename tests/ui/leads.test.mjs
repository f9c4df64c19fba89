import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { launch, openUi } from "./harness.mjs";

// A mirror of 5,000 leads answered from memory. Each search takes 600 ms, so the test can type
// while one runs and see what the screen asks for.
const MIRROR = `() => {
  const names = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra"];
  const all = Array.from({ length: 5000 }, (_, i) => ({
    id: "lead_" + i, email: "p" + i + "@example.com", full_name: names[i % 4] + " " + i,
    first_name: null, last_name: null, phone: null, job_title: null, company_name: "Co " + (i % 7),
    company_domain: null, linkedin_url: null, status: "new", source: "api", custom_fields: {},
    created_at: "2026-03-10T12:00:00.000Z", updated_at: "2026-03-10T12:00:00.000Z",
  }));
  return {
    connection_status: () => ({ profile: null, check: null, error: null, profiles: [] }),
    leads_search: async ({ query }) => {
      await new Promise((r) => setTimeout(r, 600));
      const words = (query.query ?? "").toLowerCase().split(/\\s+/).filter(Boolean);
      const hits = all.filter((l) => words.every((w) => l.full_name.toLowerCase().split(" ").some((p) => p.startsWith(w))));
      (window.__searched ??= []).push(query.query);
      return { rows: hits.slice(query.offset, query.offset + query.limit), total: hits.length, offset: query.offset };
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

test("search runs at the first keystroke, and keystrokes typed during a search collapse into one", async () => {
  const { page, context, errors } = await openUi(browser, MIRROR, { hash: "#/leads" });
  await page.locator("#leads-count").filter({ hasText: "5,000 leads" }).waitFor();
  const searches = () => page.evaluate(() =>
    window.__pb2bCalls.filter((c) => c.cmd === "leads_search" && c.args.query.offset === 0).map((c) => c.args.query.query));
  const before = (await searches()).length;

  const box = page.getByLabel("Search", { exact: true });
  await box.pressSequentially("gr", { delay: 20 });
  // "g" went out at once; "r" arrived while it ran and waits.
  assert.deepEqual((await searches()).slice(before), ["g"]);
  await box.pressSequentially("ace", { delay: 20 });
  await page.waitForFunction(() => window.__searched.includes("grace"));
  await page.locator("#leads-count").filter({ hasText: "1,250 leads" }).waitFor();
  // Then only the latest text: "gr", "gra", "grac" were never asked for.
  assert.deepEqual((await searches()).slice(before), ["g", "grace"]);
  assert.match(await page.locator(".grid-row").first().textContent(), /^Grace Hopper/);
  assert.deepEqual(errors, []);
  await context.close();
});

test("a sort from the keyboard keeps the focus on its header, which says the sort, and asks for it", async () => {
  const { page, context, errors } = await openUi(browser, MIRROR, { hash: "#/leads" });
  await page.locator("#leads-count").filter({ hasText: "5,000 leads" }).waitFor();
  const email = page.getByRole("button", { name: "Email" });
  await email.focus();
  await page.keyboard.press("Enter");
  const header = page.locator("[role=columnheader][data-column=email]");
  assert.equal(await header.getAttribute("aria-sort"), "ascending");
  assert.equal(await page.locator("[data-column=updated_at]").getAttribute("aria-sort"), "none");
  assert.equal(await email.textContent(), "Email ↑");
  // Still the same button, still focused: pressing again reverses the order.
  assert.ok(await email.evaluate((el) => el === document.activeElement));
  await page.keyboard.press("Enter");
  assert.equal(await header.getAttribute("aria-sort"), "descending");
  assert.equal(await email.textContent(), "Email ↓");
  const sorts = await page.evaluate(() =>
    window.__pb2bCalls.filter((c) => c.cmd === "leads_search" && c.args.query.offset === 0).map((c) => c.args.query.sort));
  assert.deepEqual(sorts.slice(-2), [{ field: "email", descending: false }, { field: "email", descending: true }]);
  assert.deepEqual(errors, []);
  await context.close();
});

test("after a jump the page of the rows in view is asked for first, the margin's page once it has come", async () => {
  const { page, context, errors } = await openUi(browser, MIRROR, { hash: "#/leads" });
  await page.locator("#leads-count").filter({ hasText: "5,000 leads" }).waitFor();
  const offsets = () => page.evaluate(() =>
    window.__pb2bCalls.filter((c) => c.cmd === "leads_search").map((c) => c.args.query.offset));
  const before = (await offsets()).length;
  // Row 1,000 at the top: its page starts there; the 10 rows above it are the page before.
  await page.evaluate(() => { document.querySelector("#leads-grid").scrollTop = 1000 * 34; });
  await page.waitForFunction((n) => window.__pb2bCalls.filter((c) => c.cmd === "leads_search").length > n, before);
  assert.deepEqual((await offsets()).slice(before), [1000]);
  await page.locator('.grid-row[aria-rowindex="1002"]').waitFor();
  await page.waitForFunction((n) => window.__pb2bCalls.filter((c) => c.cmd === "leads_search").length > n + 1, before);
  assert.deepEqual((await offsets()).slice(before), [1000, 900]);
  await page.locator('.grid-row[aria-rowindex="992"]').waitFor();
  assert.deepEqual(errors, []);
  await context.close();
});
