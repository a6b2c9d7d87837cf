/**
 * What the three contexts (wasm, webgpu, webgl) share: the guard for calls out of the order backend.ts
 * gives, the lost-device error, the stats counters, and a few reads of the bundle's tensors.
 */

import { evaluateExpr } from "../bundle/expr.js";
import type { BundleProgram, TensorSpec } from "../bundle/reader.js";
import type { Dims } from "../dims.js";
import { fail } from "../fail.js";
import type { RunStats } from "./backend.js";

/** Fresh counters for BackendContext.stats. */
export function newStats(): RunStats {
  return { dispatches: 0, submits: 0, readbacks: 0 };
}

/**
 * `value`, set by init()/compile() and cleared by dispose(); throws when it is not there, i.e. when the
 * context `backend` is called before init() and compile() or after dispose().
 */
export function ready<T>(value: T | null | undefined, backend: string): T {
  if (value == null) {
    throw fail(`the ${backend} context is not ready: init() and compile() it first (not after dispose())`);
  }
  return value;
}

/** The error for a lost GPU device or context (`what`, with its reason when known): only load() recovers. */
export function lost(what: string, reason?: string): Error {
  const why = reason ? ` (${reason})` : "";
  return fail(`${what} was lost${why}; load the model again (or use another backend)`);
}

/** The weight tensors of `program`, in id order. */
export function weightsOf(program: BundleProgram): TensorSpec[] {
  return program.tensors.filter((t) => t.kind === "weight");
}

/** Elements of tensor `t` under `dims` (both dtypes are 4 bytes wide). */
export function elemsOf(t: TensorSpec, dims: Dims): number {
  return evaluateExpr(t.nbytesExpr, dims) / 4;
}
