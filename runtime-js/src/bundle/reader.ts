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
import { INT32, loadJson, MAX_BYTES, MAX_TERMS, MAX_WORKGROUP, staticElements, staticValue, tooManyTerms }
  from "./limits.js";
import { rootTable } from "./flatbuffer.js";
import type { Table } from "./flatbuffer.js";
import { BundleError, corrupted, malformed } from "./errors.js";

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
    throw new BundleError("parseBundle needs an ArrayBuffer (for a Uint8Array u, pass an aligned copy: " +
      "u.slice().buffer)");
  }
  const header = readHeader(buf);
  const payload = new DataView(buf, HEADER_SIZE, header.payloadLength);
  const root = rootTable(payload, FILE_IDENTIFIER);
  if (root === null) throw corrupted("the payload is not a Webloom program");
  const program = readProgram(root, new Uint8Array(buf, header.weightsOffset, header.weightsLength));
  program.weights = expandWeights(root, program);
  checkProgram(program);
  return program;
}

interface Header {
  payloadLength: number;
  weightsOffset: number;
  weightsLength: number;
}

function truncated(expected: number, got: number): BundleError {
  return new BundleError(`bundle is truncated: expected ${expected} bytes, got ${got}`);
}

function readHeader(buf: ArrayBuffer): Header {
  const got = buf.byteLength;
  const bytes = new Uint8Array(buf, 0, Math.min(got, MAGIC.length));
  const magic = String.fromCharCode(...bytes);
  if (magic !== MAGIC) {
    if (got > 0 && got < MAGIC.length && MAGIC.startsWith(magic)) throw truncated(HEADER_SIZE, got);
    throw new BundleError("not a Webloom bundle (bad magic)");
  }
  if (got < HEADER_SIZE) throw truncated(HEADER_SIZE, got);
  const view = new DataView(buf, 0, HEADER_SIZE);
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
  return { payloadLength, weightsOffset, weightsLength };
}

// Field ids follow the declaration order in converter/bundle/webloom.fbs.

function readProgram(t: Table, weights: Uint8Array): BundleProgram {
  return {
    formatVersion: FORMAT_VERSION,
    backend: t.string(0) ?? "",
    graphName: t.string(1) ?? "",
    symbols: t.strings(2),
    inputs: t.tables(3).map(readIO),
    outputs: t.tables(4).map(readIO),
    tensors: t.tables(5).map(readTensor),
    slots: t.tables(6).map((s) => ({ id: s.int32(0), sizes: s.strings(1) })),
    kernels: t.tables(7).map(readKernel),
    steps: t.tables(8).map(readStep),
    weights,
    module: t.bytes(9),
    meta: readJson(t.string(10), "program meta"),
    moduleRelaxed: t.bytes(13),
    moduleThreads: t.bytes(14),
  };
}

function readIO(t: Table): IOSpec {
  const range = t.struct32(5, 2, true);
  return {
    name: t.string(0) ?? "",
    tensor: t.int32(1),
    dtype: t.string(2) as DType,
    shape: t.strings(3),
    role: (t.string(4) ?? "") as Role,
    validRange: range === null ? null : [range[0]!, range[1]!],
    stateOf: t.string(6),
  };
}

function readTensor(t: Table): TensorSpec {
  const dtype = t.string(2) as DType;
  const shape = t.strings(3);
  let nbytesExpr = t.string(7) ?? "";
  // like the Python reader: an absent size is the dtype's bytes times the shape
  if (nbytesExpr === "" && (dtype === "float32" || dtype === "int32")) {
    nbytesExpr = ["4", ...shape.map((d) => `(${d})`)].join("*");
  }
  return {
    id: t.int32(0),
    name: t.string(1) ?? "",
    dtype,
    shape,
    kind: t.string(4) as TensorKind,
    slot: t.int32(5, -1),
    weightOffset: t.int64(6, -1),
    nbytesExpr,
  };
}

function readKernel(t: Table): KernelSpec {
  const name = t.string(0) ?? "";
  const wg = t.struct32(5, 3, false) ?? [1, 1, 1];
  return {
    name,
    entry: t.string(1) ?? "",
    source: t.string(2) ?? "",
    bindings: t.tables(3).map((b) => ({ name: b.string(0) ?? "", access: b.string(1) as Access })),
    params: t.strings(4),
    workgroup: [wg[0]!, wg[1]!, wg[2]!],
    meta: readJson(t.string(6), `kernel '${name}' meta`),
  };
}

function readStep(t: Table): StepSpec {
  const d = t.strings(3);
  if (d.length !== 3) throw invalid(`a step has dispatch [${d.join(", ")}]: expected three expressions`);
  return {
    kernel: t.int32(0),
    tensors: t.int32s(1),
    params: t.strings(2),
    dispatch: [d[0] ?? "", d[1] ?? "", d[2] ?? ""],
  };
}

function readJson(text: string | null, what: string): Record<string, unknown> {
  const value = loadJson(text, what);
  if (typeof value === "string") throw malformed(value);
  return value;
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
    if (t === undefined || t.kind !== "weight") throw invalid(`a weight encoding names tensor ${id}, not a weight`);
    const what = `weight '${t.name}'`;
    const shape = t.shape.map((d) => (/^[0-9]+$/.test(d) ? Number(d) : NaN));
    const n = product(shape);
    if (!Number.isSafeInteger(n) || t.weightOffset < 0 || t.weightOffset + 4 * n > length) {
      throw invalid(`${what} does not fit the ${length}-byte weights`);
    }
    // decoded apart and copied in: an offset that is not a multiple of 4 is refused later (checkTensor)
    const into = new Float32Array(n);
    decodeWeight(p.weights, e, shape, n, into, what);
    out.set(new Uint8Array(into.buffer), t.weightOffset);
  }
  return out;
}

function stored(blob: Uint8Array, offset: number, nbytes: number, what: string): Uint8Array {
  if (!(offset >= 0 && offset + nbytes <= blob.length)) {
    throw invalid(`${what}: stored bytes [${offset}, ${offset + nbytes}) are outside the ${blob.length}-byte weights`);
  }
  return blob.subarray(offset, offset + nbytes);
}

/** The weight encodings: each stores a value in 4 >> (its index) bytes. */
const ENCODINGS = ["none", "float16", "int8"];

function product(values: readonly number[]): number {
  return values.reduce((a, b) => a * b, 1);
}

function decodeWeight(blob: Uint8Array, e: Table, shape: number[], n: number, into: Float32Array, what: string): void {
  const encoding = e.string(1) ?? "";
  const kind = ENCODINGS.indexOf(encoding);
  if (kind < 0) throw invalid(`${what} has unknown weight encoding '${encoding}'`);
  // copies, so that the typed views below are aligned (their values are little-endian, as every browser)
  const src = stored(blob, e.int64(2), (4 >> kind) * n, what).slice().buffer;
  if (kind === 0) {
    into.set(new Float32Array(src));
  } else if (kind === 1) {
    const table = halfTable();
    new Uint16Array(src).forEach((h, i) => { into[i] = table[h]!; });
  } else {
    const axis = e.int32(3, -1);
    if (!(axis >= 0 && axis < Math.max(shape.length, 1))) throw invalid(`${what}: int8 axis ${axis} is outside its rank`);
    const len = shape[axis] ?? 1;
    const inner = product(shape.slice(axis + 1));
    const scales = stored(blob, e.int64(4, -1), 4 * product(shape.slice(0, axis)) * inner, what);
    const scale = new Float32Array(scales.slice().buffer);
    const q = new Int8Array(src);
    // element (o, i, r) of the [outer, len, inner] view uses scale (o, r)
    for (let o = 0, at = 0; at < n; o++) {
      for (let i = 0; i < len; i++) {
        for (let r = 0; r < inner; r++, at++) into[at] = q[at]! * scale[o * inner + r]!;
      }
    }
  }
}

let halves: Float32Array | null = null;

/** All 65536 half values as floats (256 KiB, built on first use): one lookup per weight at load. */
function halfTable(): Float32Array {
  if (halves === null) {
    halves = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halves[h] = halfToFloat(h);
  }
  return halves;
}

/** IEEE 754 half -> float (subnormals, infinities and NaN included). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

// ---- checks (the Python writer validates too; these guard the runtime against damaged or foreign files)

function invalid(message: string): BundleError {
  return new BundleError(`bundle holds an invalid program: ${message}`);
}

function oneOf(value: string, allowed: readonly string[], what: string): void {
  if (!allowed.includes(value)) throw invalid(`${what} is '${value}', expected one of ${allowed.join(", ")}`);
}

/** Throws unless `index` is one of the program's `count` items; `what` says who refers to it. */
function ref(index: number, count: number, what: string): void {
  if (!(index >= 0 && index < count)) throw invalid(`${what} ${index}, but the program has ${count}`);
}

/** Throws unless every item's id equals its position (`what`: "tensor", "slot"). */
function checkIds(items: readonly { id: number }[], what: string): void {
  items.forEach((item, i) => {
    if (item.id !== i) {
      throw invalid(`${what}s[${i}] has id ${item.id}: ${what} ids must equal their position`);
    }
  });
}

/** Runs `fn`, turning an ExprError into an invalid-program error about `what`. */
function expr<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ExprError) throw invalid(`${what}: ${err.message}`);
    throw err;
  }
}

/** Throws unless `value` (when static, not null) lies in [lo, hi] (checks.py check_limits). */
function fits(value: number | null, lo: number, hi: number, what: string): void {
  if (value !== null && !(value >= lo && value <= hi)) {
    throw invalid(`${what} is ${value}, outside [${lo}, ${hi}]`);
  }
}

/**
 * Expression `src` of `what`: valid, over the program's symbols, within [lo, hi] when static, and for a
 * shape `dim` of bounded expansion.
 */
function checkExpr(p: BundleProgram, src: string, what: string, lo: number, hi: number, dim = false): void {
  const quoted = `${what} '${shown(src)}'`;
  fits(expr(what, () => {
    const unknown = validateExpr(src).find((s) => !p.symbols.includes(s));
    if (unknown !== undefined) {
      throw invalid(`${quoted} uses unknown symbol '${unknown}' (program symbols: ` +
        `${p.symbols.join(", ") || "none"})`);
    }
    if (dim && tooManyTerms(src)) throw invalid(`${quoted} expands to more than ${MAX_TERMS} terms`);
    return staticValue(src);
  }), lo, hi, quoted);
}

function checkShape(p: BundleProgram, shape: readonly string[], what: string): void {
  for (const d of shape) checkExpr(p, d, `${what} shape dim`, 0, Number.MAX_SAFE_INTEGER, true);
}

const DTYPES = ["float32", "int32"];

function checkSymbols(symbols: readonly string[]): void {
  for (const s of symbols) {
    if (!IDENT.test(s) || FUNCTIONS.includes(s)) {
      throw invalid(`symbol '${s}' is not a valid name (an identifier other than cdiv, max, min)`);
    }
  }
  if (new Set(symbols).size !== symbols.length) {
    throw invalid(`symbols [${symbols.join(", ")}] repeat a name`);
  }
}

function checkIO(p: BundleProgram, side: "input" | "output", io: IOSpec): void {
  const what = `${side} '${io.name}'`;
  ref(io.tensor, p.tensors.length, `${what} refers to tensor`);
  oneOf(io.dtype, DTYPES, `${what} dtype`);
  oneOf(io.role, ["data", "state"], `${what} role`);
  checkShape(p, io.shape, what);
  if (io.validRange !== null && !(io.validRange[0] < io.validRange[1])) {
    throw invalid(`${what} has valid_range [${io.validRange.join(", ")}]: expected [lo, hi) with lo < hi`);
  }
  if (io.role === "state") {
    const others = side === "input" ? p.outputs : p.inputs;
    const partner = others.filter((o) => o.name === io.stateOf);
    if (partner.length !== 1 || partner[0]!.role !== "state" || partner[0]!.stateOf !== io.name) {
      throw invalid(`${what} is a state paired with '${io.stateOf}', which is missing or not a state whose ` +
        `state_of is '${io.name}'`);
    }
  } else if (io.stateOf !== null) {
    throw invalid(`${what} has state_of '${io.stateOf}' but role 'data'`);
  }
  const elements = expr(`${what} shape`, () => staticElements(io.shape));
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
    for (const w of k.workgroup) fits(w, 1, MAX_WORKGROUP, `kernel '${k.name}' workgroup size`);
    k.bindings.forEach((b) => oneOf(b.access, ["read", "read_write"], `kernel '${k.name}' binding '${b.name}' access`));
  }
  p.steps.forEach((s, i) => checkStep(p, s, i));
}

function checkTensor(p: BundleProgram, t: TensorSpec, what: string): void {
  oneOf(t.dtype, DTYPES, `${what} dtype`);
  oneOf(t.kind, ["input", "output", "weight", "temp"], `${what} kind`);
  checkShape(p, t.shape, what);
  checkExpr(p, t.nbytesExpr, `${what} byte size`, 0, MAX_BYTES);
  if (t.kind === "weight") {
    // weights have static shapes, so their size expression has no symbols
    const bytes = staticValue(t.nbytesExpr);
    if (bytes === null) throw invalid(`${what} is a weight with a non-static size '${shown(t.nbytesExpr)}'`);
    const end = t.weightOffset + bytes;
    if (t.weightOffset < 0 || t.weightOffset % WEIGHTS_ALIGN !== 0 || end > p.weights.length) {
      throw invalid(`${what} has weight bytes [${t.weightOffset}, ${end}) outside the ` +
        `${p.weights.length}-byte weights blob`);
    }
  } else {
    ref(t.slot, p.slots.length, `${what} is in slot`);
  }
}

function checkStep(p: BundleProgram, s: StepSpec, i: number): void {
  ref(s.kernel, p.kernels.length, `step ${i} runs kernel`);
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
  s.tensors.forEach((id) => ref(id, p.tensors.length, `${what} uses tensor`));
  s.params.forEach((e) => checkExpr(p, e, `${what} param`, INT32[0], INT32[1]));
  s.dispatch.forEach((e) => checkExpr(p, e, `${what} dispatch`, 0, INT32[1]));
}
