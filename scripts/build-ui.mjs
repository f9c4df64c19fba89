// Builds the front end into ui/dist (Tauri's frontendDist): bundles ui/src/main.ts with esbuild
// and copies the static files. No dev server: `tauri dev` and `tauri build` serve the same files,
// so the CSP in tauri.conf.json applies to one set of assets (script-src 'self', no inline code).
import { build } from "esbuild";
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "ui", "dist");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const file of ["index.html", "styles.css"]) {
  cpSync(join(root, "ui", file), join(out, file));
}
await build({
  entryPoints: [join(root, "ui", "src", "main.ts")],
  bundle: true,
  format: "esm",
  target: "es2021",
  outfile: join(out, "app.js"),
  sourcemap: false,
  logLevel: "warning",
});
