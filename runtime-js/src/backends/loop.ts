/**
 * The one loop encoding of a Program (docs/design.md section 4), read the same way by every backend:
 * a kernel whose `meta.loop` is `{index, count, span}` starts a loop over its step and the `span - 1`
 * steps after it, run `count` times, where `count` names the kernel param holding the number of
 * iterations and `index` the param the runtime sets to 0, 1, ... for each iteration (WebGL: the
 * `u_iter` uniform). Steps inside a body are ordinary steps.
 */

import type { KernelSpec, StepSpec } from "../bundle/reader.js";
import { fail } from "../fail.js";

export interface LoopMeta {
  /** The param set to the iteration number. */
  index: string;
  /** The param whose value is the number of iterations. */
  count: string;
  /** How many consecutive steps, this one first, are repeated together. */
  span: number;
}

/** The kernel's loop, or null; throws naming the kernel when the metadata is malformed. */
export function kernelLoop(spec: KernelSpec): LoopMeta | null {
  const loop = spec.meta["loop"] as LoopMeta | undefined;
  if (!loop) return null;
  if (!spec.params.includes(loop.index) || !spec.params.includes(loop.count) || !(loop.span >= 1)) {
    throw fail(`kernel ${spec.name}: meta.loop ${JSON.stringify(loop)} does not name two of its params ` +
      `(${spec.params.join(", ")}) and a span >= 1`);
  }
  return loop;
}

/** Throws unless `steps` is the bundle's own list (backends prepare their work per step at bind()). */
export function checkOwnSteps(steps: readonly StepSpec[], own: readonly StepSpec[], backend: string): void {
  if (steps !== own) throw fail(`the ${backend} context runs only its bundle's own steps (program.steps)`);
}

/** A loop of a bound program: `body` (a plan per step) run `iterations` times (a plain step: once). */
export interface Loop<P> {
  iterations: number;
  body: P[];
}

/** What loops() reads of a step's plan: its kernel (with its loop) and the step's param values. */
interface Planned {
  kernel: { spec: KernelSpec; loop: LoopMeta | null };
  params: number[];
}

/** The plans of a program's steps (one per step, in order) grouped into its loops. */
export function loops<P extends Planned>(plans: P[]): Loop<P>[] {
  const out: Loop<P>[] = [];
  for (let i = 0; i < plans.length;) {
    const { kernel: { spec, loop }, params } = plans[i]!;
    const span = loop ? loop.span : 1;   // parseBundle checked that the loop's steps exist
    const iterations = loop ? params[spec.params.indexOf(loop.count)]! : 1;
    out.push({ iterations, body: plans.slice(i, i + span) });
    i += span;
  }
  return out;
}

/** Calls `fn` for each plan of each iteration, in run order. */
export function eachStep<P>(all: Loop<P>[], fn: (plan: P, iter: number, iterations: number) => void): void {
  for (const { iterations, body } of all) {
    for (let iter = 0; iter < iterations; iter++) body.forEach((p) => fn(p, iter, iterations));
  }
}
