/**
 * Texture layouts of a WebGL bundle (converter/backends/webgl/emit.py is the other half).
 *
 * A tensor of n texels lives in a texture of width w = min(n, maxWidth) and cdiv(n, maxWidth) rows;
 * texel i is (i % w, i / w) ("linear" layout). Textures are R32F (one element per texel) except the
 * weights the converter packs as RGBA32F (four elements per texel). A "blocked" slot (the recurrence
 * histories) holds `blocks` blocks of `blockElems` elements, each block starting on a new row.
 */

import { evaluateExpr } from "../../bundle/expr.js";
import type { BundleProgram } from "../../bundle/reader.js";
import type { Dims } from "../../dims.js";
import { slotBytes } from "../../dims.js";
import { fail } from "../../fail.js";

export type TextureFormat = "R32F" | "RGBA32F";

/** A texture's size in texels. */
export interface Extent {
  width: number;
  height: number;
}

/** What Program.meta.webgl says (see converter/backends/webgl/__init__.py). */
export interface WebglMeta {
  maxWidth: number;
  rgbaWeights: Set<number>;
  blockedSlots: Map<number, { blocks: string; blockElems: string }>;
}

export function readMeta(program: BundleProgram): WebglMeta {
  const raw = program.meta["webgl"] as Record<string, unknown> | undefined;
  if (raw === undefined || typeof raw["max_width"] !== "number") {
    throw fail(`bundle for backend "${program.backend}" has no webgl texture metadata ` +
      "(meta.webgl.max_width); convert the model with --backend webgl");
  }
  const blocked = new Map<number, { blocks: string; blockElems: string }>();
  const slots = (raw["blocked_slots"] ?? {}) as Record<string, { blocks: string; block_elems: string }>;
  for (const [slot, spec] of Object.entries(slots)) {
    blocked.set(Number(slot), { blocks: spec.blocks, blockElems: spec.block_elems });
  }
  return {
    maxWidth: raw["max_width"] as number,
    rgbaWeights: new Set((raw["rgba_weights"] ?? []) as number[]),
    blockedSlots: blocked,
  };
}

/** The linear layout of n texels. */
export function linearExtent(texels: number, maxWidth: number): Extent {
  const n = Math.max(texels, 1);
  return { width: Math.min(n, maxWidth), height: Math.ceil(n / maxWidth) };
}

/** The extent of `blocks` blocks of `elems` texels, each block on whole rows. */
export function blockedExtent(blocks: number, elems: number, maxWidth: number): Extent {
  const width = Math.min(Math.max(elems, 1), maxWidth);
  return { width, height: Math.max(1, blocks * Math.ceil(elems / width)) };
}

/** Texture extents of every slot under `dims`, indexed by slot id. */
export function slotExtents(program: BundleProgram, meta: WebglMeta, dims: Dims): Extent[] {
  return program.slots.map((slot) => {
    const blocked = meta.blockedSlots.get(slot.id);
    if (blocked !== undefined) {
      return blockedExtent(evaluateExpr(blocked.blocks, dims), evaluateExpr(blocked.blockElems, dims),
        meta.maxWidth);
    }
    return linearExtent(Math.ceil(slotBytes(slot, dims) / 4), meta.maxWidth);
  });
}
