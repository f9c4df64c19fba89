// The Connect screen with the IPC mocked: what the user sees for a good key, a read-only key and
// a revoked one. The real bridge and the real keychain are covered by tests/e2e.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { launch, openUi } from "./harness.mjs";

// Handlers run in the page; `KEY_CHECK(readOnly)` builds a /me answer as the core describes it.
const HANDLERS = (verify) => `() => {
  const KEY_CHECK = (readOnly) => ({
    me: { id: "key_1", key_prefix: "pb2b_test_ab12cd34", name: "CI key", scopes: ["me.read", "leads.read", "leads.write"],
          read_only: readOnly, workspace: { id: "ws_1", name: "Acme GmbH" }, membership: { role: "admin" },
          created_at: "2026-03-10T12:00:00.000Z", updated_at: "2026-03-10T12:00:00.000Z", expires_at: null },
    key_hint: "pb2b_test_ab12…",
    scopes: [
      { scope: "me.read", description: "See which key this is, its workspace and its permissions", known: true },
      { scope: "leads.read", description: "View and sync the workspace's leads", known: true },
      { scope: "leads.write", description: "Create and change leads", known: true },
    ],
    permissions: [
      { action: "read_leads", allowed: true, reason: null },
      { action: "create_lead", allowed: !readOnly, reason: readOnly ? "This key is read-only" : null },
    ],
    request_id: "req_me_1",
  });
  let status = { profile: null, check: null, error: null, profiles: [] };
  return {
    connection_status: () => status,
    verify_key: ${verify},
    save_profile: (args) => {
      if (args.name === "Taken" && !args.replace) {
        throw { code: "profile_exists", message: "A profile named “Taken” already exists (key pb2b_live_zz99…). Replace its key, or choose another name.", request_id: null, retryable: false };
      }
      const profile = { name: args.name, base_url: args.baseUrl, key_hint: "pb2b_test_ab12…", sandbox: false };
      status = { profile, check: KEY_CHECK(false), error: null, profiles: [profile] };
      return status;
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

test("verify shows the workspace, every scope in plain words and what the key may do; save connects and clears the key field", async () => {
  const { page, context, errors } = await openUi(browser, HANDLERS("(args) => KEY_CHECK(false)"), { hash: "#/connect" });
  await page.getByLabel("API key").fill("pb2b_test_ab12cd34_secretsecret");
  await page.getByRole("button", { name: "Show" }).click();
  assert.equal(await page.getByLabel("API key").getAttribute("type"), "text");
  await page.getByRole("button", { name: "Hide" }).click();
  assert.equal(await page.getByLabel("API key").getAttribute("type"), "password");
  await page.getByRole("button", { name: "Verify" }).click();
  const card = page.getByRole("region", { name: "Key details" });
  await card.waitFor();
  assert.match(await card.textContent(), /Acme GmbH/);
  assert.match(await card.locator("[data-scope='leads.write']").textContent(), /Create and change leads/);
  assert.equal(await card.locator("[data-read-only]").textContent(), "Read and write");
  // The profile name is suggested from the workspace until the user types one.
  assert.equal(await page.getByLabel("Profile name").inputValue(), "Acme GmbH");
  const calls = await page.evaluate(() => window.__pb2bCalls);
  assert.deepEqual(calls.find((c) => c.cmd === "verify_key").args, {
    baseUrl: "https://login.prospectb2b.com/api/public/v1",
    key: "pb2b_test_ab12cd34_secretsecret",
  });

  await page.getByLabel("Profile name").fill("Acme live");
  await page.getByRole("button", { name: "Save and connect" }).click();
  // Connected, the app goes to the Overview (where a first sync starts by itself).
  await page.waitForURL(/#\/overview$/);
  await page.locator("#connection-badge", { hasText: "Acme live" }).waitFor();
  assert.equal(await page.evaluate(() => [...document.querySelectorAll("input")].some((i) => i.value.includes("secretsecret"))), false);
  await page.evaluate(() => { location.hash = "#/connect"; });
  assert.equal(await page.getByLabel("API key").inputValue(), "", "the key leaves the page once saved");
  assert.match(await page.locator("#connection-badge").textContent(), /Acme live/);
  assert.deepEqual(errors, []);
  await context.close();
});

test("saving under a taken name asks before replacing that profile's key", async () => {
  const { page, context, errors } = await openUi(browser, HANDLERS("(args) => KEY_CHECK(false)"), { hash: "#/connect" });
  await page.getByLabel("API key").fill("pb2b_test_ab12cd34_secretsecret");
  await page.getByLabel("Profile name").fill("Taken");
  await page.getByRole("button", { name: "Save and connect" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /already exists.*Replace the key of “Taken”/s);
  // Cancel keeps the old key: nothing more is sent, the key stays in the field.
  await dialog.getByRole("button", { name: "Cancel" }).click();
  let saves = (await page.evaluate(() => window.__pb2bCalls)).filter((c) => c.cmd === "save_profile");
  assert.deepEqual(saves.map((c) => c.args.replace), [false]);
  assert.equal(await page.getByLabel("API key").inputValue(), "pb2b_test_ab12cd34_secretsecret");
  // Confirmed, the same key is saved with replace.
  await page.getByRole("button", { name: "Save and connect" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Replace key" }).click();
  await page.waitForURL(/#\/overview$/);
  await page.locator("#connection-badge", { hasText: "Taken" }).waitFor();
  saves = (await page.evaluate(() => window.__pb2bCalls)).filter((c) => c.cmd === "save_profile");
  assert.deepEqual(saves.map((c) => c.args.replace), [false, false, true]);
  assert.deepEqual(errors, []);
  await context.close();
});

test("a read-only key is badged and its write actions say why they are not allowed", async () => {
  const { page, context } = await openUi(browser, HANDLERS("(args) => KEY_CHECK(true)"), { hash: "#/connect" });
  await page.getByLabel("API key").fill("pb2b_test_ab12cd34_secretsecret");
  await page.getByRole("button", { name: "Verify" }).click();
  const card = page.getByRole("region", { name: "Key details" });
  await card.waitFor();
  assert.equal(await card.locator("[data-read-only]").textContent(), "Read-only");
  const create = card.locator("[data-action='create_lead']");
  assert.equal(await create.getAttribute("data-allowed"), "false");
  assert.match(await create.textContent(), /This key is read-only/);
  await context.close();
});

test("a revoked key shows the message with a remedy and its request_id with a copy button", async () => {
  const revoked = `() => { throw { code: "api_key_revoked", message: "This API key has been revoked (it may have been rotated). Create a new key and paste it here.", request_id: "req_rev_42", retryable: false }; }`;
  const { page, context } = await openUi(browser, HANDLERS(revoked), { hash: "#/connect" });
  await page.getByLabel("API key").fill("pb2b_test_ab12cd34_secretsecret");
  await page.getByRole("button", { name: "Verify" }).click();
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.equal(await alert.getAttribute("data-error-code"), "api_key_revoked");
  assert.match(await alert.textContent(), /revoked/);
  assert.match(await alert.textContent(), /request_id req_rev_42/);
  assert.equal(await alert.getByRole("button", { name: "Copy request_id" }).count(), 1);
  assert.equal(await alert.getByRole("button", { name: "Try again" }).count(), 0, "not retryable: no Try again");
  await context.close();
});
