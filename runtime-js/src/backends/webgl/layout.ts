/**
 * Texture layouts of a WebGL bundle (converter/backends/webgl/emit.py is the other half).
 *
 * A tensor of n texels lives in a texture of width w = min(n, maxWidth) and cdiv(n, maxWidth) rows;
 * texel i is (i % w, i / w) ("linear" layout). Textures are R32F (one element per texel) except the
 * weights the converter packs as RGBA32F (four elements per texel). A "blocked" slot (the recurrence
 * histories) holds `blocks` blocks of `block_elems` elements, each block starting on a new row.
 */

import { evaluateExpr } from "../../bundle/expr.js";
import type { BundleProgram } from "../../bundle/reader.js";
import type { Dims } from "../../dims.js";
import { slotBytes } from "../../dims.js";
import { fail } from "../../fail.js";

/** A texture's size in texels. */
export interface Extent {
  width: number;
  height: number;
}

/** What Program.meta.webgl says (see converter/backends/webgl/__init__.py), as the bundle spells it. */
interface RawMeta {
  max_width: number;
  rgba_weights?: number[];
  /** By slot id: the slot's number of blocks and elements per block, as expressions. */
  blocked_slots?: Record<string, { blocks: string; block_elems: string }>;
}

export interface WebglMeta {
  maxWidth: number;
  rgbaWeights: Set<number>;
  blockedSlots: NonNullable<RawMeta["blocked_slots"]>;
}

export function readMeta(program: BundleProgram): WebglMeta {
  const raw = program.meta["webgl"] as RawMeta | undefined;
  if (typeof raw?.max_width !== "number") {
    throw fail(`bundle for backend "${program.backend}" has no webgl texture metadata ` +
      "(meta.webgl.max_width); convert the model with --backend webgl");
  }
  return { maxWidth: raw.max_width, rgbaWeights: new Set(raw.rgba_weights),
    blockedSlots: raw.blocked_slots ?? {} };
}

/**
 * The extent of `blocks` blocks of `elems` texels, each block on whole rows; one block (the default) is the
 * linear layout of `elems` texels. At least one texel: WebGL has no empty textures.
 */
export function extentOf(elems: number, maxWidth: number, blocks = 1): Extent {
  const width = Math.min(Math.max(elems, 1), maxWidth);
  return { width, height: Math.max(1, blocks * Math.ceil(elems / width)) };
}

/** Texture extents of every slot under `dims`, indexed by slot id. */
export function slotExtents(program: BundleProgram, meta: WebglMeta, dims: Dims): Extent[] {
  return program.slots.map((slot) => {
    const b = meta.blockedSlots[slot.id];
    return b ? extentOf(evaluateExpr(b.block_elems, dims), meta.maxWidth, evaluateExpr(b.blocks, dims))
      : extentOf(Math.ceil(slotBytes(slot, dims) / 4), meta.maxWidth);
  });
}
