// Builds dist/webloom.js (one ES module for browsers and Node >= 20) and its type declarations.
// Declarations are emitted per module under dist/types/; dist/webloom.d.ts re-exports the public ones.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";

rmSync("dist", { recursive: true, force: true });
await build({
  entryPoints: ["src/index.ts"],
  outfile: "dist/webloom.js",
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  // Node built-ins are imported lazily, only when a filesystem path is loaded under Node.
  external: ["node:*"],
  minify: true,
  sourcemap: true,     // dist/webloom.js.map beside it (shipped in the npm package and the output folder)
  logLevel: "warning",
});
try {
  execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "."], { stdio: "inherit" });
} catch {
  console.error("build: type errors (above); dist/webloom.js was written but dist/webloom.d.ts was not");
  process.exit(1);
}
writeFileSync("dist/webloom.d.ts", 'export * from "./types/index.js";\n');
