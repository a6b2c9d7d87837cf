/**
 * Compute pipelines, created once per kernel and shared by every runner on the page. The key is the
 * kernel's entry point, which the converter derives from a hash of the source and metadata
 * (converter/backends/webgpu/emit.py), so equal keys mean equal kernels. Layouts come only from the
 * kernel's metadata: storage bindings 0..n-1 (read -> read-only-storage), then the uniform params at
 * meta.params_binding, with a dynamic offset when the kernel is repeated (meta.loop).
 */

import type { KernelSpec } from "../../bundle/reader.js";
import type { LoopMeta } from "../loop.js";
import { kernelLoop } from "../loop.js";
import type { GpuBindGroupLayout, GpuBindGroupLayoutEntry, GpuComputePipeline, GpuDevice }
  from "./gpu-types.js";
import { SHADER_STAGE_COMPUTE } from "./gpu-types.js";
import { errorText, fail } from "../../fail.js";

export interface CompiledKernel {
  spec: KernelSpec;
  pipeline: GpuComputePipeline;
  layout: GpuBindGroupLayout;
  paramsBinding: number | null;
  loop: LoopMeta | null;
}

const caches = new WeakMap<GpuDevice, Map<string, Promise<CompiledKernel>>>();
/** Pipelines built on this page so far (a kernel found in the cache builds none). */
export let pipelinesBuilt = 0;

function layoutEntries(spec: KernelSpec, paramsBinding: number | null, loop: boolean) {
  const entries: GpuBindGroupLayoutEntry[] = spec.bindings.map((b, binding) => ({
    binding, visibility: SHADER_STAGE_COMPUTE,
    buffer: { type: b.access === "read" ? "read-only-storage" : "storage" },
  }));
  if (paramsBinding !== null) {
    entries.push({ binding: paramsBinding, visibility: SHADER_STAGE_COMPUTE,
      buffer: { type: "uniform", hasDynamicOffset: loop } });
  }
  return entries;
}

async function build(device: GpuDevice, spec: KernelSpec): Promise<CompiledKernel> {
  const raw = spec.meta["params_binding"], label = spec.name;
  const paramsBinding = typeof raw === "number" ? raw : null;
  if ((paramsBinding === null) !== (spec.params.length === 0)) {
    throw fail(`kernel ${label}: meta.params_binding ${raw} does not match its ${spec.params.length} ` +
      "params; re-convert the model");
  }
  const loop = kernelLoop(spec);
  // Validation errors of shader modules and pipelines are caught here, at load, so that the runner
  // can fall back to another backend instead of failing at the first run.
  device.pushErrorScope("validation");
  const module = device.createShaderModule({ label, code: spec.source });
  const layout = device.createBindGroupLayout({ label, entries: layoutEntries(spec, paramsBinding, !!loop) });
  let failure: unknown = null;
  const pipeline = await device.createComputePipelineAsync({
    label,
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: spec.entry },
  }).catch((err: unknown) => { failure = err; });
  const scoped = await device.popErrorScope();
  if (!pipeline || scoped) {
    const { messages } = await module.getCompilationInfo();
    const errors = messages.filter((m) => m.type === "error").map((m) => `line ${m.lineNum}: ${m.message}`);
    const why = errors.join("; ") || scoped?.message || errorText(failure);
    throw fail(`WebGPU cannot build kernel ${label} (${spec.entry}): ${why}`);
  }
  return { spec, pipeline, layout, paramsBinding, loop };
}

/** The pipeline for `spec` on `device`, built on first request (concurrent requests share it). */
export function compiledKernel(device: GpuDevice, spec: KernelSpec): Promise<CompiledKernel> {
  const cache = caches.get(device) ?? new Map<string, Promise<CompiledKernel>>();
  caches.set(device, cache);
  let entry = cache.get(spec.entry);
  if (!entry) {
    pipelinesBuilt++;
    entry = build(device, spec);
    cache.set(spec.entry, entry);
    entry.catch(() => cache.delete(spec.entry));
  }
  return entry;
}

/** How many pipelines the page's cache holds for `device` (tests check sharing across runners). */
export function cachedPipelineCount(device: GpuDevice): number {
  return caches.get(device)?.size ?? 0;
}
