import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { launch, openUi } from "./harness.mjs";

const DIAGNOSTICS_OK = `() => ({
  connection_status: () => ({ profile: null, check: null, error: null, profiles: [] }),
  diagnostics: () => ({
    app_version: "0.1.0", core_version: "0.1.0", os: "Debian 12", arch: "x86_64",
    data_dir: "/home/ada/.local/share/com.prospectb2b.desktop",
    keychain: { reachable: true, backend: "Secret Service (D-Bus)", detail: "A probe entry was written, read back and deleted." },
    base_url: "https://login.prospectb2b.com/api/public/v1",
    trust_store: "The operating system's trust store (rustls with native roots)",
    proxy: "http://proxy.corp:3128 (with a user name and password, not shown), from the HTTPS_PROXY environment variable",
  }),
})`;

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test("the shell lists only the screens that work, and Diagnostics renders its report", async () => {
  const { page, context, errors } = await openUi(browser, DIAGNOSTICS_OK, { hash: "#/diagnostics" });
  const links = await page.getByRole("navigation", { name: "Main" }).getByRole("link").allTextContents();
  assert.deepEqual(links, ["Connect", "Overview", "Leads", "Import", "Sync", "Exports", "Webhooks", "Activity", "Diagnostics"]);
  await page.getByText("Reachable").waitFor();
  assert.equal(await page.locator("[data-fact='API base URL']").textContent(), "https://login.prospectb2b.com/api/public/v1");
  assert.equal(await page.locator("[data-fact='Operating system']").textContent(), "Debian 12 (x86_64)");
  assert.equal(await page.locator("[data-fact='Trusted certificates']").textContent(), "The operating system's trust store (rustls with native roots)");
  assert.match(await page.locator("[data-fact='Proxy']").textContent(), /^http:\/\/proxy\.corp:3128 \(with a user name and password, not shown\)/);
  assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "Diagnostics");
  assert.deepEqual(errors, []);
  await context.close();
});

test("an error shows its message, code and request_id with a copy button, and retries when retryable", async () => {
  const { page, context } = await openUi(
    browser,
    `() => {
      let calls = 0;
      return {
        connection_status: () => ({ profile: null, check: null, error: null, profiles: [] }),
        diagnostics: () => {
          calls += 1;
          if (calls === 1) throw { code: "keychain_unavailable", message: "The system keychain is not available.", request_id: "req_abc123", retryable: true };
          return { app_version: "0.1.0", core_version: "0.1.0", os: "Debian 12", arch: "x86_64", data_dir: "/d",
            keychain: { reachable: false, backend: "Secret Service (D-Bus)", detail: "no D-Bus session" }, base_url: "http://127.0.0.1:1/api/public/v1" };
        },
      };
    }`,
    { hash: "#/diagnostics" },
  );
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.equal(await alert.getAttribute("data-error-code"), "keychain_unavailable");
  assert.match(await alert.textContent(), /The system keychain is not available\./);
  assert.match(await alert.textContent(), /request_id req_abc123/);
  await alert.getByRole("button", { name: "Copy request_id" }).click();
  await page.getByRole("status").filter({ hasText: /copied|Copy failed/ }).waitFor();
  await alert.getByRole("button", { name: "Try again" }).click();
  await page.getByText("Not reachable").waitFor();
  assert.equal(await page.getByRole("alert").count(), 0);
  await context.close();
});

test("before a connection, a workspace screen is an empty state whose button opens Connect, not an error", async () => {
  const notConnected = `{ code: "not_connected", message: "Connect a workspace first (Connect screen).", request_id: null, retryable: false }`;
  const { page, context, errors } = await openUi(
    browser,
    `() => ({
      connection_status: () => ({ profile: null, check: null, error: null, profiles: [] }),
      overview: () => { throw ${notConnected}; },
    })`,
    { hash: "#/overview" },
  );
  const empty = page.getByRole("region", { name: "No workspace connected" });
  await empty.waitFor();
  assert.equal(await page.getByRole("alert").count(), 0, "not being connected is not announced as a failure");
  assert.doesNotMatch(await empty.textContent(), /Something went wrong/);
  await empty.getByRole("button", { name: "Connect a workspace" }).click();
  await page.waitForFunction(() => location.hash === "#/connect");
  await page.getByRole("heading", { level: 1, name: "Connect" }).waitFor();
  assert.deepEqual(errors, []);
  await context.close();
});

test("follows the OS theme: dark background in dark mode, light in light mode", async () => {
  const bg = async (colorScheme) => {
    const { page, context } = await openUi(browser, DIAGNOSTICS_OK, { colorScheme, hash: "#/diagnostics" });
    const color = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await context.close();
    return color;
  };
  assert.equal(await bg("light"), "rgb(247, 248, 250)");
  assert.equal(await bg("dark"), "rgb(15, 17, 21)");
});

test("keyboard: focus lands on the screen heading, Tab and Shift+Tab reach the controls, Alt+N switches screens", async () => {
  const { page, context } = await openUi(browser, DIAGNOSTICS_OK, { hash: "#/diagnostics" });
  await page.getByText("Reachable").waitFor();
  const active = () => page.evaluate(() => document.activeElement?.textContent);
  await page.waitForFunction(() => document.activeElement?.tagName === "H1");
  await page.keyboard.press("Tab");
  assert.equal(await active(), "Run checks again");
  await page.keyboard.press("Shift+Tab");
  assert.equal(await active(), "Diagnostics");
  assert.equal(await page.evaluate(() => document.activeElement?.closest("nav")?.getAttribute("aria-label")), "Main");
  await page.keyboard.press("Shift+Tab");
  assert.equal(await active(), "Activity");
  await page.keyboard.press("Alt+1");
  await page.waitForFunction(() => location.hash === "#/connect");
  await page.waitForFunction(() => document.activeElement?.textContent === "Connect" && document.activeElement?.tagName === "H1");
  await page.keyboard.press("Alt+9");
  await page.waitForFunction(() => location.hash === "#/diagnostics");
  await page.waitForFunction(() => document.activeElement?.tagName === "H1");
  await context.close();
});

test("the app reopens on the screen the user left", async () => {
  const { page, context } = await openUi(browser, DIAGNOSTICS_OK, { hash: "#/diagnostics" });
  await page.getByText("Reachable").waitFor();
  // A new start: the page without a hash, as the app opens it.
  await page.goto(page.url().replace(/#.*$/, ""));
  await page.waitForFunction(() => location.hash === "#/diagnostics");
  assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "Diagnostics");
  await context.close();
});
