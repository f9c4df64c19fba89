// End-to-end: the boundaries a user crosses every day, with the real app window, real `pb2b`
// processes on the same data folder, and three pb2b-sandbox processes (three workspaces).
// - The app's automatic sync beside `pb2b sync`, `pb2b import` and `pb2b leads list --local`
//   on the same data folder for 60 s, from an empty folder: no failure, mirror equal to server.
// - `pb2b login` while the app is open, then settings changed in the app: both profiles remain.
// - An import paused under workspace C and resumed (the app's Resume command) under workspace B:
//   refused, naming both, and nothing reaches B; resumed under C: one lead per row.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT, enterKey, openApp, startDriver, startSandbox, tempDir } from "./webdriver.mjs";

const run = promisify(execFile);
const PB2B = process.env.PB2B_CLI_BINARY ?? join(ROOT, "target", "debug", "pb2b");
/** Seconds between the app's automatic syncs in this test (PB2B_SYNC_EVERY_SECONDS). */
const EVERY = 4;

let a; // the agency's own workspace, for the side-by-side run
let b; // client B
let c; // client C, answering slowly so an import can be paused mid-way
let driver;
let app;
const home = tempDir("pb2b-e2e-workspaces-");
const dataHome = join(home, "data");
const dataDir = join(dataHome, "com.prospectb2b.desktop");

before(async () => {
  a = await startSandbox(["--no-demo", "--workspace", "agency"]);
  b = await startSandbox(["--no-demo", "--workspace", "clientb"]);
  c = await startSandbox(["--no-demo", "--workspace", "clientc", "--latency-ms", "200"]);
  const res = await a.admin("/leads/bulk", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ count: 2000 }),
  });
  assert.equal(res.status, 200, await res.text());
  mkdirSync(join(home, "config"), { recursive: true });
  driver = await startDriver({
    env: {
      XDG_DATA_HOME: dataHome,
      XDG_CONFIG_HOME: join(home, "config"),
      PB2B_SYNC_EVERY_SECONDS: String(EVERY),
    },
  });
  app = await openApp(driver);
});

after(async () => {
  await app?.close().catch(() => {});
  await driver?.stop();
  for (const s of [a, b, c]) await s?.stop();
});

async function leadCount(s) {
  const body = await (await s.admin("/state")).json();
  return body.data.leads;
}

/** `pb2b ARGS` on the app's data folder; resolves {code, stdout, stderr}, never rejects. */
async function pb2b(args, env = {}) {
  try {
    const { stdout, stderr } = await run(PB2B, args, {
      env: { ...process.env, XDG_DATA_HOME: dataHome, ...env },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** Saves a profile in the app with the sandbox's full key, and waits until it is active. */
async function saveProfile(sandbox, name) {
  await enterKey(app, sandbox, sandbox.keys.full, { name, button: "Save and connect" });
  // Saved and active: the app goes to the Overview.
  await app.waitForText("main h1", (t) => t === "Overview", { timeout: 60_000 });
  await app.waitForText("#connection-badge", (t) => t.includes(name));
}

async function invoke(command, args) {
  return app.exec(
    `return window.__TAURI_INTERNALS__.invoke(${JSON.stringify(command)}, ${JSON.stringify(args)}).then(v => ({ ok: v }), e => ({ err: e }))`,
  );
}

function profilesOnDisk() {
  const settings = JSON.parse(readFileSync(join(dataDir, "settings.json"), "utf8"));
  return settings.profiles.profiles.map((p) => p.name).sort();
}

test("the app's automatic sync beside pb2b processes for 60 s: no failure, mirror equal to the server", async () => {
  // A fresh data folder: the app's first sync, its migrations and the processes' race from the
  // first second.
  await saveProfile(a, "Agency");
  const env = { PB2B_API_KEY: a.keys.full, PB2B_BASE_URL: a.base_url };
  const until = Date.now() + 60_000;
  const runs = [];
  const loop = async (name, args) => {
    for (let round = 0; Date.now() < until; round++) {
      const extra = typeof args === "function" ? args(round) : args;
      const r = await pb2b(extra, env);
      runs.push({ name, ...r });
    }
  };
  await Promise.all([
    loop("sync", ["sync", "--json"]),
    loop("import", (round) => {
      const file = join(home, `side-${round}.csv`);
      const lines = ["Name,Email,Company"];
      for (let i = 0; i < 40; i++) lines.push(`Side ${round}-${i},side-${round}-${i}@example.com,Org`);
      writeFileSync(file, lines.join("\n") + "\n");
      return ["import", "--json", file];
    }),
    (async () => {
      // Reading the mirror needs one sync first.
      await new Promise((r) => setTimeout(r, 3000));
      await loop("leads list --local", ["leads", "list", "--local", "--json"]);
    })(),
  ]);
  const failed = runs.filter((r) => r.code !== 0);
  assert.ok(runs.length >= 10, `${runs.length} runs`);
  assert.deepEqual(failed.map((r) => `${r.name}: ${r.stdout} ${r.stderr}`), [], `${failed.length} of ${runs.length} failed`);

  // The app synced on its own all along, and none of its runs failed.
  const logDir = join(dataDir, "logs");
  const log = readdirSync(logDir).map((f) => readFileSync(join(logDir, f), "utf8")).join("");
  const ended = log.split("\n").filter((l) => l.includes("sync ended")).length;
  const failedInApp = log.split("\n").filter((l) => l.includes("sync failed"));
  // That it synced on its own, not how often: a busy machine may give it fewer turns.
  assert.ok(ended >= 1, `${ended} automatic syncs in the app`);
  assert.deepEqual(failedInApp, []);

  // One more sync from each side: the mirror equals the server.
  const last = await pb2b(["sync", "--json"], env);
  assert.equal(last.code, 0, last.stderr);
  const server = await leadCount(a);
  assert.equal(JSON.parse(last.stdout).status.total_leads, server);
  const status = await invoke("sync_status", {});
  assert.equal(status.ok?.total_leads, server, JSON.stringify(status));
});

test("pb2b login while the app is open, then settings changed in the app: both profiles remain", async () => {
  const login = await pb2b(
    ["login", "--name", "From the terminal", "--base-url", a.base_url, "--key-env", "E2E_KEY", "--json"],
    { E2E_KEY: a.keys.full_2 },
  );
  assert.equal(login.code, 0, login.stderr);
  // The same name again is refused without --replace.
  const again = await pb2b(
    ["login", "--name", "From the terminal", "--base-url", a.base_url, "--key-env", "E2E_KEY", "--json"],
    { E2E_KEY: a.keys.full_2 },
  );
  assert.equal(again.code, 2, again.stdout);
  assert.equal(JSON.parse(again.stdout).error.code, "profile_exists");

  // Settings changed in the app: the sync interval, a rename, and activating the app's profile.
  await app.click("a[data-screen='sync']");
  await app.exec("const s = document.querySelector('#sync-interval select, select#sync-interval'); s.value = '15'; s.dispatchEvent(new Event('change'))");
  const renamed = await invoke("rename_profile", { from: "Agency", to: "Agency (renamed)" });
  assert.ok(renamed.ok, JSON.stringify(renamed.err));
  const active = await invoke("activate_profile", { name: "Agency (renamed)" });
  assert.ok(active.ok, JSON.stringify(active.err));
  assert.deepEqual(active.ok.profiles.map((p) => p.name).sort(), ["Agency (renamed)", "From the terminal"]);
  assert.deepEqual(profilesOnDisk(), ["Agency (renamed)", "From the terminal"]);
  // The terminal's profile shows on the Connect screen, with its key in the keychain.
  await app.click("a[data-screen='connect']");
  await app.find("[data-profile='From the terminal']");
  const use = await invoke("activate_profile", { name: "From the terminal" });
  assert.ok(use.ok?.check, JSON.stringify(use));
  await invoke("activate_profile", { name: "Agency (renamed)" });
});

test("an import paused in workspace C is refused in workspace B and finishes in C", async () => {
  // Row by row (a key without leads.import): one bulk job of 200 rows lands at once, leaving
  // nothing to pause mid-way.
  const scopes = ["me.read", "leads.read", "leads.write", "leads.export", "lead-fields.read", "webhooks.write"];
  const set = await c.admin("/keys/full", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ scopes }),
  });
  assert.equal(set.status, 200, await set.text());
  await saveProfile(c, "Client C");
  const rows = 200;
  const file = join(home, "client-c.csv");
  const lines = ["Name,Email,Company"];
  for (let i = 0; i < rows; i++) lines.push(`Person ${i},c-${i}@example.com,Org ${i}`);
  writeFileSync(file, lines.join("\n") + "\n");
  await app.exec(`location.hash = ${JSON.stringify(`#/import?file=${file}`)}`);
  await app.find("#import-review");
  await app.click("#import-review");
  // Reviewed against C's leads (none of these exist), then sent.
  await app.waitForText("#import-send", (t) => t === `Send ${rows} rows`, { timeout: 60_000 });
  await app.click("#import-send");
  // 200 ms a request: pause once a few rows are in.
  for (let i = 0; i < 200 && (await leadCount(c)) < 5; i++) await new Promise((r) => setTimeout(r, 100));
  const jobs = await invoke("imports_list", {});
  const id = jobs.ok[0].id;
  await invoke("import_pause", { id });
  let status = "";
  for (let i = 0; i < 300 && status !== "paused"; i++) {
    await new Promise((r) => setTimeout(r, 200));
    status = (await invoke("imports_list", {})).ok?.[0]?.status;
  }
  assert.equal(status, "paused");
  const before = await leadCount(c);
  assert.ok(before > 0 && before < rows, `${before} of ${rows} before the pause`);

  // Workspace B becomes the open one; the app's Resume of C's import is refused.
  await saveProfile(b, "Client B");
  const refused = await invoke("import_resume", { id });
  assert.equal(refused.err?.code, "wrong_workspace", JSON.stringify(refused));
  for (const name of ["ws_clientc", "Sandbox workspace clientc", "ws_clientb", "Sandbox workspace clientb"]) {
    assert.ok(refused.err.message.includes(name), `${refused.err.message} names ${name}`);
  }
  const retried = await invoke("import_retry_failed", { id });
  assert.equal(retried.err?.code, "wrong_workspace", JSON.stringify(retried));
  const listed = await invoke("imports_list", {});
  assert.deepEqual(listed.ok.map((j) => j.id), [], "B does not list C's import");
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(await leadCount(b), 0, "nothing reached workspace B");

  // Back in C, Resume in the Import history finishes it: one lead per row.
  const back = await invoke("activate_profile", { name: "Client C" });
  assert.ok(back.ok, JSON.stringify(back.err));
  await app.exec(`location.hash = "#/connect"`);
  await app.click("a[data-screen='import']");
  await app.click(`[data-import='${id}'] button`);
  for (let i = 0; i < 600 && (await leadCount(c)) < rows; i++) await new Promise((r) => setTimeout(r, 200));
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(await leadCount(c), rows, "exactly one lead per row in C");
  assert.equal(await leadCount(b), 0);
});

