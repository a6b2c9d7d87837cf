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
 *   - a texture is never sampled by the draw that renders into it: the converter gives a node's
 *     outputs other slots than its inputs, and recurrences ping-pong between two textures (`swap`).
 * A draw covers the rows of its output texture(s): the whole tensor, or for "block" kernels the rows
 * of block u_iter. Loops follow the Program's one encoding (../loop.ts): a kernel with meta.loop
 * starts a body of `span` steps drawn `count` times with u_iter = 0, 1, ...; other steps draw once.
 */

import { GL } from "./gl.js";
import { evaluateExpr } from "../../bundle/expr.js";
import type { BundleProgram, StepSpec, TensorSpec } from "../../bundle/reader.js";
import type { Dims } from "../../dims.js";
import { dimsKey } from "../../dims.js";
import type { BackendContext, Carry, DeviceLoop, HostArray } from "../backend.js";
import type { Extent, TextureFormat, WebglMeta } from "./layout.js";
import { linearExtent, readMeta, slotExtents } from "./layout.js";
import type { GlKernel } from "./shaders.js";
import { buildKernels } from "./shaders.js";
import { fail } from "../../fail.js";
import { checkOwnSteps } from "../loop.js";

interface Texture {
  handle: WebGLTexture;
  extent: Extent;
  format: TextureFormat;
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

interface Loop {
  iterations: number;
  draws: Draw[];
}

const ATTRIBUTES: WebGLContextAttributes = {
  alpha: false, antialias: false, depth: false, stencil: false, premultipliedAlpha: false,
  preserveDrawingBuffer: false, powerPreference: "high-performance",
};

export class WebglContext implements BackendContext {
  readonly name = "webgl";
  private gl: WebGL2RenderingContext | null = null;
  private canvas: OffscreenCanvas | HTMLCanvasElement | null = null;
  private contextLost = false;
  private prog: BundleProgram | null = null;
  private glMeta: WebglMeta | null = null;
  private glKernels: GlKernel[] = [];
  private framebuffer: WebGLFramebuffer | null = null;
  private maxTextureSize = 0;
  private maxDrawBuffers = 0;
  /** The most color attachments a draw has used: the ones past a draw's own are detached. */
  private maxAttached = 0;
  private weightTextures = new Map<number, Texture>();
  private slotTextures: (Texture | null)[] = [];
  private tensorsById: TensorSpec[] = [];
  private loops: Loop[] = [];
  /** The symbol values of the last bind(); null before the first. */
  private boundKey: string | null = null;
  private scratch = new Float32Array(0);
  private boundDims: Dims = {};
  /** generate()'s history textures (ping-pong), tensor ids -1 and -2 for draw(). */
  private histTextures: Texture[] = [];
  readonly stats = { dispatches: 0, submits: 0, readbacks: 0 };

  async init(): Promise<void> {
    const canvas = typeof OffscreenCanvas !== "undefined" ? new OffscreenCanvas(1, 1)
      : typeof document !== "undefined" ? document.createElement("canvas") : null;
    if (canvas === null) throw fail("WebGL2 needs OffscreenCanvas or a DOM canvas; neither exists here");
    const gl = canvas.getContext("webgl2", ATTRIBUTES) as WebGL2RenderingContext | null;
    if (gl === null) {
      throw fail("WebGL2 is not available in this browser (getContext(\"webgl2\") failed)");
    }
    if (gl.isContextLost()) throw fail("the WebGL2 context was lost at creation");
    if (gl.getExtension("EXT_color_buffer_float") === null) {
      throw fail("WebGL2 lacks EXT_color_buffer_float: float textures cannot be rendered to here");
    }
    canvas.addEventListener("webglcontextlost", (event: Event) => {
      event.preventDefault();
      this.contextLost = true;
    });
    this.canvas = canvas;
    this.gl = gl;
    this.maxTextureSize = gl.getParameter(GL.MAX_TEXTURE_SIZE) as number;
    this.maxDrawBuffers = gl.getParameter(GL.MAX_DRAW_BUFFERS) as number;
    gl.disable(GL.DITHER);
    gl.disable(GL.BLEND);
    gl.pixelStorei(GL.UNPACK_ALIGNMENT, 1);
    gl.pixelStorei(GL.PACK_ALIGNMENT, 1);
  }

  /** Distinct linked programs this model uses. */
  get pipelines(): number {
    return new Set(this.glKernels.map((k) => k.program)).size;
  }

  async compile(program: BundleProgram): Promise<void> {
    const gl = this.requireGl();
    const meta = readMeta(program);
    if (meta.maxWidth > this.maxTextureSize) {
      throw fail(`the bundle uses textures up to ${meta.maxWidth} texels wide but this device allows ` +
        `${this.maxTextureSize}; re-convert with a smaller max texture width`);
    }
    this.glKernels = await buildKernels(gl, program.kernels);
    for (const k of this.glKernels) {
      if (k.outputs.length > this.maxDrawBuffers) {
        throw fail(`kernel ${k.spec.name} renders ${k.outputs.length} outputs; this device allows ` +
          `${this.maxDrawBuffers} draw buffers`);
      }
    }
    this.framebuffer = gl.createFramebuffer();
    this.prog = program;
    this.glMeta = meta;
    this.tensorsById = [];
    for (const t of program.tensors) this.tensorsById[t.id] = t;
    this.slotTextures = program.slots.map(() => null);
    this.checkLost("compiling the shaders");
  }

  async upload(weights: Uint8Array): Promise<void> {
    const gl = this.requireGl();
    const program = this.requireProgram();
    for (const t of program.tensors) {
      if (t.kind !== "weight") continue;
      const elems = evaluateExpr(t.nbytesExpr, {}) / 4;   // inside the blob: parseBundle checked it
      const format: TextureFormat = this.glMeta!.rgbaWeights.has(t.id) ? "RGBA32F" : "R32F";
      const perTexel = format === "RGBA32F" ? 4 : 1;
      const texture = this.newTexture(linearExtent(Math.ceil(elems / perTexel), this.glMeta!.maxWidth),
        format, `weight ${t.name}`);
      const bytes = weights.slice(t.weightOffset, t.weightOffset + elems * 4).buffer;
      const values = t.dtype === "int32" ? Float32Array.from(new Int32Array(bytes)) : new Float32Array(bytes);
      this.fillTexture(texture, values);
      this.weightTextures.set(t.id, texture);
    }
    this.checkLost("uploading the weights");
  }

  bind(dims: Dims): void {
    const program = this.requireProgram();
    const key = dimsKey(program.symbols, dims);
    if (key === this.boundKey) return;
    const extents = slotExtents(program, this.glMeta!, dims);
    extents.forEach((extent, slot) => {
      const old = this.slotTextures[slot];
      if (old && old.extent.width === extent.width && old.extent.height === extent.height) return;
      if (old) this.freeTexture(old);
      this.slotTextures[slot] = this.newTexture(extent, "R32F", `memory slot ${slot}`);
    });
    this.loops = this.schedule(program.steps, dims);
    this.boundKey = key;
    this.boundDims = { ...dims };
  }

  write(tensor: number, data: HostArray): void {
    const texture = this.textureOf(tensor);
    if (data.length === 0) return;
    const gl = this.requireGl();
    const { width } = texture.extent;
    const rows = Math.ceil(data.length / width);
    const staging = this.stagingFor(width * rows);
    staging.set(data);
    if (staging.length > data.length) staging.fill(0, data.length, width * rows);
    gl.bindTexture(GL.TEXTURE_2D, texture.handle);
    gl.texSubImage2D(GL.TEXTURE_2D, 0, 0, 0, width, rows, GL.RED, GL.FLOAT, staging, 0);
  }

  async run(steps: readonly StepSpec[], _dims: Dims): Promise<void> {
    const gl = this.requireGl();
    const program = this.requireProgram();
    checkOwnSteps(steps, program.steps, "webgl");
    this.checkLost("running");
    gl.bindFramebuffer(GL.FRAMEBUFFER, this.framebuffer);
    for (const loop of this.loops) {
      for (let iter = 0; iter < loop.iterations; iter++) {
        for (const draw of loop.draws) this.draw(gl, draw, iter, loop.iterations);
      }
    }
    gl.bindFramebuffer(GL.FRAMEBUFFER, null);
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
      const copy = this.newTexture(linearExtent(n, this.glMeta!.maxWidth), "R32F", "a state");
      this.copy(this.textureOf(t), copy, n);
      return copy;
    });
  }

  restore(tensors: readonly number[], saved: readonly unknown[]): void {
    tensors.forEach((t, i) => this.copy(saved[i] as Texture, this.textureOf(t), this.elems(t)));
  }

  free(saved: readonly unknown[]): void {
    saved.forEach((t) => this.gl?.deleteTexture((t as Texture).handle));
  }

  /**
   * Runner.generate(): per iteration the program's draws, the sampler's two (kernels/webgl/sample.glsl.j2:
   * the history with the next token, then the token input's window from it) and the state copies; the
   * history is read back once at the end.
   */
  async generate(g: DeviceLoop): Promise<Int32Array> {
    const gl = this.requireGl(), kernel = this.glKernels[g.kernel]!, n = g.hist.length + g.steps;
    const window = (kernel.spec.meta["generate"] as { window: number }).window, out = new Int32Array(n);
    this.histTextures = [0, 1].map(() => this.newTexture(linearExtent(n, this.glMeta!.maxWidth), "R32F", "tokens"));
    try {
      this.fillTexture(this.histTextures[0]!, Float32Array.from(g.hist));
      for (let i = 0; i < g.iterations; i++) {
        await this.run(this.prog!.steps, this.boundDims);
        const h = ~(i & 1), next = ~(~i & 1);      // tensor ids -1, -2: this.histTextures[0], [1]
        gl.bindFramebuffer(GL.FRAMEBUFFER, this.framebuffer);
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

  /** Binds the framebuffer with `texture` as its read buffer. */
  private attach(gl: WebGL2RenderingContext, texture: Texture): void {
    gl.bindFramebuffer(GL.FRAMEBUFFER, this.framebuffer);
    gl.framebufferTexture2D(GL.FRAMEBUFFER, GL.COLOR_ATTACHMENT0, GL.TEXTURE_2D, texture.handle, 0);
    gl.readBuffer(GL.COLOR_ATTACHMENT0);
  }

  /** Copies the first n texels of a linear-layout texture into another (both R32F, n within both). */
  private copy(from: Texture, to: Texture, n: number): void {
    const gl = this.requireGl(), w = this.glMeta!.maxWidth;
    if (from === to || n === 0) return;
    this.attach(gl, from);
    gl.bindTexture(GL.TEXTURE_2D, to.handle);
    gl.copyTexSubImage2D(GL.TEXTURE_2D, 0, 0, 0, 0, 0, Math.min(n, w), Math.ceil(n / w));
  }

  private elems(tensor: number): number {
    return evaluateExpr(this.tensorsById[tensor]!.nbytesExpr, this.boundDims) / 4;
  }

  private readTexture(texture: Texture, into: HostArray): void {
    if (into.length === 0) return;
    const gl = this.requireGl();
    this.checkLost("reading an output");
    const { width } = texture.extent;
    const rows = Math.ceil(into.length / width);
    const pixels = this.stagingFor(width * rows * 4);
    this.attach(gl, texture);
    gl.readPixels(0, 0, width, rows, GL.RGBA, GL.FLOAT, pixels, 0);
    this.stats.readbacks++;
    gl.bindFramebuffer(GL.FRAMEBUFFER, null);
    this.checkLost("reading an output");
    if (into instanceof Int32Array) {
      for (let i = 0; i < into.length; i++) into[i] = Math.round(pixels[i * 4]!);
    } else {
      for (let i = 0; i < into.length; i++) into[i] = pixels[i * 4]!;
    }
  }

  memoryBytes(): number {
    let bytes = 0;
    const add = (t: Texture | null) => {
      if (t) bytes += t.extent.width * t.extent.height * (t.format === "RGBA32F" ? 16 : 4);
    };
    this.weightTextures.forEach(add);
    this.slotTextures.forEach(add);
    return bytes;
  }

  dispose(): void {
    const gl = this.gl;
    if (gl !== null && !gl.isContextLost()) {
      this.weightTextures.forEach((t) => gl.deleteTexture(t.handle));
      this.slotTextures.forEach((t) => { if (t) gl.deleteTexture(t.handle); });
      this.glKernels.forEach((k) => gl.deleteProgram(k.program));
      if (this.framebuffer) gl.deleteFramebuffer(this.framebuffer);
      gl.getExtension("WEBGL_lose_context")?.loseContext();
    }
    this.weightTextures.clear();
    this.slotTextures = [];
    this.glKernels = [];
    this.loops = [];
    this.prog = null;
    this.gl = null;
    this.canvas = null;
  }

  /** Loops of draws for `dims`: a step whose kernel has meta.loop starts a body of `span` steps. */
  private schedule(steps: readonly StepSpec[], dims: Dims): Loop[] {
    const loops: Loop[] = [];
    for (let i = 0; i < steps.length;) {
      const first = this.prepareDraw(steps[i]!, dims);
      const loop = first.kernel.loop;
      const span = loop ? loop.span : 1;   // parseBundle checked that the loop's steps exist
      const iterations = loop ? first.params[first.kernel.spec.params.indexOf(loop.count)]! : 1;
      const rest = steps.slice(i + 1, i + span).map((s) => this.prepareDraw(s, dims));
      loops.push({ iterations, draws: [first, ...rest] });
      i += span;
    }
    return loops;
  }

  private prepareDraw(step: StepSpec, dims: Dims): Draw {
    const kernel = this.glKernels[step.kernel]!;
    const odd = [...step.tensors];
    for (const [a, b] of kernel.swap) [odd[a], odd[b]] = [odd[b]!, odd[a]!];
    const out = this.tensorsById[step.tensors[kernel.outputs[0]!]!]!;
    return {
      kernel,
      params: step.params.map((e) => evaluateExpr(e, dims)),
      tensors: [step.tensors, odd],
      outElems: evaluateExpr(out.nbytesExpr, dims) / 4,
    };
  }

  private draw(gl: WebGL2RenderingContext, draw: Draw, iter: number, iterations: number): void {
    const k = draw.kernel;
    const tensors = draw.tensors[iter & 1];
    const first = this.textureOf(tensors[k.outputs[0]!]!);
    const width = first.extent.width;
    const elems = k.region === "block" ? draw.outElems / Math.max(iterations, 1) : draw.outElems;
    if (elems === 0) return;
    const rows = Math.ceil(elems / width);
    const row0 = k.region === "block" ? iter * rows : 0;
    gl.useProgram(k.program);
    const attachments: number[] = [];
    for (let b = 0; b < tensors.length; b++) {
      const texture = this.textureOf(tensors[b]!);
      if (k.spec.bindings[b]!.access === "read") {
        const location = k.samplers[b];
        if (location === null || location === undefined) continue;
        gl.activeTexture(GL.TEXTURE0 + k.slots[b]!);
        gl.bindTexture(GL.TEXTURE_2D, texture.handle);
        gl.uniform1i(location, k.slots[b]!);
      } else {
        const attachment = GL.COLOR_ATTACHMENT0 + k.slots[b]!;
        gl.framebufferTexture2D(GL.FRAMEBUFFER, attachment, GL.TEXTURE_2D, texture.handle, 0);
        attachments.push(attachment);
      }
    }
    // Attachments left over from a draw with more outputs must not stay bound.
    for (let a = attachments.length; a < this.maxAttached; a++) {
      gl.framebufferTexture2D(GL.FRAMEBUFFER, GL.COLOR_ATTACHMENT0 + a, GL.TEXTURE_2D, null, 0);
    }
    this.maxAttached = Math.max(this.maxAttached, attachments.length);
    gl.drawBuffers(attachments);
    // the sampler's params are uint (a seed, a float's bits)
    const set = (k.spec.meta["generate"] ? gl.uniform1ui : gl.uniform1i).bind(gl);
    k.params.forEach((location, i) => { if (location !== null) set(location, draw.params[i]!); });
    if (k.iter !== null) gl.uniform1i(k.iter, iter);
    if (k.row0 !== null) gl.uniform1i(k.row0, row0);
    if (k.outW !== null) gl.uniform1i(k.outW, width);
    if (k.outN !== null) gl.uniform1i(k.outN, elems);
    gl.viewport(0, row0, width, rows);
    gl.drawArrays(GL.TRIANGLES, 0, 3);
    this.stats.dispatches++;
  }

  private textureOf(tensor: number): Texture {
    if (tensor < 0) return this.histTextures[~tensor]!;
    const spec = this.tensorsById[tensor]!;   // parseBundle checked every tensor id
    const texture = spec.kind === "weight" ? this.weightTextures.get(tensor) : this.slotTextures[spec.slot];
    if (!texture) throw fail(`tensor ${spec.name} has no texture yet (bind() before write/run/read)`);
    return texture;
  }

  private newTexture(extent: Extent, format: TextureFormat, what: string): Texture {
    const gl = this.requireGl();
    if (extent.width > this.maxTextureSize || extent.height > this.maxTextureSize) {
      throw fail(`${what} needs a ${extent.width}x${extent.height} texture; this device allows ` +
        `${this.maxTextureSize}x${this.maxTextureSize} (use smaller inputs or another backend)`);
    }
    const handle = gl.createTexture();
    if (handle === null) throw fail(`WebGL cannot create a texture for ${what} (context lost?)`);
    gl.bindTexture(GL.TEXTURE_2D, handle);
    for (const [name, value] of [[GL.TEXTURE_MIN_FILTER, GL.NEAREST], [GL.TEXTURE_MAG_FILTER, GL.NEAREST],
      [GL.TEXTURE_WRAP_S, GL.CLAMP_TO_EDGE], [GL.TEXTURE_WRAP_T, GL.CLAMP_TO_EDGE]]) {
      gl.texParameteri(GL.TEXTURE_2D, name!, value!);
    }
    const internal = format === "RGBA32F" ? GL.RGBA32F : GL.R32F;
    gl.texStorage2D(GL.TEXTURE_2D, 1, internal, extent.width, extent.height);
    return { handle, extent, format };
  }

  private freeTexture(texture: Texture): void {
    this.gl?.deleteTexture(texture.handle);
  }

  /** Uploads `values` (padded with zeros to whole rows) into a freshly created texture. */
  private fillTexture(texture: Texture, values: Float32Array): void {
    const gl = this.requireGl();
    const perTexel = texture.format === "RGBA32F" ? 4 : 1;
    const { width, height } = texture.extent;
    const padded = new Float32Array(width * height * perTexel);
    padded.set(values);
    gl.bindTexture(GL.TEXTURE_2D, texture.handle);
    const layout = perTexel === 4 ? GL.RGBA : GL.RED;
    gl.texSubImage2D(GL.TEXTURE_2D, 0, 0, 0, width, height, layout, GL.FLOAT, padded, 0);
  }

  private stagingFor(length: number): Float32Array {
    if (this.scratch.length < length) this.scratch = new Float32Array(length);
    return this.scratch.length === length ? this.scratch : this.scratch.subarray(0, length);
  }

  private checkLost(what: string): void {
    if (this.contextLost || (this.gl !== null && this.gl.isContextLost())) {
      this.contextLost = true;
      throw fail(`the WebGL context was lost while ${what}; ` +
        "load the model again (or use another backend)");
    }
  }

  private requireGl(): WebGL2RenderingContext {
    if (this.gl === null) {
      throw fail("the webgl context is not initialized (init() first) or was disposed");
    }
    return this.gl;
  }

  private requireProgram(): BundleProgram {
    if (this.prog === null || this.glMeta === null) throw fail("the webgl context is not compiled");
    return this.prog;
  }
}
