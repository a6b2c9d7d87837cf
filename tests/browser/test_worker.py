"""The runtime in a module Web Worker (docs/guide.md "Web Workers"): load() and predict() work there on
wasm, on WebGPU (navigator.gpu in workers) and on WebGL2 through OffscreenCanvas, with the same outputs as on the page."""

from __future__ import annotations

import numpy as np
import pytest

from tests.browser.fixtures import assert_close, lstm_feeds, lstm_graph

WORKER = """
import { load } from "./webloom.js";
self.onmessage = async ({ data }) => {
  try {
    const runner = await load(new URL("./", import.meta.url), { backendOrder: [data.backend] });
    const out = await runner.predict(data.feeds);
    self.postMessage({ backend: runner.backendName, y: Array.from(out[data.output]) });
  } catch (error) {
    self.postMessage({ error: String(error && error.message || error) });
  }
};
"""
_RUN = """
  const worker = new Worker(base + "/worker.js", { type: "module" });
  const reply = await new Promise((resolve) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = (e) => resolve({ error: e.message });
    worker.postMessage(args[0]);
  });
  worker.terminate();
  return reply;
"""


@pytest.mark.parametrize("backend", ["wasm", "webgpu", "webgl"])
def test_runner_in_a_module_worker(page, bundles, backend):
    graph = lstm_graph()
    feeds = lstm_feeds(1, batch=2, time=4)
    want = graph.run(feeds)[0]
    bundle = bundles.compile(graph, backend, f"worker-{backend}")
    (bundle / "worker.js").write_text(WORKER)
    shaped = {name: {"data": a.ravel().tolist(), "shape": list(a.shape)} for name, a in feeds.items()}
    reply = bundles.call(page, bundle, _RUN, {"backend": backend, "feeds": shaped,
                                              "output": graph.outputs[0].name})
    assert "error" not in reply, reply
    assert reply["backend"] == backend
    assert_close(np.array(reply["y"], np.float64), want, f"worker on {backend}")
