// 1000 runs: identical outputs, no growth of wasm memory, bounded JS heap (measured after forced GC).
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { load } from "../dist/webloom.js";
import { makeFixtures, ramp } from "./fixtures/helpers.mjs";

// Exposes gc() without needing node --expose-gc on the command line.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc");

let fx;
before(() => { fx = makeFixtures(); });
after(() => fx.cleanup());

function heapAfterGc() {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

it("1000 runs give identical outputs without growing wasm memory or the JS heap", async () => {
  const runner = await load(join(fx.dir, "affine"), { backendOrder: ["wasm"] });
  const batch = 64, time = 16;
  runner.input("x").set(ramp(batch * 4, 0.01));
  runner.input("ids").set(Int32Array.from({ length: batch * time }, (_, i) => i % 5));
  await runner.run();
  const first = [runner.output("y").toActual(), runner.output("emb").toActual()];
  const wasmBytes = runner.memoryBytes;
  // Warm up first: the JIT's own allocations for the first ~2000 runs are not a leak.
  for (let i = 0; i < 3000; i++) await runner.run();
  const heap0 = heapAfterGc();
  for (let i = 0; i < 1000; i++) {
    await runner.run();
    const y = runner.output("y").view();
    if (y[5] !== first[0][5]) assert.fail(`run ${i}: y[5] changed from ${first[0][5]} to ${y[5]}`);
  }
  const heapGrowth = heapAfterGc() - heap0;
  assert.deepEqual(runner.output("y").toActual(), first[0]);
  assert.deepEqual(runner.output("emb").toActual(), first[1]);
  assert.equal(runner.memoryBytes, wasmBytes, "wasm memory grew during same-size runs");
  // Retaining even 64 bytes per run would add 64 KB; allow noise well below that.
  assert.ok(heapGrowth < 48 * 1024, `JS heap grew by ${heapGrowth} bytes over 1000 runs`);
});

it("state stepping 1000 times stays exact and allocation-free in wasm memory", async () => {
  const runner = await load(join(fx.dir, "state"), { backendOrder: ["wasm"] });
  runner.input("x").set(Float32Array.from([1, 0.5]));
  await runner.step();
  const wasmBytes = runner.memoryBytes;
  for (let i = 1; i < 1000; i++) await runner.step();
  assert.deepEqual(runner.output("h_out").toActual(), Float32Array.from([1000, 500]));
  assert.equal(runner.memoryBytes, wasmBytes);
});
