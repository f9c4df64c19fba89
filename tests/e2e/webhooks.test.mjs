// End-to-end: webhooks in the real window against a real pb2b-sandbox process — start the local
// test receiver (which creates an endpoint), see the secret once, see only its prefix afterwards,
// and watch a signed lead.created delivery arrive and verify.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { connectWithKey, openApp, startDriver, startSandbox, tempDir } from "./webdriver.mjs";

let sandbox;
let driver;
let app;
const home = tempDir("pb2b-e2e-webhooks-");

before(async () => {
  sandbox = await startSandbox();
  driver = await startDriver({ env: { XDG_DATA_HOME: join(home, "data") } });
  app = await openApp(driver);
  await connectWithKey(app, sandbox);
});

after(async () => {
  await app?.close().catch(() => {});
  await driver?.stop();
  await sandbox?.stop();
});

test("the secret is shown once, then only its prefix; a delivery arrives in the test receiver and verifies", async () => {
  await app.click("a[data-screen='webhooks']");
  await app.click("#receiver-start");
  const secret = await app.waitForText("#secret-dialog code.secret", (t) => t.startsWith("whsec_"));
  const prefix = await app.exec("return document.querySelector('#secret-dialog code.secret').dataset.secretPrefix");
  assert.ok(secret.startsWith(prefix) && secret.length > prefix.length);
  await app.screenshot("webhooks-secret-dialog");

  // Copy goes through the app: on the clipboard, marked as a secret that clipboard managers keep
  // out of their history (read here as another program would).
  await app.exec("[...document.querySelectorAll('#secret-dialog button')].find(b => b.textContent === 'Copy').click()");
  await app.waitForText("#secret-dialog [role=status]", (t) => t.startsWith("Copied"));
  const xclip = (target) => execFileSync("xclip", ["-selection", "clipboard", "-t", target, "-o"], { encoding: "utf8" });
  assert.ok(xclip("TARGETS").split("\n").includes("x-kde-passwordManagerHint"));
  assert.equal(xclip("x-kde-passwordManagerHint"), "secret");
  assert.equal(xclip("UTF8_STRING"), secret);
  await app.exec("[...document.querySelectorAll('#secret-dialog button')].find(b => b.textContent === 'Done').click()");

  const listed = await app.waitForText("#webhook-list", (t) => t.includes(prefix));
  assert.ok(!listed.includes(secret), "after the dialog only the prefix is shown");
  const page = await app.exec("return document.body.innerText");
  assert.ok(!page.includes(secret), "the secret is nowhere on the page any more");

  // Someone creates a lead through the API: the sandbox delivers lead.created to the receiver.
  const res = await fetch(`${sandbox.base_url}/leads`, {
    method: "POST",
    headers: { authorization: `Bearer ${sandbox.keys.full}`, "content-type": "application/json", "idempotency-key": "e2e-webhook-lead" },
    body: JSON.stringify({ full_name: "Grace Hopper", email: "grace@example.com", company_name: "Navy" }),
  });
  assert.equal(res.status, 201, await res.text());
  const received = await app.waitForText("#receiver-deliveries", (t) => t.includes("lead.created"), { timeout: 30_000 });
  assert.match(received, /Signature valid/);
  assert.match(received, /Grace Hopper/);
  await app.screenshot("webhooks-delivery");
});
