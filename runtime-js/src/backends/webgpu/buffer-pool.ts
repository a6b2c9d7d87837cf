/**
 * GPU buffers of one context, counted. Buffers only grow: `ensure(key, bytes)` returns the buffer kept
 * under `key`, replacing it (and destroying the old one) only when more bytes are needed, so runs with
 * dims seen before allocate nothing. `liveBuffers()` counts every buffer created by any pool on the page
 * and not yet destroyed; the leak test runs a model 1000 times and checks it does not grow.
 */

import type { GpuBuffer, GpuDevice } from "./gpu-types.js";

let liveCount = 0;

/** GPU buffers created by webloom on this page and not yet destroyed. */
export function liveBuffers(): number {
  return liveCount;
}

export class BufferPool {
  private readonly buffers = new Map<string, GpuBuffer>();

  private readonly poolDevice: GpuDevice;

  constructor(device: GpuDevice) {
    this.poolDevice = device;
  }

  /** The buffer under `key`, at least `bytes` large (rounded up to 16), with `usage`. */
  ensure(key: string, bytes: number, usage: number): GpuBuffer {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const old = this.buffers.get(key);
    if (old && old.size >= size) return old;
    if (old) this.release(key);
    const buffer = this.poolDevice.createBuffer({ label: key, size, usage });
    liveCount += 1;
    this.buffers.set(key, buffer);
    return buffer;
  }

  get(key: string): GpuBuffer | undefined {
    return this.buffers.get(key);
  }

  release(key: string): void {
    const buffer = this.buffers.get(key);
    if (!buffer) return;
    buffer.destroy();
    liveCount -= 1;
    this.buffers.delete(key);
  }

  bytes(): number {
    let total = 0;
    for (const b of this.buffers.values()) total += b.size;
    return total;
  }

  dispose(): void {
    for (const key of [...this.buffers.keys()]) this.release(key);
  }
}
