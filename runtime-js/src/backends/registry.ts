/**
 * Backends by name. The runner looks each entry of backendOrder up here; a name without a factory is
 * skipped with the reason "not built into this runtime". Backends register here (webgpu and webgl add
 * their factories next to wasm's).
 */

import type { BackendFactory } from "./backend.js";
import { WasmContext } from "./wasm/context.js";
import { WebGpuContext } from "./webgpu/context.js";
import { WebglContext } from "./webgl/context.js";
import { fail } from "../fail.js";

const factories = new Map<string, BackendFactory>([
  ["webgpu", () => new WebGpuContext()],
  ["webgl", () => new WebglContext()],
  ["wasm", (options) => new WasmContext(options)],
]);

/** The order load() tries when no backendOrder is given. */
export const DEFAULT_BACKEND_ORDER: readonly string[] = ["webgpu", "webgl", "wasm"];

/** Adds (or replaces) the backend `name`; bundles for it are named model.<name>.wlm. */
export function registerBackend(name: string, factory: BackendFactory): void {
  if (!/^[a-z][a-z0-9_-]*$/.test(name)) {
    throw fail(`registerBackend: "${name}" is not a valid backend name (lower-case letters, digits, - and _)`);
  }
  factories.set(name, factory);
}

export function backendFactory(name: string): BackendFactory | undefined {
  return factories.get(name);
}

export function registeredBackends(): string[] {
  return [...factories.keys()];
}
