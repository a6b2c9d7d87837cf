/**
 * load(): finds a bundle for the first backend in backendOrder that works here and returns a Runner.
 *
 * `url` is a bundle file (`.../model.wasm.wlm`: its own backend is used) or a directory, in which
 * model.<backend>.wlm is tried for each backend in order. Under Node a filesystem path or file: URL
 * works too. A backend is skipped, with its reason kept in runner.fallbackReasons (and one
 * console.warn), when it is not built in, its init() throws (no WebGPU here...), its bundle file is
 * missing, or compiling/uploading throws. A bundle that exists but is truncated or corrupted is an
 * error (BundleError from parseBundle), not a reason to fall back: the deployment is broken.
 */

import { parseBundle } from "./bundle/reader.js";
import type { BundleProgram } from "./bundle/reader.js";
import type { BackendContext } from "./backends/backend.js";
import { backendFactory, DEFAULT_BACKEND_ORDER, registeredBackends } from "./backends/registry.js";
import type { ProgressCallback } from "./fetch.js";
import { fileIn, isBundleFile, readBytes } from "./fetch.js";
import type { FallbackReason } from "./runner.js";
import { Runner } from "./runner.js";
import { checkInManifest, readManifest } from "./manifest.js";
import { checkOptions, errorText, fail } from "./fail.js";

export interface LoadOptions {
  /** Backends to try, in order. Default ["webgpu", "webgl", "wasm"]. */
  backendOrder?: readonly string[];
  /** Called as the bundle file is read. */
  progress?: ProgressCallback;
  /**
   * Check the bundle against the folder's model.json (default true): a bundle the manifest does not
   * list is an error (BundleError). Folders without model.json are not checked.
   */
  manifest?: boolean;
  /**
   * wasm: threads to split the recurrences and large matmuls over (default hardwareConcurrency - 1, 1 to
   * 4); 1 unless the page is cross-origin isolated (COOP/COEP headers). loadStats.threads says how many run.
   */
  numThreads?: number;
  /**
   * wasm threads: at the barriers between steps workers "spin" (default), "wait" (sleep at once) or
   * spin a while, then sleep ("hybrid"); the page's own thread always spins (it may not block).
   */
  threadBarrier?: "spin" | "wait" | "hybrid";
}

export async function load(url: string | URL, options: LoadOptions = {}): Promise<Runner> {
  const target = String(url), n = options.numThreads;
  checkOptions("load", options, [
    ["numThreads", n === undefined || Number.isInteger(n) && n >= 1, "an integer >= 1"],
    ["threadBarrier", [undefined, "spin", "wait", "hybrid"].includes(options.threadBarrier),
      '"spin", "wait" or "hybrid"']]);
  if (isBundleFile(target)) return loadFile(target, options);
  const order = options.backendOrder ?? DEFAULT_BACKEND_ORDER;
  if (order.length === 0) throw fail('load: backendOrder is empty; name at least one backend, e.g. ["wasm"]');
  const reasons: FallbackReason[] = [];
  const manifest = options.manifest === false ? null : await readManifest(fileIn(target, "model.json"));
  for (const name of order) {
    const file = fileIn(target, `model.${name}.wlm`);
    const reason = await tryBackend(name, options, reasons, async () => {
      const bytes = await readBytes(file, name, options.progress);
      if (bytes === null) return `${file} not found`;
      if (manifest !== null) checkInManifest(manifest, file, name, bytes);
      const program = parseBundle(bytes);
      return program.backend === name ? program : `${file} holds a bundle for backend "${program.backend}"`;
    });
    if (reason instanceof Runner) return reason;
    reasons.push({ backend: name, reason });
  }
  const why = reasons.map((r) => `${r.backend}: ${r.reason}`).join("; ");
  throw fail(`no backend could load ${target}: ${why}`);
}

/**
 * Starts backend `name` (init() before `read` fetches anything) on the program `read` gives: a Runner,
 * or the reason it cannot be used (from `read` too: a missing file). A damaged bundle throws.
 */
async function tryBackend(name: string, options: LoadOptions, earlier: FallbackReason[],
    read: () => Promise<BundleProgram | string>): Promise<Runner | string> {
  const factory = backendFactory(name);
  if (factory === undefined) {
    return `not built into this runtime (built in: ${registeredBackends().join(", ")})`;
  }
  const context = factory(options);
  const initFailed = await attempt(context, "init", () => context.init());
  if (initFailed) return initFailed;
  // init() may already hold a device: release it before a read error propagates
  const program = await read().catch((err) => { context.dispose(); throw err; });
  if (typeof program === "string") {
    context.dispose();
    return program;
  }
  const t0 = performance.now();
  const failed = await attempt(context, "compile", () => context.compile(program));
  const t1 = performance.now();
  const reason = failed ?? await attempt(context, "upload", () => context.upload(program.weights));
  if (reason) return reason;
  if (earlier.length) {
    console.warn(`webloom: using backend ${context.name}; skipped ` +
      earlier.map((r) => `${r.backend} (${r.reason})`).join(", "));
  }
  const runner = new Runner(context, program, earlier);
  runner.loadStats = { compileMs: t1 - t0, uploadMs: performance.now() - t1,
    pipelines: context.pipelines ?? null, reused: context.reused ?? null, threads: context.threads ?? 1,
    threadNote: context.threadNote ?? "" };
  return runner;
}

/** A single bundle file: its backend must work, there is nothing to fall back to. */
async function loadFile(file: string, options: LoadOptions): Promise<Runner> {
  const guess = /model\.([a-z0-9_-]+)\.wlm/i.exec(file)?.[1] ?? "";
  const bytes = await readBytes(file, guess, options.progress);
  if (bytes === null) throw fail(`load: bundle file ${file} not found`);
  const program = parseBundle(bytes);
  if (options.manifest !== false) {
    const manifest = await readManifest(fileIn(file, "model.json", true));
    if (manifest !== null) checkInManifest(manifest, file, program.backend, bytes);
  }
  const runner = await tryBackend(program.backend, options, [], async () => program);
  if (runner instanceof Runner) return runner;
  throw fail(`load: backend ${program.backend} cannot run ${file}: ${runner}`);
}

/** Runs one set-up phase; returns the failure reason (and frees the context) or null. */
async function attempt(context: BackendContext, phase: string, fn: () => Promise<void>):
    Promise<string | null> {
  try {
    await fn();
    return null;
  } catch (err) {
    context.dispose();
    return `${phase} failed: ${errorText(err)}`;
  }
}
