// 1000-run loops: identical outputs, no growth of wasm memory, no JS heap growth (measured after GC).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, it } from "node:test";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { load } from "../dist/webloom.js";
import { makeFixtures } from "../fixtures/helpers.mjs";

const here = dirname(fileURLToPath(import.meta.url));

let fx;
before(() => { fx = makeFixtures(); });
after(() => fx.cleanup());

it("1000-run windows give identical outputs without growing wasm memory or the JS heap", () => {
  // A clean child process: heap readings inside node:test swing by hundreds of KB on their own.
  const out = execFileSync(process.execPath, ["--expose-gc", join(here, "../fixtures/run-loop.mjs"), fx.dir, "3"]);
  const report = JSON.parse(out.toString());
  assert.equal(report.identical, true, "outputs changed between runs");
  assert.equal(report.wasmAfter, report.wasmBefore, "wasm memory grew during same-size runs");
  // Retaining even 32 bytes per run would add 32 KB per window; the best window must stay below that.
  const best = Math.min(...report.growth);
  assert.ok(best < 16 * 1024, `JS heap grew by ${report.growth.join(", ")} bytes per 1000 runs`);
});

it("stepping the state 1000 times stays exact and leaves wasm memory alone", async () => {
  const runner = await load(join(fx.dir, "state"), { backendOrder: ["wasm"] });
  runner.input("x").set(Float32Array.from([1, 0.5]));
  await runner.step();
  const wasmBytes = runner.memoryBytes;
  for (let i = 1; i < 1000; i++) await runner.step();
  assert.deepEqual(runner.output("h_out").toActual(), Float32Array.from([1000, 500]));
  assert.equal(runner.memoryBytes, wasmBytes);
});
