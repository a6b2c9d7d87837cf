"""The WebGPU backend in headless Chromium (SwiftShader) against Keras and the numpy interpreter.

The runtime under test is built from runtime-js/src with the webgpu context registered (so these tests
do not depend on how the package's default build wires backends). SwiftShader emulates the GPU on the
CPU; the whole Keras catalogue still runs, the large seed models (LSTM 128 over 16 steps, 2 x LSTM 512)
included, in about 30 s together.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from converter.backends import webgpu
from converter.ir.graph import Graph

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_DIR = ROOT / "runtime-js"
TOL = 1e-4

_ENTRY = """
export * from "{src}/index.ts";
import {{ registerBackend }} from "{src}/backends/registry.ts";
import {{ WebGpuContext }} from "{src}/backends/webgpu/context.ts";
export {{ liveBuffers }} from "{src}/backends/webgpu/buffer-pool.ts";
export {{ webgpuAdapterInfo }} from "{src}/backends/webgpu/device.ts";
registerBackend("webgpu", () => new WebGpuContext());
"""

_BUILD = """
import {{ build }} from "esbuild";
await build({{ entryPoints: [{entry}], outfile: {out}, bundle: true, format: "esm", platform: "neutral",
  target: "es2022", external: ["node:*"], logLevel: "error" }});
"""

# Runs a bundle dir `repeat` times with the same feeds; returns the outputs of the first and the last
# run, whether every run matched the first bit for bit, and the live GPU buffer counts.
_RUN = """async ([script, dir, feeds, repeat, dims]) => {
  const webloom = await import(script);
  const info = await webloom.webgpuAdapterInfo();
  const runner = await webloom.load(dir, { backendOrder: ["webgpu"] });
  if (dims) runner.setDims(dims);
  const first = await runner.predict(feeds);
  const buffersAfterFirst = webloom.liveBuffers();
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
  return { backend: runner.backendName, info, outputs, identical, buffersAfterFirst,
           buffersAfterAll: webloom.liveBuffers() };
}"""


@pytest.fixture(scope="session")
def webgpu_runtime(web_root) -> Path:
    """webloom.js with the webgpu backend registered, built once per session into the web root."""
    entry = web_root / "webgpu_entry.ts"
    entry.write_text(_ENTRY.format(src=(RUNTIME_DIR / "src").as_posix()))
    out = web_root / "webloom-webgpu.js"
    script = _BUILD.format(entry=json.dumps(str(entry)), out=json.dumps(str(out)))
    proc = subprocess.run(["node", "--input-type=module", "-e", script], cwd=RUNTIME_DIR,
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        pytest.fail(f"building the webgpu test runtime failed: {proc.stderr.strip()}")
    return out


def _run(page, http_server, web_root, runtime, bundle_dir: Path, feeds: dict, repeat: int = 1,
         dims=None) -> dict:
    rel = bundle_dir.relative_to(web_root).as_posix()
    payload = {k: np.asarray(v).ravel().tolist() for k, v in feeds.items()}
    result = page.evaluate(_RUN, [f"{http_server}/{runtime.name}", f"{http_server}/{rel}/", payload, repeat,
                                  dims])
    assert result["backend"] == "webgpu"
    print("adapter:", result["info"])
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


def _graph_case(web_root, name: str, graph: Graph, recurrence: str) -> Path:
    out = web_root / name
    out.mkdir(parents=True, exist_ok=True)
    webgpu.compile(graph, out, recurrence=recurrence)
    return out


def _lstm_graph(masked: bool, backwards: bool, hidden: int = 8) -> Graph:
    rng = np.random.default_rng(3)
    g = Graph("lstm")
    x = g.input("x", "float32", ("batch", "time", 5))
    mask = g.input("mask", "float32", ("batch", "time")) if masked else None
    h0 = g.input("h0", "float32", ("batch", hidden))
    W = g.const("W", rng.uniform(-1, 1, (5, 4 * hidden)))
    U = g.const("U", rng.uniform(-0.7, 0.7, (hidden, 4 * hidden)))
    b = g.const("b", rng.uniform(-1, 1, (4 * hidden,)))
    y, h, c = g.add("LSTM", [x, W, U, b, h0, None, mask],
                    {"return_sequences": True, "go_backwards": backwards})
    g.outputs = [y, h, c]
    return g


@pytest.mark.parametrize("recurrence", ["sequence", "step"])
@pytest.mark.parametrize("masked,backwards", [(False, False), (True, True)])
def test_lstm_modes_match_interpreter(page, http_server, web_root, webgpu_runtime, recurrence, masked,
                                      backwards):
    rng = np.random.default_rng(5)
    feeds = {"x": rng.uniform(-1, 1, (3, 7, 5)).astype(np.float32),
             "h0": rng.uniform(-1, 1, (3, 8)).astype(np.float32)}
    if masked:
        feeds["mask"] = (np.arange(7)[None, :] < np.array([7, 3, 0])[:, None]).astype(np.float32)
    graph = _lstm_graph(masked, backwards)
    want = graph.run(feeds)        # before compile: compile optimizes the graph in place
    names = [v.name for v in graph.outputs]
    bundle = _graph_case(web_root, f"lstm-{recurrence}-{masked}-{backwards}", graph, recurrence)
    got = _run(page, http_server, web_root, webgpu_runtime, bundle, feeds, dims=_dims(feeds["x"]))["arrays"]
    for name, w in zip(names, want):
        _close(got[name], w, f"{name} ({recurrence})")


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


@pytest.mark.parametrize("recurrence", ["sequence", "step"])
@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_modes_match_interpreter(page, http_server, web_root, webgpu_runtime, recurrence, reset_after):
    rng = np.random.default_rng(6)
    feeds = {"x": rng.uniform(-1, 1, (2, 5, 3)).astype(np.float32),
             "mask": np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1]], np.float32)}
    graph = _gru_graph(reset_after)
    want = graph.run(feeds)
    names = [v.name for v in graph.outputs]
    bundle = _graph_case(web_root, f"gru-{recurrence}-{reset_after}", graph, recurrence)
    got = _run(page, http_server, web_root, webgpu_runtime, bundle, feeds, dims=_dims(feeds["x"]))["arrays"]
    for name, w in zip(names, want):
        _close(got[name], w, f"{name} ({recurrence}, reset_after={reset_after})")


def test_repeated_runs_identical_without_buffer_growth(page, http_server, web_root, webgpu_runtime):
    rng = np.random.default_rng(7)
    feeds = {"x": rng.uniform(-1, 1, (2, 4, 5)).astype(np.float32),
             "h0": rng.uniform(-1, 1, (2, 8)).astype(np.float32)}
    graph = _lstm_graph(False, False)
    want = graph.run(feeds)
    names = [v.name for v in graph.outputs]
    bundle = _graph_case(web_root, "lstm-repeat", graph, "step")
    result = _run(page, http_server, web_root, webgpu_runtime, bundle, feeds, repeat=1000,
                  dims=_dims(feeds["x"]))
    assert result["identical"], "a repeated run gave different outputs"
    assert result["buffersAfterAll"] == result["buffersAfterFirst"], "GPU buffers grew across runs"
    _close(result["arrays"][names[0]], want[0], "y after 1000 runs")


def _keras_cases():
    from tests.cases import keras_models
    return keras_models.CASES


@pytest.mark.parametrize("case", _keras_cases(), ids=lambda c: c.name)
def test_keras_catalogue(page, http_server, web_root, webgpu_runtime, case):
    from converter.api import from_keras
    from tests.cases import keras_models
    made = keras_models.materialize(case, keras_models.default_cache_dir())
    graph = from_keras(made.model_path)
    feeds_list = keras_models.feeds(graph, made.inputs)
    feeds = {v.name: a for v, a in zip(graph.inputs, feeds_list)}
    out_names = [v.name for v in graph.outputs]
    bundle = _graph_case(web_root, f"keras-{case.name}", graph, "auto")
    got = _run(page, http_server, web_root, webgpu_runtime, bundle, feeds)["arrays"]
    for name, want in zip(out_names, made.outputs):
        _close(got[name], want, f"{case.name} output {name}")
