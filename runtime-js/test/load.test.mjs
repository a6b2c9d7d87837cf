// load(): directories, files, paths and URLs; backend fallback with reasons; damaged bundles.
import assert from "node:assert/strict";
import { after, before, describe, it, mock } from "node:test";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { BundleError, load, registerBackend, WasmContext } from "../dist/webloom.js";
import { affine, makeFixtures, ramp } from "../fixtures/helpers.mjs";

let fx;
before(() => { fx = makeFixtures(); });
after(() => fx.cleanup());

/** A wasm context that throws in one set-up phase (registered under the name "flaky"). */
function flakyIn(phase) {
  return () => {
    const context = new WasmContext();
    Object.defineProperty(context, "name", { value: "flaky" });
    context[phase] = async () => { throw new Error(`${phase} refused on purpose`); };
    return context;
  };
}

async function checkAffine(runner) {
  const out = await runner.predict({ x: ramp(4), ids: [2] });
  assert.deepEqual(out.y, affine(ramp(4), fx.expected));
}

describe("where a bundle comes from", () => {
  it("loads a directory as a filesystem path, with or without a trailing slash", async () => {
    await checkAffine(await load(join(fx.dir, "affine"), { backendOrder: ["wasm"] }));
    await checkAffine(await load(join(fx.dir, "affine") + "/", { backendOrder: ["wasm"] }));
  });

  it("loads a file: URL and a bundle file directly (its own backend, ignoring backendOrder)", async () => {
    await checkAffine(await load(pathToFileURL(join(fx.dir, "affine") + "/"), { backendOrder: ["wasm"] }));
    const runner = await load(join(fx.dir, "affine", "model.wasm.wlm"), { backendOrder: ["webgpu"] });
    assert.equal(runner.backendName, "wasm");
    await checkAffine(runner);
  });

  it("reports progress with the byte counts", async () => {
    const seen = [];
    await load(join(fx.dir, "affine"), { backendOrder: ["wasm"], progress: (loaded, total, p) => seen.push({ ...p, args: [loaded, total] }) });
    assert.ok(seen.length >= 1);
    const last = seen.at(-1);
    assert.equal(last.backend, "wasm");
    assert.equal(last.loaded, last.total);
    assert.ok(last.loaded > 1000);
    assert.deepEqual(last.args, [last.loaded, last.total]);
  });

  it("says which file is missing", async () => {
    await assert.rejects(load(join(fx.dir, "nowhere"), { backendOrder: ["wasm"] }),
      /no backend could load .*nowhere: wasm: .*nowhere\/model\.wasm\.wlm not found/);
    await assert.rejects(load(join(fx.dir, "nowhere", "model.wasm.wlm")), /bundle file .* not found/);
    await assert.rejects(load(fx.dir, { backendOrder: [] }), /backendOrder is empty/);
  });
});

describe("backend fallback", () => {
  for (const phase of ["init", "compile", "upload"]) {
    it(`falls through a backend whose ${phase} throws and keeps the reason`, async (t) => {
      registerBackend("flaky", flakyIn(phase));
      const warn = t.mock.method(console, "warn", () => {});
      const order = ["webgpu", "no-such-backend", "flaky", "wasm"];
      const runner = await load(join(fx.dir, "affine"), { backendOrder: order });
      assert.equal(runner.backendName, "wasm");
      assert.deepEqual(runner.fallbackReasons.map((r) => r.backend), ["webgpu", "no-such-backend", "flaky"]);
      // Node has no navigator.gpu: the real WebGPU backend fails at init and is skipped
      assert.match(runner.fallbackReasons[0].reason, /init failed: WebGPU is not available here/);
      assert.match(runner.fallbackReasons[1].reason, /not built into this runtime/);
      assert.match(runner.fallbackReasons[2].reason, new RegExp(`${phase} failed: ${phase} refused on purpose`));
      assert.equal(warn.mock.callCount(), 1);
      assert.match(warn.mock.calls[0].arguments[0], /using backend wasm; skipped webgpu .*no-such-backend.*flaky/);
      await checkAffine(runner);
    });
  }

  it("uses the first working backend without warning", async (t) => {
    registerBackend("flaky", () => {
      const context = new WasmContext();
      Object.defineProperty(context, "name", { value: "flaky" });
      return context;
    });
    const warn = t.mock.method(console, "warn", () => {});
    const runner = await load(join(fx.dir, "affine"), { backendOrder: ["flaky", "wasm"] });
    assert.equal(runner.backendName, "flaky");
    assert.deepEqual(runner.fallbackReasons, []);
    assert.equal(warn.mock.callCount(), 0);
    await checkAffine(runner);
  });

  it("skips a backend whose bundle file is missing", async (t) => {
    registerBackend("flaky", flakyIn("never"));
    t.mock.method(console, "warn", () => {});
    const runner = await load(join(fx.dir, "state"), { backendOrder: ["flaky", "wasm"] });
    assert.equal(runner.backendName, "wasm");
    assert.match(runner.fallbackReasons[0].reason, /state\/model\.flaky\.wlm not found/);
  });

  it("fails with every reason when no backend works", async () => {
    registerBackend("flaky", flakyIn("compile"));
    await assert.rejects(load(join(fx.dir, "affine"), { backendOrder: ["no-such-backend", "flaky"] }),
      /no backend could load .*: no-such-backend: not built into this runtime .*; flaky: compile failed: compile refused on purpose/);
  });
});

describe("damaged bundles", () => {
  for (const kind of ["truncated", "corrupted"]) {
    it(`a ${kind} bundle rejects load() with a BundleError`, async () => {
      await assert.rejects(load(join(fx.dir, kind), { backendOrder: ["wasm"] }), (err) => {
        assert.ok(err instanceof BundleError, `expected a BundleError, got ${err}`);
        assert.ok(err.message.length > 10 && !err.message.includes("\n"), err.message);
        return true;
      });
      await assert.rejects(load(join(fx.dir, kind, "model.wasm.wlm")), BundleError);
    });
  }
});
