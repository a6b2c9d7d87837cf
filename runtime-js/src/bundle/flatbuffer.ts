/**
 * A bounds-checked reader for FlatBuffers tables, just what converter/bundle/webloom.fbs needs: tables,
 * scalars, structs, strings and vectors of those. Field ids are the 0-based declaration order in the
 * schema. Every offset is checked against the payload, so a damaged file gives a BundleError instead of
 * garbage or a RangeError deep inside a backend.
 */

import { malformed } from "./errors.js";

const utf8 = new TextDecoder("utf-8", { fatal: true });

export class Table {
  private readonly vtable: number;
  private readonly vtableSize: number;

  /** The table at byte `pos` of `view` (the FlatBuffers payload). */
  constructor(private readonly payload: DataView, private readonly pos: number) {
    check(payload, pos, 4);
    this.vtable = pos - payload.getInt32(pos, true);
    check(payload, this.vtable, 4);
    this.vtableSize = payload.getUint16(this.vtable, true);
    check(payload, this.vtable, this.vtableSize);
    // an odd or short size would make readers disagree on the last field (found by tests/fuzz)
    if (this.vtableSize % 2 !== 0 || this.vtableSize < 4) {
      throw malformed(`the vtable at offset ${this.vtable} has size ${this.vtableSize}`);
    }
  }

  /** The root table of a payload whose file identifier must be `identifier`. */
  static root(view: DataView, identifier: string): Table | null {
    check(view, 0, 8);
    const id = String.fromCharCode(...new Uint8Array(view.buffer, view.byteOffset + 4, 4));
    if (id !== identifier) return null;
    return new Table(view, view.getUint32(0, true));
  }

  /** Byte position of field `id`, or 0 when the field is absent (holds its default). */
  private field(id: number): number {
    const entry = 4 + 2 * id;
    if (entry + 2 > this.vtableSize) return 0;
    const off = this.payload.getUint16(this.vtable + entry, true);
    return off === 0 ? 0 : this.pos + off;
  }

  private target(at: number): number {
    check(this.payload, at, 4);
    return at + this.payload.getUint32(at, true);
  }

  /** The `size`-byte scalar in field `id`, read by `read` at its position; `fallback` when absent. */
  private scalar(id: number, size: number, fallback: number, read: (at: number) => number): number {
    const at = this.field(id);
    if (at === 0) return fallback;
    check(this.payload, at, size);
    return read(at);
  }

  int32(id: number, fallback = 0): number {
    return this.scalar(id, 4, fallback, (at) => this.payload.getInt32(at, true));
  }

  int64(id: number, fallback = 0): number {
    return this.scalar(id, 8, fallback, (at) => {
      const value = this.payload.getBigInt64(at, true);
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) {
        throw malformed(`a 64-bit field holds ${value}, beyond what a Number holds exactly`);
      }
      return Number(value);
    });
  }

  /** A struct of `count` 32-bit ints (signed or not), or null when absent. */
  struct32(id: number, count: number, signed: boolean): number[] | null {
    const at = this.field(id);
    if (at === 0) return null;
    check(this.payload, at, 4 * count);
    const out: number[] = [];
    for (let k = 0; k < count; k++) {
      out.push(signed ? this.payload.getInt32(at + 4 * k, true) : this.payload.getUint32(at + 4 * k, true));
    }
    return out;
  }

  string(id: number): string | null {
    const at = this.field(id);
    return at === 0 ? null : readString(this.payload, this.target(at));
  }

  /** Start and length of the vector in field `id` (length 0 when absent). */
  private vector(id: number, elementSize: number): [number, number] {
    const at = this.field(id);
    if (at === 0) return [0, 0];
    const start = this.target(at);
    check(this.payload, start, 4);
    const length = this.payload.getUint32(start, true);
    check(this.payload, start + 4, length * elementSize);
    return [start + 4, length];
  }

  strings(id: number): string[] {
    return this.elements(id, (at) => readString(this.payload, this.target(at)));
  }

  tables(id: number): Table[] {
    return this.elements(id, (at) => new Table(this.payload, this.target(at)));
  }

  int32s(id: number): number[] {
    return this.elements(id, (at) => this.payload.getInt32(at, true));
  }

  /** Each 4-byte element of a vector field, read at its offset. */
  private elements<T>(id: number, read: (at: number) => T): T[] {
    const [start, length] = this.vector(id, 4);
    const out: T[] = [];
    for (let k = 0; k < length; k++) out.push(read(start + 4 * k));
    return out;
  }

  /** A view (not a copy) of a [ubyte] vector. */
  bytes(id: number): Uint8Array {
    const [start, length] = this.vector(id, 1);
    return new Uint8Array(this.payload.buffer, this.payload.byteOffset + start, length);
  }
}

function check(view: DataView, at: number, size: number): void {
  if (at < 0 || size < 0 || at + size > view.byteLength) {
    throw malformed(`offset ${at} (+${size} bytes) is outside the ${view.byteLength}-byte payload`);
  }
}

function readString(view: DataView, at: number): string {
  check(view, at, 4);
  const length = view.getUint32(at, true);
  check(view, at + 4, length);
  try {
    return utf8.decode(new Uint8Array(view.buffer, view.byteOffset + at + 4, length));
  } catch {
    throw malformed(`the string at offset ${at} is not valid UTF-8`);
  }
}
