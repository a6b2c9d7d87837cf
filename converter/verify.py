"""Running the written bundles after a conversion: ``--verify`` and the accuracy cost of ``--weights``.

Bundles run with the webloom runtime the conversion wrote beside them: wasm in Node (when ``node`` is on
PATH), every backend in headless Chromium (when Playwright and a Chromium are installed; WebGPU through
SwiftShader when there is no GPU). Outputs are compared as the tests do: a value passes when
|got - want| <= tol * (1 + |want|); the report gives the largest absolute error and the largest relative
error over values with |want| >= 1e-3.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Optional

import numpy as np

RUN_SCRIPT = Path(__file__).resolve().parent / "js" / "run_bundles.mjs"
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_FLAGS = [
    "--no-sandbox", "--enable-unsafe-webgpu", "--enable-unsafe-swiftshader", "--enable-features=Vulkan",
    "--use-vulkan=swiftshader", "--use-webgpu-adapter=swiftshader", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
TIMEOUT_S = 300
REL_FLOOR = 1e-3


def _decode(values) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], np.float64)


def _outputs(result: dict) -> dict:
    return {name: _decode(o["data"]).reshape(o["shape"]) for name, o in result["outputs"].items()}


def run_node(runs: list, inputs: dict) -> dict:
    """{backend-or-label: {name: array} | error str} for runs [(label, dir, backend)] in Node."""
    node = shutil.which("node")
    if node is None:
        return {label: "node is not installed" for label, _, _ in runs}
    with tempfile.TemporaryDirectory() as tmp:
        request = Path(tmp) / "request.json"
        webloom = Path(runs[0][1]) / "webloom.js"
        request.write_text(json.dumps({"webloom": str(webloom), "inputs": inputs,
                                       "runs": [{"dir": str(d), "backend": b} for _, d, b in runs]}))
        try:
            done = subprocess.run([node, str(RUN_SCRIPT), str(request)], capture_output=True, text=True,
                                  timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return {label: f"Node did not finish in {TIMEOUT_S} s" for label, _, _ in runs}
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {label: f"node failed: {reason}" for label, _, _ in runs}
    results = json.loads(done.stdout.strip().splitlines()[-1])["results"]
    return {label: (r["error"] if "error" in r else _outputs(r)) for (label, _, _), r in zip(runs, results)}


def chromium_path() -> Optional[str]:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return None
    return next((p for p in CHROMIUM_PATHS if Path(p).exists()), None)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript",
                      ".mjs": "text/javascript", ".wlm": "application/octet-stream"}

    def log_message(self, *args):
        pass


_PAGE_RUN = """async ([dir, backend, inputs]) => {
  const webloom = await import(dir + "webloom.js");
  try {
    const runner = await webloom.load(dir, { backendOrder: [backend] });
    try {
      const feeds = {};
      for (const input of runner.inputs) if (inputs[input.name]) feeds[input.name] = inputs[input.name];
      const result = await runner.predict(feeds);
      const outputs = {};
      for (const [name, v] of Object.entries(result)) {
        const data = Array.from(v, (x) => (Number.isFinite(x) ? x : String(x)));
        outputs[name] = { shape: Array.from(v.shape), data };
      }
      return { outputs };
    } finally { runner.dispose(); }
  } catch (err) { return { error: `${err.name}: ${err.message}` }; }
}"""


def run_chromium(root: Path, runs: list, inputs: dict) -> dict:
    """Like run_node, in one headless Chromium; each run's dir must lie under ``root`` (served)."""
    from playwright.sync_api import sync_playwright
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    out = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS, headless=True)
            try:
                page = browser.new_page()
                page.goto(f"{base}/{Path(runs[0][1]).relative_to(root).as_posix()}/webloom.js")
                for label, d, backend in runs:
                    url = f"/{Path(d).relative_to(root).as_posix()}/".replace("//", "/")
                    r = page.evaluate(_PAGE_RUN, [url, backend, inputs])
                    out[label] = r["error"] if "error" in r else _outputs(r)
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return out


def compare(got: dict, want: dict, tol: float) -> dict:
    """{max_abs, max_rel, ok} of outputs ``got`` against ``want`` (both {name: array})."""
    max_abs = max_rel = 0.0
    ok = True
    for name, w in want.items():
        g = got.get(name)
        w = np.asarray(w, np.float64)
        if g is None or np.size(g) != np.size(w):
            return {"max_abs": None, "max_rel": None, "ok": False,
                    "error": f"output '{name}': {'missing' if g is None else f'{np.size(g)} values'}, "
                             f"expected {np.size(w)}"}
        g = np.asarray(g, np.float64).reshape(w.shape)
        diff = np.abs(g - w)
        same_nan = np.isnan(g) & np.isnan(w)
        diff = np.where(same_nan, 0.0, np.where(np.isnan(diff), np.inf, diff))
        if diff.size:
            max_abs = max(max_abs, float(diff.max()))
            big = np.abs(w) >= REL_FLOOR
            if big.any():
                max_rel = max(max_rel, float((diff[big] / np.abs(w[big])).max()))
            ok = ok and bool(np.all(diff <= tol * (1 + np.abs(np.nan_to_num(w)))))
    return {"max_abs": max_abs, "max_rel": max_rel, "ok": ok}


def as_arrays(sample_inputs: dict, graph_inputs: list) -> list:
    """The sample's inputs as numpy arrays in the graph's input order (state inputs as zeros)."""
    arrays = []
    for v in graph_inputs:
        entry = sample_inputs.get(v.name)
        arrays.append(None if entry is None else np.asarray(entry["data"], v.dtype).reshape(entry["shape"]))
    return arrays
