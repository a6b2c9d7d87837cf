// The runtime's size budget (issue 13): dist/webloom.js, minified, at most 60 KB. The packaging test
// (tests/examples/test_packages.py) checks the same file inside the npm tarball.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { it } from "node:test";

it("dist/webloom.js is minified and at most 60 KB", () => {
  const js = readFileSync(new URL("../dist/webloom.js", import.meta.url));
  assert.ok(js.length <= 60 * 1024, `webloom.js is ${js.length} bytes`);
  assert.ok(js.toString().split("\n").length < 20, "webloom.js is not minified");
});
