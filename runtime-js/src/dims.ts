/**
 * Symbolic dimensions of model inputs and outputs.
 *
 * A dim is a string from the bundle: an integer (`"8"`), a symbol (`"batch"`), a product of both
 * (`"batch*time"`, `"2*batch"`), or, inside the graph and on outputs, any expression of the bundle's
 * expression language (`"(time-4)/2+1"`). Symbols are bound to integers before a run, from `setDims`
 * and from the lengths of the arrays given to the inputs (see `bindDims` for the exact rule); only
 * products are solved from lengths, other dims are evaluated once their symbols are bound.
 */

import { evaluateExpr, FUNCTIONS, IDENT } from "./bundle/expr.js";
import { fail, inputFail } from "./fail.js";
import type { SlotSpec } from "./bundle/reader.js";

/** Values of the bound symbols, e.g. `{ batch: 2, time: 7 }`. */
export type Dims = Record<string, number>;

/** A dim split into its integer coefficient and its symbol factors (repeats kept). */
interface Product {
  coef: number;
  factors: string[];
}

const INTEGER = /^\d+$/;

/**
 * Splits a product dim, or a whole shape's dims joined with "*"; returns null for anything else (such a
 * dim is only evaluated, never solved).
 */
function parseProduct(dim: string): Product | null {
  const product: Product = { coef: 1, factors: [] };
  for (const raw of dim.split("*")) {
    const part = raw.trim();
    if (INTEGER.test(part)) product.coef *= Number(part);
    else if (IDENT.test(part)) product.factors.push(part);
    else if (part !== "") return null;    // "" is the empty shape (the reader refuses empty dims)
  }
  return product;
}

/** The symbols a shape mentions, in order of first use. */
export function shapeSymbols(shape: readonly string[]): string[] {
  const out: string[] = [];
  for (const dim of shape) {
    for (const m of dim.matchAll(/[A-Za-z_]\w*/g)) {
      if (!out.includes(m[0]) && !FUNCTIONS.includes(m[0])) out.push(m[0]);
    }
  }
  return out;
}

/** `"[batch, 8]"`, for error messages. */
export function formatShape(shape: readonly (string | number)[]): string {
  return `[${shape.join(", ")}]`;
}

/** The values of `symbols` in `dims` as one string: contexts compare it to skip re-binding unchanged dims. */
export function dimsKey(symbols: readonly string[], dims: Dims): string {
  return symbols.map((s) => dims[s]).join(",");
}

/** The bytes memory slot `slot` needs under `dims`: the largest of the tensors sharing it. */
export function slotBytes(slot: SlotSpec, dims: Dims): number {
  return Math.max(0, ...slot.sizes.map((e) => evaluateExpr(e, dims)));
}

/** `"batch=2, time=7"`, for error messages. */
export function formatDims(dims: Dims): string {
  const parts = Object.entries(dims).map(([k, v]) => `${k}=${v}`);
  return parts.length ? parts.join(", ") : "no dims bound";
}

/**
 * The concrete shape for bound dims; throws naming `what` when a symbol is unbound or a derived dim such
 * as `(time-4)/2+1` is negative.
 */
export function evaluateShape(shape: readonly string[], dims: Dims, what: string): number[] {
  return shape.map((dim) => {
    const unbound = shapeSymbols([dim]).find((s) => dims[s] === undefined);
    if (unbound !== undefined) {
      throw fail(`${what}: dimension "${unbound}" of shape ${formatShape(shape)} is not bound; ` +
        `set the inputs that determine it or call runner.setDims({${unbound}: ...})`);
    }
    const value = evaluateExpr(dim, dims);
    if (value < 0) {
      throw fail(`${what}: dimension ${dim} is ${value} with ${formatDims(dims)}; the inputs are too ` +
        "short for the model's windows (a convolution's); pass longer ones");
    }
    return value;
  });
}

export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/** One input's contribution to binding: its name, symbolic shape and the number of values given. */
export interface SizedInput {
  name: string;
  shape: readonly string[];
  length: number;
  /** The concrete shape given with set(array, shape), when the caller gave one. */
  given?: readonly number[] | null;
}

/** Why the symbols `free` are unbound, asking for runner.setDims. */
export function cannotInfer(free: readonly string[], from: string): string {
  const ask = free.map((s) => `${s}: ...`).join(", ");
  return `cannot infer ${free.join(" and ")} from ${from}; call runner.setDims({${ask}}) before running`;
}

/** `"shape [batch, 4] with batch=2"`, for binding errors. */
function against(input: SizedInput, dims: Dims): string {
  return `shape ${formatShape(input.shape)} with ${formatDims(dims)}`;
}

/** Binds the plain-symbol dims of inputs whose concrete shape was given; conflicts are errors. */
function bindGiven(inputs: readonly SizedInput[], into: Dims): void {
  for (const { name, shape, given } of inputs) {
    shape.forEach((dim, axis) => {
      if (!given || !IDENT.test(dim)) return;
      const value = given[axis]!, bound = into[dim];
      if (bound !== undefined && bound !== value) {
        throw inputFail(name, `shape ${formatShape(given)} gives ${dim}=${value}, ` +
          `but ${dim} is already ${bound} (${formatDims(into)})`);
      }
      into[dim] = value;
    });
  }
}

/**
 * Binds every symbol the inputs use, starting from `explicit` (runner.setDims):
 *  - each input's length must be a multiple of its shape's static part (the product of its integer dims
 *    and of the symbols already bound);
 *  - an input whose shape has exactly one unbound symbol binds it (`length / static part`);
 *  - this repeats until nothing changes, so a symbol bound by one input (e.g. `batch` from a
 *    `[batch, 4]` input) helps solve another (`time` in `[batch, time, 8]`);
 *  - a symbol still unbound after that (e.g. `batch` and `time` both free in the only input) is an
 *    error asking for runner.setDims.
 * Every input's length is then checked against its evaluated shape.
 */
export function bindDims(inputs: readonly SizedInput[], explicit: Dims, into: Dims): Dims {
  for (const key of Object.keys(into)) delete into[key];
  Object.assign(into, explicit);
  bindGiven(inputs, into);
  // whole passes over the inputs until none binds a symbol
  let changed = true;
  while (changed) changed = inputs.filter((input) => solveOne(input, into)).length > 0;
  for (const input of inputs) {
    const free = shapeSymbols(input.shape).filter((s) => into[s] === undefined);
    if (free.length > 0) {
      const from = `${input.length} values of shape ${formatShape(input.shape)}`;
      throw inputFail(input.name, cannotInfer(free, from));
    }
    const expected = shapeSize(evaluateShape(input.shape, into, `input "${input.name}"`));
    if (expected !== input.length) {
      throw inputFail(input.name, `expected ${expected} values for ${against(input, into)}, ` +
        `got ${input.length}`);
    }
  }
  return into;
}

/** Binds the input's single unbound symbol if it has exactly one; returns whether it bound one. */
function solveOne(input: SizedInput, dims: Dims): boolean {
  const product = parseProduct(input.shape.join("*"));
  if (product === null) return false;
  let known = product.coef;
  const unbound: string[] = [];
  for (const s of product.factors) {
    const v = dims[s];
    if (v === undefined) unbound.push(s);
    else known *= v;
  }
  if (unbound.length === 0) return false;
  if (known === 0 || input.length % known !== 0) {
    throw inputFail(input.name, `got ${input.length} values, which is not a multiple of ` +
      `${known} (the known part of ${against(input, dims)})`);
  }
  if (unbound.some((s) => s !== unbound[0])) return false;
  const value = integerRoot(input.length / known, unbound.length);
  if (value === null) {
    throw inputFail(input.name, `${input.length} values do not fit ${against(input, dims)}`);
  }
  dims[unbound[0]!] = value;
  return true;
}

function integerRoot(value: number, degree: number): number | null {
  const root = Math.round(value ** (1 / degree));
  return root ** degree === value ? root : null;
}

/** The product of the integer dims of a shape: every valid length is a multiple of it. */
export function staticSize(shape: readonly string[]): number {
  return shape.reduce((n, dim) => n * (parseProduct(dim)?.coef ?? 1), 1);
}
