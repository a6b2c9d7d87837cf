/**
 * Input and output handles of a Runner.
 *
 * An InputHandle keeps a reference to the array given to set(); the values are read (checked and
 * copied into the backend) at the next run, so the caller must not change the array before that.
 * An OutputHandle holds the values of the last run in a buffer the runner reuses; toActual() returns
 * a copy the caller owns.
 */

import type { Dims } from "./dims.js";
import { evaluateShape, formatShape, shapeSize, staticSize } from "./dims.js";
import type { HostArray } from "./backends/backend.js";
import { fail, inputFail } from "./fail.js";

export type DType = "float32" | "int32";

/** The metadata of one model input or output, as the bundle describes it. */
export interface IOInfo {
  name: string;
  /** TensorSpec.id of the tensor that holds it. */
  tensor: number;
  dtype: DType;
  /** Dims as strings: integers, symbols or products (`"batch*time"`). */
  shape: readonly string[];
  role: "data" | "state";
  /** Half-open [lo, hi) range an input's values, truncated to int, must lie in (Gather ids), else null. */
  validRange: readonly [number, number] | null;
  /** For a state input: the output that feeds it on step(); for a state output: the input it feeds. */
  stateOf: string | null;
}

/** Describes what an input expects, for error messages: `Float32Array of shape [batch, 8]`. */
export function describeExpected(info: IOInfo): string {
  return `${info.dtype === "float32" ? "Float32Array" : "Int32Array"} of shape ${formatShape(info.shape)}`;
}

/** int64 values as an Int32Array; throws naming the first value outside the int32 range. */
export function int64ToInt32(array: BigInt64Array, name: string): Int32Array {
  const i = array.findIndex((v) => v < -2147483648n || v > 2147483647n);
  if (i >= 0) {
    throw inputFail(name, `int64 value ${array[i]} at index ${i} does not fit the model's int32 input; ` +
      "pass values in the int32 range");
  }
  return Int32Array.from(array, Number);
}

export function allocate(dtype: DType, length: number): HostArray {
  return dtype === "float32" ? new Float32Array(length) : new Int32Array(length);
}

/** What both handles show of their IOInfo. */
export class IOHandle {
  constructor(readonly info: IOInfo) {}

  get name(): string { return this.info.name; }
  get dtype(): DType { return this.info.dtype; }
  /** The symbolic shape from the bundle. */
  get shape(): readonly string[] { return this.info.shape; }
  get role(): "data" | "state" { return this.info.role; }
}

export class InputHandle extends IOHandle {
  /** The array given to set(), or null when unset. */
  private current: HostArray | null = null;

  get validRange(): readonly [number, number] | null { return this.info.validRange; }

  /** The concrete shape given with the last set(array, shape), or null. */
  private givenShape: readonly number[] | null = null;

  /** Counts set() and clear() calls: the runner knows whether the values on the device are still these. */
  version = 0;

  /** The array set for the next run (null when unset). */
  get data(): HostArray | null { return this.current; }

  /** The shape given with set(), if any (it binds the input's symbolic dims, e.g. batch and time). */
  get given(): readonly number[] | null { return this.givenShape; }

  /**
   * Sets the input's values. The array must be a Float32Array for float32 inputs and an Int32Array for
   * int32 inputs, and its length a multiple of the shape's static part; symbolic dims are bound at run.
   * An int32 input also takes a BigInt64Array (int64 token ids as PyTorch makes them, from an ONNX
   * model's int64 input): it is copied to an Int32Array and refused when a value lies outside int32.
   * With `shape` (e.g. [batch, time]) the symbolic dims are taken from it, which removes any ambiguity.
   */
  set(array: HostArray | BigInt64Array, shape?: readonly number[]): void {
    if (array instanceof BigInt64Array && this.dtype === "int32") array = int64ToInt32(array, this.name);
    const refuse = (got: unknown) =>
      inputFail(this.name, `expected a ${describeExpected(this.info)}, got ${got}`);
    if (!(array instanceof (this.dtype === "float32" ? Float32Array : Int32Array))) {
      throw refuse(array?.constructor.name ?? array);
    }
    const unit = staticSize(this.shape);
    if (unit > 0 ? array.length % unit !== 0 : array.length !== 0) {
      throw refuse(`${array.length} values (not a multiple of ${unit})`);
    }
    if (shape !== undefined) this.checkGiven(array, shape);
    this.givenShape = shape === undefined ? null : Array.from(shape);
    this.current = array;
    this.version++;
  }

  private checkGiven(array: HostArray, shape: readonly number[]): void {
    const listed = Array.isArray(shape) || ArrayBuffer.isView(shape);
    const text = listed ? formatShape(Array.from(shape)) : String(shape);
    if (!listed || !Array.from(shape).every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw inputFail(this.name, `shape ${text} must be a list of non-negative integers`);
    }
    const fits = shape.length === this.shape.length && shapeSize(shape) === array.length &&
      this.shape.every((d, i) => !/^[0-9]+$/.test(d) || Number(d) === shape[i]);
    if (!fits) {
      throw inputFail(this.name, `shape ${text} does not fit ${describeExpected(this.info)} with ` +
        `${array.length} values`);
    }
  }

  /** Forgets the values set (the runner uses this for resetState()). */
  clear(): void {
    this.current = this.givenShape = null;
    this.version++;
  }

  /** The concrete shape for given dims, e.g. to size the array before set(). */
  resolveShape(dims: Dims): number[] {
    return evaluateShape(this.shape, dims, `input "${this.name}"`);
  }
}

export class OutputHandle extends IOHandle {
  /** The last run's values on the host, or null. */
  private hostValues: HostArray | null = null;
  private concreteShape: number[] = [];

  /** The concrete shape of the last run's values ([] before the first run). */
  get dims(): readonly number[] { return this.concreteShape; }

  /** Whether the host holds values (view() works). */
  get ready(): boolean {
    return this.hostValues !== null;
  }

  /** A copy of the last run's values, owned by the caller. */
  toActual(): HostArray {
    return this.view().slice();
  }

  /** The last run's values without copying; valid only until the next run. */
  view(): HostArray {
    if (this.hostValues === null) {
      throw fail(`output "${this.name}" has no values yet; await runner.run() first`);
    }
    return this.hostValues;
  }

  /** Forgets the values (they stay on the device: a state output after step(), outputs after generate()). */
  clear(): void {
    this.hostValues = null;
  }

  /** Makes room for the next run's values (reusing the buffer when the size is unchanged). */
  prepare(dims: Dims): HostArray {
    this.concreteShape = evaluateShape(this.shape, dims, `output "${this.name}"`);
    const length = shapeSize(this.concreteShape);
    if (this.hostValues?.length !== length) this.hostValues = allocate(this.dtype, length);
    return this.hostValues;
  }
}
