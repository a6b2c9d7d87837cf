/**
 * Choosing a token from a model's scores (logits or probabilities over a vocabulary).
 *
 * `logits` are unnormalized log-probabilities; sampling divides them by the temperature and takes a
 * softmax. Randomness comes from a `Random` function returning numbers in [0, 1): pass createRng(seed)
 * for reproducible results (Math.random is used when none is given).
 */

import { fail } from "./fail.js";

export type Random = () => number;

/** Index of the largest value; NaNs are skipped, ties go to the lowest index. */
export function argmax(values: ArrayLike<number>): number {
  let best = -1;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v === v && (best < 0 || v > values[best]!)) best = i;
  }
  if (best < 0) throw fail(`argmax: no value to choose from (${values.length} values, all NaN or none)`);
  return best;
}

/**
 * A seedable generator of numbers in [0, 1) (mulberry32: 32-bit state, fast, good enough for
 * sampling; not for cryptography). The same seed gives the same sequence everywhere: its k-th number
 * (k = 0, 1, ...) is drawAt(seed, k), which the GPU sampling kernels compute too.
 */
export function createRng(seed: number): Random {
  if (!Number.isFinite(seed)) throw fail(`createRng: the seed must be a finite number, got ${seed}`);
  const s = Math.trunc(seed) >>> 0;
  let k = 0;
  return () => drawAt(s, k++);
}

/** Number k of createRng(seed), a pure function of the two (a counter-based generator). */
export function drawAt(seed: number, k: number): number {
  let t = (seed + Math.imul(k + 1, 0x6d2b79f5)) >>> 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  // 24 bits, as the GPU kernels keep (a float32 holds them exactly): every backend draws the same numbers
  return ((t ^ (t >>> 14)) >>> 8) / 16777216;
}

/** Indices of the k largest values, largest first (ties: lower index first; NaNs never chosen). */
export function topK(values: ArrayLike<number>, k: number): number[] {
  if (!Number.isInteger(k) || k < 1) throw fail(`topK: k must be a positive integer, got ${k}`);
  const indices: number[] = [];
  for (let i = 0; i < values.length; i++) if (values[i] === values[i]) indices.push(i);
  indices.sort((a, b) => values[b]! - values[a]! || a - b);
  return indices.slice(0, k);
}

export interface SampleOptions {
  /** Divides the logits; 0 means greedy (argmax). Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens before sampling; 0 or absent keeps all. */
  topK?: number;
  /** The random source, e.g. createRng(42). Default Math.random. */
  random?: Random;
}

/** Draws an index from softmax(logits / temperature), optionally restricted to the top k. */
export function sample(logits: ArrayLike<number>, options: SampleOptions = {}): number {
  const temperature = options.temperature ?? 1;
  if (!(temperature >= 0 && temperature < Infinity)) {
    throw fail(`sample: temperature must be a finite number >= 0, got ${temperature}`);
  }
  if (temperature === 0) return argmax(logits);
  const k = options.topK ?? 0;
  const candidates = topK(logits, k > 0 ? k : logits.length || 1);
  if (candidates.length === 0) throw fail(`sample: no value to choose from (${logits.length} values)`);
  // Subtracting the largest logit keeps exp() finite; +inf logits are chosen outright.
  const top = logits[candidates[0]!]!;
  if (top === Infinity) return candidates[0]!;
  const weights = candidates.map((i) => Math.exp((logits[i]! - top) / temperature));
  let r = (options.random ?? Math.random)() * weights.reduce((a, b) => a + b);
  for (let j = 0; j < candidates.length; j++) {
    r -= weights[j]!;
    if (r < 0) return candidates[j]!;
  }
  return candidates[candidates.length - 1]!;
}

/** softmax(logits / temperature) as a new Float32Array (temperature > 0). */
export function softmax(logits: ArrayLike<number>, temperature = 1): Float32Array {
  if (!(temperature > 0)) throw fail(`softmax: temperature must be > 0, got ${temperature}`);
  let top = -Infinity, total = 0;
  for (let i = 0; i < logits.length; i++) top = Math.max(top, logits[i]!);
  const out = Float32Array.from(logits, (v) => {
    const e = Math.exp((v - top) / temperature);
    total += e;   // of the unrounded values
    return e;
  });
  return out.map((e) => e / total);
}
