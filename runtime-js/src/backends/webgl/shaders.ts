/**
 * Compiling and linking the bundle's fragment shaders, once, at load.
 *
 * Every kernel is drawn as one triangle covering the viewport (no vertex buffers: positions come from
 * gl_VertexID). All programs are submitted first; with KHR_parallel_shader_compile they are polled until
 * the driver finishes them, so compilation overlaps instead of blocking the page per shader.
 */

import { GL } from "./gl.js";
import type { KernelSpec } from "../../bundle/reader.js";
import type { LoopMeta } from "../loop.js";
import { kernelLoop } from "../loop.js";
import { fail } from "../../fail.js";
import { lost } from "../common.js";

const VERTEX_SHADER = `#version 300 es
void main() {
  vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
  gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
`;

const COMPLETION_STATUS_KHR = 0x91b1;

/** The uniforms every draw sets (draw() in context.ts, in this order): iteration, first row, output size. */
const FRAME_UNIFORMS = ["u_iter", "u_row0", "u_out_w", "u_out_n"];

/** A linked kernel with the uniform locations the context sets (null: the shader does not use it). */
export interface GlKernel {
  spec: KernelSpec;
  program: WebGLProgram;
  /** Per binding: the sampler location (null for writes). */
  samplers: (WebGLUniformLocation | null)[];
  /** Per binding: its texture unit (reads) or color attachment (writes). */
  slots: number[];
  outputs: number[];
  params: (WebGLUniformLocation | null)[];
  /** FRAME_UNIFORMS' locations. */
  frame: (WebGLUniformLocation | null)[];
  /** Whether a draw covers only the rows of block u_iter ("block" region), not the whole output. */
  perBlock: boolean;
  /** Pairs of binding indices whose tensors trade places on odd iterations. */
  swap: [number, number][];
  /** The loop this kernel starts (meta.loop), or null. */
  loop: LoopMeta | null;
}

/** `handle`, else the lost-context error: WebGL's create* calls return null only on a lost context. */
export function created<T>(handle: T | null): T {
  if (handle === null) throw lost("the WebGL context");
  return handle;
}

/** Compiles and links every kernel; throws naming the kernel and the driver's log on failure. */
export async function buildKernels(gl: WebGL2RenderingContext,
  kernels: readonly KernelSpec[]): Promise<GlKernel[]> {
  const vertex = compileShader(gl, GL.VERTEX_SHADER, VERTEX_SHADER);
  const pending = kernels.map((spec) => {
    const fragment = compileShader(gl, GL.FRAGMENT_SHADER, spec.source);
    const program = created(gl.createProgram());
    gl.attachShader(program, vertex);
    gl.attachShader(program, fragment);
    gl.linkProgram(program);
    return { spec, program, fragment };
  });
  if (gl.getExtension("KHR_parallel_shader_compile")) {
    while (!pending.every((p) => gl.getProgramParameter(p.program, COMPLETION_STATUS_KHR))) {
      if (gl.isContextLost()) throw lost("the WebGL context");
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }
  const built = pending.map(({ spec, program, fragment }) => {
    if (!gl.getProgramParameter(program, GL.LINK_STATUS)) {
      const log = gl.getShaderInfoLog(fragment) || gl.getProgramInfoLog(program) || "no log";
      throw fail(`WebGL cannot compile kernel ${spec.name} (${spec.entry}): ${log.trim().split("\n")[0]}`);
    }
    gl.deleteShader(fragment);
    return locate(gl, spec, program);
  });
  gl.deleteShader(vertex);
  return built;
}

function compileShader(gl: WebGL2RenderingContext, type: number, source: string): WebGLShader {
  const shader = created(gl.createShader(type));
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  return shader;
}

function locate(gl: WebGL2RenderingContext, spec: KernelSpec, program: WebGLProgram): GlKernel {
  const uniform = (name: string) => gl.getUniformLocation(program, name);
  const reads = (b: { access: string }) => b.access === "read";
  const outputs: number[] = [];
  let units = 0;
  // reads take texture units 0, 1, ...; writes color attachments 0, 1, ... (their index in outputs)
  const slots = spec.bindings.map((b, i) => (reads(b) ? units++ : outputs.push(i) - 1));
  if (!outputs.length) throw fail(`kernel ${spec.name} has no output binding (read_write)`);
  const meta = spec.meta as { region?: string; swap?: [number, number][] };
  return {
    spec, program, slots, outputs,
    samplers: spec.bindings.map((b) => (reads(b) ? uniform(b.name) : null)),
    params: spec.params.map(uniform),
    frame: FRAME_UNIFORMS.map(uniform),
    perBlock: meta.region === "block",
    swap: meta.swap ?? [],
    loop: kernelLoop(spec),
  };
}
