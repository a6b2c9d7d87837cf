"""The GPU backends hold the carried state on the device between step()s (docs/design.md section 6): a
plain run() or predict() in between must neither use nor overwrite it, so step(); run(); step() gives what
the same calls give on wasm, whose state lives on the host. The model: runtime-js/fixtures/make_generate.py
(ids -> Embedding -> LSTM(16), h/c carried -> Dense(12) softmax `probs`)."""

from __future__ import annotations

import importlib.util

import numpy as np

from tests.browser.fixtures import ROOT, assert_close, decode

_SPEC = importlib.util.spec_from_file_location("make_generate", ROOT / "runtime-js/fixtures/make_generate.py")
make_generate = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(make_generate)

_INTERLEAVED = """
  const result = {};
  for (const backend of args[0]) {
    const runner = await webloom.load(base + "/", { backendOrder: [backend] });
    const ids = runner.input("ids"), probs = [];
    const read = () => probs.push(Array.from(runner.output("probs").toActual()));
    runner.resetState();
    ids.set(Int32Array.of(3)); await runner.step(); read();
    ids.set(Int32Array.of(1)); await runner.run(); read();
    ids.set(Int32Array.of(4)); await runner.step(); read();
    await runner.predict({ ids: [7] });
    ids.set(Int32Array.of(2)); await runner.step(); read();
    runner.dispose();
    result[backend] = probs;
  }
  return result;
"""


def test_run_and_predict_between_steps_leave_the_held_state_alone(page, bundles):
    out = make_generate.write(bundles.new_dir("state-residency"), ("wasm", "webgpu", "webgl"))
    r = bundles.call(page, out, _INTERLEAVED, ["wasm", "webgpu", "webgl"])
    assert not np.allclose(r["wasm"][0], r["wasm"][2])        # the state carried: step 2 differs
    for backend in ("webgpu", "webgl"):
        for i, (got, want) in enumerate(zip(r[backend], r["wasm"])):
            assert_close(decode(got), np.array(want), f"{backend} call {i}")


# WebGL with MAX_TEXTURE_SIZE 64 and 16-texel rows: a chunk of 200 ids needs a slot of more than 64 rows,
# so bind() fails part-way, after it freed slot textures it was replacing, the held state's among them.
# The failed run must leave the runner as it was: the next chunks continue the state, on a sound layout,
# exactly as the same chunks without the failed one (after resetState()).
_FAILED_LAYOUT = """
  const getParameter = WebGL2RenderingContext.prototype.getParameter;
  WebGL2RenderingContext.prototype.getParameter = function (p) {
    return p === 0x0d33 ? 64 : getParameter.call(this, p);
  };
  const runner = await webloom.load(base + "/", { backendOrder: ["webgl"] });
  const ids = runner.input("ids");
  const chunk = async (n) => {
    ids.set(Int32Array.from({ length: n }, (_, i) => (i * 5 + n) % 12), [1, n]);
    try { await runner.step(); return Array.from(runner.output("probs").toActual()); }
    catch (err) { return String(err); }
  };
  const run = async (lengths) => {
    const out = [];
    for (const n of lengths) out.push(await chunk(n));
    return out;
  };
  const got = await run([3, 4, 200, 4, 2]);
  runner.resetState();
  const want = await run([3, 4, 4, 2]);
  runner.dispose();
  return [got, want];
"""


def test_a_failed_layout_leaves_the_held_state_as_it_was(page, bundles):
    from converter.api import compile as compile_graph
    out = bundles.new_dir("state-residency/failed-layout")
    compile_graph(make_generate.step_graph(time="time"), "webgl", max_texture_width=16).save(out)
    got, want = bundles.call(page, out, _FAILED_LAYOUT)
    assert isinstance(got[2], str) and "needs a 16x" in got[2] and "use smaller inputs" in got[2], got[2]
    assert not np.allclose(want[0], want[2])          # the state carries: the chunks depend on it
    for i, j in ((0, 0), (1, 1), (3, 2), (4, 3)):
        assert_close(decode(got[i]), np.array(want[j]), f"chunk {i} (the failed one is chunk 2)")
