/**
 * The WebGPU backend context (docs/design.md section 6).
 *
 * Resources, all counted in a BufferPool:
 *   slot:<id>     one storage buffer per memory slot, sized max(slot sizes) for the bound dims (grows only);
 *   weights       the weights blob, re-packed so that each weight starts at minStorageBufferOffsetAlignment
 *                 (the bundle aligns to 64 bytes, WebGPU needs 256 for storage binding offsets);
 *   params:<i>    step i's uniform params (u32 each); a repeated step (meta.loop) holds one 256-aligned
 *                 copy per iteration, selected with a dynamic offset;
 *   read:<id>     a mappable staging buffer per output tensor read back.
 * Invariants:
 *   - pipelines are built at compile() (shared per page, see pipeline-cache.ts); a kernel that does not
 *     validate throws there, so the runner falls back to another backend;
 *   - bind() recomputes params, dispatch sizes and bind groups only when the dims change, and creates
 *     buffers only when a slot or a params buffer must grow: repeated runs allocate nothing;
 *   - run() records every step into one compute pass of one command buffer (dispatches in a pass see
 *     the writes of earlier ones), including the per-time-step loops; nothing is read back by run();
 *   - read() copies only the requested tensor into its staging buffer and maps it; readMany() (the runner's
 *     outputs after a run) records every copy in one command buffer and maps all staging buffers at once.
 */

import type { BundleProgram, StepSpec } from "../../bundle/reader.js";
import { evaluateExpr } from "../../bundle/expr.js";
import type { Dims } from "../../dims.js";
import { dimsKey, formatDims, slotBytes } from "../../dims.js";
import type { BackendContext, Carry, DeviceLoop, HostArray } from "../backend.js";
import { BufferPool } from "./buffer-pool.js";
import { sharedDevice, type SharedDevice } from "./device.js";
import type { GpuBindGroup, GpuBuffer, GpuCommandEncoder, GpuDevice } from "./gpu-types.js";
import { BufferUsage, MAP_MODE_READ } from "./gpu-types.js";
import { compiledKernel, pipelinesBuilt, type CompiledKernel } from "./pipeline-cache.js";
import { errorText, fail } from "../../fail.js";
import { checkOwnSteps, eachStep, loops, type Loop } from "../loop.js";
import { lost, newStats, ready, weightsOf } from "../common.js";

const SLOT_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;
const PARAMS_USAGE = BufferUsage.UNIFORM | BufferUsage.COPY_DST;
const READ_USAGE = BufferUsage.MAP_READ | BufferUsage.COPY_DST;

type GpuResource = { buffer: GpuBuffer; offset: number; size: number };

/** What bind() prepares for one step: ready to encode. */
interface StepPlan {
  kernel: CompiledKernel;
  /** The step's param values (loops() reads the iteration count from them). */
  params: number[];
  bindGroup: GpuBindGroup;
  dispatch: [number, number, number];
  /** Bytes between the params copies of successive iterations (a kernel with meta.loop), else 0. */
  paramsStride: number;
}

export class WebGpuContext implements BackendContext {
  readonly name = "webgpu";
  private shared: SharedDevice | null = null;
  private pool: BufferPool | null = null;
  private prog: BundleProgram | null = null;
  private gpuKernels: CompiledKernel[] = [];
  /** Each weight's offset in the weights buffer, by tensor id. */
  private weightOffsets: number[] = [];
  private gpuLoops: Loop<StepPlan>[] = [];
  /** The symbol values of the last bind(); null before the first. */
  private boundKey: string | null = null;
  private boundDims: Dims = {};
  readonly stats = newStats();

  /** Kernels whose pipeline compile() did not build: shared with an equal kernel, of this model or cached. */
  reused = 0;

  /** Distinct compute pipelines this model uses (identical kernels share one, see pipeline-cache.ts). */
  get pipelines(): number {
    return new Set(this.gpuKernels.map((k) => k.pipeline)).size;
  }

  /** The adapter's description, once init() succeeded. */
  get adapterInfo(): SharedDevice["info"] | null {
    return this.shared?.info ?? null;
  }

  async init(): Promise<void> {
    this.shared = await sharedDevice();
    this.pool = new BufferPool(this.shared.device);
  }

  /** The device: init() ran and it is not lost. */
  private get gpuDevice(): GpuDevice {
    const shared = ready(this.shared, "webgpu");
    if (shared.lostReason !== null) throw lost("the WebGPU device", shared.lostReason);
    return shared.device;
  }

  /** The program compile() took (throws before compile() and after dispose()). */
  private get compiled(): BundleProgram {
    return ready(this.prog, "webgpu");
  }

  async compile(program: BundleProgram): Promise<void> {
    const device = this.gpuDevice;
    const built = pipelinesBuilt;
    this.gpuKernels = await Promise.all(program.kernels.map((k) => compiledKernel(device, k)));
    this.reused = this.gpuKernels.length - (pipelinesBuilt - built);
    this.prog = program;
  }

  async upload(weights: Uint8Array): Promise<void> {
    const device = this.gpuDevice;
    const align = device.limits.minStorageBufferOffsetAlignment;
    const list = weightsOf(this.compiled);
    let total = 0;
    for (const t of list) {
      this.weightOffsets[t.id] = total;
      total += Math.ceil(Math.max(4, evaluateExpr(t.nbytesExpr, {})) / align) * align;
    }
    device.pushErrorScope("out-of-memory");
    const buffer = this.pool!.ensure("weights", total, SLOT_USAGE);
    for (const t of list) {
      const n = evaluateExpr(t.nbytesExpr, {});
      if (n > 0) device.queue.writeBuffer(buffer, this.weightOffsets[t.id]!, weights, t.weightOffset, n);
    }
    const oom = await device.popErrorScope();
    if (oom) throw fail(`WebGPU cannot hold the weights (${total} bytes): ${oom.message}`);
  }

  bind(dims: Dims): void {
    const program = this.compiled;
    const key = dimsKey(program.symbols, dims);
    if (key === this.boundKey) return;
    // slot sizes, params and bind groups depend on the dims only, so this runs once per new dims;
    // slot buffers only grow. Until it completes no dims are bound: a throw (too many workgroups) may
    // leave plans whose buffers were replaced
    this.boundKey = null;
    for (const slot of program.slots) this.pool!.ensure(`slot:${slot.id}`, slotBytes(slot, dims), SLOT_USAGE);
    this.boundDims = { ...dims };
    this.gpuLoops = loops(program.steps.map((step, i) => this.planStep(step, i)));
    this.boundKey = key;
  }

  /** Step `index`'s plan under the bound dims. */
  private planStep(step: StepSpec, index: number): StepPlan {
    const kernel = this.gpuKernels[step.kernel]!, dims = this.boundDims, limits = this.gpuDevice.limits;
    const params = step.params.map((e) => evaluateExpr(e, dims));
    const dispatch = step.dispatch.map((e) => evaluateExpr(e, dims)) as [number, number, number];
    const max = limits.maxComputeWorkgroupsPerDimension;
    if (dispatch.some((n) => n > max)) {
      throw fail(`step ${index} (${kernel.spec.name}) needs ${dispatch.join("x")} workgroups with ` +
        `${formatDims(dims)}, over this GPU's ${max} per dimension; use smaller inputs`);
    }
    const paramsStride = kernel.loop ? limits.minUniformBufferOffsetAlignment : 0;
    const entries = step.tensors.map((t, binding) => ({ binding, resource: this.resourceOf(t) }));
    if (kernel.paramsBinding !== null) {
      const resource = this.writeParams(index, kernel, params, paramsStride);
      entries.push({ binding: kernel.paramsBinding, resource });
    }
    const { layout, spec } = kernel;
    const bindGroup = this.gpuDevice.createBindGroup({ label: spec.name, layout, entries });
    return { kernel, params, bindGroup, dispatch, paramsStride };
  }

  /**
   * Writes a step's u32 params into its uniform buffer: for a loop, one copy per iteration `stride` bytes
   * apart, each with its own iteration number (selected by a dynamic offset).
   */
  private writeParams(index: number, { spec, loop }: CompiledKernel, params: number[], stride: number) {
    const size = Math.ceil(params.length / 4) * 16;
    const words = (stride || size) / 4;
    const copies = loop ? Math.max(params[spec.params.indexOf(loop.count)]!, 1) : 1;
    const data = new Uint32Array(words * (copies - 1) + size / 4);
    for (let it = 0; it < copies; it++) {
      data.set(params, it * words);   // negative values wrap, as `>>> 0`
      if (loop) data[it * words + spec.params.indexOf(loop.index)] = it;
    }
    const buffer = this.pool!.ensure(`params:${index}`, data.byteLength, PARAMS_USAGE);
    this.gpuDevice.queue.writeBuffer(buffer, 0, data);
    return { buffer, offset: 0, size };
  }

  /** Where tensor `id` lives under the bound dims (parseBundle checked every id a step or an I/O names). */
  private resourceOf(id: number): GpuResource {
    const t = this.compiled.tensors[id]!, weight = t.kind === "weight";
    return {
      buffer: this.pool!.get(weight ? "weights" : `slot:${t.slot}`)!,
      offset: weight ? this.weightOffsets[id]! : 0,
      size: Math.ceil(Math.max(4, evaluateExpr(t.nbytesExpr, this.boundDims)) / 4) * 4,
    };
  }

  write(tensor: number, data: HostArray): void {
    if (data.byteLength > 0) this.gpuDevice.queue.writeBuffer(this.resourceOf(tensor).buffer, 0, data);
  }

  async run(steps: readonly StepSpec[], dims: Dims): Promise<void> {
    const device = this.gpuDevice;
    checkOwnSteps(steps, this.compiled.steps, "webgpu");
    this.bind(dims);
    device.pushErrorScope("validation");
    const encoder = device.createCommandEncoder();
    this.encodeSteps(encoder);
    this.submitEncoder(encoder);
    const error = await device.popErrorScope();
    if (error) throw fail(`WebGPU rejected the run with ${formatDims(this.boundDims)}: ${error.message}`);
  }

  /** Every step of the bound plans, loops unrolled, into one compute pass. */
  private encodeSteps(encoder: GpuCommandEncoder): void {
    const pass = encoder.beginComputePass();
    eachStep(this.gpuLoops, (p, it) => {
      if (p.dispatch.includes(0)) return;
      pass.setPipeline(p.kernel.pipeline);
      pass.setBindGroup(0, p.bindGroup, p.kernel.loop ? [it * p.paramsStride] : []);
      pass.dispatchWorkgroups(...p.dispatch);
      this.stats.dispatches++;
    });
    pass.end();
  }

  /** Device copies [from, to]; a pair in one buffer (a tensor sharing its target's slot) stays put. */
  private encodeCopies(encoder: GpuCommandEncoder, pairs: GpuResource[][]): void {
    for (const [a, b] of pairs) {
      if (a!.buffer !== b!.buffer) {
        encoder.copyBufferToBuffer(a!.buffer, a!.offset, b!.buffer, b!.offset, Math.min(a!.size, b!.size));
      }
    }
  }

  /** The state outputs copied into the state inputs (the tensor pairs of `carry`). */
  private encodeCarry(encoder: GpuCommandEncoder, carry: Carry): void {
    this.encodeCopies(encoder, carry.map((p) => p.map((t) => this.resourceOf(t))));
  }

  private submitEncoder(encoder: GpuCommandEncoder): void {
    this.gpuDevice.queue.submit([encoder.finish()]);
    this.stats.submits++;
  }

  /** Device copies of tensors (one submit, no readback), for Runner.getState(). */
  snapshot(tensors: readonly number[]): unknown[] {
    const from = tensors.map((t) => this.resourceOf(t));
    const saved = from.map(({ size }) => ({ buffer: this.gpuDevice.createBuffer({ size, usage: SLOT_USAGE }),
      offset: 0, size }));
    this.copies(from.map((r, i) => [r, saved[i]!]));
    return saved;
  }

  restore(tensors: readonly number[], saved: readonly unknown[]): void {
    this.copies(tensors.map((t, i) => [saved[i] as GpuResource, this.resourceOf(t)]));
  }

  free(saved: readonly unknown[]): void {
    saved.forEach((r) => (r as GpuResource).buffer.destroy());
  }

  private copies(pairs: GpuResource[][]): void {
    const encoder = this.gpuDevice.createCommandEncoder();
    this.encodeCopies(encoder, pairs);
    this.submitEncoder(encoder);
  }

  /** Runner.generate(): every iteration's runs, samples and carries in one submit, one readback. */
  async generate(g: DeviceLoop): Promise<Int32Array> {
    const device = this.gpuDevice, pool = this.pool!, queue = device.queue;
    const kernel = this.gpuKernels[g.kernel]!;
    const vocab = (kernel.spec.meta["generate"] as { vocab: number }).vocab;
    const hist = pool.ensure("gen:hist", (g.hist.length + g.steps) * 4, SLOT_USAGE);
    const order = pool.ensure("gen:order", (vocab + 1) * 4, SLOT_USAGE);
    const params = pool.ensure("gen:params", 32, PARAMS_USAGE);
    queue.writeBuffer(hist, 0, g.hist);
    queue.writeBuffer(order, vocab * 4, Int32Array.of(0));
    queue.writeBuffer(params, 0, g.params);
    device.pushErrorScope("validation");
    // the sampler reads a copy of the scores: the token input it writes may share their slot
    const from = this.resourceOf(g.scores);
    const scores = pool.ensure("gen:scores", from.size, SLOT_USAGE);
    const entries = [{ buffer: scores, size: from.size }, this.resourceOf(g.tokens),
      { buffer: hist }, { buffer: order }, { buffer: params, size: 32 }]
      .map((resource, binding) => ({ binding, resource }));
    const group = device.createBindGroup({ layout: kernel.layout, entries });
    const encoder = device.createCommandEncoder();
    for (let n = 0; n < g.iterations; n++) {
      this.encodeSteps(encoder);
      encoder.copyBufferToBuffer(from.buffer, from.offset, scores, 0, from.size);
      const pass = encoder.beginComputePass();
      pass.setPipeline(kernel.pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(1);
      this.stats.dispatches++;
      pass.end();
      this.encodeCarry(encoder, g.carry);
    }
    const bytes = g.steps * 4;
    const staging = pool.ensure("gen:read", bytes, READ_USAGE);
    encoder.copyBufferToBuffer(hist, g.hist.length * 4, staging, 0, bytes);
    this.submitEncoder(encoder);
    const error = await device.popErrorScope();
    if (error) throw fail(`WebGPU rejected generate(): ${error.message}`);
    this.stats.readbacks++;
    await staging.mapAsync(MAP_MODE_READ, 0, bytes);
    const tokens = new Int32Array(staging.getMappedRange(0, bytes).slice(0));
    staging.unmap();
    return tokens;
  }

  async read(tensor: number, into: HostArray): Promise<void> {
    await this.readMany([{ tensor, into }]);
  }

  /**
   * Every tensor copied to its staging buffer in one command buffer (one submit), all mapped at once; then
   * the `carry` copies, in the same submit (after the reads: a state input may share a data output's slot).
   */
  async readMany(reads: readonly { tensor: number; into: HostArray }[], carry: Carry = []): Promise<void> {
    // one staging buffer per tensor: an output listed twice is copied once and handed to both
    const byTensor = new Map<number, HostArray[]>();
    for (const { tensor, into } of reads) {
      if (into.byteLength > 0) byTensor.set(tensor, [...(byTensor.get(tensor) ?? []), into]);
    }
    if (byTensor.size + carry.length === 0) return;
    const encoder = this.gpuDevice.createCommandEncoder();
    const staged = [...byTensor].map(([tensor, [into, ...twins]]) => {
      const bytes = into!.byteLength;
      const staging = this.pool!.ensure(`read:${tensor}`, bytes, READ_USAGE);
      encoder.copyBufferToBuffer(this.resourceOf(tensor).buffer, 0, staging, 0, Math.ceil(bytes / 4) * 4);
      return { tensor, into: into!, twins, staging };
    });
    this.encodeCarry(encoder, carry);
    this.submitEncoder(encoder);
    if (!staged.length) return;
    this.stats.readbacks++;
    const mapped = await Promise.allSettled(staged.map((s) => s.staging.mapAsync(MAP_MODE_READ)));
    const failed = mapped.findIndex((m) => m.status === "rejected");
    staged.forEach(({ into, twins, staging }, i) => {
      if (mapped[i]!.status === "rejected") return;
      // all or nothing: no output changes when one cannot be read
      if (failed < 0) {
        new Uint8Array(into.buffer, into.byteOffset, into.byteLength).set(
          new Uint8Array(staging.getMappedRange(), 0, into.byteLength));
        for (const twin of twins) twin.set(into);
      }
      staging.unmap();
    });
    if (failed >= 0) {
      const why = (mapped[failed] as PromiseRejectedResult).reason;
      throw fail(`WebGPU cannot read tensor ${this.compiled.tensors[staged[failed]!.tensor]!.name} back: ` +
        `${this.shared?.lostReason ?? errorText(why)}`);
    }
  }

  memoryBytes(): number {
    return this.pool?.bytes() ?? 0;
  }

  dispose(): void {
    this.pool?.dispose();
    this.gpuLoops = [];
    this.prog = null;
  }
}
