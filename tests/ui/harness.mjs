// Cheap UI tests: the built front end (ui/dist) in Debian's Chromium through playwright-core, with
// the Tauri IPC replaced by @tauri-apps/api/mocks' mockIPC. Each test says what every command
// answers; no Rust runs here (the E2E tests cover the real bridge).
import { chromium } from "playwright-core";
import { build } from "esbuild";
import { readFileSync, existsSync } from "node:fs";
import { join, resolve, extname } from "node:path";

export const ROOT = resolve(new URL("../..", import.meta.url).pathname);
const DIST = join(ROOT, "ui", "dist");
const ORIGIN = "http://pb2b.test";
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".png": "image/png" };

let mocksBundle;
async function mocksScript() {
  if (!mocksBundle) {
    const result = await build({
      stdin: {
        contents: "import { mockIPC, clearMocks } from '@tauri-apps/api/mocks'; window.__pb2bMocks = { mockIPC, clearMocks };",
        resolveDir: ROOT,
        loader: "js",
      },
      bundle: true,
      format: "iife",
      write: false,
    });
    mocksBundle = result.outputFiles[0].text;
  }
  return mocksBundle;
}

export async function launch() {
  if (!existsSync(join(DIST, "index.html"))) throw new Error("ui/dist is missing: run npm run build:ui");
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}

/**
 * Opens the app's front end with `handlers` answering IPC: an object mapping command names to
 * functions (cmd args) => value, evaluated in the page. A handler that throws rejects the invoke
 * with what it threw (as a Tauri command returning Err does).
 */
/** The Content-Security-Policy of tauri.conf.json, as the app's webview enforces it. */
export function appCsp() {
  const conf = JSON.parse(readFileSync(join(ROOT, "tauri.conf.json"), "utf8"));
  return Object.entries(conf.app.security.csp).map(([k, v]) => `${k} ${v}`).join("; ");
}

/**
 * With `mockEvents`, the app's event listeners are real (the mocks' event plugin) and a test sends
 * an app event with `page.evaluate(([n, p]) => window.__pb2bEmit(n, p), [name, payload])`.
 */
export async function openUi(browser, handlersSource, { colorScheme = "light", hash = "", userAgent, mockEvents = false } = {}) {
  const context = await browser.newContext({ colorScheme, viewport: { width: 1180, height: 780 }, ...(userAgent ? { userAgent } : {}) });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err));
  await page.route(`${ORIGIN}/**`, (route) => {
    const path = new URL(route.request().url()).pathname;
    const file = join(DIST, path === "/" ? "index.html" : path);
    if (!file.startsWith(DIST) || !existsSync(file)) return route.fulfill({ status: 404, body: "not found" });
    // The page is served under the app's own CSP; violations are collected in window.__cspViolations.
    const headers = extname(file) === ".html" ? { "content-security-policy": appCsp() } : {};
    return route.fulfill({ status: 200, headers, contentType: TYPES[extname(file)] ?? "application/octet-stream", body: readFileSync(file) });
  });
  await page.addInitScript({ content: await mocksScript() });
  await page.addInitScript({
    content: `window.__cspViolations = []; document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI));`,
  });
  await page.addInitScript({
    content: `(() => {
      const handlers = (${handlersSource})();
      window.__pb2bCalls = [];
      window.__pb2bMocks.mockIPC(async (cmd, args) => {
        window.__pb2bCalls.push({ cmd, args });
        const handler = handlers[cmd];
        if (!handler) throw { code: "unknown_command", message: "no mock for " + cmd, request_id: null, retryable: false };
        return handler(args);
      }${mockEvents ? ", { shouldMockEvents: true }" : ""});
      window.__pb2bEmit = (event, payload) => window.__TAURI_INTERNALS__.invoke("plugin:event|emit", { event, payload });
    })();`,
  });
  await page.goto(`${ORIGIN}/index.html${hash}`);
  return { page, context, errors };
}
