// The bundle reader and the expression language of the runtime, against the files the Python side
// checks too: tests/unit/bundle_fixture.{wlm,json} (written by converter/bundle/writer.py) and
// tests/unit/expr_cases.json. Runs against the build (npm run build -> dist/webloom.js); set
// WEBLOOM_JS to test another build of the same exports.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { fileURLToPath, pathToFileURL } from "node:url";

const webloomUrl = process.env.WEBLOOM_JS
  ? pathToFileURL(process.env.WEBLOOM_JS).href
  : new URL("../dist/webloom.js", import.meta.url).href;
const { parseBundle, BundleError, evaluateExpr, ExprError } = await import(webloomUrl);

const unitDir = fileURLToPath(new URL("../../tests/unit/", import.meta.url));
const expected = JSON.parse(readFileSync(unitDir + "bundle_fixture.json", "utf8"));
const exprCases = JSON.parse(readFileSync(unitDir + "expr_cases.json", "utf8")).cases;
// long cases are stored as [text, count] parts (see the file's "about")
for (const c of exprCases) c.expr ??= (c.build ?? []).map(([text, count]) => text.repeat(count)).join("");

/** A fresh ArrayBuffer holding exactly the fixture file. */
function fixtureBuffer() {
  const file = readFileSync(unitDir + "bundle_fixture.wlm");
  return file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength);
}

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** `buf` with header u32 fields changed (byte offset -> value) and, unless told not to, a fixed CRC. */
function patched(buf, u32s = {}, bytes = {}, fixCrc = true) {
  const out = buf.slice(0);
  const view = new DataView(out);
  for (const [at, value] of Object.entries(bytes)) view.setUint8(Number(at), value);
  for (const [at, value] of Object.entries(u32s)) view.setUint32(Number(at), value, true);
  if (fixCrc) view.setUint32(16, crc32(new Uint8Array(out, 64)), true);
  return out;
}

function throwsBundleError(fn, message) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof BundleError, `expected a BundleError, got ${err}`);
    if (message instanceof RegExp) assert.match(err.message, message);
    else assert.equal(err.message, message);
    return true;
  });
}

test("expression cases shared with Python give the same values and messages", () => {
  assert.equal(typeof evaluateExpr, "function",
    "the build must export evaluateExpr and ExprError (runtime-js/src/index.ts, from ./bundle/expr.js)");
  for (const c of exprCases) {
    if ("error" in c) {
      assert.throws(() => evaluateExpr(c.expr, c.bindings), (err) => {
        const shown = JSON.stringify(c.expr.slice(0, 60));
        assert.ok(err instanceof ExprError, `${shown}: expected an ExprError, got ${err}`);
        assert.equal(err.message, c.error);
        return true;
      });
    } else {
      assert.equal(evaluateExpr(c.expr, c.bindings), c.value, JSON.stringify(c.expr));
    }
  }
});

test("the fixture bundle reads as the Program the Python writer stored", () => {
  const program = parseBundle(fixtureBuffer());
  const { weights, module, moduleRelaxed, moduleThreads, ...rest } = program;
  const { weightsBase64, moduleBase64, moduleRelaxedBase64, ...want } = expected;
  assert.deepEqual(rest, want);
  assert.equal(Buffer.from(weights).toString("base64"), weightsBase64);
  assert.equal(Buffer.from(module).toString("base64"), moduleBase64);
  assert.ok(WebAssembly.validate(module), "the module bytes are the wasm module written");
  assert.equal(Buffer.from(moduleRelaxed).toString("base64"), moduleRelaxedBase64);
  assert.notEqual(moduleRelaxedBase64, moduleBase64);
  assert.equal(moduleThreads.length, 0, "a bundle without a threaded module (field 14) reads it as empty");
});

test("weights are an aligned view into the file, usable as Float32Array without a copy", () => {
  const buf = fixtureBuffer();
  const program = parseBundle(buf);
  assert.equal(program.weights.buffer, buf);
  assert.equal(program.weights.byteOffset % 64, 0);
  assert.equal(program.weights.byteOffset + program.weights.byteLength, buf.byteLength);
  const u = program.tensors.find((t) => t.name === "u");
  const values = new Float32Array(buf, program.weights.byteOffset + u.weightOffset, 64);
  assert.equal(values[0], -1);
  assert.equal(values[63], 1);
  const emb = program.tensors.find((t) => t.name === "emb");
  const row1 = new Float32Array(buf, program.weights.byteOffset + emb.weightOffset + 8 * 4, 8);
  assert.equal(row1[0], Math.fround(8 / 7));
});

test("bad magic", () => {
  for (const bytes of [[0x50, 0x4b, 3, 4, 0, 0, 0, 0, 0, 0], [], [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]]) {
    throwsBundleError(() => parseBundle(new Uint8Array(bytes).buffer), "not a Webloom bundle (bad magic)");
  }
});

test("a newer format version asks to update", () => {
  throwsBundleError(() => parseBundle(patched(fixtureBuffer(), { 8: 7 })),
    "bundle format version 7 is newer than this reader (1): update webloom");
});

test("truncated files say how many bytes are missing", () => {
  const buf = fixtureBuffer();
  for (const n of [buf.byteLength - 1, buf.byteLength - 300, 100]) {
    throwsBundleError(() => parseBundle(buf.slice(0, n)),
      `bundle is truncated: expected ${buf.byteLength} bytes, got ${n}`);
  }
  for (const n of [3, 8, 63]) {
    throwsBundleError(() => parseBundle(buf.slice(0, n)), `bundle is truncated: expected 64 bytes, got ${n}`);
  }
});

test("a flipped byte anywhere after the header, or trailing bytes, fail the checksum", () => {
  const buf = fixtureBuffer();
  const view = new DataView(buf);
  const payloadEnd = 64 + view.getUint32(20, true);
  for (const at of [64 + 10, payloadEnd - 3, buf.byteLength - 5]) {
    const bad = patched(buf, {}, { [at]: new Uint8Array(buf)[at] ^ 0x10 }, false);
    throwsBundleError(() => parseBundle(bad), "bundle is corrupted (checksum mismatch)");
  }
  const longer = new Uint8Array(buf.byteLength + 1);
  longer.set(new Uint8Array(buf));
  throwsBundleError(() => parseBundle(longer.buffer), "bundle is corrupted (checksum mismatch)");
});

test("inconsistent headers and payloads with a valid checksum are rejected, not misread", () => {
  const buf = fixtureBuffer();
  const wOff = new DataView(buf).getUint32(24, true);
  throwsBundleError(() => parseBundle(patched(buf, { 12: 1 })), /^bundle is corrupted \(version 1, flags 0x1/);
  throwsBundleError(() => parseBundle(patched(buf, { 24: wOff - 32 })), /^bundle is corrupted \(weights offset/);
  throwsBundleError(() => parseBundle(patched(buf, {}, { 68: 0x58 })),
    "bundle is corrupted (the payload is not a Webloom program)");
  throwsBundleError(() => parseBundle(patched(buf, { 64: 0x7ffffff0 })), /^bundle payload is malformed \(offset/);
});

/** `buf` with occurrence `nth` (0: the first) of ASCII `from` in the payload replaced by `to` (same length),
 * CRC fixed. */
function replaced(buf, from, to, nth = 0) {
  const bytes = new Uint8Array(buf);
  const text = Buffer.from(bytes).toString("latin1");
  let at = text.indexOf(from, 64);
  for (let k = 0; k < nth && at > 0; k++) at = text.indexOf(from, at + 1);
  assert.ok(at > 0 && from.length === to.length, `fixture has no "${from}"`);
  const edits = {};
  for (let k = 0; k < to.length; k++) edits[at + k] = to.charCodeAt(k);
  return patched(buf, {}, edits);
}

test("programs whose parts do not fit together are rejected with the part named", () => {
  const buf = fixtureBuffer();
  throwsBundleError(() => parseBundle(replaced(buf, "read_write", "read_wrote")),
    /^bundle holds an invalid program: kernel '\w+' binding '\w+' access is 'read_wrote', expected one of/);
  throwsBundleError(() => parseBundle(replaced(buf, "cdiv(batch*time*8", "cdiv(batch*tame*8")),
    "bundle holds an invalid program: step 0 ('gather') dispatch 'cdiv(batch*tame*8,64)' uses unknown " +
    "symbol 'tame' (program symbols: batch, time)");
  throwsBundleError(() => parseBundle(replaced(buf, "max(32*batch, 64)", "max(32*batch, 6+)")),
    /^bundle holds an invalid program: slot 4 size: bad expression 'max\(32\*batch, 6\+\)'/);
  // a state whose partner is gone (output h_out renamed; the first "h_out" names a tensor): the pairing
  // check refuses it
  throwsBundleError(() => parseBundle(replaced(buf, "h_out", "h_oux", 1)),
    /^bundle holds an invalid program: input 'h0' has role 'state' and state_of 'h_out': a state names/);
  // a loop longer than the steps left (the backends rely on this check)
  throwsBundleError(() => parseBundle(replaced(buf, '"fused":[],"op":"Gather"', '"loop":{"span":99},"a":1')),
    /^bundle holds an invalid program: step 0 \('gather'\) repeats 99 steps but only \d+ remain$/);
  assert.throws(() => parseBundle(new Uint8Array(buf)), /needs an ArrayBuffer/);
});

test("the expression cache stays bounded over many distinct expressions", () => {
  // 200,000 distinct expressions once grew the heap by 83 MiB: the cache must evict.
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc");    // a real collection, so only what the cache keeps is counted
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 200000; i++) evaluateExpr(`x*${i}+${i % 7}`, { x: 1 });
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  assert.ok(grown < 8 * 1024 * 1024, `heap grew by ${(grown / 1048576).toFixed(1)} MiB`);
});
