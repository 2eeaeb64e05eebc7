// Builds dist/: the library (ESM + .d.ts), the demo page, and with --tests the unit tests.
//   node build.mjs [--tests]
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, "dist");
const withTests = process.argv.includes("--tests");

rmSync(join(dist, "lib"), { recursive: true, force: true });
rmSync(join(dist, "demo"), { recursive: true, force: true });

const common = { bundle: true, format: "esm", target: "es2022", logLevel: "warning", legalComments: "none" };

// The library: one file per entry point; React stays external (an optional peer).
await build({
  ...common,
  entryPoints: [join(root, "src/index.ts"), join(root, "src/react.ts")],
  outdir: join(dist, "lib"),
  platform: "neutral",
  external: ["react"],
  sourcemap: true,
});
const tsc = spawnSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(root, "tsconfig.lib.json")], {
  stdio: "inherit",
});
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

// The demo page: one bundle plus its static files.
mkdirSync(join(dist, "demo"), { recursive: true });
await build({
  ...common,
  entryPoints: [join(root, "demo/main.ts")],
  outfile: join(dist, "demo/main.js"),
  platform: "browser",
  minify: true,
  sourcemap: true,
});
for (const file of ["index.html", "style.css", "favicon.svg"]) cpSync(join(root, "demo", file), join(dist, "demo", file));

if (withTests) {
  rmSync(join(dist, "test"), { recursive: true, force: true });
  rmSync(join(dist, "test-browser"), { recursive: true, force: true });
  const tests = readdirSync(join(root, "test")).filter((f) => f.endsWith(".test.ts"));
  await build({
    ...common,
    entryPoints: tests.map((f) => join(root, "test", f)),
    outdir: join(dist, "test"),
    outExtension: { ".js": ".mjs" },
    platform: "node",
    sourcemap: "inline",
  });
  // Browser-side test harnesses (React DOM included), loaded into a page by e2e/react.test.mjs.
  await build({
    ...common,
    entryPoints: [join(root, "test/browser/react-hook.ts")],
    outfile: join(dist, "test-browser/react-hook.js"),
    format: "iife",
    platform: "browser",
    define: { "process.env.NODE_ENV": '"development"' },
  });
}
