/**
 * The WebAssembly backend context (docs/design.md section 5).
 *
 * Memory layout, fixed at upload() and extended by bind():
 *   [0, heapBase)             the module's own data and stack
 *   [heapBase, +STACK*(n-1))  with n threads: each worker's stack (threads.ts)
 *   [weightsBase, +weights)   the weights blob, weightsBase = align64(__heap_base), written once
 *   [slotsBase, ...)          one region per memory slot, each 64-byte aligned, sized max(slot sizes)
 * Invariants:
 *   - the weights never move: memory only grows, and growing keeps the contents;
 *   - slot offsets and step arguments are recomputed only when the bound dims change (bind()), so a run
 *     with the same dims allocates nothing: it copies inputs in, calls the exports, copies outputs out;
 *   - the cached heap views are refreshed whenever the memory's ArrayBuffer changed (after a grow).
 */

import type { BundleProgram, StepSpec } from "../../bundle/reader.js";
import { evaluateExpr } from "../../bundle/expr.js";
import type { Dims } from "../../dims.js";
import { dimsKey, formatDims, slotBytes } from "../../dims.js";
import type { BackendContext, BackendOptions, HostArray } from "../backend.js";
import { errorText, fail } from "../../fail.js";
import { checkOwnSteps } from "../loop.js";
import { newStats, ready, weightsOf } from "../common.js";
import type { Threads } from "./threads.js";
import { STACK, startThreads } from "./threads.js";

const ALIGN = 64;
const PAGE = 65536;

/**
 * The smallest module using relaxed SIMD: (func (result v128) (f32x4.relaxed_madd (v128.const 0) x3)).
 * Engines without the proposal (Node 20 without a flag) reject it in WebAssembly.validate.
 */
const ZERO_V128 = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,        // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b,              // type section: () -> v128
  0x03, 0x02, 0x01, 0x00,                                // function section: one function of type 0
  0x0a, 0x3d, 0x01, 0x3b, 0x00,                          // code section: one 59-byte body, no locals
  ...ZERO_V128, ...ZERO_V128, ...ZERO_V128,
  0xfd, 0x85, 0x02, 0x0b,                                // f32x4.relaxed_madd (0xfd 0x105), end
]);

let relaxedSupport: boolean | undefined;

/** Whether this engine runs relaxed SIMD (checked once per page or worker). */
export function hasRelaxedSimd(): boolean {
  return relaxedSupport ??= WebAssembly.validate(RELAXED_PROBE);
}

/** Which of the bundle's modules runs here: the relaxed-SIMD one (FMA) where the engine has it. */
export function pickModule(program: BundleProgram, relaxed: boolean): { bytes: Uint8Array; variant: string } {
  if (relaxed && program.moduleRelaxed.length > 0) {
    return { bytes: program.moduleRelaxed, variant: "relaxed-simd" };
  }
  return { bytes: program.module, variant: "simd128" };
}

/**
 * The compiled module and its instance: with nth > 1 the threaded module on a new shared memory of
 * meta.thread_pages pages (threads imply relaxed SIMD, threadPlan), else the pickModule one.
 */
async function instantiate(program: BundleProgram, relaxed: boolean, nth: number):
    Promise<[WebAssembly.Module, WebAssembly.Instance, WebAssembly.Memory | undefined]> {
  const pages = Number(program.meta.thread_pages);
  const memory = nth > 1 ? new WebAssembly.Memory({ initial: pages, maximum: 65535, shared: true })
    : undefined;
  try {
    const bytes = memory ? program.moduleThreads : pickModule(program, relaxed).bytes;
    const module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
    return [module, await WebAssembly.instantiate(module, memory ? { env: { memory } } : {}), memory];
  } catch (err) {
    // e.g. an empty or damaged module (parseBundle checks its CRC, not its wasm)
    throw fail(`cannot instantiate the wasm module (${errorText(err)}): re-convert the model`);
  }
}

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

type KernelFn = (...args: number[]) => void;

/** Spins before a worker sleeps at a barrier, per LoadOptions.threadBarrier (-1: spin only). */
const BARRIER_SPINS: Record<string, number> = { spin: -1, wait: 0, hybrid: 1 << 16 };


/**
 * Threads for `program`: the requested count (default hardwareConcurrency - 1, at most 4: a core stays free
 * for the rest of the machine, docs/design.md section 5) where the page is
 * cross-origin isolated (shared memory), workers exist, the bundle has a threaded module (built with
 * relaxed SIMD) and a kernel to split; otherwise 1 and why.
 */
export function threadPlan(program: BundleProgram, relaxed: boolean, asked?: number): [number, string] {
  const g = globalThis as { crossOriginIsolated?: boolean; navigator?: { hardwareConcurrency?: number } };
  const n = Math.min(asked ?? Math.min(4, (g.navigator?.hardwareConcurrency ?? 2) - 1), 16) | 0;
  const why = n < 2 ? "" : !g.crossOriginIsolated || typeof Worker != "function" ? "not cross-origin isolated"
    : !program.kernels.some((k) => k.meta.threads) ? "model too small for threads"
    : !relaxed || !program.moduleThreads.length ? "no threaded module" : "";
  return [why || n < 2 ? 1 : n, why];
}

export class WasmContext implements BackendContext {
  readonly name = "wasm";
  /** "relaxed-simd" or "simd128": the module compile() chose (see pickModule). */
  variant = "";
  /** Threads the kernels run on, and why 1 when more were asked for ("" otherwise). */
  threads = 1;
  threadNote = "";
  private pool: Threads | null = null;

  readonly stats = newStats();

  private options: BackendOptions;

  constructor(options: BackendOptions = {}) {
    this.options = options;
  }
  private prog: BundleProgram | null = null;
  private wasmMemory: WebAssembly.Memory | null = null;
  private heapF32 = new Float32Array(0);
  private heapI32 = new Int32Array(0);
  private weightsBase = 0;
  private slotsBase = 0;
  /**
   * Byte offset of each tensor by TensorSpec.id (weights fixed, slots per bind()). Float64, not Int32:
   * offsets past 2 GiB must not wrap (a wasm i32 argument takes them modulo 2^32, as the module expects).
   */
  private tensorPtr = new Float64Array(0);
  private kernelFns: KernelFn[] = [];
  /** Per step: the exported function's argument list (pointers then params), made by bind(). */
  private stepArgs: number[][] = [];
  /** The dims of the last bind() (dimsKey); null before the first. */
  private boundKey: string | null = null;

  async init(): Promise<void> {
    if (typeof WebAssembly !== "object") throw fail("WebAssembly is not available in this environment");
  }

  async compile(program: BundleProgram): Promise<void> {
    const relaxed = hasRelaxedSimd();
    const [nth, note] = threadPlan(program, relaxed, this.options.numThreads);
    const [module, instance, memory] = await instantiate(program, relaxed, nth);
    this.variant = pickModule(program, relaxed).variant + (memory ? ` threads=${nth}` : "");
    const exports = instance.exports, mem = memory ?? exports.memory, heapBase = exports.__heap_base;
    if (!(mem instanceof WebAssembly.Memory && heapBase instanceof WebAssembly.Global)) {
      throw fail("the wasm module does not export \"memory\" and \"__heap_base\"; re-convert the model");
    }
    this.kernelFns = program.kernels.map((kernel) => {
      const fn = exports[kernel.entry];
      if (typeof fn !== "function") {
        throw fail(`kernel ${kernel.name}: the wasm module exports no function "${kernel.entry}"; ` +
          "re-convert the model");
      }
      return fn as KernelFn;
    });
    this.wasmMemory = mem;
    const base = align(Number(heapBase.value));
    this.weightsBase = base + STACK * (nth - 1);
    this.threads = nth;
    this.threadNote = note;
    if (memory) {
      this.pool = await startThreads(module, memory, (exports.wl_ctl as () => number)(), nth,
        BARRIER_SPINS[this.options.threadBarrier!] ?? -1, base, program.kernels.map((k) => k.entry));
    }
    this.prog = program;
    this.tensorPtr = new Float64Array(program.tensors.length);   // tensor ids are their positions
  }

  async upload(weights: Uint8Array): Promise<void> {
    const program = this.compiled;
    this.slotsBase = align(this.weightsBase + weights.length);
    this.ensureBytes(this.slotsBase, "the weights");
    new Uint8Array(this.wasmMemory!.buffer, this.weightsBase, weights.length).set(weights);
    // parseBundle checked that every weight lies inside the blob
    for (const t of weightsOf(program)) this.tensorPtr[t.id] = this.weightsBase + t.weightOffset;
  }

  bind(dims: Dims): void {
    const program = this.compiled;
    const key = dimsKey(program.symbols, dims);
    if (key === this.boundKey) return;
    const slotOffsets: number[] = [];
    let end = this.slotsBase;
    for (const slot of program.slots) {
      slotOffsets[slot.id] = end;
      end = align(end + slotBytes(slot, dims));
    }
    this.ensureBytes(end, `the memory slots with ${formatDims(dims)}`);
    // parseBundle checked that every other tensor has a slot, and every step against its kernel
    for (const t of program.tensors) {
      if (t.kind !== "weight") this.tensorPtr[t.id] = slotOffsets[t.slot]!;
    }
    this.stepArgs = program.steps.map((s) => [...s.tensors.map((id) => this.tensorPtr[id]!),
      ...s.params.map((e) => evaluateExpr(e, dims))]);
    this.boundKey = key;
  }

  write(tensor: number, data: HostArray): void {
    this.heapFor(data).set(data, this.tensorPtr[tensor]! / 4);
  }

  async run(steps: readonly StepSpec[], _dims: Dims): Promise<void> {
    const program = this.compiled;
    if (this.boundKey === null) throw fail("wasm run() before bind(): the memory slots are not laid out");
    checkOwnSteps(steps, program.steps, "wasm");
    steps.forEach((step, i) => {
      const fn = this.kernelFns[step.kernel]!, kernel = program.kernels[step.kernel]!;
      const args = this.stepArgs[i]!;
      try {
        if (this.pool && kernel.meta.threads) this.pool.run(step.kernel, fn, args);
        else fn(...args);
        this.stats.dispatches++;
      } catch (err) {
        // a trap (out-of-bounds access, unreachable) means the bundle's kernels and sizes disagree
        if (!(err instanceof WebAssembly.RuntimeError)) throw err;
        throw fail(`wasm kernel ${kernel.name} (step ${i}) trapped: ${err.message}; ` +
          "the bundle is damaged or was built for other sizes: re-convert the model");
      }
    });
  }

  async read(tensor: number, into: HostArray): Promise<void> {
    const start = this.tensorPtr[tensor]! / 4;
    into.set(this.heapFor(into).subarray(start, start + into.length));
  }

  memoryBytes(): number {
    return this.wasmMemory ? this.wasmMemory.buffer.byteLength : 0;
  }

  dispose(): void {
    this.pool?.stop();
    this.pool = null;
    this.prog = null;
    this.wasmMemory = null;
    this.kernelFns = [];
    this.stepArgs = [];
    this.heapF32 = new Float32Array(0);
    this.heapI32 = new Int32Array(0);
  }

  private ensureBytes(bytes: number, what: string): void {
    const memory = this.wasmMemory!;
    const have = memory.buffer.byteLength;
    if (bytes > have) {
      try {
        memory.grow(Math.ceil((bytes - have) / PAGE));
      } catch (err) {
        throw fail(`wasm memory cannot grow to ${bytes} bytes for ${what}: ${errorText(err)}`);
      }
    }
  }

  /** The heap view of `array`'s type, made anew when the memory grew (its buffer changed). */
  private heapFor(array: HostArray): HostArray {
    const buffer = ready(this.wasmMemory, "wasm").buffer;
    if (this.heapF32.buffer !== buffer) {
      this.heapF32 = new Float32Array(buffer);
      this.heapI32 = new Int32Array(buffer);
    }
    return array instanceof Float32Array ? this.heapF32 : this.heapI32;
  }

  /** The program compile() took (throws before compile() and after dispose()). */
  private get compiled(): BundleProgram {
    return ready(this.prog, "wasm");
  }
}
