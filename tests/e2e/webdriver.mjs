// A small W3C WebDriver client over fetch, for driving the real app window through tauri-driver
// (which forwards to WebKitWebDriver on Linux). No extra packages: node's fetch and test runner.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import net from "node:net";

const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";
export const ROOT = resolve(new URL("../..", import.meta.url).pathname);
export const APP_BINARY =
  process.env.PB2B_APP_BINARY ?? join(ROOT, "target", "debug", "prospectb2b-desktop");

async function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/** Starts tauri-driver on free loopback ports; returns its URL and a stop function. */
export async function startDriver({ env = {} } = {}) {
  const port = await freePort();
  const nativePort = await freePort();
  const driverBin = process.env.TAURI_DRIVER ?? "tauri-driver";
  // Its own process group: the WebKitWebDriver it starts and every app window that one
  // launches stay in it, even an app that outlives its WebDriver session (seen once on CI: the
  // session was deleted, the app kept running, and as it held this runner's stdout the runner
  // never exited). `stop()` ends the whole group.
  const child = spawn(driverBin, ["--port", String(port), "--native-port", String(nativePort)], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, ...env },
    detached: true,
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`tauri-driver exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${url}/status`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGTERM");
      throw new Error("tauri-driver did not start within 30 s");
    }
    await sleep(200);
  }
  return {
    url,
    async stop() {
      const exited = child.exitCode === null ? new Promise((r) => child.once("exit", r)) : null;
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        // the group is gone already
      }
      await exited;
    },
  };
}

async function wd(base, method, path, body, { timeoutMs = 120_000 } = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body ? { "content-type": "application/json" } : undefined,
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    const v = json.value ?? {};
    throw new Error(`WebDriver ${method} ${path}: ${res.status} ${v.error ?? ""} ${v.message ?? ""}`);
  }
  return json.value;
}

/**
 * Opens the app (a fresh instance with its own data folder unless `env.XDG_DATA_HOME` is given)
 * and returns a session with helpers. The app inherits this process's environment: the test
 * command runs inside a private D-Bus session with an unlocked keyring and a temporary
 * XDG_DATA_HOME.
 */
export async function openApp(driver, { args = [] } = {}) {
  const request = {
    capabilities: {
      alwaysMatch: {
        "tauri:options": { application: APP_BINARY, args },
      },
    },
  };
  let session;
  try {
    session = await wd(driver.url, "POST", "/session", request, { timeoutMs: 60_000 });
  } catch (err) {
    // Seen once on a loaded 2-core CI machine: GTK could not open the Xvfb display for one
    // launch ("Failed to initialize GTK") and WebKitWebDriver waited forever. One more launch;
    // a real failure fails again.
    console.error(`# app launch failed (${err.message}); launching once more`);
    session = await wd(driver.url, "POST", "/session", request, { timeoutMs: 60_000 });
  }
  const id = session.sessionId;
  const base = `${driver.url}/session/${id}`;
  const app = {
    id,
    async find(css, { timeout = 15_000 } = {}) {
      const deadline = Date.now() + timeout;
      for (;;) {
        try {
          const el = await wd(base, "POST", "/element", { using: "css selector", value: css });
          return el[ELEMENT];
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`no element ${css}: ${err.message}`);
          await sleep(150);
        }
      }
    },
    async click(css) {
      const el = await app.find(css);
      await wd(base, "POST", `/element/${el}/click`, {});
    },
    async text(css) {
      const el = await app.find(css);
      return wd(base, "GET", `/element/${el}/text`);
    },
    async type(css, text) {
      const el = await app.find(css);
      await wd(base, "POST", `/element/${el}/value`, { text });
    },
    /** Waits until `predicate(text of css)` holds; returns that text. */
    async waitForText(css, predicate, { timeout = 20_000 } = {}) {
      const deadline = Date.now() + timeout;
      let last = "";
      for (;;) {
        try {
          last = await app.text(css);
          if (predicate(last)) return last;
        } catch {
          // element not there yet
        }
        if (Date.now() > deadline) throw new Error(`timed out waiting on ${css}; last text: ${last}`);
        await sleep(150);
      }
    },
    async exec(script, args = []) {
      return wd(base, "POST", "/execute/sync", { script, args });
    },
    /** Resizes the window (its outer size, as the window manager would). */
    async setSize(width, height) {
      await wd(base, "POST", "/window/rect", { width, height });
    },
    async screenshot(name) {
      const dir = process.env.PB2B_SCREENSHOT_DIR;
      if (!dir) return;
      mkdirSync(dir, { recursive: true });
      const png = await wd(base, "GET", "/screenshot");
      writeFileSync(join(dir, `${name}.png`), Buffer.from(png, "base64"));
    },
    async close() {
      await wd(base, "DELETE", "");
    },
  };
  return app;
}

/**
 * On the Connect screen: types `key` and the sandbox's base URL (under Advanced), optionally a
 * profile name, and presses `button` ("Verify" or "Save and connect").
 */
export async function enterKey(app, sandbox, key, { name, button = "Verify" } = {}) {
  await app.click("a[data-screen='connect']");
  await app.find("#api-key");
  await app.exec("document.querySelector('details').open = true");
  await app.exec("document.querySelector('#base-url').value = ''; document.querySelector('#api-key').value = ''");
  await app.type("#base-url", sandbox.base_url);
  await app.type("#api-key", key);
  if (name) {
    await app.exec("document.querySelector('#profile-name').value = ''");
    await app.type("#profile-name", name);
  }
  await app.exec(`[...document.querySelectorAll('button')].find(b => b.textContent === ${JSON.stringify(button)}).click()`);
}

/**
 * Saves the sandbox's full-access key as the active profile; the app lands on the Overview,
 * whose first sync starts by itself. Waits for that sync to end; resolves its announcement
 * ("The first sync finished: N leads.").
 */
export async function connectWithKey(app, sandbox) {
  await enterKey(app, sandbox, sandbox.keys.full, { button: "Save and connect" });
  await app.waitForText("#connection-badge", (t) => t.includes("Connected"));
  await app.waitForText("main h1", (t) => t === "Overview", { timeout: 60_000 });
  // The announcement is visually hidden (for screen readers): read its text content.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const said = await app.exec("return document.querySelector('#overview-announce')?.textContent ?? ''");
    if (said.startsWith("The first sync finished")) return said;
    if (Date.now() > deadline) throw new Error(`the Overview's first sync did not finish; it says “${said}”`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function tempDir(prefix) {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Starts the pb2b-sandbox binary on a free loopback port; resolves its first stdout line
 * ({base_url, admin_url, admin_token, keys}), `admin(path, init)` (a fetch of the admin surface
 * with this run's admin token) and a stop function.
 */
export async function startSandbox(args = []) {
  const bin = process.env.PB2B_SANDBOX_BINARY ?? join(ROOT, "target", "debug", "pb2b-sandbox");
  const child = spawn(bin, ["--port", "0", ...args], { stdio: ["ignore", "pipe", "inherit"] });
  const info = await new Promise((resolveInfo, reject) => {
    let buffer = "";
    child.stdout.on("data", (chunk) => {
      buffer += chunk;
      const newline = buffer.indexOf("\n");
      if (newline >= 0) resolveInfo(JSON.parse(buffer.slice(0, newline)));
    });
    child.once("exit", (code) => reject(new Error(`pb2b-sandbox exited with ${code}`)));
  });
  return {
    ...info,
    admin(path, init = {}) {
      const headers = { ...(init.headers ?? {}), "x-sandbox-admin-token": info.admin_token };
      return fetch(`${info.admin_url}${path}`, { ...init, headers });
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await new Promise((r) => child.once("exit", r));
      }
    },
  };
}
