/**
 * One GPUDevice per page, shared by every runner (pipelines are cached per device, see
 * pipeline-cache.ts). The device is requested on first use; when it is lost, the next request gets a
 * fresh one and contexts holding the lost one fail with the loss reason.
 */

import type { Gpu, GpuAdapterInfo, GpuDevice } from "./gpu-types.js";
import { fail } from "../../fail.js";

export interface SharedDevice {
  device: GpuDevice;
  info: GpuAdapterInfo;
  /** Set when the device is lost: the reason, for every later error message. */
  lostReason: string | null;
}

let shared: Promise<SharedDevice> | null = null;

async function requestShared(): Promise<SharedDevice> {
  const gpu = (globalThis as { navigator?: { gpu?: Gpu } }).navigator?.gpu;
  if (!gpu) throw fail("WebGPU is not available here (no navigator.gpu: it needs a secure context)");
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw fail("WebGPU has no adapter here (requestAdapter() returned null)");
  const device = await adapter.requestDevice({ label: "webloom" });
  // a plain copy: GPUAdapterInfo's fields are getters that JSON.stringify does not see
  const { vendor, architecture, description } = adapter.info;
  const info = { vendor, architecture, device: adapter.info.device, description };
  const handle: SharedDevice = { device, info, lostReason: null };
  void device.lost.then((lost) => {
    handle.lostReason = `${lost.reason || "unknown"}: ${lost.message}`;
    shared = null;
  });
  return handle;
}

/** The page's device, requested once; a failed or lost request is retried on the next call. */
export function sharedDevice(): Promise<SharedDevice> {
  if (shared === null) {
    shared = requestShared();
    shared.catch(() => { shared = null; });
  }
  return shared;
}

/** The adapter's description (vendor, architecture, device, description) for logs and bug reports. */
export async function webgpuAdapterInfo(): Promise<GpuAdapterInfo> {
  return (await sharedDevice()).info;
}
