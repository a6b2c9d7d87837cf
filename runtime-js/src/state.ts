/**
 * State snapshots: what Runner.getState() returns and Runner.setState() restores.
 *
 * A snapshot holds a copy of every state input's values (null: not set, the run uses zeros) and the shape
 * given with them; a state that step() keeps on a GPU is copied on the device instead (Runner.getState,
 * freed by garbage collection with the snapshot). It is immutable: setState() hands its arrays to the
 * inputs, which only read them, step() writes the next state into the runner's own arrays (or device
 * buffers), never into a snapshot's, and restoring a device copy copies it.
 */

import type { HostArray } from "./backends/backend.js";
import type { InputHandle } from "./tensor.js";
import { fail } from "./fail.js";
import { formatShape } from "./dims.js";

/** One state input's saved values (null: zeros) and the shape given with them. */
export interface SavedState {
  readonly data: HostArray | null;
  readonly shape: readonly number[] | null;
  /** GPU backends: a device copy of a state step() carried there (then `data` is null). */
  readonly device?: unknown;
}

export interface StateSnapshot {
  /** State input name -> its saved values. */
  readonly states: ReadonlyMap<string, SavedState>;
}

export function snapshotState(inputs: readonly InputHandle[]): StateSnapshot {
  return { states: new Map(stateInputs(inputs).map((h) =>
    [h.name, { data: h.data?.slice() ?? null, shape: h.given }])) };
}

function stateInputs(inputs: readonly InputHandle[]): InputHandle[] {
  return inputs.filter((h) => h.role === "state");
}

export function restoreState(inputs: readonly InputHandle[], snapshot: StateSnapshot): void {
  if (!snapshot || !(snapshot.states instanceof Map)) {
    throw fail("setState: expected a snapshot from runner.getState()");
  }
  const states = stateInputs(inputs), theirs = [...snapshot.states.keys()];
  if (states.length !== theirs.length || !states.every((h) => snapshot.states.has(h.name))) {
    const ours = formatShape(states.map((h) => h.name));
    throw fail(`setState: the snapshot holds states ${formatShape(theirs)}, this runner has ${ours}; ` +
      "take snapshots with getState() of a runner of the same model");
  }
  for (const handle of states) {
    const saved = snapshot.states.get(handle.name)!;
    if (saved.data === null) handle.clear();
    else handle.set(saved.data, saved.shape ?? undefined);
  }
}
