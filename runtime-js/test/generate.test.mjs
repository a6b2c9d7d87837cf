// Runner.generate() on wasm (a loop of steps with the JS sampler): the tokens a hand-written loop of
// step() + sample(log p, {random: createRng(seed)}) chooses, with prime, temperature and topK; the same
// dispatches per token whatever the length; option errors name the option.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { argmax, createRng, drawAt, load, sample } from "../dist/webloom.js";

const here = dirname(fileURLToPath(import.meta.url));
const python = process.env.WEBLOOM_PYTHON ?? resolve(here, "../../.venv/bin/python");
let dir;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "webloom-generate-"));
  const script = join(here, "../fixtures/make_generate.py");
  execFileSync(python, [script, dir], { stdio: ["ignore", "ignore", "pipe"] });
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** What generate() must choose: prime fed one id per step, then `steps` sampled ids. */
async function byHand(runner, prime, steps, temperature, topK, seed) {
  const random = createRng(seed), ids = runner.input("ids"), out = [];
  runner.resetState();
  for (const id of prime.slice(0, -1)) { ids.set(Int32Array.of(id)); await runner.step(); }
  let id = prime.at(-1);
  for (let i = 0; i < steps; i++) {
    ids.set(Int32Array.of(id));
    await runner.step();
    const logits = Float32Array.from(runner.output("probs").view(), Math.log);
    id = temperature === 0 ? argmax(logits) : sample(logits, { temperature, topK, random });
    out.push(id);
  }
  return out;
}

describe("generate on wasm", () => {
  it("chooses the tokens of a step loop with the JS sampler", async () => {
    const runner = await load(dir, { backendOrder: ["wasm"] });
    for (const [temperature, topK, seed] of [[0, 0, 1], [0.8, 0, 7], [1.2, 4, 9]]) {
      const want = await byHand(runner, [3, 1, 4], 20, temperature, topK, seed);
      runner.resetState();
      const got = await runner.generate({ steps: 20, prime: [3, 1, 4], temperature, topK, seed });
      assert.deepEqual(Array.from(got), want, `temperature ${temperature}, topK ${topK}`);
    }
  });

  it("continues from the input as set, and its dispatches per token do not grow", async () => {
    const runner = await load(dir, { backendOrder: ["wasm"] });
    const counts = [];
    for (const steps of [4, 16]) {
      runner.resetState();
      runner.input("ids").set(Int32Array.of(5));
      const before = runner.runStats;
      const tokens = await runner.generate({ steps, temperature: 0 });
      const stats = runner.runStats;
      counts.push((stats.dispatches - before.dispatches) / steps);
      assert.equal(tokens.length, steps);
      assert.deepEqual(Array.from(runner.input("ids").data), [tokens.at(-1)]);   // the last token is fed
    }
    assert.equal(counts[0], counts[1]);
    assert.ok(counts[0] >= 1);
  });

  it("draws are a pure function of seed and index, and bad options are named", async () => {
    const rng = createRng(42);
    for (let k = 0; k < 5; k++) assert.equal(rng(), drawAt(42, k));
    const runner = await load(dir, { backendOrder: ["wasm"] });
    await assert.rejects(runner.generate({ steps: 0 }), /^Error: generate: steps must be an integer > 0, got 0$/);
    await assert.rejects(runner.generate({ steps: 2, temperature: -1 }), /temperature must be a finite number >= 0/);
    await assert.rejects(runner.generate({ steps: 2 }), /set input ids or pass prime/);
    await assert.rejects(runner.generate({ steps: 2, prime: [99] }), /prime must be integers in \[0, 12\), 1\+ of/);
    await assert.rejects(runner.generate({ steps: 2, prime: [NaN, 2.7] }), /prime must be .*got \[NaN, 2.7\]/);
    await assert.rejects(runner.generate({ steps: 2, prime: [1], seed: NaN }), /seed must be a finite number, got NaN/);
    for (const topK of [-1, 2.5, NaN]) {
      await assert.rejects(runner.generate({ steps: 2, prime: [1], topK }), /topK must be an integer >= 0/);
    }
    // topK beyond V keeps all, as topK 0 does
    const all = await runner.generate({ steps: 5, prime: [1], seed: 3, topK: 0 });
    runner.resetState();
    assert.deepEqual(await runner.generate({ steps: 5, prime: [1], seed: 3, topK: 2 ** 31 }), (runner.resetState(), all));
  });
});

describe("state snapshots", () => {
  it("setState refuses another runner's or a freed snapshot; get/setState refuse during a run", async () => {
    const [a, b] = [await load(dir, { backendOrder: ["wasm"] }), await load(dir, { backendOrder: ["wasm"] })];
    a.input("ids").set(Int32Array.of(2));
    await a.step();
    const snap = a.getState();
    assert.throws(() => b.setState(snap), /^Error: setState: the snapshot is from another runner \(wasm\); setState takes/);
    a.freeState(snap);
    a.freeState(snap);
    a.setState(snap);     // wasm snapshots hold host arrays only: freeing them frees nothing, they stay usable
    const pending = a.step();
    assert.throws(() => a.getState(), /^Error: getState\(\): the previous run has not finished/);
    assert.throws(() => a.setState(snap), /^Error: setState\(\): the previous run has not finished/);
    await pending;
  });
});

describe("load options", () => {
  it("refuses a numThreads that is not an integer >= 1 and an unknown threadBarrier", async () => {
    for (const numThreads of [NaN, -3, 2.5, 0]) {
      await assert.rejects(load(dir, { backendOrder: ["wasm"], numThreads }),
        /^Error: load: numThreads must be an integer >= 1, got /);
    }
    await assert.rejects(load(dir, { backendOrder: ["wasm"], threadBarrier: "bogus" }),
      /^Error: load: threadBarrier must be "spin", "wait" or "hybrid", got "bogus"$/);
    assert.equal((await load(dir, { backendOrder: ["wasm"], numThreads: 1, threadBarrier: "wait" })).backendName, "wasm");
  });
});

describe("generate batch", () => {
  it("refuses batch > 1 (set by setDims or by the token input's rows): one sequence per call", async () => {
    const batched = mkdtempSync(join(tmpdir(), "webloom-generate-batch-"));
    try {
      execFileSync(python, [join(here, "../fixtures/make_generate.py"), batched, "--batch"],
        { stdio: ["ignore", "ignore", "pipe"] });
      const runner = await load(batched, { backendOrder: ["wasm"] });
      assert.equal((await runner.generate({ steps: 3, prime: [3, 1], seed: 1 })).length, 3);
      runner.input("ids").set(Int32Array.of(3, 5));
      await assert.rejects(runner.generate({ steps: 3 }), /generate: batch 2 > 1; .*batch 1\) or use step\(\)/);
      // changing the batch after step() resets the carried state: as a fresh runner's first step
      runner.resetState();
      runner.input("ids").set(Int32Array.of(3));
      await runner.step();
      runner.input("ids").set(Int32Array.of(3, 5));
      await runner.step();
      const fresh = await load(batched, { backendOrder: ["wasm"] });
      fresh.input("ids").set(Int32Array.of(3, 5));
      await fresh.step();
      assert.deepEqual(runner.output("probs").view(), fresh.output("probs").view());
      runner.setDims({ batch: 3 });
      await assert.rejects(runner.generate({ steps: 3, prime: [3, 1] }), /generate: batch 3 > 1/);
    } finally {
      rmSync(batched, { recursive: true, force: true });
    }
  });
});

/** A make_generate.py variant's wasm runner. */
async function variant(flag) {
  const out = mkdtempSync(join(tmpdir(), "webloom-generate-v-"));
  execFileSync(python, [join(here, "../fixtures/make_generate.py"), out, flag], { stdio: ["ignore", "ignore", "pipe"] });
  try { return await load(out, { backendOrder: ["wasm"] }); } finally { rmSync(out, { recursive: true, force: true }); }
}

describe("generate feed", () => {
  it("refuses scores with more than V values per call, and a token input narrower than V", async () => {
    const wide = await variant("--wide");
    await assert.rejects(wide.generate({ steps: 6, prime: [1, 2, 3] }),
      /^Error: generate: scores "probs" have shape \[1, 3, 12\]; generate\(\) samples one row of V/);
    const narrow = await variant("--rows6");
    await assert.rejects(narrow.generate({ steps: 6, prime: [1] }),
      /^Error: generate: scores "probs" give 12 tokens but input "ids" accepts \[0, 6\)/);
  });


  it("refuses a model without a token input and a scores output", async () => {
    const { makeFixtures } = await import("../fixtures/helpers.mjs");
    const fx = makeFixtures();
    try {
      const runner = await load(join(fx.dir, "affine"), { backendOrder: ["wasm"] });
      await assert.rejects(runner.generate({ steps: 2, prime: [0] }),
        /generate: expected one int32 .*pass feed/);
    } finally {
      fx.cleanup();
    }
  });
});
