"""Issue 14, generation on the GPU: runner.generate() on WebGPU runs every step, the sampling kernel
(kernels/webgpu/sample.wgsl.j2) and the state copies on the device with one submit and one readback
per call, and chooses the tokens the JS sampler chooses (wasm's generate() is a loop of steps with
sample() and drawAt(seed, k)); WebGL draws its sampler (kernels/webgl/sample.glsl.j2) after every run and
reads the tokens back once, the state kept in textures. The model: runtime-js/fixtures/make_generate.py
(Embedding -> stateful LSTM(16) -> Dense(12) softmax)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from tests.browser.fixtures import ROOT, assert_close, decode

_SPEC = importlib.util.spec_from_file_location("make_generate", ROOT / "runtime-js/fixtures/make_generate.py")
make_generate = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(make_generate)

# generate() per backend for three samplers, the state afterwards (predict() on one more id reads the
# state outputs), and the work two lengths of generation did (runStats and the page's own submit/map counts)
_GENERATE = """
  const submit = GPUQueue.prototype.submit, mapAsync = GPUBuffer.prototype.mapAsync;
  const seen = { submits: 0, maps: 0, gl: 0 };
  GPUQueue.prototype.submit = function (...a) { seen.submits++; return submit.apply(this, a); };
  GPUBuffer.prototype.mapAsync = function (...a) { seen.maps++; return mapAsync.apply(this, a); };
  const GL = WebGL2RenderingContext.prototype, reads = ["readPixels", "getBufferSubData", "clientWaitSync"];
  const glOwn = reads.map((name) => GL[name]);
  reads.forEach((name, i) => { GL[name] = function (...a) { seen.gl++; return glOwn[i].apply(this, a); }; });
  const result = {};
  try {
    for (const backend of args[0]) {
      const runner = await webloom.load(base + "/", { backendOrder: [backend] });
      const r = { backend: runner.backendName, tokens: [], counts: [] };
      for (const [temperature, topK, seed] of args[1]) {
        runner.resetState();
        const tokens = await runner.generate({ steps: 24, prime: [3, 1, 4], temperature, topK, seed });
        r.tokens.push(Array.from(tokens));
      }
      const out = await runner.predict({ ids: [2] });
      r.state = [Array.from(out.h_next), Array.from(out.c_next)];
      for (const steps of [4, 16]) {
        runner.resetState();
        runner.input("ids").set(Int32Array.of(5));
        const [a, s0] = [runner.runStats, { ...seen }];
        await runner.generate({ steps, temperature: 0.9, seed: 3 });
        const b = runner.runStats;
        r.counts.push({ steps, dispatches: b.dispatches - a.dispatches, submits: b.submits - a.submits,
                        readbacks: b.readbacks - a.readbacks, pageSubmits: seen.submits - s0.submits,
                        pageMaps: seen.maps - s0.maps, pageReads: seen.gl - s0.gl });
      }
      runner.dispose();
      result[backend] = r;
    }
  } finally {
    GPUQueue.prototype.submit = submit;
    GPUBuffer.prototype.mapAsync = mapAsync;
    reads.forEach((name, i) => { GL[name] = glOwn[i]; });
  }
  return result;
"""
SAMPLERS = [[0, 0, 1], [0.8, 0, 7], [1.3, 5, 11]]


def test_generate_on_the_device_chooses_the_js_samplers_tokens(page, bundles):
    out = make_generate.write(bundles.new_dir("generate"), ("wasm", "webgpu", "webgl"))
    r = bundles.call(page, out, _GENERATE, ["wasm", "webgpu", "webgl"], SAMPLERS)
    for backend in ("webgpu", "webgl"):
        assert r[backend]["backend"] == backend
        assert r[backend]["tokens"] == r["wasm"]["tokens"], backend
        for got, want in zip(r[backend]["state"], r["wasm"]["state"]):
            assert_close(decode(got), np.array(want), f"state after generate() on {backend}")
    assert len(set(map(tuple, r["wasm"]["tokens"]))) == 3        # the samplers choose differently
    short, long = r["webgpu"]["counts"]
    # WebGPU: one submit and one readback per call, whatever its length; per token the program's
    # dispatches and the sampler's
    for c in (short, long):
        assert (c["submits"], c["readbacks"], c["pageSubmits"], c["pageMaps"]) == (1, 1, 1, 1), c
    per_token = (long["dispatches"] - short["dispatches"]) / 12
    assert per_token == short["dispatches"] / 4 == long["dispatches"] / 16 and per_token >= 2, r["webgpu"]
    # WebGL: one readPixels per call (the page's own count too); per token the program's draws and the
    # sampler's two
    short, long = r["webgl"]["counts"]
    for c in (short, long):
        assert (c["readbacks"], c["pageReads"]) == (1, 1), c
    per_token = (long["dispatches"] - short["dispatches"]) / 12
    assert per_token == short["dispatches"] / 4 == long["dispatches"] / 16 and per_token >= 3, r["webgl"]
    assert page.errors == []


# a model with a symbolic batch: generate() makes one sequence per call on the GPUs too (the check is the
# runner's, before the device loop) and refuses batch 2 with one line; topK 2^31 chooses as topK 0
_BATCH = """
  const result = {};
  for (const backend of args[0]) {
    const runner = await webloom.load(base + "/", { backendOrder: [backend] });
    const one = await runner.generate({ steps: 3, prime: [3, 1], seed: 1 });
    // a topK beyond V keeps all on the GPU too (the kernels take it as a u32 / int: the runner clamps it)
    const tops = [];
    for (const topK of [0, 2 ** 31]) {
      runner.resetState();
      tops.push(Array.from(await runner.generate({ steps: 12, prime: [3], seed: 5, topK })).join());
    }
    runner.setDims({ batch: 2 });
    const error = await runner.generate({ steps: 3, prime: [3, 1] }).then(() => "", (e) => e.message);
    result[backend] = [runner.backendName, one.length, error, tops];
    runner.dispose();
  }
  return result;
"""


def test_generate_refuses_batch_over_one(page, bundles):
    out = make_generate.write(bundles.new_dir("generate-batch"), ("webgpu", "webgl"), batch="batch")
    r = bundles.call(page, out, _BATCH, ["webgpu", "webgl"])
    for backend in ("webgpu", "webgl"):
        name, length, error, tops = r[backend]
        assert (name, length) == (backend, 3)
        assert tops[0] == tops[1], (backend, tops)
        assert error.startswith("generate: batch 2 > 1; ") and error.endswith("or use step()"), error
    assert page.errors == []


# the state step() carried is the runner's: changing the batch resets it (as a fresh runner's first step),
# a snapshot works only on the runner that took it, and freeState()/dispose() destroy its device copies
_STATE = """
  const GL = WebGL2RenderingContext.prototype, del = GL.deleteTexture, destroy = GPUBuffer.prototype.destroy;
  let freed = 0;
  GL.deleteTexture = function (...a) { freed++; return del.apply(this, a); };
  GPUBuffer.prototype.destroy = function (...a) { freed++; return destroy.apply(this, a); };
  const result = {}, runners = {};
  try {
    for (const backend of args[0]) {
      const [runner, fresh] = [await webloom.load(base + "/", { backendOrder: [backend] }),
                               await webloom.load(base + "/", { backendOrder: [backend] })];
      runner.input("ids").set(Int32Array.of(3));
      await runner.step();
      const snap = runner.getState();
      const a = await runner.predict({ ids: [3, 5] }), b = await fresh.predict({ ids: [3, 5] });
      const f0 = freed;
      runner.freeState(snap);
      const freedNow = freed - f0;
      const refused = (() => { try { runner.setState(snap); return ""; } catch (e) { return e.message; } })();
      runners[backend] = [runner, fresh];
      result[backend] = { same: Array.from(a.probs).join() === Array.from(b.probs).join(), freedNow, refused };
    }
    for (const [from, to] of [["webgpu", "wasm"], ["webgpu", "webgl"]]) {
      const src = runners[from][0];
      src.setDims({});
      src.input("ids").set(Int32Array.of(1));
      await src.step();
      try { runners[to][0].setState(src.getState()); result[from + to] = ""; } catch (e) { result[from + to] = e.message; }
    }
    Object.values(runners).flat().forEach((r) => r.dispose());
  } finally {
    GL.deleteTexture = del;
    GPUBuffer.prototype.destroy = destroy;
  }
  return result;
"""


def test_state_is_the_runners_own(page, bundles):
    out = make_generate.write(bundles.new_dir("generate-state"), ("webgpu", "webgl", "wasm"), batch="batch")
    r = bundles.call(page, out, _STATE, ["webgpu", "webgl", "wasm"])
    for backend in ("webgpu", "webgl", "wasm"):
        assert r[backend]["same"], backend
        assert r[backend]["freedNow"] == (0 if backend == "wasm" else 2), r[backend]
        want = "setState: the snapshot is from freeState()" if backend != "wasm" else ""
        assert r[backend]["refused"].startswith(want), r[backend]
    for pair in ("webgpuwasm", "webgpuwebgl"):
        assert r[pair].startswith("setState: the snapshot is from another runner (webgpu); "), r
    assert page.errors == []
