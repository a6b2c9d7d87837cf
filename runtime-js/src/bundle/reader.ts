/**
 * Reads bundle files (`model.<backend>.wlm`) written by converter/bundle/writer.py.
 *
 * Layout (converter/bundle/format.py is the reference; all integers little-endian):
 *   0  magic "WLOOMBND" | 8 u32 format version | 12 u32 flags (0) | 16 u32 CRC32 of every byte after
 *   the header | 20 u32 payload length | 24 u64 weights offset | 32 u64 weights length | 40 zeros to 64
 * then the FlatBuffers payload (webloom.fbs, identifier "WLM1"), zero padding, and the weights at a
 * 64-byte aligned offset, which lets backends view them as a Float32Array without copying.
 *
 * The types mirror converter/backends/program.py with camelCase names; dims and expressions stay strings.
 */

import { crc32 } from "./crc32.js";
import { ExprError, FUNCTIONS, IDENT, shown, validateExpr } from "./expr.js";
import { INT32, loadJson, MAX_BYTES, MAX_TERMS, MAX_WORKGROUP, staticValue, tooManyTerms }
  from "./limits.js";
import { rootTable } from "./flatbuffer.js";
import type { Table } from "./flatbuffer.js";
import { BundleError, corrupted } from "./errors.js";

export const FORMAT_VERSION = 1;
const MAGIC = "WLOOMBND";
const HEADER_SIZE = 64;
const WEIGHTS_ALIGN = 64;
const FILE_IDENTIFIER = "WLM1";

export { BundleError };

export type DType = "float32" | "int32";
export type Role = "data" | "state";
export type TensorKind = "input" | "output" | "weight" | "temp";
export type Access = "read" | "read_write";

export interface IOSpec {
  name: string;
  /** TensorSpec.id of the tensor that holds it. */
  tensor: number;
  dtype: DType;
  /** Dims as strings: integers, symbols or products (`"batch*time"`). */
  shape: string[];
  role: Role;
  /** Half-open [lo, hi) range the values must lie in (Gather indices), else null. */
  validRange: [number, number] | null;
  /** For a state input: the output that feeds it on the next run; for a state output: that input. */
  stateOf: string | null;
}

export interface TensorSpec {
  /** Equal to the tensor's index in BundleProgram.tensors. */
  id: number;
  name: string;
  dtype: DType;
  shape: string[];
  kind: TensorKind;
  /** SlotSpec.id (every non-weight tensor has one), else -1. */
  slot: number;
  /** Byte offset into BundleProgram.weights (weights only; a multiple of 64), else -1. */
  weightOffset: number;
  /** Byte size as an expression. */
  nbytesExpr: string;
}

export interface SlotSpec {
  /** Equal to the slot's index in BundleProgram.slots. */
  id: number;
  /** Byte sizes of the tensors sharing the slot, as expressions: it needs the largest. */
  sizes: string[];
}

export interface Binding {
  name: string;
  access: Access;
}

export interface KernelSpec {
  name: string;
  /** Entry point: a shader function or a wasm export. */
  entry: string;
  source: string;
  /** In the order a step lists its tensors. */
  bindings: Binding[];
  /** Names of the integer params, in call order. */
  params: string[];
  workgroup: [number, number, number];
  meta: Record<string, unknown>;
}

export interface StepSpec {
  /** Index into BundleProgram.kernels. */
  kernel: number;
  /** One TensorSpec.id per kernel binding. */
  tensors: number[];
  /** One expression per kernel param. */
  params: string[];
  /** Workgroup counts (x, y, z) as expressions. */
  dispatch: [string, string, string];
}

export interface BundleProgram {
  formatVersion: number;
  backend: string;
  graphName: string;
  /** The symbols that input shapes bind (`batch`, `time`, ...). */
  symbols: string[];
  inputs: IOSpec[];
  outputs: IOSpec[];
  tensors: TensorSpec[];
  slots: SlotSpec[];
  kernels: KernelSpec[];
  steps: StepSpec[];
  /** A view into the bundle's ArrayBuffer, 64-byte aligned within it. */
  weights: Uint8Array;
  /** Backend-level code (the compiled wasm module), a view into the bundle's ArrayBuffer. */
  module: Uint8Array;
  meta: Record<string, unknown>;
  /** wasm: the same module built with relaxed SIMD (FMA); empty when the bundle has none. */
  moduleRelaxed: Uint8Array;
  /** wasm: moduleRelaxed built for threads (shared imported memory); empty when the bundle has none. */
  moduleThreads: Uint8Array;
}

/** Parses and checks a whole bundle file. The result keeps views into `buf` (weights, module). */
export function parseBundle(buf: ArrayBuffer): BundleProgram {
  if (!(buf instanceof ArrayBuffer)) {
    throw new BundleError("parseBundle needs an ArrayBuffer (for a Uint8Array u, pass u.slice().buffer)");
  }
  const [payloadLength, weightsOffset, weightsLength] = readHeader(buf);
  const payload = new DataView(buf, HEADER_SIZE, payloadLength);
  const root = rootTable(payload, FILE_IDENTIFIER);
  if (root === null) throw corrupted("the payload is not a Webloom program");
  const program = readProgram(root, new Uint8Array(buf, weightsOffset, weightsLength));
  program.weights = expandWeights(root, program);
  checkProgram(program);
  return program;
}

/** What the header says of the rest of the file. */
type Header = [payloadLength: number, weightsOffset: number, weightsLength: number];

function truncated(expected: number, got: number): BundleError {
  return new BundleError(`bundle is truncated: expected ${expected} bytes, got ${got}`);
}

function readHeader(buf: ArrayBuffer): Header {
  const got = buf.byteLength;
  const magic = String.fromCharCode(...new Uint8Array(buf.slice(0, MAGIC.length)));
  // a file shorter than the magic but starting like it was cut short
  if (got === 0 || !MAGIC.startsWith(magic)) throw new BundleError("not a Webloom bundle (bad magic)");
  if (got < HEADER_SIZE) throw truncated(HEADER_SIZE, got);
  const view = new DataView(buf);   // only the first HEADER_SIZE bytes are read
  const u32 = (at: number) => view.getUint32(at, true);
  const u64 = (at: number) => Number(view.getBigUint64(at, true));
  const version = u32(8);
  const flags = u32(12);
  if (version > FORMAT_VERSION) {
    throw new BundleError(
      `bundle format version ${version} is newer than this reader (${FORMAT_VERSION}): update webloom`);
  }
  if (version < 1 || flags !== 0) {
    throw corrupted(`version ${version}, flags 0x${flags.toString(16)} in the header`);
  }
  const payloadLength = u32(20);
  const weightsOffset = u64(24);
  const weightsLength = u64(32);
  if (weightsOffset % WEIGHTS_ALIGN !== 0 || weightsOffset < HEADER_SIZE + payloadLength) {
    throw corrupted(`weights offset ${weightsOffset} does not follow a ${payloadLength}-byte payload`);
  }
  if (got < weightsOffset + weightsLength) throw truncated(weightsOffset + weightsLength, got);
  if (crc32(new Uint8Array(buf, HEADER_SIZE)) !== u32(16)) {
    throw corrupted("checksum mismatch");
  }
  return [payloadLength, weightsOffset, weightsLength];
}

// Field ids follow the declaration order in converter/bundle/webloom.fbs.

function readProgram(t: Table, weights: Uint8Array): BundleProgram {
  return {
    formatVersion: FORMAT_VERSION,
    backend: t.string(0),
    graphName: t.string(1),
    symbols: t.strings(2),
    inputs: t.tables(3).map(readIO),
    outputs: t.tables(4).map(readIO),
    tensors: t.tables(5).map(readTensor),
    slots: t.tables(6).map((s) => ({ id: s.int32(0), sizes: s.strings(1) })),
    kernels: t.tables(7).map(readKernel),
    steps: t.tables(8).map(readStep),
    weights,
    module: t.bytes(9),
    meta: loadJson(t.string(10), "program meta"),
    moduleRelaxed: t.bytes(13),
    moduleThreads: t.bytes(14),
  };
}

function readIO(t: Table): IOSpec {
  return {
    name: t.string(0),
    tensor: t.int32(1),
    dtype: t.string(2) as DType,
    shape: t.strings(3),
    role: t.string(4) as Role,
    validRange: t.struct32(5, 2, true) as [number, number] | null,
    stateOf: t.string(6, null),
  };
}

function readTensor(t: Table): TensorSpec {
  const dtype = t.string(2) as DType;
  const shape = t.strings(3);
  let nbytesExpr = t.string(7);
  // like the Python reader: an absent size is the dtype's bytes (4 for both; checkTensor refuses others)
  // times the shape
  if (nbytesExpr === "") nbytesExpr = ["4", ...shape.map((d) => `(${d})`)].join("*");
  return {
    id: t.int32(0),
    name: t.string(1),
    dtype,
    shape,
    kind: t.string(4) as TensorKind,
    slot: t.int32(5, -1),
    weightOffset: t.int64(6, -1),
    nbytesExpr,
  };
}

function readKernel(t: Table): KernelSpec {
  const name = t.string(0);
  return {
    name,
    entry: t.string(1),
    source: t.string(2),
    bindings: t.tables(3).map((b) => ({ name: b.string(0), access: b.string(1) as Access })),
    params: t.strings(4),
    workgroup: (t.struct32(5, 3, false) ?? [1, 1, 1]) as [number, number, number],
    meta: loadJson(t.string(6), `kernel '${name}' meta`),
  };
}

function readStep(t: Table): StepSpec {
  const dispatch = t.strings(3);
  if (dispatch.length !== 3) {
    throw invalid(`a step has dispatch [${dispatch.join(", ")}]: expected three expressions`);
  }
  return {
    kernel: t.int32(0),
    tensors: t.int32s(1),
    params: t.strings(2),
    dispatch: dispatch as [string, string, string],
  };
}

// ---- encoded weights (converter/bundle/quantize.py): expanded to float32 at load

/** The float32 weights blob: the stored one, or, with weight_encodings (field 11), its expansion. */
function expandWeights(root: Table, p: BundleProgram): Uint8Array {
  const entries = root.tables(11);
  if (entries.length === 0) return p.weights;
  const length = root.int64(12, -1);
  if (!(length >= 0 && length <= 0x7fffffff)) throw invalid(`weights_length ${length} is out of range`);
  const out = new Uint8Array(length);
  for (const e of entries) {
    const id = e.int32(0);
    const t = p.tensors[id];
    if (t === undefined || t.kind !== "weight") {
      throw invalid(`a weight encoding names tensor ${id}, not a weight`);
    }
    const what = `weight '${t.name}'`;
    const shape = t.shape.map((d) => (/^[0-9]+$/.test(d) ? Number(d) : NaN));
    const n = product(shape);   // NaN for a dim that is not an integer: then it fits nowhere
    within(what, t.weightOffset, 4 * n, length);
    // decoded apart and copied in: an offset that is not a multiple of 4 is refused later (checkTensor)
    out.set(new Uint8Array(decodeWeight(p.weights, e, shape, n, what).buffer), t.weightOffset);
  }
  return out;
}

/** Throws unless bytes [offset, offset + nbytes) lie in `length` bytes of weights, `align`-aligned. */
function within(what: string, offset: number, nbytes: number, length: number, align = 1): void {
  if (!(offset >= 0 && offset % align === 0 && offset + nbytes <= length)) {
    throw invalid(`${what} bytes [${offset}, ${offset + nbytes}) are outside the ${length}-byte weights`);
  }
}

function stored(blob: Uint8Array, offset: number, nbytes: number, what: string): Uint8Array {
  within(`${what} stored`, offset, nbytes, blob.length);
  return blob.subarray(offset, offset + nbytes);
}

/** The weight encodings: each stores a value in 4 >> (its index) bytes. */
const ENCODINGS = ["none", "float16", "int8"];

function product(values: readonly number[]): number {
  return values.reduce((a, b) => a * b, 1);
}

/** The `n` float32 values of the weight that encoding entry `e` stores in `blob`. */
function decodeWeight(blob: Uint8Array, e: Table, shape: number[], n: number, what: string): Float32Array {
  const encoding = e.string(1);
  const kind = ENCODINGS.indexOf(encoding);
  if (kind < 0) throw invalid(`${what} has unknown weight encoding '${encoding}'`);
  // copies, so that the typed views below are aligned (their values are little-endian, as every browser)
  const src = stored(blob, e.int64(2), (4 >> kind) * n, what).slice().buffer;
  if (kind === 0) return new Float32Array(src);
  if (kind === 1) {
    const table = halfTable();
    return Float32Array.from(new Uint16Array(src), (h) => table[h]!);
  }
  const axis = e.int32(3, -1);
  if (!(axis >= 0 && axis < Math.max(shape.length, 1))) {
    throw invalid(`${what}: int8 axis ${axis} is outside its rank`);
  }
  const len = shape[axis] ?? 1;
  const inner = product(shape.slice(axis + 1));
  const scales = stored(blob, e.int64(4, -1), 4 * product(shape.slice(0, axis)) * inner, what);
  const scale = new Float32Array(scales.slice().buffer);
  const q = new Int8Array(src);
  const out = new Float32Array(n);
  // element (o, i, r) of the [outer, len, inner] view uses scale (o, r)
  for (let o = 0, at = 0; at < n; o++) {
    for (let i = 0; i < len; i++) {
      for (let r = 0; r < inner; r++, at++) out[at] = q[at]! * scale[o * inner + r]!;
    }
  }
  return out;
}

let halves: Float32Array | null = null;

/** All 65536 half values as floats (256 KiB, built on first use): one lookup per weight at load. */
function halfTable(): Float32Array {
  if (halves === null) {
    halves = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      // IEEE 754 half: a normal one is (1024 + frac) * 2^(exp - 25), a subnormal frac * 2^-24
      const exp = (h >> 10) & 0x1f;
      const frac = h & 0x3ff;
      const finite = (exp ? 1024 + frac : frac) * 2 ** (Math.max(exp, 1) - 25);
      const magnitude = exp === 31 ? (frac ? NaN : Infinity) : finite;
      halves[h] = h & 0x8000 ? -magnitude : magnitude;
    }
  }
  return halves;
}

// ---- checks (the Python writer validates too; these guard the runtime against damaged or foreign files)

function invalid(message: string): BundleError {
  return new BundleError(`bundle holds an invalid program: ${message}`);
}

/** The values each string-enum field may hold. */
const ENUMS: Readonly<Record<"dtype" | "role" | "kind" | "access", readonly string[]>> = {
  dtype: ["float32", "int32"],
  role: ["data", "state"],
  kind: ["input", "output", "weight", "temp"],
  access: ["read", "read_write"],
};

/** Throws unless each of `item`'s `fields` holds one of its ENUMS values; `what` names the item. */
function checkEnums<T>(item: T, what: string, ...fields: (keyof typeof ENUMS & keyof T)[]): void {
  for (const field of fields) {
    const allowed = ENUMS[field];
    if (!allowed.includes(item[field] as string)) {
      throw invalid(`${what} ${field} is '${item[field]}', expected one of ${allowed.join(", ")}`);
    }
  }
}

/** Throws unless `index` is one of the program's `items`; `what` says who refers to it. */
function ref(index: number, items: readonly unknown[], what: string): void {
  if (!(index >= 0 && index < items.length)) {
    throw invalid(`${what} ${index}, but the program has ${items.length}`);
  }
}

/** Throws unless every item's id equals its position (`what`: "tensor", "slot"). */
function checkIds(items: readonly { id: number }[], what: string): void {
  items.forEach((item, i) => {
    if (item.id !== i) {
      throw invalid(`${what}s[${i}] has id ${item.id}, expected ${i}`);
    }
  });
}

/** Throws unless `value` (when static, not null) lies in [lo, hi] (checks.py check_limits). */
function fits(value: number | null, lo: number, hi: number, what: string): void {
  if (value !== null && !(value >= lo && value <= hi)) {
    throw invalid(`${what} is ${value}, outside [${lo}, ${hi}]`);
  }
}

/**
 * Expression `src` of `what`: valid, over the program's symbols, within [lo, hi] when static, and for a
 * shape `dim` of bounded expansion. Returns its value when static, else null.
 */
function checkExpr(p: BundleProgram, src: string, what: string, lo: number, hi: number,
  dim = false): number | null {
  const quoted = `${what} '${shown(src)}'`;
  let value: number | null;
  try {
    const unknown = validateExpr(src).find((s) => !p.symbols.includes(s));
    if (unknown !== undefined) {
      throw invalid(`${quoted} uses unknown symbol '${unknown}' (program symbols: ` +
        `${p.symbols.join(", ") || "none"})`);
    }
    if (dim && tooManyTerms(src)) throw invalid(`${quoted} expands to more than ${MAX_TERMS} terms`);
    value = staticValue(src);
  } catch (err) {
    throw err instanceof ExprError ? invalid(`${what}: ${err.message}`) : err;
  }
  fits(value, lo, hi, quoted);
  return value;
}

/** Checks each dim of `shape`; returns its element count when every dim is static, else null. */
function checkShape(p: BundleProgram, shape: readonly string[], what: string): number | null {
  const most = Number.MAX_SAFE_INTEGER;
  let count: number | null = 1;
  for (const d of shape) {
    const value = checkExpr(p, d, `${what} shape dim`, 0, most, true);
    // exact while it stays within 2^53-1, and a product beyond it rounds to no less than 2^53
    count = value === null || count === null ? null : count * value;
    if ((count ?? 0) > most) {
      throw invalid(`${what} shape [${shape.join(", ")}] has more than 2^53-1 elements`);
    }
  }
  return count;
}

function checkSymbols(symbols: readonly string[]): void {
  for (const s of symbols) {
    if (!IDENT.test(s) || FUNCTIONS.includes(s)) {
      throw invalid(`symbol '${s}' is not a valid name (an identifier other than ${FUNCTIONS.join(", ")})`);
    }
  }
  if (new Set(symbols).size !== symbols.length) {
    throw invalid(`symbols [${symbols.join(", ")}] repeat a name`);
  }
}

/** A state input and output name each other (state_of) and have role "state"; data names none. */
function checkStatePair(p: BundleProgram, side: "input" | "output", io: IOSpec, what: string): void {
  const partner = (side === "input" ? p.outputs : p.inputs).filter((o) => o.name === io.stateOf);
  const paired = partner.length === 1 && partner[0]!.role === "state" && partner[0]!.stateOf === io.name;
  if (io.role === "state" ? !paired : io.stateOf !== null) {
    throw invalid(`${what} has role '${io.role}' and state_of '${io.stateOf}': a state names the one state ` +
      `whose state_of is '${io.name}', data names none`);
  }
}

function checkIO(p: BundleProgram, side: "input" | "output", io: IOSpec): void {
  const what = `${side} '${io.name}'`;
  ref(io.tensor, p.tensors, `${what} refers to tensor`);
  checkEnums(io, what, "dtype", "role");
  const elements = checkShape(p, io.shape, what);
  const range = io.validRange;
  if (range !== null && !(range[0] < range[1])) {
    throw invalid(`${what} has valid_range [${range.join(", ")}]: expected [lo, hi) with lo < hi`);
  }
  checkStatePair(p, side, io, what);
  const nbytes = staticValue(p.tensors[io.tensor]!.nbytesExpr);   // checked with the tensors
  if (elements !== null && nbytes !== null && 4 * elements !== nbytes) {
    throw invalid(`${what} has ${elements} elements but its tensor holds ${nbytes} bytes`);
  }
}

function checkProgram(p: BundleProgram): void {
  checkSymbols(p.symbols);
  checkIds(p.tensors, "tensor");
  p.tensors.forEach((t, i) => checkTensor(p, t, `tensor ${i} ('${t.name}')`));
  checkIds(p.slots, "slot");
  p.slots.forEach((s, i) => {
    if (s.sizes.length === 0) throw invalid(`slot ${i} has no sizes`);
    s.sizes.forEach((e) => checkExpr(p, e, `slot ${i} size`, 0, MAX_BYTES));
  });
  p.inputs.forEach((io) => checkIO(p, "input", io));
  p.outputs.forEach((io) => checkIO(p, "output", io));
  for (const k of p.kernels) {
    const what = `kernel '${k.name}'`;
    for (const w of k.workgroup) fits(w, 1, MAX_WORKGROUP, `${what} workgroup size`);
    k.bindings.forEach((b) => checkEnums(b, `${what} binding '${b.name}'`, "access"));
  }
  p.steps.forEach((s, i) => checkStep(p, s, i));
}

function checkTensor(p: BundleProgram, t: TensorSpec, what: string): void {
  checkEnums(t, what, "dtype", "kind");
  checkShape(p, t.shape, what);
  const bytes = checkExpr(p, t.nbytesExpr, `${what} byte size`, 0, MAX_BYTES);
  if (t.kind !== "weight") return ref(t.slot, p.slots, `${what} is in slot`);
  // weights have static shapes, so their size expression has no symbols
  if (bytes === null) throw invalid(`${what} is a weight with a non-static size '${shown(t.nbytesExpr)}'`);
  within(`${what} weight`, t.weightOffset, bytes, p.weights.length, WEIGHTS_ALIGN);
}

function checkStep(p: BundleProgram, s: StepSpec, i: number): void {
  ref(s.kernel, p.kernels, `step ${i} runs kernel`);
  const k = p.kernels[s.kernel]!;
  const what = `step ${i} ('${k.name}')`;
  if (s.tensors.length !== k.bindings.length || s.params.length !== k.params.length) {
    throw invalid(`${what} passes ${s.tensors.length} tensors and ${s.params.length} params for ` +
      `${k.bindings.length} bindings and ${k.params.length} params`);
  }
  // a loop (backends/loop.ts) repeats this step and the span - 1 after it: they must exist
  const span = (k.meta["loop"] as { span?: unknown } | undefined)?.span;
  if (typeof span === "number" && i + span > p.steps.length) {
    throw invalid(`${what} repeats ${span} steps but only ${p.steps.length - i} remain`);
  }
  s.tensors.forEach((id) => ref(id, p.tensors, `${what} uses tensor`));
  s.params.forEach((e) => checkExpr(p, e, `${what} param`, INT32[0], INT32[1]));
  s.dispatch.forEach((e) => checkExpr(p, e, `${what} dispatch`, 0, INT32[1]));
}
