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
import { bundleFileIn, fileIn, isBundleFile, readBytes } from "./fetch.js";
import type { FallbackReason } from "./runner.js";
import { Runner } from "./runner.js";
import type { Manifest } from "./manifest.js";
import { checkInManifest, readManifest } from "./manifest.js";
import { fail } from "./fail.js";

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
  const target = String(url);
  if (isBundleFile(target)) return loadFile(target, options);
  const order = options.backendOrder ?? DEFAULT_BACKEND_ORDER;
  if (order.length === 0) throw fail("load: backendOrder is empty; name at least one backend, e.g. [\"wasm\"]");
  const reasons: FallbackReason[] = [];
  const manifest = options.manifest === false ? null : await readManifest(fileIn(target, "model.json"));
  for (const name of order) {
    const reason = await tryBackend(name, target, options, reasons, manifest);
    if (reason instanceof Runner) return reason;
    reasons.push({ backend: name, reason });
  }
  throw fail(`no backend could load ${target}: ` + reasons.map((r) => `${r.backend}: ${r.reason}`).join("; "));
}

/** Loads the directory's bundle for one backend: a Runner, or the reason it cannot be used. */
async function tryBackend(name: string, dir: string, options: LoadOptions, earlier: FallbackReason[],
    manifest: Manifest | null): Promise<Runner | string> {
  const factory = backendFactory(name);
  if (factory === undefined) {
    return `not built into this runtime (built in: ${registeredBackends().join(", ")})`;
  }
  const context = factory(options);
  const failed = await attempt(context, "init", () => context.init());
  if (failed) return failed;
  const file = bundleFileIn(dir, name);
  const bytes = await readBytes(file, name, options.progress);
  if (bytes === null) {
    context.dispose();
    return `${file} not found`;
  }
  let program: BundleProgram;
  try {
    if (manifest !== null) checkInManifest(manifest, file, name, bytes);
    program = parseBundle(bytes);
  } catch (e) {
    context.dispose();     // init() may already hold a device: release it before the error propagates
    throw e;
  }
  if (program.backend !== name) {
    context.dispose();
    return `${file} holds a bundle for backend "${program.backend}"`;
  }
  const setup = await prepare(context, program);
  return setup ?? makeRunner(context, program, earlier);
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
  const factory = backendFactory(program.backend);
  if (factory === undefined) {
    throw fail(`load: ${file} is a bundle for backend "${program.backend}", which is not built into ` +
      `this runtime (built in: ${registeredBackends().join(", ")})`);
  }
  const context = factory(options);
  const failed = (await attempt(context, "init", () => context.init())) ?? (await prepare(context, program));
  if (failed) throw fail(`load: backend ${program.backend} cannot run ${file}: ${failed}`);
  return makeRunner(context, program, []);
}

/** compile() and upload() times of the last successful prepare(), for Runner.loadStats. */
const lastPrepare = new WeakMap<BackendContext, { compileMs: number; uploadMs: number }>();

async function prepare(context: BackendContext, program: BundleProgram): Promise<string | null> {
  const t0 = performance.now();
  const failed = await attempt(context, "compile", () => context.compile(program));
  if (failed) return failed;
  const t1 = performance.now();
  const failedUpload = await attempt(context, "upload", () => context.upload(program.weights));
  lastPrepare.set(context, { compileMs: t1 - t0, uploadMs: performance.now() - t1 });
  return failedUpload;
}

/** Runs one set-up phase; returns the failure reason (and frees the context) or null. */
async function attempt(context: BackendContext, phase: string, fn: () => Promise<void>): Promise<string | null> {
  try {
    await fn();
    return null;
  } catch (err) {
    context.dispose();
    return `${phase} failed: ${err instanceof Error ? err.message : String(err)}`;
  }
}

function makeRunner(context: BackendContext, program: BundleProgram, reasons: FallbackReason[]): Runner {
  if (reasons.length) {
    console.warn(`webloom: using backend ${context.name}; skipped ` +
      reasons.map((r) => `${r.backend} (${r.reason})`).join(", "));
  }
  const runner = new Runner(context, program, [...reasons]);
  const times = lastPrepare.get(context) ?? { compileMs: 0, uploadMs: 0 };
  runner.loadStats = { ...times, pipelines: context.pipelines ?? null, reused: context.reused ?? null,
    threads: context.threads ?? 1, threadNote: context.threadNote ?? "" };
  return runner;
}
