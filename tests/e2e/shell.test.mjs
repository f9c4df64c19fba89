// End-to-end: the real app window, driven through tauri-driver + WebKitWebDriver under Xvfb,
// inside a private D-Bus session whose gnome-keyring is unlocked (see scripts/test).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { openApp, startDriver } from "./webdriver.mjs";

let driver;
let app;

before(async () => {
  driver = await startDriver();
  app = await openApp(driver);
});

after(async () => {
  await app?.close().catch(() => {});
  await driver?.stop();
});

test("the window opens on the shell with its navigation", async () => {
  const title = await app.exec("return document.title");
  assert.match(title, /ProspectB2B Desktop/);
  const nav = await app.text("nav[aria-label='Main']");
  assert.match(nav, /Diagnostics/);
});

test("Diagnostics reports the keychain reachable through the real Secret Service", async () => {
  await app.click("a[data-screen='diagnostics']");
  const status = await app.waitForText("[data-keychain]", (t) => t.length > 0);
  assert.equal(status, "Reachable");
  const detail = await app.text("[data-fact='Keychain']");
  assert.match(detail, /Secret Service/);
  const versions = await app.text("[data-fact='Core version']");
  assert.match(versions, /^\d+\.\d+\.\d+/);
  await app.screenshot("diagnostics");
});

test("the strict CSP is applied: inline script is refused", async () => {
  const outcome = await app.exec(`
    window.__inlineRan = false;
    const s = document.createElement('script');
    s.textContent = 'window.__inlineRan = true';
    document.head.appendChild(s);
    let evalWorked = false;
    try { eval('1'); evalWorked = true; } catch (e) { evalWorked = false; }
    return { inline: window.__inlineRan, evalWorked };
  `);
  assert.deepEqual(outcome, { inline: false, evalWorked: false });
});
