// The Sync screen's destination form, Test connection and Verify/Repair, with IPC mocked: the
// password field is emptied once saved (the app answers only "a password is saved"), a failed
// test shows its error and remedy, a working one the server's version, Verify names the first
// range that differs and Repair re-runs it with repair.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { launch, openUi } from "./harness.mjs";

const HANDLERS = `() => {
  let view = { destination: { kind: "this_computer" }, password_saved: false, label: "This computer" };
  const range = { from: "2026-11-01T00:00:00.000Z", to: "2026-11-02T00:00:00.000Z", server_leads: 1000, destination_leads: 999,
    server_checksum: "aaaa", destination_checksum: "bbbb" };
  return {
    connection_status: () => ({
      profile: { name: "Team", base_url: "http://127.0.0.1:1", key_hint: "pb2b_…", sandbox: false },
      check: { me: { workspace: { id: "ws_1", name: "Team workspace" }, name: "k", key_prefix: "pb2b_", read_only: false, scopes: [], membership: { role: "owner" }, expires_at: null },
        request_id: "req_1", scopes: [], permissions: [{ action: "read_leads", allowed: true, reason: null }] },
      error: null, profiles: [],
    }),
    "plugin:event|listen": () => 1,
    "plugin:event|unlisten": () => null,
    sync_interval: () => 15,
    sync_status: () => ({ mirror: "ws_1", profile: "Team", total_leads: 0, watermark: null, interrupted: false, running: false,
      last_started_at: null, last_finished_at: null, last_outcome: null, last_mode: null, last_error: null, last: null }),
    sync_destination: () => view,
    set_sync_destination: ({ destination, password }) => {
      view = { destination, password_saved: view.password_saved || password !== "",
        label: destination.kind === "postgres" ? destination.url + " (schema " + destination.schema + ")" : "This computer" };
      return view;
    },
    test_sync_destination: ({ password }) => {
      if (password === "wrong") throw { code: "destination_error", message: "PostgreSQL: connecting failed: password authentication failed for user \\"team\\" (SQLSTATE 28P01). Check the user and the password (the one saved for this database, in the connection string or PGPASSWORD).", request_id: null, retryable: false };
      return "PostgreSQL 15.18 (Debian) on x86_64-pc-linux-gnu";
    },
    sync_verify: ({ repair }) => repair
      ? { server_leads: 3000, destination_leads: 3000, ranges: 3, differing: [range], repaired: 1, equal: true }
      : { server_leads: 3000, destination_leads: 2999, ranges: 3, differing: [range], repaired: 0, equal: false },
  };
}`;

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test("the PostgreSQL destination: Test connection, Save empties the password field, Verify then Repair", async () => {
  const { page, context, errors } = await openUi(browser, HANDLERS, { hash: "#/sync" });
  await page.locator("#dest-local").waitFor();
  assert.equal(await page.locator("#dest-local").isChecked(), true);
  assert.equal(await page.locator("#dest-pg-fields").isHidden(), true);

  await page.locator("#dest-pg").check();
  assert.equal(await page.locator("#dest-pg-fields").isVisible(), true);
  await page.locator("#dest-url").fill("postgres://team@db.internal:5432/crm");
  await page.locator("#dest-schema").fill("leads_sync");
  await page.locator("#dest-password").fill("wrong");
  await page.locator("#dest-test").click();
  const failed = page.locator("#dest-result [data-error-code='destination_error']");
  await failed.waitFor();
  assert.match(await failed.textContent(), /Check the user and the password/);

  await page.locator("#dest-password").fill("s3cret");
  await page.locator("#dest-test").click();
  await page.locator("#dest-result [data-test-result='ok']").waitFor();
  assert.match(await page.locator("#dest-result").textContent(), /Connected: PostgreSQL 15\.18/);

  await page.locator("#dest-save").click();
  await page.locator("#dest-result [data-saved='ok']").waitFor();
  assert.equal(await page.locator("#dest-password").inputValue(), "", "the password field is emptied once saved");
  assert.equal(await page.locator("#dest-password-state").getAttribute("data-password-saved"), "true");
  assert.match(await page.locator("#dest-current").textContent(), /postgres:\/\/team@db\.internal:5432\/crm \(schema leads_sync\)/);
  const saves = await page.evaluate(() => window.__pb2bCalls.filter((c) => c.cmd === "set_sync_destination").map((c) => c.args));
  assert.deepEqual(saves, [{ destination: { kind: "postgres", url: "postgres://team@db.internal:5432/crm", schema: "leads_sync" }, password: "s3cret" }]);

  await page.locator("#sync-verify").click();
  await page.locator("#verify-result [data-verify='differs']").waitFor();
  assert.match(await page.locator("#verify-first-range").textContent(), /2026-11-01T00:00:00\.000Z \.\. 2026-11-02T00:00:00\.000Z: server 1000 leads, destination 999/);
  await page.locator("#sync-repair").click();
  await page.locator("#verify-result [data-verify='equal']").waitFor();
  assert.match(await page.locator("#verify-result").textContent(), /Equal: 3000 leads on the server, 3000 in the destination, 3 ranges compared\. 1 ranges repaired\./);
  const verifies = await page.evaluate(() => window.__pb2bCalls.filter((c) => c.cmd === "sync_verify").map((c) => c.args.repair));
  assert.deepEqual(verifies, [false, true]);
  assert.deepEqual(errors, []);
  await context.close();
});
