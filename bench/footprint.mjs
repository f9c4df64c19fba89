// Measures the desktop app beside a minimal Tauri window built the same way, in the same run:
// release binary size, .deb size, launch-to-interactive (median of 5, through WebDriver, the same
// overhead for both), and PSS of the app with its WebKit processes after 5 s idle.
// Run by bench/footprint.sh inside a private D-Bus session under Xvfb. Figures, not asserts.
import { spawn } from "node:child_process";
import { readFileSync, readdirSync, statSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startDriver } from "../tests/e2e/webdriver.mjs";

const ROOT = new URL("..", import.meta.url).pathname;
const release = join(ROOT, "target", "release");
const apps = [
  { name: "ProspectB2B Desktop", bin: join(release, "prospectb2b-desktop"), debPrefix: "ProspectB2B Desktop_", ready: "main h1" },
  { name: "minimal Tauri window", bin: join(release, "minimal-tauri"), debPrefix: "Minimal Tauri_", ready: "h1" },
];

function debSize(prefix) {
  const dir = join(release, "bundle", "deb");
  const file = readdirSync(dir).find((f) => f.startsWith(prefix) && f.endsWith(".deb"));
  return file ? statSync(join(dir, file)).size : null;
}

async function launchToInteractive(driver, app) {
  const started = performance.now();
  const res = await fetch(`${driver.url}/session`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ capabilities: { alwaysMatch: { "tauri:options": { application: app.bin } } } }),
  });
  const { value } = await res.json();
  const base = `${driver.url}/session/${value.sessionId}`;
  for (;;) {
    const r = await fetch(`${base}/execute/sync`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ script: `return !!document.querySelector(${JSON.stringify(app.ready)})`, args: [] }),
    });
    if ((await r.json()).value === true) break;
    await sleep(10);
  }
  const ms = performance.now() - started;
  await fetch(base, { method: "DELETE" });
  return ms;
}

function descendants(pid) {
  const children = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(entry));
    } catch {
      // process ended meanwhile
    }
  }
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...(children.get(all[i]) ?? []));
  return all;
}

function pssKiB(pid) {
  try {
    const m = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8").match(/^Pss:\s+(\d+) kB/m);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

async function idlePss(app) {
  const data = mkdtempSync(join(tmpdir(), "pb2b-footprint-"));
  const child = spawn(app.bin, [], { stdio: "ignore", env: { ...process.env, XDG_DATA_HOME: data } });
  await sleep(5000);
  const pids = descendants(child.pid);
  const total = pids.reduce((sum, pid) => sum + pssKiB(pid), 0);
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
  return { kib: total, processes: pids.length };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mib = (bytes) => (bytes / 1024 / 1024).toFixed(1);

const driver = await startDriver();
const rows = [];
try {
  for (const app of apps) {
    const launches = [];
    for (let i = 0; i < 5; i++) launches.push(await launchToInteractive(driver, app));
    const pss = await idlePss(app);
    rows.push({ app, binary: statSync(app.bin).size, deb: debSize(app.debPrefix), launches, pss });
  }
} finally {
  await driver.stop();
}

const [ours, floor] = rows;
const ratio = (a, b) => (b ? `${(a / b).toFixed(2)}×` : "n/a");
const lines = [
  "<!-- footprint:start (written by bench/footprint.sh; do not edit by hand) -->",
  `Measured ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on this machine (2 cores, Debian 12, Xvfb, WebKitGTK), both apps built in release with the same profile and dependency versions.`,
  "",
  "| figure | ProspectB2B Desktop | minimal Tauri window | ratio |",
  "| --- | --- | --- | --- |",
  `| release binary | ${mib(ours.binary)} MiB | ${mib(floor.binary)} MiB | ${ratio(ours.binary, floor.binary)} |`,
  `| .deb | ${ours.deb ? mib(ours.deb) + " MiB" : "not built"} | ${floor.deb ? mib(floor.deb) + " MiB" : "not built"} | ${ours.deb && floor.deb ? ratio(ours.deb, floor.deb) : "n/a"} |`,
  `| launch to interactive, median of 5 | ${median(ours.launches).toFixed(0)} ms | ${median(floor.launches).toFixed(0)} ms | ${ratio(median(ours.launches), median(floor.launches))} |`,
  `| PSS after 5 s idle (app + WebKit processes) | ${(ours.pss.kib / 1024).toFixed(1)} MiB (${ours.pss.processes} processes) | ${(floor.pss.kib / 1024).toFixed(1)} MiB (${floor.pss.processes} processes) | ${ratio(ours.pss.kib, floor.pss.kib)} |`,
  "",
  `Launch samples (ms): ours ${ours.launches.map((x) => x.toFixed(0)).join(", ")}; minimal ${floor.launches.map((x) => x.toFixed(0)).join(", ")}. Launch time is measured from the WebDriver new-session request to the first screen's heading existing in the DOM (the minimal window: its h1), so both include the same driver overhead.`,
  "<!-- footprint:end -->",
];
const doc = join(ROOT, "docs", "PERFORMANCE.md");
let text = readFileSync(doc, "utf8");
const section = lines.join("\n");
text = /<!-- footprint:start[\s\S]*?<!-- footprint:end -->/.test(text)
  ? text.replace(/<!-- footprint:start[\s\S]*?<!-- footprint:end -->/, section)
  : `${text.trimEnd()}\n\n${section}\n`;
writeFileSync(doc, text);
console.log(section);
