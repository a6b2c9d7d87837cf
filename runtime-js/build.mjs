// Builds dist/webloom.js (one ES module for browsers and Node >= 20) and its type declarations.
// Declarations are emitted per module under dist/types/; dist/webloom.d.ts re-exports the public ones.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { minify } from "terser";
import { privateNames } from "./private-names.mjs";

// Private class members are renamed too (a few KB of the 60 KB budget): private-names.mjs lists those whose
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
// terser after esbuild: its compressor (3 passes) saves about 1.1 KB more than esbuild's minifier alone;
// hoisting function declarations (what the language does anyway) lets it merge more (70 bytes). Its other
// `unsafe`, `pure_getters` and `*_comps` options would assume no NaN or getter side effects: we rely on both.
// The source map is chained, so it still points into src/.
const map = JSON.parse(readFileSync("dist/webloom.js.map", "utf8"));
const terse = await minify(readFileSync("dist/webloom.js", "utf8"), {
  module: true, ecma: 2020, compress: { passes: 3, unsafe_arrows: true, hoist_funs: true },
  sourceMap: { content: map, url: "webloom.js.map" },
});
writeFileSync("dist/webloom.js", terse.code);
writeFileSync("dist/webloom.js.map", terse.map);
// Bytes per source module in dist/webloom.js as esbuild wrote it (terser then shrinks the whole about 2%),
// for the size guard's report (test/size.test.mjs); not shipped.
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
