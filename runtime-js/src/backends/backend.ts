/**
 * The interface every backend context implements (docs/design.md section 6).
 *
 * One context serves one Runner and owns everything the backend allocates for it (a wasm instance and
 * its memory, GPU buffers and pipelines). The runner calls, in this order:
 *   init() once: throws when the backend cannot work here (no WebGPU adapter, no WebAssembly...);
 *   compile(program) once: builds kernels/pipelines from the bundle;
 *   upload(weights) once: places the weights blob;
 * then per run:
 *   bind(dims): sizes the memory slots for the bound symbols (cheap when they did not change);
 *   write(tensor, data) per input, run(steps, dims), read(tensor, into) per output.
 * A throw from init/compile/upload makes the runner fall back to the next backend in backendOrder.
 */

import type { BundleProgram, StepSpec } from "../bundle/reader.js";
import type { Dims } from "../dims.js";

export type HostArray = Float32Array | Int32Array;

/** Work a context did since load (Runner.runStats): kernel dispatches / draws, queue submits, readbacks. */
export interface RunStats {
  dispatches: number;
  submits: number;
  readbacks: number;
}

/** Tensor pairs [from, to] copied on the device after a run: each state output into its state input. */
export type Carry = readonly (readonly [number, number])[];

/**
 * Runner.generate() on the device: `iterations` runs of the program, each followed by the sampling
 * kernel `kernel` (reading tensor `scores`, writing the next window into tensor `tokens`, see
 * kernels/webgpu/sample.wgsl.j2) and the `carry` copies; returns hist[prime, prime + steps).
 */
export interface DeviceLoop {
  kernel: number;
  scores: number;
  tokens: number;
  hist: Int32Array;
  steps: number;
  iterations: number;
  /** temperature (float bits), topK, seed, logp, prime: the kernel's params. */
  params: Uint32Array;
  carry: Carry;
}

export interface BackendContext {
  /** The backend's name as used in backendOrder and in bundle file names (model.<name>.wlm). */
  readonly name: string;
  /** Which build of the backend's code runs, when it has several (wasm: "relaxed-simd" or "simd128"). */
  readonly variant?: string;
  /** GPU backends: the distinct pipelines (WebGPU) / linked programs (WebGL) compile() built or reused. */
  readonly pipelines?: number;
  /** wasm: the threads kernels run on, and why 1 where more were asked for ("" otherwise). */
  readonly threads?: number;
  readonly threadNote?: string;
  /** WebGPU: kernels whose pipeline compile() took from the page's cache or an equal kernel. */
  readonly reused?: number;
  init(): Promise<void>;
  compile(program: BundleProgram): Promise<void>;
  upload(weights: Uint8Array): Promise<void>;
  /** Lays out the memory slots for `dims`; all tensors' sizes are evaluated from them. */
  bind(dims: Dims): void;
  /** Copies an input's values in; `data.length` is the tensor's size under the last bind(). */
  write(tensor: number, data: HostArray): void;
  /**
   * Runs the steps in order with the dims of the last bind(). `steps` must be the compiled program's
   * own list (`program.steps`): every context prepares per-step state (arguments, bind groups, draws)
   * at bind(), and loops (meta.loop, ./loop.ts) span consecutive steps of that list.
   */
  run(steps: readonly StepSpec[], dims: Dims): Promise<void>;
  /** GPU contexts: the state stays on the device (copied by readMany's `carry` after the reads). */
  stats?: RunStats;
  snapshot?(tensors: readonly number[]): unknown[];
  restore?(tensors: readonly number[], saved: readonly unknown[]): void;
  /** Destroys snapshot() copies (Runner.freeState, dispose). */
  free?(saved: readonly unknown[]): void;
  generate?(loop: DeviceLoop): Promise<Int32Array>;
  /** Copies a tensor's values out into `into` (exactly the tensor's size under the last bind()). */
  read(tensor: number, into: HostArray): Promise<void>;
  /** Optional: read() of several tensors in one device round trip (WebGPU: one submit, maps at once). */
  readMany?(reads: readonly { tensor: number; into: HostArray }[], carry?: Carry): Promise<void>;
  /** Bytes of device/wasm memory the context holds now (for leak checks and diagnostics). */
  memoryBytes(): number;
  /** Frees what the context holds; the context is unusable afterwards. */
  dispose(): void;
}

/** The load() options a backend reads (LoadOptions, load.ts): wasm threads. */
export interface BackendOptions {
  numThreads?: number;
  threadBarrier?: "spin" | "wait" | "hybrid";
}

export type BackendFactory = (options?: BackendOptions) => BackendContext;
