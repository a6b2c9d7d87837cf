// Builds dist/webloom.js (one ES module for browsers and Node >= 20) and its type declarations.
// Declarations are emitted per module under dist/types/; dist/webloom.d.ts re-exports the public ones.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";

// Private members with distinctive names are renamed too (a few KB of the 60 KB budget): names only
// `this.` code inside the runtime uses, none a public API, a DOM/WebGPU/WebGL name or a JSON field.
const PRIVATE = [
  "bindingValid", "boundDims", "boundKey", "boundValues", "carriedStates", "checkGiven", "checkLost",
  "checkRanges", "concreteShape", "dimsChanged", "explicitDims", "findStateSource", "givenShape", "heapF",
  "heapI", "kernelFns", "laidOut", "lastGiven", "lastLengths", "planStep", "prepareDraw", "refreshViews",
  "requireGl", "requireProgram", "sizeSlots", "slotTextures", "slotsBase", "stagingFor", "stateSource",
  "stepArgs", "symbolNames", "tensorPtr", "tensorsById", "textureOf", "weightOffsets", "weightTextures",
  "weightsBase", "writeParams", "zeroState", "zeroStates", "ensureBytes",
  "checkBoundSizes", "checkIdle", "checkNotDisposed", "checkStep", "disposed", "framebuffer", "heapF32",
  "heapI32", "maxAttached", "maxDrawBuffers", "maxTextureSize", "plans", "runOnce", "schedule", "vtableSize",
  "frames", "staging",
  "deviceState", "onDevice", "stepOnce", "generateOnce", "feedOf", "deviceSampler", "prepareRun", "guarded",
  "encodeSteps", "encodeCarry",
];

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
  mangleProps: new RegExp(`^(${PRIVATE.join("|")})$`),
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
