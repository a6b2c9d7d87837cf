// The runtime's size guard: dist/webloom.js, minified. Issue 13 asks for at most 60 KiB, so that a page
// loading a model does not pay for the runtime what it saves on the weights; after generate(), on-device
// state and wasm threads it is 65,823 bytes (the issue stays open for this), so the guard holds it at
// 64.5 KiB until the 60 KiB target is met. The packaging test
// (tests/examples/test_packages.py, MAX_RUNTIME_BYTES) checks the same file inside the npm tarball. Over
// budget, the message lists the bytes each source module takes (dist/webloom.modules.json, by build.mjs).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { it } from "node:test";

const MAX_BYTES = 64.5 * 1024;     // issue 13 target: 60 * 1024 (not met yet)

function breakdown() {
  const modules = JSON.parse(readFileSync(new URL("../dist/webloom.modules.json", import.meta.url), "utf8"));
  return Object.entries(modules).map(([path, bytes]) => `  ${String(bytes).padStart(6)}  ${path}`).join("\n");
}

it("dist/webloom.js is minified and at most 64.5 KiB", () => {
  const js = readFileSync(new URL("../dist/webloom.js", import.meta.url));
  assert.ok(js.toString().split("\n").length < 20, "webloom.js is not minified");
  if (js.length > MAX_BYTES) {
    assert.fail(`webloom.js is ${js.length} bytes, over its ${MAX_BYTES}-byte budget; bytes per module:\n` +
      breakdown());
  }
});
