"""The WebGL2 backend in headless Chromium (SwiftShader) against Keras and the numpy interpreter.

SwiftShader emulates the GPU on the CPU, so the Keras catalogue runs its ``small`` subset plus the seed
models too big for it. Page-level hooks (a hidden extension, counted readbacks, a lost context) patch
the page's WebGL2 prototypes before the runtime creates its context.
"""

from __future__ import annotations

import numpy as np
import pytest

from converter.api import compile as compile_graph
from converter.ir.graph import Graph
from tests.browser.fixtures import (assert_close, gru_feeds, gru_graph, length_mask, lstm_feeds, lstm_graph,
                                    seq_dims)
from tests.cases import keras_models


@pytest.mark.parametrize("masked,backwards,zero_output", [(False, False, False), (True, True, False),
                                                          (True, False, True)])
def test_lstm_matches_interpreter(page, bundles, masked, backwards, zero_output):
    feeds = lstm_feeds(5, batch=3, time=7)
    if masked:
        feeds["mask"] = length_mask([7, 3, 0], 7)
        feeds["mask"][1, 0] = 0.0           # a masked first step with a non-zero initial state
    bundles.check_graph(page, lstm_graph(masked, backwards, zero_output=zero_output), feeds, "webgl",
                        f"lstm-{masked}-{backwards}-{zero_output}", seq_dims(feeds["x"]))


def test_tensors_wider_than_one_texture_row(page, bundles):
    """A max texture width of 8 puts every tensor (and each history block) on several rows."""
    rng = np.random.default_rng(8)
    feeds = {"x": rng.uniform(-1, 1, (3, 5, 5)).astype(np.float32),
             "h0": rng.uniform(-1, 1, (3, 6)).astype(np.float32),
             "mask": np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1], [0, 0, 0, 0, 0]], np.float32)}
    bundles.check_graph(page, lstm_graph(True, False, hidden=6), feeds, "webgl", "lstm-narrow",
                        seq_dims(feeds["x"]), max_texture_width=8)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_matches_interpreter(page, bundles, reset_after):
    feeds = gru_feeds()
    bundles.check_graph(page, gru_graph(reset_after), feeds, "webgl", f"gru-{reset_after}",
                        seq_dims(feeds["x"]))


def test_ops_without_recurrence(page, bundles):
    """Gather, Transpose, Concat, Pad, Slice, Tile, Reduce, Softmax, LayerNorm and a fused chain."""
    rng = np.random.default_rng(9)
    g = Graph("ops")
    ids = g.input("ids", "int32", ("batch", 4))
    table = g.const("table", rng.uniform(-1, 1, (7, 3)))
    e = g.add1("Gather", [table, ids])                                      # [b, 4, 3]
    t = g.add1("Transpose", [e], {"perm": (0, 2, 1)})                       # [b, 3, 4]
    c = g.add1("Concat", [t, t], {"axis": 2})                               # [b, 3, 8]
    p = g.add1("Pad", [c], {"pads": ((0, 0), (1, 0), (0, 2)), "value": -0.5})  # [b, 4, 10]
    s = g.add1("Slice", [p], {"axis": 2, "start": 1, "end": -1})            # [b, 4, 8]
    r = g.add1("Reverse", [s], {"axis": 1})
    tl = g.add1("Tile", [r], {"repeats": (1, 2, 1)})                        # [b, 8, 8]
    sm = g.add1("Softmax", [tl], {"axis": 1})
    ln = g.add1("LayerNorm", [sm, g.const("gamma", rng.uniform(0.5, 1.5, (8,))),
                              g.const("beta", rng.uniform(-1, 1, (8,)))], {"epsilon": 1e-3})
    mx = g.add1("Reduce", [ln], {"fn": "max", "axes": (1, 2)})
    act = g.add1("Unary", [g.add1("Binary", [ln, g.const("k", np.float32(0.5))], {"fn": "mul"})],
                  {"fn": "elu", "alpha": 0.7})
    g.outputs = [mx, act]
    bundles.check_graph(page, g, {"ids": rng.integers(0, 7, (2, 4)).astype(np.int32)}, "webgl", "ops")


def test_repeated_runs_identical_without_texture_growth(page, bundles):
    feeds = lstm_feeds(7, batch=2, time=4)
    run = bundles.check_graph(page, lstm_graph(), feeds, "webgl", "lstm-repeat", seq_dims(feeds["x"]),
                              repeat=1000)
    assert run.after_all["bytes"] == run.after_first["bytes"] > 0, "texture memory grew across runs"


# Runs before the runtime is imported: WebGL2 contexts of this page report no EXT_color_buffer_float.
_HIDE_FLOAT_TARGETS = """() => {
  const getExtension = WebGL2RenderingContext.prototype.getExtension;
  WebGL2RenderingContext.prototype.getExtension = function (name) {
    return name === "EXT_color_buffer_float" ? null : getExtension.call(this, name);
  };
}"""


def test_missing_float_render_targets_fall_back(page, bundles):
    """Without float render targets load() names the cause and falls back to wasm, which still runs."""
    graph, feeds = lstm_graph(), lstm_feeds(2, batch=2, time=3)
    bundle = bundles.compile(graph, "webgl", "webgl/lstm-fallback")
    compile_graph(graph, "wasm").save(bundle)
    page.evaluate(_HIDE_FLOAT_TARGETS)
    run = bundles.run_page(page, bundle, feeds, seq_dims(feeds["x"]), backend_order=("webgl", "wasm"))
    assert run.backend == "wasm", run.reasons
    reason = " ".join(r["reason"] for r in run.reasons if r["backend"] == "webgl")
    assert "EXT_color_buffer_float" in reason
    assert_close(run.outputs[graph.outputs[0].name], graph.run(feeds)[0], "y on the wasm fallback")


# Counts readPixels per run (only the requested outputs may be read back), then loses the context:
# the next run must fail with a message naming the cause.
_READS_AND_LOSS = """
  let reads = 0;
  const readPixels = WebGL2RenderingContext.prototype.readPixels;
  WebGL2RenderingContext.prototype.readPixels = function (...a) {
    reads++;
    return readPixels.apply(this, a);
  };
  let gl = null;
  const getContext = OffscreenCanvas.prototype.getContext;
  OffscreenCanvas.prototype.getContext = function (...a) { gl = getContext.apply(this, a); return gl; };
  const [feeds, dims] = args;
  const runner = await webloom.load(base + "/", { backendOrder: ["webgl"] });
  runner.setDims(dims);
  await runner.predict(feeds);
  reads = 0;
  await runner.predict(feeds);
  const readsPerRun = reads;
  gl.getExtension("WEBGL_lose_context").loseContext();
  let lostError = null;
  try { await runner.predict(feeds); } catch (err) { lostError = String(err); }
  return { readsPerRun, outputs: runner.outputs.length, lostError };"""


def test_one_readback_per_output_and_context_loss_is_reported(page, bundles):
    feeds = {name: a.ravel().tolist() for name, a in lstm_feeds(2, batch=2, time=3).items()}
    bundle = bundles.compile(lstm_graph(), "webgl", "webgl/lstm-loss")
    result = bundles.call(page, bundle, _READS_AND_LOSS, feeds, {"batch": 2, "time": 3})
    assert result["readsPerRun"] == result["outputs"] == 3
    assert result["lostError"] is not None and "context was lost" in result["lostError"]


@pytest.mark.parametrize("case", keras_models.SMALL_CASES, ids=lambda c: c.name)
def test_keras_catalogue(page, bundles, case):
    bundles.check_keras_case(page, case, "webgl")


@pytest.mark.parametrize("case", [c for c in keras_models.SEED_CASES if not c.small], ids=lambda c: c.name)
def test_large_seed_models(page, bundles, case):
    """The seed models too big for the catalogue's small subset (LSTM 128 over 16 steps, 2 x LSTM 512)."""
    bundles.check_keras_case(page, case, "webgl")


# int32 inputs live in float textures: exact within +-2^24; an input value beyond is refused, not rounded.
_INT_RANGE = """
  const runner = await webloom.load(base + "/", { backendOrder: ["webgl"] });
  const run = async (a) => {
    const feeds = { a: Int32Array.from(a), b: Int32Array.of(1, 1, 1) };
    try { return Array.from(Object.values(await runner.predict(feeds))[0]); }
    catch (err) { return String(err); }
  };
  return [await run([16777215, -16777216, 7]), await run([1, 16777217, 2])];"""


def test_int32_beyond_float_exactness_is_refused(page, bundles):
    g = Graph("int_add")
    a, b = g.input("a", "int32", (3,)), g.input("b", "int32", (3,))
    g.outputs.append(g.add1("Binary", [a, b], {"fn": "add"}, "y"))
    exact, refused = bundles.call(page, bundles.compile(g, "webgl", "webgl/int-range"), _INT_RANGE)
    assert exact == [16777216, -16777215, 8]
    assert refused.startswith('Error: input "a" holds 16777217 at index 1; WebGL holds int32 exactly'), \
        refused
