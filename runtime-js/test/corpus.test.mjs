// The malformed-input corpus (tests/corpus/expected.json): parseBundle gives each bundle's exact error.
import assert from "node:assert/strict";
import { test } from "node:test";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { BundleError, parseBundle } from "../dist/webloom.js";

const corpus = fileURLToPath(new URL("../../tests/corpus/", import.meta.url));
const cases = JSON.parse(readFileSync(corpus + "expected.json", "utf8")).cases.filter((c) => c.file);

test("every corpus bundle is refused with its expected one-line error", () => {
  assert.ok(cases.length >= 15);
  for (const c of cases) {
    const b = readFileSync(corpus + c.file);
    assert.throws(() => parseBundle(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)), (err) => {
      assert.ok(err instanceof BundleError, `${c.file}: ${err}`);
      assert.equal(`${err.name}: ${err.message}`, c.js, c.file);
      assert.ok(!err.message.includes("\n"), c.file);
      return true;
    });
  }
});
