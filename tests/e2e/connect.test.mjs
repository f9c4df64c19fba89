// End-to-end: connect a workspace in the real window against a real pb2b-sandbox process —
// paste a key, verify, see its scopes, save; restart the app and it is still connected (the key
// read back from the Secret Service); a read-only key's writes are refused with the reason; a
// revoked key shows the revoked message and a request_id.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { enterKey, openApp, startDriver, startSandbox, tempDir } from "./webdriver.mjs";

let sandbox;
let driver;
const data = tempDir("pb2b-e2e-connect-");

before(async () => {
  sandbox = await startSandbox();
  // A data folder of its own: profiles saved here are this test's alone.
  driver = await startDriver({ env: { XDG_DATA_HOME: data } });
});

after(async () => {
  await driver?.stop();
  await sandbox?.stop();
});

test("paste a key, verify, see its scopes, save; after a restart it is still connected", async () => {
  let app = await openApp(driver);
  try {
    await enterKey(app, sandbox, sandbox.keys.full, { name: "Sandbox via key" });
    const card = await app.waitForText("#verify-result [data-key-check]", (t) => t.includes("Scopes"));
    assert.match(card, /leads\.write — Create and change leads/);
    assert.match(card, /Read and write/);
    await app.exec("[...document.querySelectorAll('button')].find(b => b.textContent === 'Save and connect').click()");
    // Connected, the app goes to the Overview, whose first sync starts by itself.
    await app.waitForText("main h1", (t) => t === "Overview", { timeout: 60_000 });
    await app.waitForText("#connection-badge", (t) => t.includes("Sandbox via key"));
    await app.click("a[data-screen='connect']");
    await app.waitForText("[data-active-profile]", (t) => t.includes("Sandbox via key"));
    const keyField = await app.exec("return document.querySelector('#api-key').value");
    assert.equal(keyField, "", "the key leaves the page once saved");
    await app.screenshot("connect-saved");
  } finally {
    await app.close();
  }

  // A new process: the key must come back from the keychain.
  app = await openApp(driver);
  try {
    const badge = await app.waitForText("#connection-badge", (t) => t.includes("Connected"));
    assert.match(badge, /Sandbox via key/);
    assert.match(badge, /Sandbox workspace/);
  } finally {
    await app.close();
  }
});

test("a read-only key is badged read-only and its write actions give the reason", async () => {
  const app = await openApp(driver);
  try {
    await enterKey(app, sandbox, sandbox.keys.read_only);
    const access = await app.waitForText("#verify-result [data-read-only]", (t) => t.length > 0);
    assert.equal(access, "Read-only");
    const create = await app.text("#verify-result [data-action='create_lead']");
    assert.match(create, /No/);
    assert.match(create, /read-only/);
    // Saved and active, the app's write actions are disabled with the reason instead of failing.
    await app.exec("document.querySelector('#profile-name').value = ''");
    await app.type("#profile-name", "Read-only key");
    await app.exec("[...document.querySelectorAll('button')].find(b => b.textContent === 'Save and connect').click()");
    await app.waitForText("main h1", (t) => t === "Overview", { timeout: 60_000 });
    await app.waitForText("#connection-badge", (t) => t.includes("Read-only key"));
    await app.click("a[data-screen='exports']");
    assert.equal(await app.exec("return document.querySelector('#export-start').disabled"), true);
    assert.match(await app.text("[data-denied='Start export']"), /read-only/);
    await app.click("a[data-screen='webhooks']");
    assert.equal(await app.exec("return document.querySelector('#webhook-save').disabled"), true);
    assert.match(await app.text("[data-denied='Create endpoint']"), /read-only/);
  } finally {
    await app.close();
  }
});

test("a revoked key shows the revoked message and a request_id", async () => {
  const app = await openApp(driver);
  try {
    await enterKey(app, sandbox, sandbox.keys.revoked);
    const alert = await app.waitForText("#verify-result [role='alert']", (t) => t.length > 0);
    assert.match(alert, /revoked/i);
    assert.match(alert, /request_id req_/);
    const code = await app.exec("return document.querySelector('#verify-result [role=alert]').dataset.errorCode");
    assert.equal(code, "api_key_revoked");
    await app.screenshot("connect-revoked");
  } finally {
    await app.close();
  }
});
