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

import type { BundleProgram, StepSpec, TensorSpec } from "../../bundle/reader.js";
import { evaluateExpr } from "../../bundle/expr.js";
import type { Dims } from "../../dims.js";
import { dimsKey, formatDims, slotBytes } from "../../dims.js";
import type { BackendContext, Carry, DeviceLoop, HostArray } from "../backend.js";
import { BufferPool } from "./buffer-pool.js";
import { sharedDevice, type SharedDevice } from "./device.js";
import type { GpuBindGroup, GpuBindGroupEntry, GpuBuffer, GpuCommandEncoder, GpuComputePassEncoder,
  GpuDevice } from "./gpu-types.js";
import { BufferUsage, MAP_MODE_READ } from "./gpu-types.js";
import { compiledKernel, pipelinesBuilt, type CompiledKernel } from "./pipeline-cache.js";
import { errorText, fail } from "../../fail.js";
import { checkOwnSteps } from "../loop.js";

const SLOT_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;
const PARAMS_USAGE = BufferUsage.UNIFORM | BufferUsage.COPY_DST;

type GpuResource = { buffer: GpuBuffer; offset: number; size: number };

/** What bind() prepares for one step: ready to encode. */
interface StepPlan {
  kernel: CompiledKernel;
  bindGroup: GpuBindGroup;
  dispatch: [number, number, number];
  /** Iterations of a repeated group starting at this step (1 for a plain step). */
  count: number;
  /** Steps repeated together, this one first (1 for a plain step). */
  span: number;
  paramsStride: number;
}


export class WebGpuContext implements BackendContext {
  readonly name = "webgpu";
  private shared: SharedDevice | null = null;
  private pool: BufferPool | null = null;
  private prog: BundleProgram | null = null;
  private gpuKernels: CompiledKernel[] = [];
  private weightOffsets = new Map<number, number>();
  private plans: StepPlan[] = [];
  private boundKey = "";
  private boundDims: Dims = {};
  readonly stats = { dispatches: 0, submits: 0, readbacks: 0 };

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

  private get gpuDevice(): GpuDevice {
    if (!this.shared || !this.pool) throw fail("webgpu context: init() has not run");
    if (this.shared.lostReason !== null) {
      throw fail(`the WebGPU device was lost (${this.shared.lostReason}); this runner cannot run ` +
        "again — load the model again (webloom.load gets a new device), or use another backend");
    }
    return this.shared.device;
  }

  async compile(program: BundleProgram): Promise<void> {
    const device = this.gpuDevice;
    this.prog = program;
    const built = pipelinesBuilt;
    this.gpuKernels = await Promise.all(program.kernels.map((k) => compiledKernel(device, k)));
    this.reused = this.gpuKernels.length - (pipelinesBuilt - built);
  }

  async upload(weights: Uint8Array): Promise<void> {
    const device = this.gpuDevice;
    const program = this.requireProgram();
    const align = device.limits.minStorageBufferOffsetAlignment;
    let total = 0;
    for (const t of program.tensors) {
      if (t.kind !== "weight") continue;
      this.weightOffsets.set(t.id, total);
      total += Math.ceil(Math.max(4, evaluateExpr(t.nbytesExpr, {})) / align) * align;
    }
    device.pushErrorScope("out-of-memory");
    const buffer = this.pool!.ensure("weights", total, SLOT_USAGE);
    for (const t of program.tensors) {
      if (t.kind !== "weight") continue;
      const n = evaluateExpr(t.nbytesExpr, {});
      if (n > 0) device.queue.writeBuffer(buffer, this.weightOffsets.get(t.id)!, weights, t.weightOffset, n);
    }
    const oom = await device.popErrorScope();
    if (oom) throw fail(`WebGPU cannot hold the weights (${total} bytes): ${oom.message}`);
  }

  bind(dims: Dims): void {
    const program = this.requireProgram();
    const key = dimsKey(program.symbols, dims);
    if (key === this.boundKey && this.plans.length === program.steps.length) return;
    // slot sizes, params and bind groups depend on the dims only, so this runs once per new dims
    this.sizeSlots(dims);
    this.boundDims = { ...dims };
    this.plans = [];
    for (let i = 0; i < program.steps.length; i++) this.plans.push(this.planStep(i, dims));
    this.boundKey = key;
  }

  /** Makes every slot buffer large enough for `dims` (buffers only grow). */
  private sizeSlots(dims: Dims): void {
    for (const slot of this.requireProgram().slots) {
      this.pool!.ensure(`slot:${slot.id}`, slotBytes(slot, dims), SLOT_USAGE);
    }
  }

  private planStep(index: number, dims: Dims): StepPlan {
    const step = this.requireProgram().steps[index]!;
    const kernel = this.gpuKernels[step.kernel]!;
    const values = step.params.map((e) => evaluateExpr(e, dims));
    const dispatch = step.dispatch.map((e) => evaluateExpr(e, dims)) as [number, number, number];
    const max = this.gpuDevice.limits.maxComputeWorkgroupsPerDimension;
    if (dispatch.some((n) => n > max)) {
      throw fail(`step ${index} (${kernel.spec.name}) needs ${dispatch.join("x")} workgroups with ` +
        `${formatDims(dims)}; this GPU allows ${max} per dimension (use smaller inputs)`);
    }
    const loop = kernel.loop;
    const count = loop ? values[kernel.spec.params.indexOf(loop.count)]! : 1;
    const stride = loop ? this.gpuDevice.limits.minUniformBufferOffsetAlignment : 0;
    const entries: GpuBindGroupEntry[] = step.tensors.map((t, b) => ({ binding: b, resource: this.resourceOf(t, dims) }));
    if (kernel.paramsBinding !== null) {
      const size = Math.ceil((values.length * 4) / 16) * 16;
      const buffer = this.writeParams(index, values, loop ? kernel.spec.params.indexOf(loop.index) : -1,
        Math.max(count, 1), stride, size);
      entries.push({ binding: kernel.paramsBinding, resource: { buffer, offset: 0, size } });
    }
    const bindGroup = this.gpuDevice.createBindGroup({ label: kernel.spec.name, layout: kernel.layout, entries });
    return { kernel, bindGroup, dispatch, count, span: loop ? loop.span : 1, paramsStride: stride };
  }

  /** Writes a step's u32 params (one copy per iteration for a repeated step) into its uniform buffer. */
  private writeParams(index: number, values: number[], loopIndex: number, copies: number, stride: number,
    size: number) {
    const words = stride ? stride / 4 : size / 4;
    const data = new Uint32Array(words * (copies - 1) + size / 4);
    for (let it = 0; it < copies; it++) {
      data.set(values.map((v) => v >>> 0), it * words);
      if (loopIndex >= 0) data[it * words + loopIndex] = it;
    }
    const buffer = this.pool!.ensure(`params:${index}`, data.byteLength, PARAMS_USAGE);
    this.gpuDevice.queue.writeBuffer(buffer, 0, data);
    return buffer;
  }

  private resourceOf(tensorId: number, dims: Dims) {
    const t = this.tensorSpec(tensorId);
    const size = Math.ceil(Math.max(4, evaluateExpr(t.nbytesExpr, dims)) / 4) * 4;
    if (t.kind === "weight") {
      return { buffer: this.pool!.get("weights")!, offset: this.weightOffsets.get(t.id)!, size };
    }
    return { buffer: this.pool!.get(`slot:${t.slot}`)!, offset: 0, size };
  }

  /** The tensor `id` (parseBundle checked every id a step or an input/output names). */
  private tensorSpec(id: number): TensorSpec {
    return this.requireProgram().tensors[id]!;
  }

  write(tensor: number, data: HostArray): void {
    const t = this.tensorSpec(tensor);
    if (data.byteLength === 0) return;
    this.gpuDevice.queue.writeBuffer(this.pool!.get(`slot:${t.slot}`)!, 0, data);
  }

  async run(steps: readonly StepSpec[], dims: Dims): Promise<void> {
    const device = this.gpuDevice;
    checkOwnSteps(steps, this.requireProgram().steps, "webgpu", " (its plans are built per step)");
    this.bind(dims);
    device.pushErrorScope("validation");
    const encoder = device.createCommandEncoder({ label: "webloom run" });
    const pass = encoder.beginComputePass();
    this.encodeSteps(pass);
    pass.end();
    this.submitEncoder(encoder);
    const error = await device.popErrorScope();
    if (error) throw fail(`WebGPU rejected the run with ${formatDims(this.boundDims)}: ${error.message}`);
  }

  /** Every step of the bound plans, loops unrolled, into one compute pass. */
  private encodeSteps(pass: GpuComputePassEncoder): void {
    for (let i = 0; i < this.plans.length;) {
      const plan = this.plans[i]!;
      const group = this.plans.slice(i, i + plan.span);
      for (let it = 0; it < plan.count; it++) {
        for (const p of group) {
          if (p.dispatch.some((n) => n === 0)) continue;
          pass.setPipeline(p.kernel.pipeline);
          if (p.kernel.loop) pass.setBindGroup(0, p.bindGroup, [it * p.paramsStride]);
          else pass.setBindGroup(0, p.bindGroup);
          pass.dispatchWorkgroups(...p.dispatch);
          this.stats.dispatches++;
        }
      }
      i += plan.span;
    }
  }

  /** Device copies [from, to] (state outputs into state inputs); a tensor sharing its slot stays put. */
  private encodeCarry(encoder: GpuCommandEncoder, carry: Carry): void {
    this.encodeCopies(encoder, carry.map((p) => p.map((t) => this.resourceOf(t, this.boundDims))));
  }

  private encodeCopies(encoder: GpuCommandEncoder, pairs: GpuResource[][]): void {
    for (const [a, b] of pairs) {
      if (a!.buffer !== b!.buffer) {
        encoder.copyBufferToBuffer(a!.buffer, a!.offset, b!.buffer, b!.offset, Math.min(a!.size, b!.size));
      }
    }
  }

  private submitEncoder(encoder: GpuCommandEncoder): void {
    this.gpuDevice.queue.submit([encoder.finish()]);
    this.stats.submits++;
  }

  /** Device copies of tensors (one submit, no readback), for Runner.getState(). */
  snapshot(tensors: readonly number[]): unknown[] {
    const from = tensors.map((t) => this.resourceOf(t, this.boundDims));
    const saved = from.map(({ size }) => ({ buffer: this.gpuDevice.createBuffer({ size, usage: SLOT_USAGE }),
      offset: 0, size }));
    this.copies(from.map((r, i) => [r, saved[i]!]));
    return saved;
  }

  restore(tensors: readonly number[], saved: readonly unknown[]): void {
    this.copies(tensors.map((t, i) => [saved[i] as GpuResource, this.resourceOf(t, this.boundDims)]));
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
    const device = this.gpuDevice, pool = this.pool!;
    const kernel = this.gpuKernels[g.kernel]!;
    const vocab = (kernel.spec.meta["generate"] as { vocab: number }).vocab;
    const hist = pool.ensure("gen:hist", (g.hist.length + g.steps) * 4, SLOT_USAGE);
    const order = pool.ensure("gen:order", (vocab + 1) * 4, SLOT_USAGE);
    const params = pool.ensure("gen:params", 32, PARAMS_USAGE);
    device.queue.writeBuffer(hist, 0, g.hist);
    device.queue.writeBuffer(order, vocab * 4, Int32Array.of(0));
    device.queue.writeBuffer(params, 0, g.params);
    device.pushErrorScope("validation");
    // the sampler reads a copy of the scores: the token input it writes may share their slot
    const from = this.resourceOf(g.scores, this.boundDims);
    const scores = pool.ensure("gen:scores", from.size, SLOT_USAGE);
    const entries = [{ buffer: scores, size: from.size }, this.resourceOf(g.tokens, this.boundDims),
      { buffer: hist }, { buffer: order }, { buffer: params, size: 32 }]
      .map((resource, binding) => ({ binding, resource }));
    const group = device.createBindGroup({ layout: kernel.layout, entries });
    const encoder = device.createCommandEncoder({ label: "webloom generate" });
    for (let n = 0; n < g.iterations; n++) {
      let pass = encoder.beginComputePass();
      this.encodeSteps(pass);
      pass.end();
      encoder.copyBufferToBuffer(from.buffer, from.offset, scores, 0, from.size);
      pass = encoder.beginComputePass();
      pass.setPipeline(kernel.pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(1);
      this.stats.dispatches++;
      pass.end();
      this.encodeCarry(encoder, g.carry);
    }
    const bytes = g.steps * 4;
    const staging = pool.ensure("gen:read", bytes, BufferUsage.MAP_READ | BufferUsage.COPY_DST);
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
    const device = this.gpuDevice;
    // one staging buffer per tensor: an output listed twice is copied once and handed to both
    const byTensor = new Map<number, HostArray[]>();
    for (const r of reads) {
      if (r.into.byteLength > 0) byTensor.set(r.tensor, [...(byTensor.get(r.tensor) ?? []), r.into]);
    }
    if (byTensor.size + carry.length === 0) return;
    const encoder = device.createCommandEncoder({ label: "webloom read" });
    const staged = [...byTensor].map(([tensor, [into, ...twins]]) => {
      const t = this.tensorSpec(tensor);
      const bytes = into.byteLength;
      const staging = this.pool!.ensure(`read:${tensor}`, bytes, BufferUsage.MAP_READ | BufferUsage.COPY_DST);
      encoder.copyBufferToBuffer(this.pool!.get(`slot:${t.slot}`)!, 0, staging, 0, Math.ceil(bytes / 4) * 4);
      return { t, into: into!, twins, bytes, staging };
    });
    this.encodeCarry(encoder, carry);
    this.submitEncoder(encoder);
    if (!staged.length) return;
    this.stats.readbacks++;
    const maps = staged.map((s) => s.staging.mapAsync(MAP_MODE_READ, 0, s.staging.size));
    const mapped = await Promise.allSettled(maps);
    const failed = mapped.findIndex((m) => m.status === "rejected");
    if (failed >= 0) {
      staged.forEach((s, i) => { if (mapped[i]!.status === "fulfilled") s.staging.unmap(); });
      const why = (mapped[failed] as PromiseRejectedResult).reason;
      throw fail(`WebGPU cannot read tensor ${staged[failed]!.t.name} back: ` +
        `${this.shared?.lostReason ?? errorText(why)}`);
    }
    for (const { into, twins, bytes, staging } of staged) {
      new Uint8Array(into.buffer, into.byteOffset, bytes)
        .set(new Uint8Array(staging.getMappedRange(0, staging.size), 0, bytes));
      staging.unmap();
      for (const twin of twins) twin.set(into);
    }
  }

  memoryBytes(): number {
    return this.pool?.bytes() ?? 0;
  }

  dispose(): void {
    this.pool?.dispose();
    this.plans = [];
    this.prog = null;
  }

  private requireProgram(): BundleProgram {
    if (!this.prog) throw fail("webgpu context: compile() has not run");
    return this.prog;
  }
}
