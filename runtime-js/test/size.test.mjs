// The runtime's size guard: dist/webloom.js, minified, one file with every backend. Issue 13 asks for at
// most 60 KB, so that a page loading a model does not pay for the runtime what it saves on the weights; the
// guard reads it as 60,000 bytes (stricter than 60 KiB). The packaging test
// (tests/examples/test_packages.py, MAX_RUNTIME_BYTES) checks the same file inside the npm tarball. Over
// budget, the message lists the bytes each source module takes (dist/webloom.modules.json, by build.mjs).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { it } from "node:test";

const MAX_BYTES = 60_000;

function breakdown() {
  const modules = JSON.parse(readFileSync(new URL("../dist/webloom.modules.json", import.meta.url), "utf8"));
  return Object.entries(modules).map(([path, bytes]) => `  ${String(bytes).padStart(6)}  ${path}`).join("\n");
}

it("dist/webloom.js is minified and at most 60 KB", () => {
  const js = readFileSync(new URL("../dist/webloom.js", import.meta.url));
  assert.ok(js.toString().split("\n").length < 20, "webloom.js is not minified");
  if (js.length > MAX_BYTES) {
    assert.fail(`webloom.js is ${js.length} bytes, over its ${MAX_BYTES}-byte budget; bytes per module:\n` +
      breakdown());
  }
});
