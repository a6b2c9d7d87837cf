/**
 * A bounds-checked reader for FlatBuffers tables, just what converter/bundle/webloom.fbs needs: tables,
 * scalars, structs, strings and vectors of those. Field ids are the 0-based declaration order in the
 * schema. Every offset is checked against the payload, so a damaged file gives a BundleError instead of
 * garbage or a RangeError deep inside a backend.
 */

import { malformed } from "./errors.js";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** One table of the payload: its fields by id (absent fields read as their defaults). */
export interface Table {
  int32(id: number, fallback?: number): number;
  int64(id: number, fallback?: number): number;
  /** A struct of `count` 32-bit ints (signed or not), or null when absent. */
  struct32(id: number, count: number, signed: boolean): number[] | null;
  /** A string field; `absent` ("" unless told) when the field is absent. */
  string(id: number): string;
  string(id: number, absent: null): string | null;
  strings(id: number): string[];
  tables(id: number): Table[];
  int32s(id: number): number[];
  /** A view (not a copy) of a [ubyte] vector. */
  bytes(id: number): Uint8Array;
}

/** The root table of a payload whose file identifier must be `identifier`, else null. */
export function rootTable(view: DataView, identifier: string): Table | null {
  check(view, 0, 8);
  const id = String.fromCharCode(...new Uint8Array(view.buffer, view.byteOffset + 4, 4));
  return id === identifier ? table(view, view.getUint32(0, true)) : null;
}

/** The table at byte `pos` of `payload` (the FlatBuffers payload). */
function table(payload: DataView, pos: number): Table {
  check(payload, pos, 4);
  const vtable = pos - payload.getInt32(pos, true);
  check(payload, vtable, 4);
  const vtableSize = payload.getUint16(vtable, true);
  check(payload, vtable, vtableSize);
  // an odd or short size would make readers disagree on the last field (found by tests/fuzz)
  if (vtableSize % 2 !== 0 || vtableSize < 4) {
    throw malformed(`the vtable at offset ${vtable} has size ${vtableSize}`);
  }
  const u32 = (at: number) => payload.getUint32(at, true);
  const i32 = (at: number) => payload.getInt32(at, true);
  /** Byte position of field `id`, or 0 when the field is absent (holds its default). */
  const field = (id: number): number => {
    const entry = 4 + 2 * id;
    const off = entry + 2 > vtableSize ? 0 : payload.getUint16(vtable + entry, true);
    return off === 0 ? 0 : pos + off;
  };
  /** Where the offset stored at `at` points. */
  const target = (at: number): number => {
    check(payload, at, 4);
    return at + u32(at);
  };
  /** The `size`-byte scalar in field `id`, read by `read` at its position; `fallback` when absent. */
  const scalar = (id: number, size: number, fallback: number, read: (at: number) => number): number => {
    const at = field(id);
    if (at === 0) return fallback;
    check(payload, at, size);
    return read(at);
  };
  /** Start and length of the vector (or string) whose offset is stored at `at`. */
  const vectorAt = (at: number, elementSize: number): [number, number] => {
    const start = target(at);
    check(payload, start, 4);
    const length = u32(start);
    check(payload, start + 4, length * elementSize);
    return [start + 4, length];
  };
  /** Start and length of the vector in field `id` (length 0 when absent). */
  const vector = (id: number, elementSize: number): [number, number] => {
    const at = field(id);
    return at === 0 ? [0, 0] : vectorAt(at, elementSize);
  };
  /** Each 4-byte element of a vector field, read at its offset. */
  const elements = <T>(id: number, read: (at: number) => T): T[] => {
    const [start, length] = vector(id, 4);
    return Array.from({ length }, (_, k) => read(start + 4 * k));
  };
  const bytes = ([start, length]: [number, number]) =>
    new Uint8Array(payload.buffer, payload.byteOffset + start, length);
  const text = (at: number): string => {
    const vector = vectorAt(at, 1);
    try {
      return utf8.decode(bytes(vector));
    } catch {
      throw malformed(`the string at offset ${vector[0] - 4} is not valid UTF-8`);
    }
  };
  return {
    int32: (id, fallback = 0) => scalar(id, 4, fallback, i32),
    int64: (id, fallback = 0) => scalar(id, 8, fallback, (at) => {
      const value = payload.getBigInt64(at, true);
      // exact within +-(2^53-1); beyond, the conversion lands at or past 2^53, not a safe integer
      if (!Number.isSafeInteger(Number(value))) {
        throw malformed(`a 64-bit field holds ${value}, beyond +-(2^53-1)`);
      }
      return Number(value);
    }),
    struct32: (id, count, signed) => {
      const at = field(id);
      if (at === 0) return null;
      check(payload, at, 4 * count);
      return Array.from({ length: count }, (_, k) => (signed ? i32 : u32)(at + 4 * k));
    },
    string: ((id: number, absent: string | null = "") => {
      const at = field(id);
      return at === 0 ? absent : text(at);
    }) as Table["string"],
    strings: (id) => elements(id, text),
    tables: (id) => elements(id, (at) => table(payload, target(at))),
    int32s: (id) => elements(id, i32),
    bytes: (id) => bytes(vector(id, 1)),
  };
}

/** Throws unless `size` bytes (never negative: sizes are unsigned fields) at `at` lie in the payload. */
function check(view: DataView, at: number, size: number): void {
  if (at < 0 || at + size > view.byteLength) {
    throw malformed(`offset ${at} (+${size} bytes) is outside the ${view.byteLength}-byte payload`);
  }
}
