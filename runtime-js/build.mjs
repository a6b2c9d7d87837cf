// Builds dist/webloom.js (one ES module for browsers and Node >= 20) and its type declarations.
// Declarations are emitted per module under dist/types/; dist/webloom.d.ts re-exports the public ones.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { privateNames } from "./private-names.mjs";

// Private class members are renamed too (a few KB of the 60 KiB budget): private-names.mjs lists those whose
// every use in src/ is that member, checked with the type checker. The browser tests reach into these
// three to simulate a lost device or context (tests/browser/test_robustness.py): they keep their names.
const TESTS_REACH = ["context", "shared", "gl"];
const PRIVATE = privateNames().filter((name) => !TESTS_REACH.includes(name));

rmSync("dist", { recursive: true, force: true });
const result = await build({
  entryPoints: ["src/index.ts"],
  outfile: "dist/webloom.js",
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  // Node built-ins are imported lazily, only when a filesystem path is loaded under Node.
  external: ["node:*"],
  minify: true,
  mangleProps: new RegExp(`^(${PRIVATE.join("|")})$`),
  sourcemap: true,     // dist/webloom.js.map beside it (shipped in the npm package and the output folder)
  logLevel: "warning",
  metafile: true,
});
// Bytes per source module in dist/webloom.js, for the size guard's report (test/size.test.mjs); not shipped.
const { inputs } = result.metafile.outputs["dist/webloom.js"];
const bytes = Object.fromEntries(Object.entries(inputs).map(([path, i]) => [path, i.bytesInOutput])
  .sort((a, b) => b[1] - a[1]));
writeFileSync("dist/webloom.modules.json", JSON.stringify(bytes, null, 1) + "\n");
try {
  execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "."], { stdio: "inherit" });
} catch {
  console.error("build: type errors (above); dist/webloom.js was written but dist/webloom.d.ts was not");
  process.exit(1);
}
writeFileSync("dist/webloom.d.ts", 'export * from "./types/index.js";\n');
