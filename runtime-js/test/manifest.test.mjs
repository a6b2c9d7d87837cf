// model.json: load() refuses a bundle the folder's manifest does not list (another conversion's), and
// predict() results carry their shapes.
import assert from "node:assert/strict";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { BundleError, load } from "../dist/webloom.js";
import { makeFixtures, ramp } from "../fixtures/helpers.mjs";

let fx;
before(() => { fx = makeFixtures(); });
after(() => fx.cleanup());

function folderWith(name, bundles) {
  const dir = join(fx.dir, name);
  cpSync(join(fx.dir, "affine"), dir, { recursive: true });
  const bytes = readFileSync(join(dir, "model.wasm.wlm"));
  const entry = { file: "model.wasm.wlm", bytes: bytes.length, sha256: "0", crc32: bytes.readUInt32LE(16) };
  const model = { name: "affine", file: "m.keras", sha256: "ab".repeat(32) };
  const manifest = { format: "webloom-output/1", model, converter: { name: "webloom", version: "0" },
    weights: "float32", bundles: bundles(entry), signature: {} };
  writeFileSync(join(dir, "model.json"), JSON.stringify(manifest));
  return dir;
}

describe("the manifest", () => {
  it("loads a bundle the manifest lists", async () => {
    const runner = await load(folderWith("listed", (e) => ({ wasm: e })), { backendOrder: ["wasm"] });
    const out = await runner.predict({ x: ramp(4), ids: [2] });
    assert.deepEqual(Array.from(out.y.shape), runner.output("y").dims);
    assert.equal(out.y.length, out.y.shape.reduce((a, b) => a * b, 1));
  });

  it("refuses a bundle the manifest does not list, naming the model", async () => {
    const dir = folderWith("unlisted", (e) => ({ webgpu: { ...e, file: "model.webgpu.wlm" } }));
    await assert.rejects(load(dir, { backendOrder: ["wasm"] }),
      (err) => err instanceof BundleError &&
        /not part of the model in model.json, m\.keras/.test(err.message));
    await assert.rejects(load(join(dir, "model.wasm.wlm")), /left by another conversion/);
  });

  it("refuses a bundle that differs from the one listed, unless manifest: false", async () => {
    const dir = folderWith("changed", (e) => ({ wasm: { ...e, crc32: (e.crc32 + 1) >>> 0 } }));
    await assert.rejects(load(dir, { backendOrder: ["wasm"] }),
      /is not the bundle model\.json lists for wasm/);
    await load(dir, { backendOrder: ["wasm"], manifest: false });
  });

  it("says when model.json is not a manifest", async () => {
    const dir = folderWith("broken", (e) => ({ wasm: e }));
    writeFileSync(join(dir, "model.json"), "{not json");
    await assert.rejects(load(dir, { backendOrder: ["wasm"] }), /model\.json is not a Webloom manifest/);
  });
});
