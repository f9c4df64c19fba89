// How long the import preview of a large file takes to be on screen in the real app: from the
// moment the file is handed to the screen (the same code path as a drop) to the counts being in
// the DOM, measured inside the page with performance.now(). Median of 5, 1,000,000-row file.
// Run by bench/ui/preview.sh under Xvfb in a private D-Bus session; writes nothing but stdout.
import { writeFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { connectWithKey, openApp, startDriver, startSandbox, tempDir } from "../../tests/e2e/webdriver.mjs";

const ROWS = Number(process.env.ROWS ?? 1_000_000);
const dir = tempDir("pb2b-preview-bench-");
const file = join(dir, "big.csv");
const lines = ["First Name,Last Name,Email,Company,Job Title,Phone,City,Country"];
for (let i = 0; i < ROWS; i++) lines.push(`Ada${i},Lovelace${i},ada${i}@example.com,Engine ${i % 997},Analyst,+1 555 ${String(i).padStart(7, "0")},London,UK`);
writeFileSync(file, lines.join("\n") + "\n");
const size = statSync(file).size;

const sandbox = await startSandbox(["--no-demo"]);
const driver = await startDriver({ env: { XDG_DATA_HOME: join(dir, "data") } });
const app = await openApp(driver);
const samples = [];
try {
  await connectWithKey(app, sandbox);
  for (let i = 0; i < 5; i++) {
    await app.click("a[data-screen='connect']");
    await app.find("#api-key");
    const ms = await app.exec(`
      return new Promise((resolve) => {
        const t0 = performance.now();
        location.hash = ${JSON.stringify(`#/import?file=${file}`)};
        const tick = () => document.querySelector('[data-counts]') ? resolve(performance.now() - t0) : requestAnimationFrame(tick);
        tick();
      });`);
    samples.push(ms);
  }
} finally {
  await app.close().catch(() => {});
  await driver.stop();
  await sandbox.stop();
}
samples.sort((a, b) => a - b);
console.log(JSON.stringify({ rows: ROWS, bytes: size, median_ms: samples[2], samples_ms: samples.map((s) => Math.round(s)) }));
