// Runtime misuse and hostile sizes (issue 15): each ends in a clear error, never a stale or wrong output.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { join } from "node:path";
import { load } from "../dist/webloom.js";
import { affine, gather, makeFixtures, ramp } from "../fixtures/helpers.mjs";

let fx;
before(() => { fx = makeFixtures(); });
after(() => fx.cleanup());

const wasmOnly = { backendOrder: ["wasm"] };

describe("runner misuse", () => {
  it("a run rejected for an out-of-range id leaves no stale binding for the next run", async () => {
    const runner = await load(join(fx.dir, "affine"), wasmOnly);
    await runner.predict({ x: ramp(4), ids: [1, 2] });              // time = 2
    await assert.rejects(runner.predict({ x: ramp(4), ids: [1, 2, 9] }), /value 9 at index 2/);
    // time = 3: the same lengths as the rejected run
    const out = await runner.predict({ x: ramp(4), ids: [1, 2, 3] });
    assert.deepEqual(runner.output("emb").dims, [1, 3, 3]);
    assert.deepEqual(out.emb, gather([1, 2, 3], fx.expected));
  });

  it("dispose() during a run ends that run with a clear error and frees the context after it", async () => {
    const runner = await load(join(fx.dir, "affine"), wasmOnly);
    const running = runner.predict({ x: ramp(4), ids: [1] });
    runner.dispose();
    await assert.rejects(running, /^Error: run\(\): the runner was disposed during this run/);
    await assert.rejects(runner.predict({ x: ramp(4), ids: [1] }), /predict\(\): this runner was disposed/);
    runner.dispose();   // twice is harmless
  });

  it("a negative or fractional shape is refused when set", async () => {
    const runner = await load(join(fx.dir, "affine"), wasmOnly);
    assert.throws(() => runner.input("x").set(ramp(4), [-1, -4]),
      /input "x": shape \[-1, -4\] must be a list of non-negative integers/);
    await assert.rejects(runner.predict({ x: { data: ramp(4), shape: [0.5, 8] }, ids: [1] }),
      /shape \[0.5, 8\] must be a list/);
  });

  it("predict(null) and other non-objects are refused with what was expected", async () => {
    const runner = await load(join(fx.dir, "affine"), wasmOnly);
    for (const bad of [null, undefined, 3, [ramp(4)]]) {
      await assert.rejects(runner.predict(bad), /^Error: predict: expected an object of inputs by name/);
    }
  });

  it("a predict() rejected because a run is in progress leaves that run's inputs alone", async () => {
    const runner = await load(join(fx.dir, "affine"), wasmOnly);
    const x = ramp(4);
    const first = runner.predict({ x, ids: [1] });
    await assert.rejects(runner.predict({ x: ramp(8, 2), ids: [2, 3] }), /the previous run has not finished/);
    const out = await first;
    assert.equal(runner.input("x").data, x);
    assert.deepEqual(out.y, affine(x, fx.expected));
    await runner.run();   // the inputs are still the first call's
    assert.deepEqual(runner.output("y").toActual(), affine(x, fx.expected));
  });
});

describe("wasm memory past 2 GiB", () => {
  it("tensors placed beyond 2 GiB read and write the right values", async () => {
    // far: a 2 GiB slot comes first, so every tensor's offset is above 2^31 (untouched pages cost no RAM)
    const runner = await load(join(fx.dir, "far"), wasmOnly);
    runner.input("x").set(Float32Array.from([1, 0.5]));
    await runner.step();
    await runner.step();
    assert.ok(runner.memoryBytes > 2 ** 31);
    assert.deepEqual(runner.output("h_out").toActual(), Float32Array.from([2, 1]));
    assert.deepEqual(runner.output("y").toActual(), Float32Array.from([4, 2]));
  });
});
