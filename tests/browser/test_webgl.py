"""The WebGL2 backend in headless Chromium (SwiftShader) against Keras and the numpy interpreter.

The runtime under test is built from runtime-js/src with the webgl context registered (so these tests do
not depend on how the package's default build wires backends). Chromium is launched here with the ANGLE
SwiftShader flags WebGL2 + EXT_color_buffer_float need. SwiftShader emulates the GPU on the CPU, so the
Keras catalogue runs its ``small`` subset plus the small seed models.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from converter.backends import webgl
from converter.ir.graph import Graph

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_DIR = ROOT / "runtime-js"
TOL = 1e-4
WEBGL_FLAGS = ["--no-sandbox", "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--no-first-run", "--disable-quic"]

_ENTRY = """
export * from "{src}/index.ts";
import {{ registerBackend }} from "{src}/backends/registry.ts";
import {{ WebglContext }} from "{src}/backends/webgl/context.ts";
registerBackend("webgl", () => new WebglContext());
"""

_BUILD = """
import {{ build }} from "esbuild";
await build({{ entryPoints: [{entry}], outfile: {out}, bundle: true, format: "esm", platform: "neutral",
  target: "es2022", external: ["node:*"], logLevel: "error" }});
"""

# Runs a bundle dir `repeat` times with the same feeds; returns the first run's outputs, whether every
# run matched it bit for bit, and the texture bytes the context held after the first and the last run.
_RUN = """async ([script, dir, feeds, repeat, dims]) => {
  const webloom = await import(script);
  const runner = await webloom.load(dir, { backendOrder: ["webgl"] });
  if (dims) runner.setDims(dims);
  const first = await runner.predict(feeds);
  const bytesAfterFirst = runner.memoryBytes;
  let identical = true;
  for (let i = 1; i < repeat; i++) {
    const again = await runner.predict(feeds);
    for (const [name, values] of Object.entries(first)) {
      const other = again[name];
      for (let j = 0; j < values.length; j++) {
        if (!Object.is(values[j], other[j])) identical = false;
      }
    }
  }
  const outputs = {};
  for (const [name, values] of Object.entries(first)) outputs[name] = Array.from(values);
  const bytesAfterAll = runner.memoryBytes;
  runner.dispose();
  return { backend: runner.backendName, outputs, identical, bytesAfterFirst, bytesAfterAll,
           reasons: runner.fallbackReasons };
}"""

# A page without EXT_color_buffer_float: load() must name the cause and fall back to wasm.
_NO_FLOAT = """async ([script, dir]) => {
  const getExtension = WebGL2RenderingContext.prototype.getExtension;
  WebGL2RenderingContext.prototype.getExtension = function (name) {
    return name === "EXT_color_buffer_float" ? null : getExtension.call(this, name);
  };
  const webloom = await import(script);
  try {
    const runner = await webloom.load(dir, { backendOrder: ["webgl", "wasm"] });
    return { backend: runner.backendName, reasons: runner.fallbackReasons };
  } catch (err) {
    return { error: String(err) };
  }
}"""


@pytest.fixture(scope="session")
def webgl_browser(playwright):
    chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=WEBGL_FLAGS, headless=True)
    yield chromium
    chromium.close()


@pytest.fixture
def gl_page(webgl_browser, http_server):
    context = webgl_browser.new_context()
    pg = context.new_page()
    pg.goto(f"{http_server}/index.html")
    yield pg
    context.close()


@pytest.fixture(scope="session")
def webgl_runtime(web_root) -> Path:
    """webloom.js with the webgl backend registered, built once per session into the web root."""
    entry = web_root / "webgl_entry.ts"
    entry.write_text(_ENTRY.format(src=(RUNTIME_DIR / "src").as_posix()))
    out = web_root / "webloom-webgl.js"
    script = _BUILD.format(entry=json.dumps(str(entry)), out=json.dumps(str(out)))
    proc = subprocess.run(["node", "--input-type=module", "-e", script], cwd=RUNTIME_DIR,
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        pytest.fail(f"building the webgl test runtime failed: {proc.stderr.strip()}")
    return out


def _run(page, http_server, web_root, runtime, bundle_dir: Path, feeds: dict, repeat: int = 1,
         dims=None) -> dict:
    rel = bundle_dir.relative_to(web_root).as_posix()
    payload = {k: np.asarray(v).ravel().tolist() for k, v in feeds.items()}
    result = page.evaluate(_RUN, [f"{http_server}/{runtime.name}", f"{http_server}/{rel}/", payload, repeat,
                                  dims])
    assert result["backend"] == "webgl", f"fell back: {result['reasons']}"
    result["arrays"] = {k: np.array([np.nan if x is None else x for x in v], np.float64)
                        for k, v in result["outputs"].items()}
    return result


def _dims(x) -> dict:
    """batch and time of a [batch, time, features] feed (a mask input alone cannot tell them apart)."""
    return {"batch": int(x.shape[0]), "time": int(x.shape[1])}


def _close(got, want, what: str) -> None:
    want = np.asarray(want, np.float64).ravel()
    assert got.shape == want.shape, f"{what}: {got.shape} values, expected {want.shape}"
    np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL, err_msg=what)


def _bundle(web_root, name: str, graph: Graph, **opts) -> Path:
    out = web_root / f"webgl-{name}"
    out.mkdir(parents=True, exist_ok=True)
    webgl.compile(graph, out, **opts)
    return out


def _lstm_graph(masked: bool, backwards: bool, hidden: int = 8, zero_output: bool = False) -> Graph:
    rng = np.random.default_rng(3)
    g = Graph("lstm")
    x = g.input("x", "float32", ("batch", "time", 5))
    mask = g.input("mask", "float32", ("batch", "time")) if masked else None
    h0 = g.input("h0", "float32", ("batch", hidden))
    W = g.const("W", rng.uniform(-1, 1, (5, 4 * hidden)))
    U = g.const("U", rng.uniform(-0.7, 0.7, (hidden, 4 * hidden)))
    b = g.const("b", rng.uniform(-1, 1, (4 * hidden,)))
    y, h, c = g.add("LSTM", [x, W, U, b, h0, None, mask],
                    {"return_sequences": True, "go_backwards": backwards,
                     "zero_output_for_mask": zero_output})
    g.outputs = [y, h, c]
    return g


def _check_graph(page, http_server, web_root, runtime, name, graph, feeds, dims=None, **opts):
    want = graph.run(feeds)        # before compile: compile optimizes the graph in place
    names = [v.name for v in graph.outputs]
    bundle = _bundle(web_root, name, graph, **opts)
    got = _run(page, http_server, web_root, runtime, bundle, feeds, dims=dims)["arrays"]
    for out_name, w in zip(names, want):
        _close(got[out_name], w, f"{name}: {out_name}")


@pytest.mark.parametrize("masked,backwards,zero_output", [(False, False, False), (True, True, False),
                                                          (True, False, True)])
def test_lstm_matches_interpreter(gl_page, http_server, web_root, webgl_runtime, masked, backwards,
                                  zero_output):
    rng = np.random.default_rng(5)
    feeds = {"x": rng.uniform(-1, 1, (3, 7, 5)).astype(np.float32),
             "h0": rng.uniform(-1, 1, (3, 8)).astype(np.float32)}
    if masked:
        feeds["mask"] = (np.arange(7)[None, :] < np.array([7, 3, 0])[:, None]).astype(np.float32)
        feeds["mask"][1, 0] = 0.0           # a masked first step with a non-zero initial state
    graph = _lstm_graph(masked, backwards, zero_output=zero_output)
    _check_graph(gl_page, http_server, web_root, webgl_runtime, f"lstm-{masked}-{backwards}-{zero_output}",
                 graph, feeds, _dims(feeds["x"]))


def test_tensors_wider_than_one_texture_row(gl_page, http_server, web_root, webgl_runtime):
    """A max texture width of 8 puts every tensor (and each history block) on several rows."""
    rng = np.random.default_rng(8)
    feeds = {"x": rng.uniform(-1, 1, (3, 5, 5)).astype(np.float32),
             "h0": rng.uniform(-1, 1, (3, 6)).astype(np.float32),
             "mask": np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1], [0, 0, 0, 0, 0]], np.float32)}
    graph = _lstm_graph(True, False, hidden=6)
    _check_graph(gl_page, http_server, web_root, webgl_runtime, "lstm-narrow", graph, feeds,
                 _dims(feeds["x"]), max_texture_width=8)


def _gru_graph(reset_after: bool, hidden: int = 6) -> Graph:
    rng = np.random.default_rng(4)
    g = Graph("gru")
    x = g.input("x", "float32", ("batch", "time", 3))
    mask = g.input("mask", "float32", ("batch", "time"))
    W = g.const("W", rng.uniform(-1, 1, (3, 3 * hidden)))
    U = g.const("U", rng.uniform(-0.8, 0.8, (hidden, 3 * hidden)))
    rb = g.const("rb", rng.uniform(-1, 1, (3 * hidden,))) if reset_after else None
    y, h = g.add("GRU", [x, W, U, None, rb, None, mask],
                 {"return_sequences": False, "reset_after": reset_after, "zero_output_for_mask": True})
    g.outputs = [y, h]
    return g


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_matches_interpreter(gl_page, http_server, web_root, webgl_runtime, reset_after):
    rng = np.random.default_rng(6)
    feeds = {"x": rng.uniform(-1, 1, (2, 5, 3)).astype(np.float32),
             "mask": np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1]], np.float32)}
    _check_graph(gl_page, http_server, web_root, webgl_runtime, f"gru-{reset_after}", _gru_graph(reset_after),
                 feeds, _dims(feeds["x"]))


def test_ops_without_recurrence(gl_page, http_server, web_root, webgl_runtime):
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
    feeds = {"ids": rng.integers(0, 7, (2, 4)).astype(np.int32)}
    _check_graph(gl_page, http_server, web_root, webgl_runtime, "ops", g, feeds)


def test_repeated_runs_identical_without_texture_growth(gl_page, http_server, web_root, webgl_runtime):
    rng = np.random.default_rng(7)
    feeds = {"x": rng.uniform(-1, 1, (2, 4, 5)).astype(np.float32),
             "h0": rng.uniform(-1, 1, (2, 8)).astype(np.float32)}
    graph = _lstm_graph(False, False)
    want = graph.run(feeds)
    names = [v.name for v in graph.outputs]
    bundle = _bundle(web_root, "lstm-repeat", graph)
    result = _run(gl_page, http_server, web_root, webgl_runtime, bundle, feeds, repeat=1000,
                  dims=_dims(feeds["x"]))
    assert result["identical"], "a repeated run gave different outputs"
    assert result["bytesAfterAll"] == result["bytesAfterFirst"] > 0, "texture memory grew across runs"
    _close(result["arrays"][names[0]], want[0], "y after 1000 runs")


def test_missing_float_render_targets_fall_back(gl_page, http_server, web_root, webgl_runtime):
    from converter.backends.wasm import compile_wasm
    graph = _lstm_graph(False, False)
    bundle = _bundle(web_root, "lstm-fallback", _lstm_graph(False, False))
    compile_wasm(graph, bundle)
    rel = bundle.relative_to(web_root).as_posix()
    result = gl_page.evaluate(_NO_FLOAT, [f"{http_server}/{webgl_runtime.name}", f"{http_server}/{rel}/"])
    assert result.get("backend") == "wasm", result
    reason = " ".join(r["reason"] for r in result["reasons"] if r["backend"] == "webgl")
    assert "EXT_color_buffer_float" in reason


# Counts readPixels per run (only the requested outputs may be read back), then loses the context:
# the next run must fail with a message naming the cause.
_READS_AND_LOSS = """async ([script, dir, feeds, dims]) => {
  let reads = 0;
  const readPixels = WebGL2RenderingContext.prototype.readPixels;
  WebGL2RenderingContext.prototype.readPixels = function (...args) {
    reads++;
    return readPixels.apply(this, args);
  };
  let gl = null;
  const getContext = OffscreenCanvas.prototype.getContext;
  OffscreenCanvas.prototype.getContext = function (...args) { gl = getContext.apply(this, args); return gl; };
  const webloom = await import(script);
  const runner = await webloom.load(dir, { backendOrder: ["webgl"] });
  runner.setDims(dims);
  await runner.predict(feeds);
  reads = 0;
  await runner.predict(feeds);
  const readsPerRun = reads;
  gl.getExtension("WEBGL_lose_context").loseContext();
  let lostError = null;
  try { await runner.predict(feeds); } catch (err) { lostError = String(err); }
  return { readsPerRun, outputs: runner.outputs.length, lostError };
}"""


def test_one_readback_per_output_and_context_loss_is_reported(gl_page, http_server, web_root, webgl_runtime):
    rng = np.random.default_rng(2)
    feeds = {"x": rng.uniform(-1, 1, 2 * 3 * 5).tolist(), "h0": rng.uniform(-1, 1, 2 * 8).tolist()}
    bundle = _bundle(web_root, "lstm-loss", _lstm_graph(False, False))
    rel = bundle.relative_to(web_root).as_posix()
    args = [f"{http_server}/{webgl_runtime.name}", f"{http_server}/{rel}/", feeds, {"batch": 2, "time": 3}]
    result = gl_page.evaluate(_READS_AND_LOSS, args)
    assert result["readsPerRun"] == result["outputs"] == 3
    assert result["lostError"] is not None and "context was lost" in result["lostError"]


def _keras_cases():
    from tests.cases import keras_models
    return keras_models.SMALL_CASES


@pytest.mark.parametrize("case", _keras_cases(), ids=lambda c: c.name)
def test_keras_catalogue(gl_page, http_server, web_root, webgl_runtime, case):
    from converter.api import from_keras
    from tests.cases import keras_models
    made = keras_models.materialize(case, keras_models.default_cache_dir())
    graph = from_keras(made.model_path)
    feeds_list = keras_models.feeds(graph, made.inputs)
    feeds = {v.name: a for v, a in zip(graph.inputs, feeds_list)}
    out_names = [v.name for v in graph.outputs]
    bundle = _bundle(web_root, f"keras-{case.name}", graph)
    got = _run(gl_page, http_server, web_root, webgl_runtime, bundle, feeds)["arrays"]
    for name, want in zip(out_names, made.outputs):
        _close(got[name], want, f"{case.name} output {name}")


def _large_seed_cases():
    from tests.cases import keras_models
    return [c for c in keras_models.SEED_CASES if not c.small]


@pytest.mark.parametrize("case", _large_seed_cases(), ids=lambda c: c.name)
def test_large_seed_models(gl_page, http_server, web_root, webgl_runtime, case):
    """The seed models too big for the catalogue's small subset (LSTM 128 over 16 steps, 2 x LSTM 512)."""
    test_keras_catalogue(gl_page, http_server, web_root, webgl_runtime, case)
