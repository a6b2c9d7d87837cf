/**
 * Runner: one loaded model on one backend context (several runners may coexist on a page).
 *
 * Binding rule for symbolic dims (batch, time, ...), applied at every run:
 *   1. start from runner.setDims(...) (empty unless called);
 *   2. each input's length must be a multiple of its shape's static part; an input with exactly one
 *      unbound symbol binds it, repeatedly, so one input can bind `batch` for another;
 *   3. a symbol still unbound (e.g. `batch` and `time` both free in the only input) is an error that
 *      asks for runner.setDims({batch, time}).
 * Unset state inputs are not used for binding; they run as zeros (the recurrent layers' default).
 * Runs with the same input lengths and setDims reuse the previous binding, layout and output buffers.
 */

import type { BundleProgram } from "./bundle/reader.js";
import type { BackendContext, Carry, HostArray, RunStats } from "./backends/backend.js";
import type { Dims, SizedInput } from "./dims.js";
import { evaluateExpr } from "./bundle/expr.js";
import { bindDims, cannotInfer, evaluateShape, formatDims, formatShape, shapeSize } from "./dims.js";
import type { IOInfo } from "./tensor.js";
import { allocate, describeExpected, InputHandle, OutputHandle } from "./tensor.js";
import type { SavedState, StateSnapshot } from "./state.js";
import { restoreState, snapshotState } from "./state.js";
import { checkOptions, fail, inputFail } from "./fail.js";
import { argmax, drawAt, sample } from "./sampling.js";

/** Why a backend earlier in backendOrder was not used. */
export interface FallbackReason {
  backend: string;
  reason: string;
}

/**
 * What predict() accepts per input: a typed array of the input's dtype or plain numbers, optionally
 * with its concrete shape ({data, shape}) to bind symbolic dims such as batch and time.
 */
// BigInt64Array: for int32 inputs only (int64 ids), converted with a range check (tensor.ts int64ToInt32).
export type Feed = HostArray | BigInt64Array | readonly number[] |
  { data: HostArray | BigInt64Array | readonly number[]; shape: number[] };

export class Runner {
  readonly inputs: readonly InputHandle[];
  readonly outputs: readonly OutputHandle[];
  /** The symbols the model's shapes use (e.g. ["batch", "time"]). */
  readonly symbols: readonly string[];
  private explicitDims: Dims = {};
  private readonly boundDims: Dims = {};
  /** Every input's length and given shape at the last binding, to skip re-binding when nothing changed. */
  private bindKey = "";
  private bindingValid = false;
  /** Per input index, reused across runs: zeros for an unset state, and the state step() carried (host). */
  private readonly zeroStates: HostArray[] = [];
  private readonly carriedStates: HostArray[] = [];
  /** [input index, output index] per state input: step() feeds that output into that input. */
  private readonly statePairs: (readonly [number, number])[];
  private busy = false;
  private disposed = false;
  /** [state output tensor, state input tensor] per state input, copied on the device by step(). */
  private readonly carryPairs: Carry;
  /** Whether step() keeps the state on the device (GPU contexts; no state input shares an output's slot). */
  private readonly deviceState: boolean;
  /** Per input: the InputHandle version whose values the device holds (a state step() carried), if any. */
  private readonly onDevice: number[] = [];
  /** Per input: the version step() carried into it (host or device), if any; the dims it was carried with. */
  private readonly carried: number[] = [];
  private carriedAt: Dims = {};

  constructor(
    private readonly context: BackendContext,
    private readonly prog: BundleProgram,
    readonly fallbackReasons: readonly FallbackReason[],
  ) {
    // an IOSpec is the runtime's IOInfo: parseBundle checked its dtype, role and state pairing
    this.inputs = prog.inputs.map((spec) => new InputHandle(spec));
    this.outputs = prog.outputs.map((spec) => new OutputHandle(spec));
    this.symbols = [...prog.symbols];
    this.statePairs = this.inputs.flatMap((h, i) => h.role === "state"
      ? [[i, this.outputs.findIndex((o) => o.name === h.info.stateOf)] as const] : []);
    this.carryPairs = this.statePairs.map(([i, o]) =>
      [this.outputs[o]!.info.tensor, this.inputs[i]!.info.tensor] as const);
    // the copies run one after the other: none may overwrite a state output a later one reads
    this.deviceState = !!context.restore && this.carryPairs.every((p) =>
      this.carryPairs.every((q) => p === q || this.slotOf(q[0]) !== this.slotOf(p[1])));
  }

  /**
   * Work the backend did since load: kernel dispatches (WebGL: draws, wasm: kernel calls), queue submits
   * (WebGPU) and readbacks (device-to-host reads: WebGPU maps, WebGL readPixels; 0 on wasm).
   */
  get runStats(): RunStats {
    return { dispatches: 0, submits: 0, readbacks: 0, ...this.context.stats };
  }

  /** The backend this runner uses: "webgpu", "webgl" or "wasm". */
  get backendName(): string {
    return this.context.name;
  }

  /**
   * What load() spent setting this runner up: compile() (wasm module / WebGPU pipelines / WebGL programs)
   * and upload() (weights) in ms, the distinct GPU pipelines the model uses and (WebGPU) how many of its
   * kernels reused a pipeline (an equal kernel's, or one the page built before) (null on wasm).
   */
  loadStats: { compileMs: number; uploadMs: number; pipelines: number | null; reused: number | null;
    threads?: number; threadNote?: string } = { compileMs: 0, uploadMs: 0, pipelines: null, reused: null };

  /** Which build of the backend's code runs ("relaxed-simd" / "simd128" on wasm), "" when only one. */
  get backendVariant(): string {
    return this.context.variant ?? "";
  }

  /** The dims bound by the last run (a copy). */
  get dims(): Dims {
    return { ...this.boundDims };
  }

  /** Bytes of wasm/device memory the backend holds now. */
  get memoryBytes(): number {
    return this.context.memoryBytes();
  }

  input(name: string): InputHandle {
    return named(this.inputs, name, "input");
  }

  output(name: string): OutputHandle {
    return named(this.outputs, name, "output");
  }

  /**
   * Fixes symbolic dims that cannot be inferred from the input sizes (see the binding rule above).
   * Replaces what an earlier call set; setDims({}) goes back to inferring everything.
   */
  setDims(dims: Dims): void {
    for (const [name, value] of Object.entries(dims)) {
      if (!this.symbols.includes(name)) {
        throw fail(`setDims: the model has no dimension "${name}"; its dimensions are ` +
          formatShape(this.symbols));
      }
      if (!Number.isInteger(value) || value < 0) {
        throw fail(`setDims: ${name} must be a non-negative integer, got ${value}`);
      }
    }
    this.explicitDims = { ...dims };
    this.bindingValid = false;
  }

  /** Runs the model on the inputs set; outputs are then read with outputs[i].toActual(). */
  async run(): Promise<void> {
    await this.guarded("run()", () => this.runOnce());
  }

  /** Runs `fn` as this runner's one call in progress. */
  private async guarded<T>(what: string, fn: () => Promise<T>): Promise<T> {
    this.checkIdle(what);
    this.busy = true;
    try {
      return await fn();
    } catch (err) {
      // a failed run leaves no half-made binding behind: the next run binds and sizes outputs afresh
      this.bindingValid = false;
      throw err;
    } finally {
      this.busy = false;
      if (this.disposed) this.context.dispose();   // dispose() during the run waited for it
    }
  }

  /** Throws when the runner cannot start a run now (disposed, or a run in progress). */
  private checkIdle(what: string): void {
    if (this.disposed) throw fail(`${what}: this runner was disposed; load the model again`);
    if (this.busy) {
      throw fail(`${what}: the previous run has not finished; await it before running again`);
    }
  }

  /** After an await inside a run: a dispose() meanwhile ends the run with a clear error. */
  private checkNotDisposed(): void {
    if (this.disposed) {
      throw fail("run(): the runner was disposed during this run; its outputs are lost");
    }
  }

  /**
   * Sets the inputs by name (typed arrays of the input's dtype, or plain numbers), runs, and returns
   * copies of all outputs by name. Every data input must be given; state inputs not given keep their
   * current values (zeros after resetState()). Each result is the output's flat typed array with its
   * concrete shape as `.shape`.
   */
  async predict(feeds: Record<string, Feed>): Promise<Record<string, ShapedArray>> {
    // guarded before touching the inputs: a rejected call must leave the inputs of the run in progress alone
    return this.guarded("predict()", async () => {
      if (feeds === null || typeof feeds !== "object" || Array.isArray(feeds) || ArrayBuffer.isView(feeds)) {
        const got = feeds === null ? "null" : Array.isArray(feeds) ? "an array" : typeof feeds;
        const example = this.inputs[0]?.name ?? "x";
        throw fail(`predict: expected an object of inputs by name (e.g. {${example}: ...}), got ${got}`);
      }
      for (const name of Object.keys(feeds)) this.input(name);
      for (const handle of this.inputs) {
        const feed = feeds[handle.name];
        if (feed === undefined) {
          if (handle.role === "data") throw notSet(handle);
          continue;
        }
        if (isShaped(feed)) handle.set(toHostArray(feed.data, handle.info), feed.shape);
        else handle.set(toHostArray(feed, handle.info));
      }
      await this.runOnce();
      return Object.fromEntries(this.outputs.map((o) => [o.name, withShape(o.toActual(), o.dims)]));
    });
  }

  /**
   * Runs once, then feeds each state output back into its state input for the next step(). On WebGPU and
   * WebGL the state stays on the device (copied there after the outputs are read; not written from the host).
   */
  async step(): Promise<void> {
    await this.guarded("step()", () => this.stepOnce(true));
  }

  private async stepOnce(read: boolean): Promise<void> {
    if (this.deviceState) {
      await this.runOnce(read, this.carryPairs);
    } else {
      await this.runOnce();
      for (const [i, o] of this.statePairs) {
        const values = this.outputs[o]!.view(), input = this.inputs[i]!;
        const carried = reuse(this.carriedStates, i, input.dtype, values.length);
        carried.set(values);
        input.set(carried);
      }
    }
    this.markCarried(this.deviceState);
  }

  /** Notes every state input's values as carried by step(); `held`: on the device (not written from host). */
  private markCarried(held: boolean): void {
    for (const [i] of this.statePairs) {
      const version = this.inputs[i]!.version;
      this.carried[i] = version;
      if (held) this.onDevice[i] = version;
    }
    this.carriedAt = { ...this.boundDims };
  }

  /**
   * Generates `steps` tokens (docs/guide.md, Stateful generation): runs the model, chooses a token from the
   * scores output as sample() does (the k-th sampled token uses drawAt(seed, k)), feeds it into the token
   * input, and again. WebGPU and WebGL bundles carry a sampling kernel: the whole loop then runs on the
   * device with one readback at the end; on wasm it is a loop of steps with the same choices. Returns the
   * tokens.
   */
  async generate(options: GenerateOptions): Promise<Int32Array> {
    return this.guarded("generate()", () => this.generateOnce(options ?? {} as GenerateOptions));
  }

  private async generateOnce(o: GenerateOptions): Promise<Int32Array> {
    const steps = o.steps, temperature = o.temperature ?? 1, logp = o.scores !== "logits";
    const int = Number.isInteger;
    const { x, y, window, vocab, onehot } = this.feedOf(o.feed);
    const [lo, hi] = x.validRange ?? [0, vocab];
    checkOptions("generate", o, [["steps", int(steps) && steps > 0, "an integer > 0"],
      ["temperature", temperature >= 0 && temperature < Infinity, "a finite number >= 0"],
      ["topK", o.topK === undefined || int(o.topK) && o.topK >= 0, "an integer >= 0 (0: all)"],
      ["seed", o.seed === undefined || Number.isFinite(o.seed), "a finite number"],
      ["scores", [undefined, "probs", "logits"].includes(o.scores), '"probs" or "logits"']]);
    // a sampled id is fed back: the token input must accept every id the scores give (an Embedding's rows)
    if (lo > 0 || hi < vocab) {
      throw fail(`generate: scores "${y.name}" give ${vocab} tokens but input "${x.name}" accepts [${lo}, ` +
        `${hi}); use a model whose scores and token input agree`);
    }
    // the GPU kernels take topK as a u32 / int: beyond V it keeps all, as in JS
    const topK = Math.min(o.topK ?? 0, vocab), seed = Math.trunc(o.seed ?? Math.random() * 2 ** 32) >>> 0;
    // one sequence per call: the samplers (JS and the GPU kernels) choose one token from one row of scores
    const lead = x.shape.slice(0, onehot ? -2 : -1);
    const rows = Math.max(lead.reduce((n, d) => n * (+d || this.explicitDims[d] || 1), 1),
      o.prime ? 1 : (x.data?.length ?? 0) / (window * (onehot ? vocab : 1)));
    if (rows > 1) {
      throw fail(`generate: batch ${rows} > 1; generate one sequence per call (batch 1) or use step()`);
    }
    // the ids given, or by default those the token input holds (which checkRanges may not have bounded)
    const given = Array.from(o.prime ?? windowIds(x, window, vocab));
    if (!(given.length >= window && given.every((id) => int(id) && id >= 0 && id < vocab))) {
      throw fail(`generate: prime must be integers in [0, ${vocab}), ${window}+ of them, ` +
        `got ${formatShape(given)}`);
    }
    const prime = Int32Array.from(given), P = prime.length;
    const hist = new Int32Array(P + steps);
    hist.set(prime);
    const setWindow = (n: number) => x.set(windowOf(hist.subarray(n, n + window), vocab, onehot, x.dtype));
    const iterations = P - window + steps;
    setWindow(0);
    const kernel = this.deviceSampler(x, y);
    if (kernel >= 0) {
      this.prepareRun();
      const params = new Uint32Array([0, topK, seed, +logp, P]);
      new Float32Array(params.buffer, 0, 1)[0] = temperature;
      hist.set(await this.context.generate!({ kernel, scores: y.info.tensor, tokens: x.info.tensor,
        hist: prime, steps, iterations, params, carry: this.carryPairs }), P);
      this.checkNotDisposed();
      this.markCarried(true);
      this.clearOutputs();
      setWindow(iterations);
    }
    for (let n = 0; kernel < 0 && n < iterations; n++) {
      const pos = n + window;
      await this.stepOnce(pos >= P);
      if (pos >= P) {
        const logits = logp ? Float32Array.from(y.view(), Math.log) : y.view();
        hist[pos] = sample(logits, { temperature, topK, random: () => drawAt(seed, pos - P) });
      }
      setWindow(n + 1);
    }
    if (hist.includes(-1)) throw fail("generate: every score was NaN; pass scores: \"logits\"?");
    return hist.slice(P);
  }

  /** The token input and scores output generate() uses, with the window T and vocabulary V. */
  private feedOf(feed?: { input: string; output: string }) {
    const data = (list: readonly { role: string }[]) => list.filter((h) => h.role === "data");
    const [x, y] = feed ? [this.input(feed.input), this.output(feed.output)]
      : [data(this.inputs)[0] as InputHandle, data(this.outputs)[0] as OutputHandle];
    const xs = x?.shape ?? [], ys = y?.shape ?? [];
    const vocab = Number(ys.at(-1));
    // exactly V scores per call (batch 1): [V], [1, V], [batch, V]; [1, 3, V] holds 3 rows, not one
    if (ys.length > 1 && ys.slice(+isNaN(+ys[0]!), -1).some((d) => d !== "1")) {
      throw fail(`generate: scores "${y.name}" have shape ${formatShape(ys)}; generate() samples one row ` +
        "of V scores per call ([1, V] or [batch, V]); pass feed");
    }
    const onehot = x?.dtype === "float32" && Number(xs.at(-1)) === vocab;
    const window = Number(xs.at(onehot ? -2 : -1) ?? 1);
    if (!(vocab >= 2 && window >= 1 && (onehot || x.dtype === "int32")) ||
      (!feed && data(this.inputs).length + data(this.outputs).length !== 2)) {
      throw fail("generate: expected one int32 (ids) or one-hot token input and one scores output; " +
        "pass feed");
    }
    return { x, y, window, vocab, onehot };
  }

  /** The bundle's sampling kernel for this feed (WebGPU, WebGL), or -1 when generate() loops on the host. */
  private deviceSampler(x: InputHandle, y: OutputHandle): number {
    // the kernel writes the token input before the state copies read the state outputs
    if (!this.context.generate || (this.carryPairs.length && !this.deviceState) ||
      this.carryPairs.some(([from]) => this.slotOf(from) === this.slotOf(x.info.tensor))) return -1;
    return this.prog.kernels.findIndex((k) => {
      const g = k.meta["generate"] as Record<string, unknown> | undefined;
      return g?.["input"] === x.name && g["output"] === y.name;
    });
  }

  /**
   * A snapshot of the carried state (every state input's values as the next run would use them), for
   * going back to it with setState(), e.g. one per hypothesis in beamSearch(). On WebGPU and WebGL a state
   * that step() carried on the device is copied there (no readback); otherwise the host arrays are copied.
   */
  getState(): StateSnapshot {
    this.checkIdle("getState()");
    const snapshot = snapshotState(this.inputs);
    const held = this.inputs.filter((h, i) => this.onDevice[i] === h.version);
    let copies: unknown[] = [];
    if (held.length) {
      copies = this.context.snapshot!(held.map((h) => h.info.tensor));
      const states = snapshot.states as Map<string, SavedState>;
      held.forEach((h, k) => states.set(h.name, { data: null, shape: h.given, device: copies[k] }));
      this.live.add(copies);
      this.collector.register(snapshot, copies, snapshot);
    }
    origins.set(snapshot, [this, copies]);
    return snapshot;
  }

  /** Makes a getState() snapshot the carried state again; the next run or step() starts from it. */
  setState(snapshot: StateSnapshot): void {
    this.checkIdle("setState()");
    const [owner, copies] = origins.get(snapshot) ?? [this, []];
    if (owner !== this || (copies.length && !this.live.has(copies))) {
      throw fail(`setState: the snapshot is from ${owner === this ? "freeState()" : `another runner ` +
        `(${owner.backendName})`}; setState takes a live snapshot of this runner (its getState())`);
    }
    restoreState(this.inputs, snapshot);
    const held = this.inputs.filter((h) => snapshot.states.get(h.name)?.device !== undefined);
    if (!held.length) return;
    const saved = held.map((h) => snapshot.states.get(h.name)!.device);
    this.context.restore!(held.map((h) => h.info.tensor), saved);
    for (const h of held) this.onDevice[this.inputs.indexOf(h)] = h.version;
  }

  /**
   * Frees a getState() snapshot's device copies now (WebGPU buffers, WebGL textures; nothing on wasm) rather
   * than at garbage collection or dispose(); setState() then refuses it. Freeing twice does nothing.
   */
  freeState(snapshot: StateSnapshot): void {
    this.freeCopies(origins.get(snapshot)?.[1] ?? []);
    this.collector.unregister(snapshot);
  }

  /** Device copies getState() made that are not freed yet; the collector frees them with their snapshot. */
  private readonly live = new Set<unknown[]>();
  private readonly collector = new FinalizationRegistry<unknown[]>((copies) => this.freeCopies(copies));

  private freeCopies(copies: unknown[]): void {
    if (this.live.delete(copies)) this.context.free?.(copies);
  }

  /** Zeroes the recurrent state: state inputs run as zeros until set or stepped again. */
  resetState(): void {
    for (const handle of this.inputs) if (handle.role === "state") handle.clear();
  }

  /** Frees the backend's memory; the runner cannot run afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.live.forEach((c) => this.freeCopies(c));
    if (!this.busy) this.context.dispose();   // else run() frees it when the run in progress ends
  }

  /** Checks and binds the inputs and writes them to the backend (a state the device holds stays). */
  private prepareRun(): boolean {
    this.checkRanges();
    const relayout = this.bindInputs();
    // after a dims change, a carried state whose own shape changed (e.g. batch) resets to zeros; one whose
    // shape did not (e.g. only the time length changed) is kept, on the device across the new layout
    const kept: number[] = [];
    const moved = formatDims(this.boundDims) !== formatDims(this.carriedAt);
    if (moved) {
      const at = (h: InputHandle, d: Dims) => { try { return String(evaluateShape(h.shape, d, "")); }
        catch { return null; } };
      this.inputs.forEach((h, i) => {
        if (this.carried[i] !== h.version) return;
        const shape = at(h, this.boundDims);
        if (shape === null || shape !== at(h, this.carriedAt)) { h.clear(); this.onDevice[i] = -1; }
        else if (this.onDevice[i] === h.version) kept.push(h.info.tensor);
      });
    }
    const context = this.context;
    const saved = kept.length ? context.snapshot!(kept) : [];
    try {
      context.bind(this.boundDims);
    } catch (err) {
      // the failed layout may have replaced the kept states' slots: the last one comes back, with them
      if (kept.length) context.bind(this.carriedAt);
      throw err;
    } finally {
      if (kept.length) {
        context.restore!(kept, saved);
        context.free?.(saved);
      }
    }
    if (moved) this.carriedAt = { ...this.boundDims };
    this.inputs.forEach((h, i) => {
      if (this.onDevice[i] !== h.version) context.write(h.info.tensor, h.data ?? this.zeroState(i));
    });
    return relayout;
  }

  /** Runs once and reads the outputs back (all, or none: generate()'s prime steps), then `carry`. */
  private async runOnce(read = true, carry?: Carry): Promise<void> {
    const relayout = this.prepareRun(), context = this.context;
    await context.run(this.prog.steps, this.boundDims);
    this.checkNotDisposed();
    if (!read) this.clearOutputs();
    const reads = read ? this.outputs.map((output) => ({ tensor: output.info.tensor,
      into: relayout || !output.ready ? output.prepare(this.boundDims) : output.view() })) : [];
    if (context.readMany) {
      await context.readMany(reads, carry);   // one round trip for all outputs, not one per output
      this.checkNotDisposed();
      return;
    }
    for (const { tensor, into } of reads) {
      await context.read(tensor, into);
      this.checkNotDisposed();
    }
  }

  /** Binds the dims from the inputs; returns whether they (may) have changed since the last run. */
  private bindInputs(): boolean {
    const key = this.inputs.map((h) => {
      if (h.data === null && h.role === "data") throw notSet(h);
      return `${h.data?.length}:${h.given}`;
    }).join(";");
    if (this.bindingValid && key === this.bindKey) return false;
    this.bindKey = key;
    this.bindingValid = false;
    // a carried state does not bind: its dims may be the last run's (prepareRun then resets it)
    const sized = this.inputs.filter((h, i) => h.data !== null && this.carried[i] !== h.version)
      .map((h): SizedInput => ({ name: h.name, shape: h.shape, length: h.data!.length, given: h.given }));
    bindDims(sized, this.explicitDims, this.boundDims);
    const missing = this.symbols.filter((s) => this.boundDims[s] === undefined);
    if (missing.length) throw fail(cannotInfer(missing, `the inputs set (${formatDims(this.boundDims)})`));
    this.checkBoundSizes();
    this.bindingValid = true;
    return true;
  }

  /**
   * With the dims bound: every input and output holds as many values as its tensor has bytes for, and
   * every step param fits the int32 the kernels take. A bundle whose sizes disagree would otherwise read
   * or write past a memory slot, or trap inside a kernel.
   */
  private checkBoundSizes(): void {
    const dims = this.boundDims;
    for (const handle of [...this.inputs, ...this.outputs]) {
      const what = `${handle.role === "state" ? "state " : ""}"${handle.name}"`;
      const elements = shapeSize(evaluateShape(handle.shape, dims, what));
      const bytes = evaluateExpr(this.prog.tensors[handle.info.tensor]!.nbytesExpr, dims);
      if (elements * 4 !== bytes) {
        throw fail(`the bundle is inconsistent: ${what} has ${elements} values with ${formatDims(dims)} ` +
          `but its tensor holds ${bytes} bytes; re-convert the model`);
      }
    }
    this.prog.steps.forEach((step, i) => step.params.forEach((e) => {
      const value = evaluateExpr(e, dims);
      if ((value | 0) !== value) {   // outside int32 (values are integers)
        throw fail(`with ${formatDims(dims)}, step ${i} param '${e}' is ${value}, beyond the int32 the ` +
          "kernels take; run with smaller inputs");
      }
    }));
  }

  /**
   * Rejects inputs with values outside their valid range (e.g. token ids beyond the vocabulary). Float
   * ids are truncated to int as the model does, so NaN, infinities and 1e10 are outside every range.
   */
  private checkRanges(): void {
    for (const { name, validRange, data } of this.inputs) {
      if (validRange === null || data === null) continue;
      const [lo, hi] = validRange;
      const i = data.findIndex((v) => !(Math.trunc(v) >= lo && Math.trunc(v) < hi));
      if (i >= 0) {
        throw inputFail(name, `value ${data[i]} at index ${i} is outside the valid range [${lo}, ${hi}) ` +
          "(an embedding's vocabulary); fix the input before running");
      }
    }
  }

  /** The memory slot of tensor `t`. */
  private slotOf(t: number): number {
    return this.prog.tensors[t]!.slot;
  }

  /** Forgets the outputs' host values (they were not read back: generate(), its prime steps). */
  private clearOutputs(): void {
    for (const output of this.outputs) output.clear();
  }

  /** Zeros of the state input's size under the current dims (reused across runs). */
  private zeroState(i: number): HostArray {
    const handle = this.inputs[i]!;
    const length = shapeSize(evaluateShape(handle.shape, this.boundDims, `state input "${handle.name}"`));
    return reuse(this.zeroStates, i, handle.dtype, length);
  }
}

/** `cache[i]` when it holds `length` values, else a new zeroed array put there. */
function reuse(cache: HostArray[], i: number, dtype: IOInfo["dtype"], length: number): HostArray {
  const held = cache[i];
  return held?.length === length ? held : (cache[i] = allocate(dtype, length));
}

/** The handle called `name`, else an error listing the names there are. */
function named<H extends { name: string }>(handles: readonly H[], name: string, side: string): H {
  const found = handles.find((h) => h.name === name);
  if (!found) {
    throw fail(`no ${side} named "${name}"; the ${side}s are ${formatShape(handles.map((h) => h.name))}`);
  }
  return found;
}

/** A data input without values (run() and predict() need every one). */
function notSet(handle: InputHandle): Error {
  return fail(`input "${handle.name}" is not set: expected a ${describeExpected(handle.info)}; ` +
    `call runner.input("${handle.name}").set(...) or pass it to predict()`);
}

/** Which runner took each getState() snapshot, and its device copies. */
const origins = new WeakMap<StateSnapshot, [Runner, unknown[]]>();

/** Runner.generate()'s options (docs/guide.md, Stateful generation). */
export interface GenerateOptions {
  /** Tokens to generate. */
  steps: number;
  /** Token ids fed first, one per step (at least the token input's window); default: the input as set. */
  prime?: ArrayLike<number>;
  /** As sample(): 0 is argmax; default 1. */
  temperature?: number;
  /** As sample(): keep the k best; 0 (default) keeps all. */
  topK?: number;
  /** The k-th sampled token uses drawAt(seed, k), i.e. createRng(seed)'s k-th number; default random. */
  seed?: number;
  /** What the scores output holds: "probs" (default, a softmax: their log is sampled) or "logits". */
  scores?: "probs" | "logits";
  /** The token input and the scores output, when the model has several data inputs or outputs. */
  feed?: { input: string; output: string };
}

/** The ids in a token input's window (one-hot rows: the index of each row's largest value). */
function windowIds(x: InputHandle, window: number, vocab: number): Int32Array {
  const data = x.data;
  if (data === null) throw fail(`generate: set input ${x.name} or pass prime`);
  return Int32Array.from({ length: window }, (_, t) =>
    data.length === window ? data[t]! : argmax(data.subarray(t * vocab, (t + 1) * vocab)));
}

/** A token input's values for a window of ids: the ids, or one one-hot row per id. */
function windowOf(ids: Int32Array, vocab: number, onehot: boolean, dtype: string): HostArray {
  if (!onehot) return dtype === "int32" ? Int32Array.from(ids) : Float32Array.from(ids);
  const x = new Float32Array(ids.length * vocab);
  ids.forEach((id, t) => { if (id >= 0) x[t * vocab + id] = 1; });
  return x;
}

/**
 * An output of predict(): the flat typed array of its values (index it, Array.from it) that also carries
 * its concrete shape, e.g. `result.score.shape` -> [2, 1].
 */
export type ShapedArray = HostArray & { readonly shape: readonly number[] };

function withShape(values: HostArray, shape: readonly number[]): ShapedArray {
  // defineProperty's defaults: not enumerable, not writable
  Object.defineProperty(values, "shape", { value: Object.freeze([...shape]) });
  return values as ShapedArray;
}

/** A feed as the input's typed array: typed arrays must match the dtype, plain numbers are converted. */
function isShaped(feed: Feed): feed is { data: HostFeed | readonly number[]; shape: number[] } {
  // a typed array may carry a shape too: a predict() result fed back
  return !ArrayBuffer.isView(feed) && typeof feed === "object" && "shape" in feed;
}

type HostFeed = HostArray | BigInt64Array;

function toHostArray(feed: HostFeed | readonly number[], info: IOInfo): HostFeed {
  if (!Array.isArray(feed)) return feed as HostFeed;
  if (info.dtype === "int32" && !feed.every((v) => Number.isInteger(v))) {
    throw inputFail(info.name, "expected integers for an Int32Array, got fractions");
  }
  return info.dtype === "float32" ? Float32Array.from(feed) : Int32Array.from(feed);
}

