// Sampling helpers: argmax, topK, softmax, sample with temperature/top-k and a seedable RNG.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { argmax, createRng, sample, softmax, topK } from "../dist/webloom.js";

describe("argmax", () => {
  it("picks the first largest value and skips NaN", () => {
    assert.equal(argmax([1, 3, 2, 3]), 1);
    assert.equal(argmax(Float32Array.from([NaN, -1, -Infinity])), 1);
    assert.equal(argmax([-Infinity, -Infinity]), 0);
  });
  it("throws on empty or all-NaN input", () => {
    assert.throws(() => argmax([]), /argmax: no value/);
    assert.throws(() => argmax([NaN]), /argmax: no value/);
  });
});

describe("createRng", () => {
  it("is reproducible per seed and stays in [0, 1)", () => {
    const a = createRng(42), b = createRng(42), c = createRng(43);
    const seqA = Array.from({ length: 1000 }, a);
    assert.deepEqual(seqA, Array.from({ length: 1000 }, b));
    assert.notDeepEqual(seqA, Array.from({ length: 1000 }, c));
    assert.ok(seqA.every((v) => v >= 0 && v < 1));
    const mean = seqA.reduce((s, v) => s + v, 0) / seqA.length;
    assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
  });
  it("keeps 24 bits, as the GPU kernels do (a float32 holds every draw exactly)", () => {
    const a = createRng(7);
    for (let k = 0; k < 200; k++) {
      const u = a();
      assert.ok(Number.isInteger(u * 2 ** 24) && Math.fround(u) === u, `draw ${k}: ${u}`);
    }
  });
  it("rejects a non-finite seed", () => {
    assert.throws(() => createRng(NaN), /seed must be a finite number/);
  });
});

describe("topK and softmax", () => {
  it("orders the k largest, ties by index, NaN never chosen", () => {
    assert.deepEqual(topK([0.1, 0.5, NaN, 0.5, 0.2], 3), [1, 3, 4]);
    assert.deepEqual(topK([1], 5), [0]);
    assert.throws(() => topK([1], 0), /k must be a positive integer/);
  });
  it("softmax sums to one and follows the temperature", () => {
    const p = softmax([1, 2, 3]);
    assert.ok(Math.abs(p.reduce((s, v) => s + v, 0) - 1) < 1e-6);
    assert.ok(Math.abs(p[2] - Math.exp(3) / (Math.exp(1) + Math.exp(2) + Math.exp(3))) < 1e-6);
    const sharp = softmax([1, 2, 3], 0.1);
    assert.ok(sharp[2] > 0.99);
  });
});

describe("sample", () => {
  const logits = [Math.log(0.1), Math.log(0.2), Math.log(0.7)];

  it("is greedy at temperature 0 and with topK 1", () => {
    assert.equal(sample(logits, { temperature: 0 }), 2);
    assert.equal(sample(logits, { topK: 1, random: createRng(1) }), 2);
  });

  it("follows the softmax distribution", () => {
    const random = createRng(7);
    const counts = [0, 0, 0];
    for (let i = 0; i < 20000; i++) counts[sample(logits, { random })]++;
    const freq = counts.map((c) => c / 20000);
    [0.1, 0.2, 0.7].forEach((p, i) => assert.ok(Math.abs(freq[i] - p) < 0.015, `freq ${freq}`));
  });

  it("restricts to the top k and is reproducible with a seed", () => {
    const draws = (seed) => { const random = createRng(seed); return Array.from({ length: 200 }, () => sample(logits, { topK: 2, random })); };
    const a = draws(3);
    assert.deepEqual(a, draws(3));
    assert.ok(a.every((i) => i === 1 || i === 2));
    assert.ok(a.includes(1) && a.includes(2));
  });

  it("sharpens with low temperature and flattens with high", () => {
    const count = (temperature) => {
      const random = createRng(11);
      let top = 0;
      for (let i = 0; i < 5000; i++) if (sample(logits, { temperature, random }) === 2) top++;
      return top / 5000;
    };
    assert.ok(count(0.2) > 0.98);
    assert.ok(count(100) < 0.4);
  });

  it("rejects a negative temperature", () => {
    assert.throws(() => sample(logits, { temperature: -1 }), /temperature must be a finite number >= 0/);
  });
});
