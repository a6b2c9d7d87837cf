/**
 * The WebGL2 backend context: fragment-shader kernels rendering into float textures.
 *
 * Storage (layout.ts): one texture per memory slot (sized for its largest tensor under the bound dims)
 * and one per weight, all float (int32 values are stored as exact floats up to 2^24).
 * Invariants:
 *   - programs are compiled and linked once (compile()); weights are uploaded once (upload());
 *   - slot textures are (re)allocated only in bind() when the dims change the size they need, and the
 *     old ones are deleted there, so repeated runs with the same dims allocate nothing;
 *   - a run never reads back between steps: read() is the only readPixels, once per requested output;
 *   - the context's one framebuffer is bound at compile() and stays bound (nothing else draws here);
 *   - a texture is never sampled by the draw that renders into it: the converter gives a node's
 *     outputs other slots than its inputs, and recurrences ping-pong between two textures (`swap`).
 * A draw covers the rows of its output texture(s): the whole tensor, or for "block" kernels the rows
 * of block u_iter. Loops follow the Program's one encoding (../loop.ts): a kernel with meta.loop
 * starts a body of `span` steps drawn `count` times with u_iter = 0, 1, ...; other steps draw once.
 */

import { GL } from "./gl.js";
import { evaluateExpr } from "../../bundle/expr.js";
import type { BundleProgram, StepSpec } from "../../bundle/reader.js";
import type { Dims } from "../../dims.js";
import { dimsKey } from "../../dims.js";
import type { BackendContext, Carry, DeviceLoop, HostArray } from "../backend.js";
import type { Extent, WebglMeta } from "./layout.js";
import { extentOf, readMeta, slotExtents } from "./layout.js";
import type { GlKernel } from "./shaders.js";
import { buildKernels, created } from "./shaders.js";
import { fail } from "../../fail.js";
import { checkOwnSteps, eachStep, loops, type Loop } from "../loop.js";
import { elemsOf, lost, newStats, ready, weightsOf } from "../common.js";

interface Texture extends Extent {
  handle: WebGLTexture;
  /** Elements per texel: 1 (R32F) or 4 (RGBA32F). */
  perTexel: number;
}

/** One draw's fixed inputs under the current binding (recomputed by bind()). */
interface Draw {
  kernel: GlKernel;
  params: number[];
  /** Tensor ids per binding, for even and odd iterations. */
  tensors: [number[], number[]];
  /** Elements of the first output tensor. */
  outElems: number;
}

// Every draw renders into textures: the canvas's own buffers are never used, so none are multisampled or
// have depth. A lost context is never restored (no webglcontextlost handler asks for that), so
// gl.isContextLost() stays true once it happened: checkLost() needs nothing else.
const ATTRIBUTES: WebGLContextAttributes = {
  antialias: false, depth: false, powerPreference: "high-performance",
};

export class WebglContext implements BackendContext {
  readonly name = "webgl";
  private gl: WebGL2RenderingContext | null = null;
  private prog: BundleProgram | null = null;
  private glMeta: WebglMeta | null = null;
  private glKernels: GlKernel[] = [];
  private framebuffer: WebGLFramebuffer | null = null;
  private maxTextureSize = 0;
  private maxDrawBuffers = 0;
  /** The most color attachments a draw has used: the ones past a draw's own are detached. */
  private maxAttached = 0;
  /** Weight textures by tensor id, slot textures by slot id. */
  private weightTextures: Texture[] = [];
  private slotTextures: Texture[] = [];
  private glLoops: Loop<Draw>[] = [];
  /** The symbol values of the last bind(); null before the first. */
  private boundKey: string | null = null;
  private scratch = new Float32Array(0);
  private boundDims: Dims = {};
  /** generate()'s history textures (ping-pong), tensor ids -1 and -2 for draw(). */
  private histTextures: Texture[] = [];
  readonly stats = newStats();

  async init(): Promise<void> {
    const canvas = typeof OffscreenCanvas != "undefined" ? new OffscreenCanvas(1, 1)
      : globalThis.document?.createElement("canvas");
    const gl = canvas?.getContext("webgl2", ATTRIBUTES) as WebGL2RenderingContext | null | undefined;
    if (!gl || gl.isContextLost()) {
      throw fail("WebGL2 is not available here (no OffscreenCanvas or DOM canvas, or getContext fails)");
    }
    if (!gl.getExtension("EXT_color_buffer_float")) {
      throw fail("WebGL2 lacks EXT_color_buffer_float here: float textures cannot be rendered to");
    }
    this.gl = gl;
    this.maxTextureSize = gl.getParameter(GL.MAX_TEXTURE_SIZE) as number;
    this.maxDrawBuffers = gl.getParameter(GL.MAX_DRAW_BUFFERS) as number;
    // blending is off by default; rows of float texels are whole words, so the default 4-byte
    // (un)pack alignment never pads
    gl.disable(GL.DITHER);
  }

  /** Distinct linked programs this model uses. */
  get pipelines(): number {
    return new Set(this.glKernels.map((k) => k.program)).size;
  }

  async compile(program: BundleProgram): Promise<void> {
    const gl = this.live;
    const meta = readMeta(program);
    if (meta.maxWidth > this.maxTextureSize) {
      throw fail(`the bundle's textures are up to ${meta.maxWidth} texels wide, over this device's ` +
        `${this.maxTextureSize}; re-convert with a smaller max texture width`);
    }
    this.glKernels = await buildKernels(gl, program.kernels);
    const wide = this.glKernels.find((k) => k.outputs.length > this.maxDrawBuffers);
    if (wide) {
      throw fail(`kernel ${wide.spec.name} renders ${wide.outputs.length} outputs, over this device's ` +
        `${this.maxDrawBuffers} draw buffers; use another backend`);
    }
    this.framebuffer = created(gl.createFramebuffer());
    gl.bindFramebuffer(GL.FRAMEBUFFER, this.framebuffer);
    this.prog = program;
    this.glMeta = meta;
    this.checkLost();
  }

  async upload(weights: Uint8Array): Promise<void> {
    const meta = this.texMeta;
    for (const t of weightsOf(this.compiled)) {
      const elems = elemsOf(t, {});   // inside the blob: parseBundle checked it
      const perTexel = meta.rgbaWeights.has(t.id) ? 4 : 1;
      const texture = this.newTexture(extentOf(Math.ceil(elems / perTexel), meta.maxWidth), perTexel,
        `weight ${t.name}`);
      const bytes = weights.slice(t.weightOffset, t.weightOffset + elems * 4).buffer;
      this.fillTexture(texture, t.dtype === "int32" ? new Int32Array(bytes) : new Float32Array(bytes));
      this.weightTextures[t.id] = texture;
    }
    this.scratch = new Float32Array(0);   // as large as the largest weight: not kept for the runs
    this.checkLost();
  }

  bind(dims: Dims): void {
    const program = this.compiled;
    const key = dimsKey(program.symbols, dims);
    if (key === this.boundKey) return;
    this.boundKey = null;   // until every slot has its texture for `dims` (newTexture may throw)
    slotExtents(program, this.texMeta, dims).forEach((extent, slot) => {
      const old = this.slotTextures[slot];
      if (old?.width === extent.width && old.height === extent.height) return;
      this.freeTexture(old);
      delete this.slotTextures[slot];   // a throw below must not leave the freed texture in place
      this.slotTextures[slot] = this.newTexture(extent, 1, `memory slot ${slot}`);
    });
    this.glLoops = loops(program.steps.map((s) => this.prepareDraw(s, dims)));
    this.boundKey = key;
    this.boundDims = { ...dims };
  }

  write(tensor: number, data: HostArray): void {
    // int32 values live in float textures, exact within +-2^24: beyond, an input would be rounded silently
    const i = data instanceof Int32Array ? data.findIndex((v) => v > 16777216 || v < -16777216) : -1;
    if (i >= 0) {
      throw fail(`input "${this.compiled.tensors[tensor]!.name}" holds ${data[i]} at index ${i}; WebGL ` +
        "holds int32 exactly within +-16777216 (2^24) only: use the wasm or webgpu backend");
    }
    this.fillTexture(this.textureOf(tensor), data);
  }

  async run(steps: readonly StepSpec[], _dims: Dims): Promise<void> {
    const gl = this.live;
    checkOwnSteps(steps, this.compiled.steps, "webgl");
    this.checkLost();
    eachStep(this.glLoops, (draw, iter, iterations) => this.draw(gl, draw, iter, iterations));
  }

  async read(tensor: number, into: HostArray): Promise<void> {
    this.readTexture(this.textureOf(tensor), into);
  }

  /** The outputs (one readPixels each), then the `carry` copies on the device (Runner.step()). */
  async readMany(reads: readonly { tensor: number; into: HostArray }[], carry: Carry = []): Promise<void> {
    for (const r of reads) this.readTexture(this.textureOf(r.tensor), r.into);
    for (const [from, to] of carry) this.copy(this.textureOf(from), this.textureOf(to), this.elems(from));
  }

  /** Texture copies of tensors (no readback), for Runner.getState(). */
  snapshot(tensors: readonly number[]): unknown[] {
    return tensors.map((t) => {
      const n = this.elems(t);
      const copy = this.newTexture(extentOf(n, this.texMeta.maxWidth), 1, "a state");
      this.copy(this.textureOf(t), copy, n);
      return copy;
    });
  }

  restore(tensors: readonly number[], saved: readonly unknown[]): void {
    tensors.forEach((t, i) => this.copy(saved[i] as Texture, this.textureOf(t), this.elems(t)));
  }

  free(saved: readonly unknown[]): void {
    saved.forEach((t) => this.freeTexture(t as Texture));
  }

  /**
   * Runner.generate(): per iteration the program's draws, the sampler's two (kernels/webgl/sample.glsl.j2:
   * the history with the next token, then the token input's window from it) and the state copies; the
   * history is read back once at the end.
   */
  async generate(g: DeviceLoop): Promise<Int32Array> {
    const gl = this.live, kernel = this.glKernels[g.kernel]!, n = g.hist.length + g.steps;
    const window = (kernel.spec.meta["generate"] as { window: number }).window, out = new Int32Array(n);
    this.histTextures = [0, 1].map(() => this.newTexture(extentOf(n, this.texMeta.maxWidth), 1, "tokens"));
    try {
      this.fillTexture(this.histTextures[0]!, g.hist);
      for (let i = 0; i < g.iterations; i++) {
        await this.run(this.compiled.steps, this.boundDims);
        const h = ~(i & 1), next = ~(~i & 1);      // tensor ids -1, -2: this.histTextures[0], [1]
        // the window reads the history only: the token input may share the scores' texture
        [[g.scores, h, next], [next, next, g.tokens]].forEach((tensors, mode) => this.draw(gl, { kernel,
          params: [...g.params, i + window, mode], tensors: [tensors, tensors],
          outElems: mode ? this.elems(g.tokens) : n }, 0, 1));
        await this.readMany([], g.carry);
      }
      this.readTexture(this.histTextures[g.iterations & 1]!, out);
      return out.subarray(g.hist.length);
    } finally {
      this.histTextures.forEach((t) => this.freeTexture(t));
      this.histTextures = [];
    }
  }

  /** Attaches `texture` to the framebuffer as its read buffer. */
  private attach(gl: WebGL2RenderingContext, texture: Texture): void {
    gl.framebufferTexture2D(GL.FRAMEBUFFER, GL.COLOR_ATTACHMENT0, GL.TEXTURE_2D, texture.handle, 0);
    gl.readBuffer(GL.COLOR_ATTACHMENT0);
  }

  /** Copies the first n texels of a linear-layout texture into another (both R32F, n within both). */
  private copy(from: Texture, to: Texture, n: number): void {
    const gl = this.live, w = this.texMeta.maxWidth;
    if (from === to || n === 0) return;
    this.attach(gl, from);
    gl.bindTexture(GL.TEXTURE_2D, to.handle);
    gl.copyTexSubImage2D(GL.TEXTURE_2D, 0, 0, 0, 0, 0, Math.min(n, w), Math.ceil(n / w));
  }

  private elems(tensor: number): number {
    return elemsOf(this.compiled.tensors[tensor]!, this.boundDims);
  }

  private readTexture(texture: Texture, into: HostArray): void {
    if (into.length === 0) return;
    const gl = this.live;
    const { width } = texture;
    const rows = Math.ceil(into.length / width);
    const pixels = this.stagingFor(width * rows * 4);
    this.attach(gl, texture);
    gl.readPixels(0, 0, width, rows, GL.RGBA, GL.FLOAT, pixels, 0);
    this.stats.readbacks++;
    this.checkLost();   // a lost context reads nothing
    const round = into instanceof Int32Array ? Math.round : Number;
    for (let i = 0; i < into.length; i++) into[i] = round(pixels[i * 4]!);
  }

  memoryBytes(): number {
    return [...this.weightTextures, ...this.slotTextures]
      .reduce((sum, t) => sum + (t ? t.width * t.height * t.perTexel * 4 : 0), 0);
  }

  dispose(): void {
    const gl = this.gl;
    if (gl && !gl.isContextLost()) {
      [...this.weightTextures, ...this.slotTextures].forEach((t) => this.freeTexture(t));
      this.glKernels.forEach((k) => gl.deleteProgram(k.program));
      gl.deleteFramebuffer(this.framebuffer);
      gl.getExtension("WEBGL_lose_context")?.loseContext();
    }
    this.weightTextures = [];
    this.slotTextures = [];
    this.glKernels = [];
    this.glLoops = [];
    this.prog = null;
    this.gl = null;
  }

  private prepareDraw(step: StepSpec, dims: Dims): Draw {
    const kernel = this.glKernels[step.kernel]!;
    const odd = [...step.tensors];
    for (const [a, b] of kernel.swap) [odd[a], odd[b]] = [odd[b]!, odd[a]!];
    return {
      kernel,
      params: step.params.map((e) => evaluateExpr(e, dims)),
      tensors: [step.tensors, odd],
      outElems: elemsOf(this.compiled.tensors[step.tensors[kernel.outputs[0]!]!]!, dims),
    };
  }

  private draw(gl: WebGL2RenderingContext, draw: Draw, iter: number, iterations: number): void {
    const k = draw.kernel;
    const tensors = draw.tensors[iter & 1];
    const width = this.textureOf(tensors[k.outputs[0]!]!).width;
    const elems = k.perBlock ? draw.outElems / Math.max(iterations, 1) : draw.outElems;
    if (elems === 0) return;
    const rows = Math.ceil(elems / width);
    const row0 = k.perBlock ? iter * rows : 0;
    gl.useProgram(k.program);
    const attachments: number[] = [];
    tensors.forEach((tensor, b) => {
      const texture = this.textureOf(tensor).handle, slot = k.slots[b]!, sampler = k.samplers[b];
      if (k.outputs.includes(b)) {
        gl.framebufferTexture2D(GL.FRAMEBUFFER, GL.COLOR_ATTACHMENT0 + slot, GL.TEXTURE_2D, texture, 0);
        attachments.push(GL.COLOR_ATTACHMENT0 + slot);
      } else if (sampler) {
        gl.activeTexture(GL.TEXTURE0 + slot);
        gl.bindTexture(GL.TEXTURE_2D, texture);
        gl.uniform1i(sampler, slot);
      }
    });
    // Attachments left over from a draw with more outputs must not stay bound.
    for (let a = attachments.length; a < this.maxAttached; a++) {
      gl.framebufferTexture2D(GL.FRAMEBUFFER, GL.COLOR_ATTACHMENT0 + a, GL.TEXTURE_2D, null, 0);
    }
    this.maxAttached = Math.max(this.maxAttached, attachments.length);
    gl.drawBuffers(attachments);
    // the sampler's params are uint (a seed, a float's bits); a null location (unused) sets nothing
    const set = k.spec.meta["generate"] ? gl.uniform1ui : gl.uniform1i;
    k.params.forEach((location, i) => set.call(gl, location, draw.params[i]!));
    [iter, row0, width, elems].forEach((value, i) => gl.uniform1i(k.frame[i]!, value));
    gl.viewport(0, row0, width, rows);
    gl.drawArrays(GL.TRIANGLES, 0, 3);
    this.stats.dispatches++;
  }

  private textureOf(tensor: number): Texture {
    if (tensor < 0) return this.histTextures[~tensor]!;
    const spec = this.compiled.tensors[tensor]!;   // parseBundle checked every tensor id
    const texture = spec.kind === "weight" ? this.weightTextures[tensor] : this.slotTextures[spec.slot];
    if (!texture) throw fail(`tensor ${spec.name} has no texture yet: bind() before write/run/read`);
    return texture;
  }

  private newTexture(extent: Extent, perTexel: number, what: string): Texture {
    const gl = this.live, max = this.maxTextureSize;
    if (extent.width > max || extent.height > max) {
      throw fail(`${what} needs a ${extent.width}x${extent.height} texture, over this device's ` +
        `${max}x${max}; use smaller inputs or another backend`);
    }
    const handle = created(gl.createTexture());
    gl.bindTexture(GL.TEXTURE_2D, handle);
    // float textures are not filterable: with the default (linear) filters they would be incomplete;
    // the kernels read them with texelFetch, so the wrap modes do not matter
    gl.texParameteri(GL.TEXTURE_2D, GL.TEXTURE_MIN_FILTER, GL.NEAREST);
    gl.texParameteri(GL.TEXTURE_2D, GL.TEXTURE_MAG_FILTER, GL.NEAREST);
    gl.texStorage2D(GL.TEXTURE_2D, 1, perTexel > 1 ? GL.RGBA32F : GL.R32F, extent.width, extent.height);
    return { ...extent, handle, perTexel };
  }

  private freeTexture(texture: Texture | undefined): void {
    if (texture) this.gl?.deleteTexture(texture.handle);
  }

  /** Uploads `values` into the first rows of `texture`, padded with zeros to whole rows. */
  private fillTexture(texture: Texture, values: HostArray): void {
    const { width, perTexel } = texture;
    const rows = Math.ceil(values.length / perTexel / width);
    const staging = this.stagingFor(width * rows * perTexel), gl = this.live;
    staging.set(values);
    staging.fill(0, values.length);
    gl.bindTexture(GL.TEXTURE_2D, texture.handle);
    gl.texSubImage2D(GL.TEXTURE_2D, 0, 0, 0, width, rows, perTexel > 1 ? GL.RGBA : GL.RED, GL.FLOAT,
      staging, 0);
  }

  private stagingFor(length: number): Float32Array {
    if (this.scratch.length < length) this.scratch = new Float32Array(length);
    return this.scratch.length === length ? this.scratch : this.scratch.subarray(0, length);
  }

  private checkLost(): void {
    if (this.gl?.isContextLost()) throw lost("the WebGL context");
  }

  /** The context (init() ran, not disposed). */
  private get live(): WebGL2RenderingContext {
    return ready(this.gl, "webgl");
  }

  /** The program compile() took (throws before compile() and after dispose()). */
  private get compiled(): BundleProgram {
    return ready(this.prog, "webgl");
  }

  private get texMeta(): WebglMeta {
    return ready(this.glMeta, "webgl");
  }
}
