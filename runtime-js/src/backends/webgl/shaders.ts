/**
 * Compiling and linking the bundle's fragment shaders, once, at load.
 *
 * Every kernel is drawn as one triangle covering the viewport (no vertex buffers: positions come from
 * gl_VertexID). With KHR_parallel_shader_compile all programs are submitted first and polled until the
 * driver finishes them, so compilation overlaps instead of blocking the page per shader.
 */

import { GL } from "./gl.js";
import type { KernelSpec } from "../../bundle/reader.js";
import type { LoopMeta } from "../loop.js";
import { kernelLoop } from "../loop.js";
import { fail } from "../../fail.js";

const VERTEX_SHADER = `#version 300 es
void main() {
  vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
  gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
`;

const COMPLETION_STATUS_KHR = 0x91b1;

/** A linked kernel with the uniform locations the context sets. */
export interface GlKernel {
  spec: KernelSpec;
  program: WebGLProgram;
  /** Per binding: the sampler location (read bindings; null when the shader does not use it). */
  samplers: (WebGLUniformLocation | null)[];
  /** Per binding: its texture unit (reads) or color attachment (writes). */
  slots: number[];
  outputs: number[];
  params: (WebGLUniformLocation | null)[];
  iter: WebGLUniformLocation | null;
  row0: WebGLUniformLocation | null;
  outW: WebGLUniformLocation | null;
  outN: WebGLUniformLocation | null;
  region: "whole" | "block";
  /** Pairs of binding indices whose tensors trade places on odd iterations. */
  swap: [number, number][];
  /** The loop this kernel starts (meta.loop), or null. */
  loop: LoopMeta | null;
}

/** Compiles and links every kernel; throws naming the kernel and the driver's log on failure. */
export async function buildKernels(gl: WebGL2RenderingContext,
  kernels: readonly KernelSpec[]): Promise<GlKernel[]> {
  const parallel = gl.getExtension("KHR_parallel_shader_compile") !== null;
  const vertex = compileShader(gl, GL.VERTEX_SHADER, VERTEX_SHADER);
  const pending = kernels.map((spec) => {
    const fragment = compileShader(gl, GL.FRAGMENT_SHADER, spec.source);
    const program = gl.createProgram();
    if (program === null) throw fail("WebGL cannot create a shader program (context lost?)");
    gl.attachShader(program, vertex);
    gl.attachShader(program, fragment);
    gl.linkProgram(program);
    return { spec, program, fragment };
  });
  if (parallel) {
    while (!pending.every((p) => gl.getProgramParameter(p.program, COMPLETION_STATUS_KHR) === true)) {
      if (gl.isContextLost()) throw fail("the WebGL context was lost while compiling shaders");
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }
  const built = pending.map((p) => {
    if (!gl.getProgramParameter(p.program, GL.LINK_STATUS)) {
      const log = gl.getShaderInfoLog(p.fragment) || gl.getProgramInfoLog(p.program) || "no log";
      const first = log.trim().split("\n")[0];
      throw fail(`WebGL cannot compile kernel ${p.spec.name} (${p.spec.entry}): ${first}`);
    }
    gl.deleteShader(p.fragment);
    return locate(gl, p.spec, p.program);
  });
  gl.deleteShader(vertex);
  return built;
}

function compileShader(gl: WebGL2RenderingContext, type: number, source: string): WebGLShader {
  const shader = gl.createShader(type);
  if (shader === null) throw fail("WebGL cannot create a shader (context lost?)");
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  return shader;
}

function locate(gl: WebGL2RenderingContext, spec: KernelSpec, program: WebGLProgram): GlKernel {
  let unit = 0;
  let attachment = 0;
  const samplers: (WebGLUniformLocation | null)[] = [];
  const slots: number[] = [];
  const outputs: number[] = [];
  const uniform = (name: string) => gl.getUniformLocation(program, name);
  spec.bindings.forEach((b, i) => {
    if (b.access === "read") {
      samplers.push(uniform(b.name));
      slots.push(unit++);
    } else {
      samplers.push(null);
      slots.push(attachment++);
      outputs.push(i);
    }
  });
  if (outputs.length === 0) throw fail(`kernel ${spec.name} has no output binding (read_write)`);
  const meta = spec.meta as { region?: string; swap?: [number, number][] };
  return {
    spec, program, samplers, slots, outputs,
    params: spec.params.map(uniform),
    iter: uniform("u_iter"),
    row0: uniform("u_row0"),
    outW: uniform("u_out_w"),
    outN: uniform("u_out_n"),
    region: meta.region === "block" ? "block" : "whole",
    swap: meta.swap ?? [],
    loop: kernelLoop(spec),
  };
}
