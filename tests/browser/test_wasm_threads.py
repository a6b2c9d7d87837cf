"""Issue 14: wasm threads. On a cross-origin isolated page the recurrence (hidden-unit blocks) and the hoisted
input projection (column blocks) are split over numThreads workers on shared memory; each output element is
computed by one thread in the single-thread order, so 2 threads give the 1-thread result bit for bit, and
both match the interpreter at 1e-4. A page that is not isolated falls back to 1 thread and says why."""

from __future__ import annotations

import numpy as np

from converter.backends.wasm import lower as wasm_lower

from tests.browser.fixtures import (assert_close, decode, gru_feeds, gru_graph, length_mask, lstm_feeds,
                                    lstm_graph, seq_dims)

# Runs the bundle with each thread count (and barrier) and returns outputs and what loadStats said.
_RUN = """async ([script, dir, feeds, dims, configs]) => {
  const webloom = await import(script);
  const runs = [];
  for (const options of configs) {
    const runner = await webloom.load(dir, { backendOrder: ["wasm"], ...options });
    try {
      runner.setDims(dims);
      const out = await runner.predict(feeds);
      const outputs = {};
      for (const [name, values] of Object.entries(out)) outputs[name] = Array.from(values);
      runs.push({ variant: runner.backendVariant, stats: runner.loadStats, outputs });
    } finally {
      runner.dispose();
    }
  }
  return { isolated: globalThis.crossOriginIsolated === true, runs };
}"""

# 3 threads (waiting: more threads than this machine's cores) split 10 blocks unevenly
CONFIGS = [{"numThreads": 1}, {"numThreads": 2}, {"numThreads": 2, "threadBarrier": "wait"},
           {"numThreads": 3, "threadBarrier": "wait"}]


def _graphs():
    lstm_x = lstm_feeds(5, batch=3, time=7, hidden=40)    # H 40: 10 unit blocks, 5 per thread
    lstm_x["mask"] = length_mask([7, 4, 1], 7)
    yield "lstm", lstm_graph(masked=True, hidden=40), lstm_x
    for reset_after in (True, False):                     # False: two stages per step, two barriers
        feeds = gru_feeds()
        yield f"gru-reset_after-{reset_after}", gru_graph(reset_after, hidden=36), feeds


def _run(page, bundles, bundle, feeds, configs):
    url = bundles.url(bundle)
    feeds_json = {k: np.asarray(v).ravel().tolist() for k, v in feeds.items()}
    dims = seq_dims(feeds["x"])
    return page.evaluate(_RUN, [f"{url}/webloom.js", url + "/", feeds_json, dims, configs])


def test_threads_match_one_thread_bit_for_bit_and_the_interpreter(isolated_page, bundles, monkeypatch):
    # small models run on one thread (lower.py's measured thresholds): lower them so these split
    monkeypatch.setattr(wasm_lower, "RNN_SPLIT_MACS", 0)
    monkeypatch.setattr(wasm_lower, "MM_SPLIT_MACS", 0)
    for name, graph, feeds in _graphs():
        want = graph.run(feeds)
        bundle = bundles.compile(graph, "wasm", f"threads/{name}")
        result = _run(isolated_page, bundles, bundle, feeds, CONFIGS)
        assert result["isolated"], "the isolated test page is not cross-origin isolated (COOP/COEP headers)"
        one, *threaded = result["runs"]
        assert (one["variant"], one["stats"]["threads"]) == ("relaxed-simd", 1)
        for run, config in zip(threaded, CONFIGS[1:]):
            n = config["numThreads"]
            assert (run["variant"], run["stats"]["threads"]) == (f"relaxed-simd threads={n}", n), (name, config)
            for out, values in run["outputs"].items():
                assert values == one["outputs"][out], f"{name} {config}: {out} differs from 1 thread"
        for value, expected in zip(graph.outputs, want):
            assert_close(decode(one["outputs"][value.name]), expected, f"{name}: {value.name}")
    assert isolated_page.errors == []


def test_a_page_that_is_not_isolated_runs_one_thread_and_says_why(page, bundles):
    name, graph, feeds = next(_graphs())
    bundle = bundles.compile(graph, "wasm", f"threads/{name}-plain")
    result = _run(page, bundles, bundle, feeds, [{"numThreads": 2}])
    run = result["runs"][0]
    assert not result["isolated"]
    assert (run["variant"], run["stats"]["threads"]) == ("relaxed-simd", 1)
    assert "not cross-origin isolated" in run["stats"]["threadNote"]
    for value, expected in zip(graph.outputs, graph.run(feeds)):
        assert_close(decode(run["outputs"][value.name]), expected, f"{name}: {value.name}")


def test_a_model_below_the_thresholds_keeps_one_thread(isolated_page, bundles):
    name, graph, feeds = next(_graphs())
    bundle = bundles.compile(graph, "wasm", f"threads/{name}-small")
    run = _run(isolated_page, bundles, bundle, feeds, [{"numThreads": 2}])["runs"][0]
    assert (run["variant"], run["stats"]["threads"]) == ("relaxed-simd", 1)
    assert run["stats"]["threadNote"] == "model too small for threads"


# Workers that never run a job (or fail to start) stand in for a dead or stuck worker thread.
_BROKEN = """async ([script, dir, feeds, dims, ready]) => {
  const webloom = await import(script);
  globalThis.Worker = class {
    constructor() { setTimeout(() => this.onmessage({ data: ready ? "" : "worker 1: no memory" }), 0); }
    postMessage() {}
    terminate() {}
  };
  const t0 = performance.now();
  try {
    const runner = await webloom.load(dir, { backendOrder: ["wasm"], numThreads: 2 });
    runner.setDims(dims);
    await runner.predict(feeds);
    return { error: null };
  } catch (err) {
    return { error: String(err.message), seconds: (performance.now() - t0) / 1000 };
  }
}"""


def test_a_stuck_or_failing_worker_gives_a_one_line_error_not_a_hang(isolated_page, bundles, monkeypatch):
    monkeypatch.setattr(wasm_lower, "RNN_SPLIT_MACS", 0)
    name, graph, feeds = next(_graphs())
    bundle = bundles.compile(graph, "wasm", f"threads/{name}-broken")
    url = bundles.url(bundle)
    feeds_json = {k: np.asarray(v).ravel().tolist() for k, v in feeds.items()}
    args = [f"{url}/webloom.js", url + "/", feeds_json, seq_dims(feeds["x"])]
    stuck, failing = (isolated_page.evaluate(_BROKEN, [*args, ready]) for ready in (True, False))
    assert stuck["error"].startswith("wasm threads failed (barrier timeout)"), stuck
    assert stuck["seconds"] < 30 and "\n" not in stuck["error"]
    want = "wasm threads failed (worker 1: no memory); load with { numThreads: 1 }"
    assert want in failing["error"], failing
