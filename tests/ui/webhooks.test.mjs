// The Webhooks screen with the IPC mocked: "Create endpoint" keeps one Idempotency-Key per
// submission until an answer arrives (issue 14, item 5). The sandbox's replay of that key, and the
// real commands, are covered by src-tauri/tests (webhook_create_replays_one_endpoint...).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { launch, openUi } from "./harness.mjs";

// `webhook_create` answers only when the test says so (window.__answer), so the test can look at
// the screen while a submission is in flight. The first answer is a timeout, the second the
// endpoint with its secret.
const HANDLERS = `() => {
  const check = {
    me: { id: "key_1", key_prefix: "pb2b_test_ab12cd34", name: "CI key", scopes: ["me.read", "webhooks.read", "webhooks.write"],
          read_only: false, workspace: { id: "ws_1", name: "Acme GmbH" }, membership: { role: "admin" },
          created_at: "2026-03-10T12:00:00.000Z", updated_at: "2026-03-10T12:00:00.000Z", expires_at: null },
    key_hint: "pb2b_test_ab12…",
    scopes: [],
    permissions: [
      { action: "view_webhooks", allowed: true, reason: null },
      { action: "manage_webhooks", allowed: true, reason: null },
    ],
    request_id: "req_me_1",
  };
  const profile = { name: "Acme", base_url: "https://login.prospectb2b.com/api/public/v1", key_hint: "pb2b_test_ab12…", sandbox: false };
  let made = 0;
  const waiting = [];
  window.__answer = (outcome) => waiting.shift()(outcome);
  window.__waiting = () => waiting.length;
  return {
    connection_status: () => ({ profile, check, error: null, profiles: [profile] }),
    webhook_events: () => [{ name: "lead.created", group: "Leads", description: "A lead was created" }],
    webhooks_list: () => [],
    receiver_available: () => false,
    webhook_check_url: ({ url }) => ({ ok: true, url, reason: null }),
    webhook_submission: ({ draft }) => ({ idempotency_key: "webhook-create-" + (++made), draft }),
    webhook_create: ({ submission }) => new Promise((resolve, reject) => {
      waiting.push((outcome) => outcome === "timeout"
        ? reject({ code: "timeout", message: "ProspectB2B did not answer in time. Try again: it will not create a duplicate.", request_id: null, retryable: true })
        : resolve({ secret: { webhook_id: "wh_1", prefix: "whsec_ab12", secret: "whsec_ab12cd34ef56", notice: "Copy this signing secret now." } }));
    }),
    webhook_dismiss_secret: () => null,
  };
}`;

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test("Create endpoint: one key per submission, kept after a timeout; the button is disabled while in flight", async () => {
  const { page, context, errors } = await openUi(browser, HANDLERS, { hash: "#/diagnostics" });
  await page.locator("#connection-badge").filter({ hasText: "Connected" }).waitFor();
  await page.evaluate(() => { location.hash = "#/webhooks"; });
  const creates = () => page.evaluate(() => window.__pb2bCalls.filter((c) => c.cmd === "webhook_create").map((c) => c.args.submission));
  const save = page.locator("#webhook-save");

  await page.locator("#webhook-url").fill("https://hooks.example.com/pb2b");
  await page.locator("#event-lead\\.created").check();
  await save.click();
  await page.waitForFunction(() => window.__waiting() === 1);
  assert.equal(await save.isDisabled(), true, "the button is disabled while the submission is in flight");
  // A second click now (the double click) sends nothing.
  await page.evaluate(() => document.querySelector("#webhook-save").click());
  assert.equal((await creates()).length, 1);

  // The answer is lost (a timeout): the user clicks again, and the same key goes out.
  await page.evaluate(() => window.__answer("timeout"));
  await page.getByText("did not answer in time").waitFor();
  assert.equal(await save.isDisabled(), false);
  await save.click();
  await page.waitForFunction(() => window.__waiting() === 1);
  await page.evaluate(() => window.__answer("created"));
  await page.locator("#secret-dialog code.secret").filter({ hasText: "whsec_ab12cd34ef56" }).waitFor();

  const [first, second] = await creates();
  assert.equal((await creates()).length, 2);
  assert.equal(first.idempotency_key, second.idempotency_key, "both submits of one submission send one key");
  assert.deepEqual(second.draft, { url: "https://hooks.example.com/pb2b", events: ["lead.created"], description: null, enabled: true });

  // Answered: the next endpoint is a new submission with a new key.
  await page.locator("#secret-dialog button", { hasText: "Done" }).click();
  await page.locator("#webhook-url").fill("https://hooks.example.com/other");
  await page.locator("#event-lead\\.created").check();
  await save.click();
  await page.waitForFunction(() => window.__waiting() === 1);
  const third = (await creates())[2];
  assert.notEqual(third.idempotency_key, first.idempotency_key);
  assert.deepEqual(errors, []);
  await context.close();
});
