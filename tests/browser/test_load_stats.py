"""Issue 14, WebGPU start-up and round trips. Start-up: one compute pipeline per distinct kernel
(createComputePipelineAsync, all at once, pipeline-cache.ts), identical kernels share it, so a stack of
equal LSTM layers needs no more pipelines than one layer; runner.loadStats reports the count and the
compile/upload times. Round trips: a run reads all its outputs back with one submit and concurrent maps."""

from __future__ import annotations

import numpy as np

from converter.bundle import read_bundle
from tests.browser.fixtures import assert_close, decode

_RUN = """async ([script, dir, feeds, dims]) => {
  const webloom = await import(script);
  const runner = await webloom.load(dir, { backendOrder: ["webgpu"] });
  runner.setDims(dims);
  const out = await runner.predict(feeds);
  const outputs = {};
  for (const [name, values] of Object.entries(out)) outputs[name] = Array.from(values);
  const stats = runner.loadStats;
  runner.dispose();
  return { backend: runner.backendName, stats, outputs };
}"""


def stacked_lstm(layers: int, hidden: int = 8):
    """``layers`` LSTM(hidden) layers of the same shape over x[batch, time, hidden], random weights."""
    from converter.ir.graph import Graph
    rng = np.random.default_rng(5)
    g = Graph(f"stacked{layers}")
    x = g.input("x", "float32", ("batch", "time", hidden))
    for i in range(layers):
        w = g.const(f"W{i}", rng.uniform(-1, 1, (hidden, 4 * hidden)))
        u = g.const(f"U{i}", rng.uniform(-0.7, 0.7, (hidden, 4 * hidden)))
        b = g.const(f"b{i}", rng.uniform(-1, 1, (4 * hidden,)))
        x = g.add("LSTM", [x, w, u, b, None, None, None], {"return_sequences": True})[0]
    g.outputs = [x]
    return g


def test_equal_layers_share_pipelines_and_load_is_timed(page, bundles):
    x = np.random.default_rng(6).uniform(-1, 1, (2, 5, 8)).astype(np.float32)
    seen = {}
    for layers in (1, 3):
        graph = stacked_lstm(layers)
        out_dir = bundles.compile(graph, "webgpu", f"stacked-{layers}")
        url = bundles.url(out_dir)
        r = page.evaluate(_RUN, [f"{url}/webloom.js", url + "/", {"x": x.ravel().tolist()},
                                 {"batch": 2, "time": 5}])
        assert r["backend"] == "webgpu"
        want = graph.run({"x": x})[0]
        assert_close(decode(r["outputs"][graph.outputs[0].name]), want, f"{layers} stacked LSTMs on webgpu")
        assert r["stats"]["compileMs"] > 0 and r["stats"]["uploadMs"] >= 0
        program = read_bundle(out_dir / "model.webgpu.wlm")
        assert r["stats"]["pipelines"] == len({k.entry for k in program.kernels}), r["stats"]
        seen[layers] = (r["stats"]["pipelines"], len(program.steps))
    # the lowering's three kernels (two matmul forms and the recurrence) serve 3 or 9 steps alike
    assert seen == {1: (3, 3), 3: (3, 9)}, seen
    assert page.errors == []


_COUNT = """async ([script, dir, feeds, dims, runs]) => {
  const webloom = await import(script);
  const runner = await webloom.load(dir, { backendOrder: ["webgpu"] });
  runner.setDims(dims);
  const count = { submits: 0, maps: 0 };
  const submit = GPUQueue.prototype.submit, mapAsync = GPUBuffer.prototype.mapAsync;
  GPUQueue.prototype.submit = function (...a) { count.submits++; return submit.apply(this, a); };
  GPUBuffer.prototype.mapAsync = function (...a) { count.maps++; return mapAsync.apply(this, a); };
  let outputs = {};
  try {
    for (let i = 0; i < runs; i++) outputs = await runner.predict(feeds);
  } finally {
    GPUQueue.prototype.submit = submit;
    GPUBuffer.prototype.mapAsync = mapAsync;
  }
  const out = {};
  for (const [name, values] of Object.entries(outputs)) out[name] = Array.from(values);
  runner.dispose();
  return { count, outputs: out, names: runner.outputs.map((o) => o.name) };
}"""


def test_webgpu_run_reads_every_output_back_in_one_round_trip(page, bundles):
    """Per run: one submit for the dispatches, one for all the output copies, every map at once."""
    from tests.browser.fixtures import lstm_feeds, lstm_graph, seq_dims
    graph = lstm_graph()
    feeds = lstm_feeds(8, batch=2, time=4)
    out_dir = bundles.compile(graph, "webgpu", "round-trips")
    url = bundles.url(out_dir)
    runs = 4
    r = page.evaluate(_COUNT, [f"{url}/webloom.js", url + "/",
                               {k: v.ravel().tolist() for k, v in feeds.items()}, seq_dims(feeds["x"]), runs])
    assert len(r["names"]) == 3                                    # y, h, c
    assert r["count"] == {"submits": 2 * runs, "maps": 3 * runs}, r["count"]
    for value, want in zip(graph.outputs, graph.run(feeds)):
        assert_close(decode(r["outputs"][value.name]), want, f"round-trips on webgpu: {value.name}")
    assert page.errors == []


def test_a_second_runner_reuses_the_pages_pipelines(page, bundles):
    """loadStats.reused: kernels whose pipeline load() took from the page's cache (pipeline-cache.ts)."""
    out_dir = bundles.compile(stacked_lstm(1), "webgpu", "stacked-reuse")
    r = bundles.call(page, out_dir, """
      const stats = [];
      for (let i = 0; i < 2; i++) {
        const runner = await webloom.load(base + "/", { backendOrder: ["webgpu"] });
        stats.push(runner.loadStats);
        runner.dispose();
      }
      return stats;""")
    assert [s["reused"] for s in r] == [0, r[0]["pipelines"]] and r[0]["pipelines"] == 3, r
