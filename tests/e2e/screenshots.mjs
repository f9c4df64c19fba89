// Writes a PNG of every screen of the real app to a folder (scripts/screenshots runs this under
// Xvfb inside a private D-Bus session). Screens are read from the app's own navigation, so a new
// screen is photographed without touching this file. Light theme first, then dark where the
// webview honours GTK's dark preference.
import { mkdirSync } from "node:fs";
import { openApp, startDriver } from "./webdriver.mjs";

const dir = process.argv[2] ?? "screenshots";
process.env.PB2B_SCREENSHOT_DIR = dir;
mkdirSync(dir, { recursive: true });

const driver = await startDriver();
try {
  const app = await openApp(driver, { args: process.argv.slice(3) });
  try {
    await app.find("nav[aria-label='Main'] a");
    const screens = await app.exec(
      "return [...document.querySelectorAll(\"nav[aria-label='Main'] a\")].map(a => a.dataset.screen)",
    );
    for (const [i, screen] of screens.entries()) {
      await app.click(`a[data-screen='${screen}']`);
      await app.find("main h1");
      // Let the screen's first data load settle (spinners replaced by content).
      await app.exec("return new Promise(r => setTimeout(r, 800))");
      await app.screenshot(`${String(i + 1).padStart(2, "0")}-${screen}`);
      console.log(`${dir}/${String(i + 1).padStart(2, "0")}-${screen}.png`);
    }
  } finally {
    await app.close();
  }
} finally {
  await driver.stop();
}
