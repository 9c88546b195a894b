// Builds the app into dist/ (index.html, app.js, app.css, icon.svg), which the binary embeds
// (src/routes/app.rs). The output depends only on the sources and the versions pinned in
// package-lock.json, so `npm ci && npm run build` reproduces the committed dist/ byte for byte;
// `--check` builds into a scratch folder and fails when dist/ differs (CI runs it).
import * as esbuild from "esbuild";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const check = process.argv.includes("--check");
const out = check ? mkdtempSync(join(tmpdir(), "cultfit-web-")) : join(root, "dist");
mkdirSync(out, { recursive: true });

// The NATS client (most of the code) is only needed by the browser wearable: main.tsx imports
// it lazily, so it becomes its own file (wearable.js) that only the live page loads; chunk.js
// holds the few helpers both use.
const FILES = ["index.html", "app.js", "app.css", "wearable.js", "chunk.js", "icon.svg"];
const result = await esbuild.build({
  entryPoints: { app: join(root, "src/main.tsx") },
  bundle: true,
  splitting: true,
  chunkNames: "[name]",
  metafile: true,
  minify: true,
  format: "esm",
  target: ["es2022"],
  jsx: "automatic",
  jsxImportSource: "preact",
  outdir: out,
  legalComments: "eof",
  logLevel: "warning",
  loader: { ".css": "css" },
});
const written = Object.keys(result.metafile.outputs).map((file) => file.split("/").pop()).concat("index.html", "icon.svg");
if (written.sort().join() !== [...FILES].sort().join()) {
  // src/routes/app.rs embeds exactly these files.
  console.error(`the build wrote ${written.join(", ")}; expected ${FILES.join(", ")} (update src/routes/app.rs)`);
  process.exit(1);
}
// The stylesheet is imported by main.tsx, so esbuild writes it as app.css beside app.js.
copyFileSync(join(root, "src/icon.svg"), join(out, "icon.svg"));

// Assets are cached for a year; the page names them with a hash of their content.
const version = (file) =>
  createHash("sha256").update(readFileSync(join(out, file))).digest("hex").slice(0, 12);
const html = readFileSync(join(root, "index.html"), "utf8")
  .replace("{{app.js}}", `/assets/app.js?v=${version("app.js")}`)
  .replace("{{app.css}}", `/assets/app.css?v=${version("app.css")}`)
  .replace("{{icon.svg}}", `/assets/icon.svg?v=${version("icon.svg")}`);
writeFileSync(join(out, "index.html"), html);

if (check) {
  const stale = FILES.filter(
    (file) => !readFileSync(join(out, file)).equals(readFileSync(join(root, "dist", file))),
  );
  rmSync(out, { recursive: true, force: true });
  if (stale.length > 0) {
    console.error(`web/dist is stale (${stale.join(", ")}): run \`npm run build\` in web/ and commit dist/`);
    process.exit(1);
  }
  console.log("web/dist matches the sources");
}
