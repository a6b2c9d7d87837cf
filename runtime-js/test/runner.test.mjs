// Runner behaviour on the wasm backend with hand-made bundles: outputs, dims, input checks, state.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { join } from "node:path";
import { load } from "../dist/webloom.js";
import { affine, gather, makeFixtures, ramp } from "../fixtures/helpers.mjs";

let fx;
before(() => { fx = makeFixtures(); });
after(() => fx.cleanup());

const wasmOnly = { backendOrder: ["wasm"] };

describe("runner outputs", () => {
  it("runs the affine bundle and binds batch and time from the inputs", async () => {
    const runner = await load(join(fx.dir, "affine"), wasmOnly);
    assert.equal(runner.backendName, "wasm");
    const x = ramp(8);
    const ids = Int32Array.from([0, 1, 2, 3, 4, 4]);
    runner.input("x").set(x);
    runner.input("ids").set(ids);
    await runner.run();
    assert.deepEqual(runner.dims, { batch: 2, time: 3 });
    assert.deepEqual(runner.output("y").toActual(), affine(x, fx.expected));
    assert.deepEqual(runner.output("emb").toActual(), gather(ids, fx.expected));
    assert.deepEqual(runner.output("emb").dims, [2, 3, 3]);
  });

  it("toActual returns a copy the caller owns", async () => {
    const runner = await load(join(fx.dir, "affine"), wasmOnly);
    const out = await runner.predict({ x: ramp(4), ids: [1] });
    out.y[0] = 1234;
    assert.notEqual(runner.outputs[0].toActual()[0], 1234);
  });

  it("grows memory when the dims need more and keeps the weights", async () => {
    const runner = await load(join(fx.dir, "affine"), wasmOnly);
    const before = runner.memoryBytes;
    const batch = 40000;  // 40000*4 floats per slot: more than the initial memory
    const x = ramp(batch * 4, 0.001);
    const out = await runner.predict({ x, ids: new Int32Array(batch).fill(2) });
    assert.ok(runner.memoryBytes > before, `memory did not grow (${before} -> ${runner.memoryBytes})`);
    assert.deepEqual(out.y, affine(x, fx.expected));
    const small = await runner.predict({ x: ramp(4), ids: [3] });
    assert.deepEqual(small.y, affine(ramp(4), fx.expected));
    assert.deepEqual(small.emb, gather([3], fx.expected));
  });

  it("keeps several runners independent", async () => {
    const a = await load(join(fx.dir, "affine"), wasmOnly);
    const b = await load(join(fx.dir, "affine"), wasmOnly);
    const outA = await a.predict({ x: ramp(4, 1), ids: [0] });
    await b.predict({ x: ramp(12, 2), ids: [1, 2, 3] });
    assert.deepEqual(a.output("y").toActual(), outA.y);
    assert.deepEqual(b.output("y").toActual(), affine(ramp(12, 2), fx.expected));
  });
});

describe("input checks", () => {
  async function ready() {
    return load(join(fx.dir, "affine"), wasmOnly);
  }

  it("rejects a typed array of the wrong dtype, naming the input and its shape", async () => {
    const runner = await ready();
    assert.throws(() => runner.input("x").set(new Float64Array(4)),
      /input "x": expected a Float32Array of shape \[batch, 4\], got Float64Array/);
    assert.throws(() => runner.input("ids").set(new Float32Array(2)),
      /input "ids": expected a Int32Array of shape \[batch, time\], got Float32Array/);
  });

  it("rejects a length that is not a multiple of the static part", async () => {
    const runner = await ready();
    assert.throws(() => runner.input("x").set(new Float32Array(6)), /input "x".*\[batch, 4\].*6 values/);
  });

  it("rejects a missing input naming it and its shape", async () => {
    const runner = await ready();
    runner.input("x").set(ramp(4));
    await assert.rejects(runner.run(), /input "ids" is not set: expected a Int32Array of shape \[batch, time\]/);
    await assert.rejects(runner.predict({ x: ramp(4) }), /input "ids" is not set: .*pass it to predict\(\)/);
    await assert.rejects(runner.predict({ x: ramp(4), ids: [1], nope: [1] }),
      /no input named "nope"; the inputs are \[x, ids\]/);
  });

  it("rejects lengths that disagree on a shared dim", async () => {
    const runner = await ready();
    // batch = 2 from x; ids has 3 values, not a multiple of batch.
    await assert.rejects(runner.predict({ x: ramp(8), ids: [1, 2, 3] }), /input "ids": got 3 values.*not a multiple of 2/);
  });

  it("rejects ids outside the valid range before running", async () => {
    const runner = await ready();
    await assert.rejects(runner.predict({ x: ramp(4), ids: [1, 5] }),
      /input "ids": value 5 at index 1 is outside the valid range \[0, 5\)/);
    await assert.rejects(runner.predict({ x: ramp(4), ids: [-1] }), /value -1 at index 0/);
  });

  it("takes int64 ids as a BigInt64Array, range-checked (ONNX int64 inputs)", async () => {
    const runner = await ready();
    const viaInt32 = await runner.predict({ x: ramp(4), ids: Int32Array.from([1, 4]) });
    const viaInt64 = await runner.predict({ x: ramp(4), ids: BigInt64Array.from([1n, 4n]) });
    assert.deepEqual(Array.from(viaInt64.emb), Array.from(viaInt32.emb));
    await assert.rejects(runner.predict({ x: ramp(4), ids: BigInt64Array.from([1n, 5n]) }),
      /value 5 at index 1 is outside the valid range \[0, 5\)/);
    assert.throws(() => runner.input("ids").set(BigInt64Array.from([2n ** 40n])),
      /int64 value 1099511627776 at index 0 does not fit the model's int32 input/);
  });

  it("rejects fractions for an int input given as plain numbers", async () => {
    const runner = await ready();
    await assert.rejects(runner.predict({ x: ramp(4), ids: [1.5] }), /input "ids": expected integers/);
  });

  it("asks for setDims when batch and time are both free in the only input", async () => {
    const runner = await load(join(fx.dir, "embed"), wasmOnly);
    runner.input("ids").set(Int32Array.from([1, 2, 3, 4]));
    await assert.rejects(runner.run(),
      /input "ids": cannot infer batch and time from 4 values of shape \[batch, time\]; call runner.setDims\(\{batch: ..., time: ...\}\)/);
    runner.setDims({ batch: 2 });
    await runner.run();
    assert.deepEqual(runner.dims, { batch: 2, time: 2 });
    assert.deepEqual(runner.output("emb").dims, [2, 2, 3]);
    runner.setDims({ batch: 1, time: 4 });
    await runner.run();
    assert.deepEqual(runner.output("emb").dims, [1, 4, 3]);
    assert.deepEqual(runner.output("emb").toActual(), gather([1, 2, 3, 4], fx.expected));
  });

  it("binds batch from one input for another, and setDims overrides it", async () => {
    const runner = await load(join(fx.dir, "affine"), wasmOnly);
    runner.input("ids").set(Int32Array.from([1, 2, 3, 4]));
    // x is the only input binding batch; without it, ids alone cannot split 4 values.
    const x = runner.input("x");
    x.set(ramp(4));
    await runner.run();
    assert.deepEqual(runner.dims, { batch: 1, time: 4 });
    runner.setDims({ batch: 2 });
    await assert.rejects(runner.run(), /input "x": expected 8 values for shape \[batch, 4\] with batch=2, time=2, got 4/);
    x.set(ramp(8));
    await runner.run();
    assert.deepEqual(runner.dims, { batch: 2, time: 2 });
    assert.throws(() => runner.setDims({ seq: 3 }), /no dimension "seq"; its dimensions are \[batch, time\]/);
    assert.throws(() => runner.setDims({ batch: 1.5 }), /batch must be a non-negative integer/);
  });
});

describe("state", () => {
  it("step() feeds state outputs back and resetState() zeroes them", async () => {
    const runner = await load(join(fx.dir, "state"), wasmOnly);
    runner.input("x").set(Float32Array.from([1, 2, 3, 4]));
    await runner.step();
    assert.deepEqual(runner.output("h_out").toActual(), Float32Array.from([1, 2, 3, 4]));
    await runner.step();
    assert.deepEqual(runner.output("h_out").toActual(), Float32Array.from([2, 4, 6, 8]));
    assert.deepEqual(runner.output("y").toActual(), Float32Array.from([4, 8, 12, 16]));
    runner.resetState();
    await runner.step();
    assert.deepEqual(runner.output("h_out").toActual(), Float32Array.from([1, 2, 3, 4]));
  });

  it("run() without step keeps the state input as set (zeros when unset)", async () => {
    const runner = await load(join(fx.dir, "state"), wasmOnly);
    const out1 = await runner.predict({ x: [1, 1] });
    const out2 = await runner.predict({ x: [1, 1] });
    assert.deepEqual(out1.h_out, out2.h_out);
    const out3 = await runner.predict({ x: [1, 1], h_in: [10, 20] });
    assert.deepEqual(out3.h_out, Float32Array.from([11, 21]));
  });
});
