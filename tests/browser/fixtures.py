"""Fixtures (loaded by tests/conftest.py as a plugin) for running bundles through the webloom runtime
(runtime-js/dist/webloom.js: wasm, webgpu and webgl) in headless Chromium and in Node.

- ``web_root``/``http_server``: a static HTTP server on 127.0.0.1 serving a session temp dir;
- ``browser``: one Chromium for the session (Playwright, /usr/bin/chromium, SwiftShader WebGPU + WebGL2);
- ``page``: a fresh page on the server's origin (so module imports and fetches are same-origin);
- ``bundles``: makes bundle dirs under the web root (with webloom.js next to the bundle files):
  ``bundles.compile(graph, backend, name)``, ``bundles.convert_case(case, backend)`` (a catalogue case of
  tests/cases/keras_models.py), and runs them: ``bundles.run_on(page, dir, feeds, backend, repeat=N)`` /
  ``bundles.run_page(...)`` -> PageRun, ``bundles.run_browser``/``run_node`` -> {name: array},
  ``bundles.call(page, dir, js_body)`` for scripts of their own, ``bundles.check_keras_case`` against Keras.
``assert_close`` is the 1e-4 abs + rel comparison the backend tests share.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "runtime-js" / "dist" / "webloom.js"
NODE_RUN = Path(__file__).resolve().parent / "node_run.mjs"
CHROMIUM = "/usr/bin/chromium"
TOL = 1e-4                  # abs and rel tolerance of every backend against Keras/the interpreter
CHROMIUM_FLAGS = [
    "--no-sandbox", "--enable-unsafe-webgpu", "--enable-unsafe-swiftshader", "--enable-features=Vulkan",
    "--use-vulkan=swiftshader", "--use-webgpu-adapter=swiftshader", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]


def pytest_collection_modifyitems(items):
    here = Path(__file__).resolve().parent
    for item in items:
        if Path(str(item.fspath)).resolve().parent == here:
            item.add_marker(pytest.mark.browser)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
                      ".wlm": "application/octet-stream"}

    def log_message(self, *args):  # keep pytest output clean
        pass

    def end_headers(self):
        # /isolated.html is cross-origin isolated (SharedArrayBuffer, wasm threads); every other page is not,
        # so the rest of the suite keeps the single-thread default
        if self.path.startswith("/isolated.html"):
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()


@pytest.fixture(scope="session")
def web_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("web")
    (root / "index.html").write_text("<!doctype html><title>webloom tests</title>")
    (root / "isolated.html").write_text("<!doctype html><title>webloom tests, cross-origin isolated</title>")
    return root


@pytest.fixture(scope="session")
def http_server(web_root):
    """Base URL (``http://127.0.0.1:PORT``) of a static server for ``web_root``."""
    handler = functools.partial(_QuietHandler, directory=str(web_root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def playwright():
    """One Playwright driver per session: its sync API refuses a second one in the same process."""
    from playwright.sync_api import sync_playwright
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run tools/setup.sh --dev (installs Chromium)")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright):
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
    yield chromium
    chromium.close()


def _open_page(browser, url: str):
    context = browser.new_context()
    pg = context.new_page()
    errors: list = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(url)
    pg.errors = errors
    return context, pg


@pytest.fixture
def page(browser, http_server):
    context, pg = _open_page(browser, f"{http_server}/index.html")
    yield pg
    context.close()


@pytest.fixture
def isolated_page(browser, http_server):
    """A cross-origin isolated page (COOP/COEP headers): shared memory, so wasm threads."""
    context, pg = _open_page(browser, f"{http_server}/isolated.html")
    yield pg
    context.close()


# Loads a bundle dir with ``order``, runs it ``repeat`` times with the same feeds and reports the first
# run's outputs, whether every later run matched them bit for bit (Object.is: NaN equals NaN, -0 is not 0),
# and the memory the runner held (runner.memoryBytes, live WebGPU buffers) after the first and the last run.
_PAGE_RUN = """async ([script, dir, feeds, dims, order, repeat]) => {
  const webloom = await import(script);
  const runner = await webloom.load(dir, { backendOrder: order });
  try {
    if (dims) runner.setDims(dims);
    const usage = () => ({ bytes: runner.memoryBytes, gpuBuffers: webloom.webgpuLiveBuffers() });
    const outputs = {};
    const first = await runner.predict(feeds);
    for (const [name, values] of Object.entries(first)) outputs[name] = Array.from(values);
    const afterFirst = usage();
    let identical = true;
    for (let i = 1; i < repeat; i++) {
      const again = await runner.predict(feeds);
      for (const [name, values] of Object.entries(outputs)) {
        if (!values.every((v, j) => Object.is(v, again[name][j]))) identical = false;
      }
    }
    const adapter = runner.backendName === "webgpu" ? await webloom.webgpuAdapterInfo() : null;
    return { backend: runner.backendName, reasons: runner.fallbackReasons, outputs, identical, afterFirst,
             afterAll: usage(), adapter };
  } finally {
    runner.dispose();
  }
}"""


def decode(values) -> np.ndarray:
    """float64 array of numbers from the page or Node: JSON writes NaN and +-inf as null (read as NaN),
    Playwright keeps them; strings ("NaN", "Infinity", "-Infinity") are parsed."""
    return np.array([np.nan if v is None else float(v) for v in values], np.float64)


def assert_close(got: np.ndarray, want, what: str) -> None:
    """``got`` (flat) matches ``want`` within 1e-4 abs + 1e-4 rel, NaN where it has NaN, same infinities."""
    want = np.asarray(want, np.float64).ravel()
    assert got.shape == want.shape, f"{what}: {got.shape} values, expected {want.shape}"
    np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL, err_msg=what)


@dataclass
class PageRun:
    """What ``Bundles.run_page`` saw: the backend that ran, the first run's outputs, whether ``repeat``
    runs were identical, and ``{"bytes", "gpuBuffers"}`` held after the first and after the last run."""
    backend: str
    reasons: list
    outputs: dict
    identical: bool
    after_first: dict
    after_all: dict
    adapter: Optional[dict]


def _feeds_json(feeds: dict) -> dict:
    return {name: np.asarray(a).ravel().tolist() for name, a in feeds.items()}


class Bundles:
    """Bundle dirs under the web root and ways to run them."""

    def __init__(self, web_root: Path, base_url: str):
        if not RUNTIME.exists():
            pytest.fail(f"{RUNTIME} is missing: build the runtime (cd runtime-js && npm ci && npm run build)")
        self.web_root, self.base_url = web_root, base_url

    def new_dir(self, name: str) -> Path:
        """An empty dir ``<web root>/<name>`` holding a copy of webloom.js."""
        path = self.web_root / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        shutil.copy(RUNTIME, path / "webloom.js")
        return path

    def url(self, path: Path) -> str:
        return f"{self.base_url}/{path.relative_to(self.web_root).as_posix()}"

    def compile(self, graph, backend: str, name: str, **opts) -> Path:
        """A new dir ``name`` with ``graph`` compiled for ``backend`` (a copy: ``graph`` stays as it is)."""
        from converter.api import compile as compile_graph
        out = self.new_dir(name)
        compile_graph(graph, backend, **opts).save(out)
        return out

    def convert_case(self, case, backend: str = "wasm", cache_dir: Optional[Path] = None):
        """A catalogue case (tests/cases/keras_models.py) as a bundle dir: (dir, Materialized, graph)."""
        from converter.api import from_keras
        from tests.cases import keras_models
        made = keras_models.materialize(case, cache_dir or keras_models.default_cache_dir())
        graph = from_keras(made.model_path)
        return self.compile(graph, backend, f"{case.name}-{backend}"), made, graph

    def check_keras_case(self, page, case, backend: str, node: bool = False) -> None:
        """Runs a catalogue case in the page (and in Node with ``node``) and compares it with Keras."""
        from tests.cases import keras_models
        out_dir, made, graph = self.convert_case(case, backend)
        feeds = dict(zip([v.name for v in graph.inputs], keras_models.feeds(graph, made.inputs)))
        runs = {"chromium": lambda: self.run_on(page, out_dir, feeds, backend).outputs}
        if node:
            runs["node"] = lambda: self.run_node(out_dir, feeds, backend_order=(backend,))
        for where, run in runs.items():
            got = run()
            for value, name, want in zip(graph.outputs, made.output_names, made.outputs):
                assert_close(got[value.name], want, f"{case.name} on {backend} in {where}, output {name}")

    def check_graph(self, page, graph, feeds: dict, backend: str, name: str, dims: Optional[dict] = None,
                    repeat: int = 1, **opts) -> PageRun:
        """Compiles ``graph`` (with the backend's ``opts``) into ``<backend>/<name>``, runs it ``repeat``
        times and checks every output against the interpreter and that the runs were identical."""
        want = graph.run(feeds)
        bundle = self.compile(graph, backend, f"{backend}/{name}", **opts)
        run = self.run_on(page, bundle, feeds, backend, dims, repeat)
        assert run.identical, f"{name} on {backend}: a repeated run gave different outputs"
        for value, expected in zip(graph.outputs, want):
            assert_close(run.outputs[value.name], expected, f"{name} on {backend}: {value.name}")
        return run

    def run_page(self, page, bundle_dir: Path, feeds: dict, dims: Optional[dict] = None,
                 backend_order=("wasm",), repeat: int = 1) -> PageRun:
        """Loads ``bundle_dir`` in ``page`` with ``backend_order`` and runs it ``repeat`` times."""
        url = self.url(bundle_dir)
        r = page.evaluate(_PAGE_RUN, [f"{url}/webloom.js", url + "/", _feeds_json(feeds), dims,
                                      list(backend_order), repeat])
        if r["adapter"] is not None:
            print("webgpu adapter:", r["adapter"])
        outputs = {name: decode(values) for name, values in r["outputs"].items()}
        return PageRun(r["backend"], r["reasons"], outputs, r["identical"], r["afterFirst"], r["afterAll"],
                       r["adapter"])

    def run_on(self, page, bundle_dir: Path, feeds: dict, backend: str, dims: Optional[dict] = None,
               repeat: int = 1) -> PageRun:
        """``run_page`` with ``backend`` alone, checking that it ran there."""
        run = self.run_page(page, bundle_dir, feeds, dims, (backend,), repeat)
        assert run.backend == backend, f"ran on {run.backend} instead of {backend}: {run.reasons}"
        return run

    def run_browser(self, page, bundle_dir: Path, feeds: dict, dims: Optional[dict] = None,
                    backend_order=("wasm",)) -> dict:
        return self.run_page(page, bundle_dir, feeds, dims, backend_order).outputs

    def run_node(self, bundle_dir: Path, feeds: dict, dims: Optional[dict] = None,
                 backend_order=("wasm",), node_flags=(), variant: Optional[list] = None) -> dict:
        """Outputs of a Node run (node ``node_flags``); ``variant``, a list, gets runner.backendVariant."""
        request = {"dir": str(bundle_dir), "webloom": str(bundle_dir / "webloom.js"),
                   "backendOrder": list(backend_order), "dims": dims, "inputs": _feeds_json(feeds)}
        req_path = bundle_dir / "request.json"
        req_path.write_text(json.dumps(request))
        proc = subprocess.run(["node", *node_flags, str(NODE_RUN), str(req_path)], capture_output=True,
                              text=True, timeout=120)
        result = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}
        if proc.returncode != 0 or "error" in result:
            cause = result.get("error") or proc.stderr.strip()
            raise RuntimeError(f"node run of {bundle_dir} failed: {cause}")
        if variant is not None:
            variant.append(result.get("variant"))
        return {name: decode(values) for name, values in result["outputs"].items()}

    def call(self, page, bundle_dir: Path, body: str, *args):
        """Evaluates ``body`` in the page as ``async (webloom, base, args) => {body}``: ``webloom`` is the
        module from ``bundle_dir``, ``base`` that dir's URL (no trailing slash). For page-level hooks
        (patched WebGL prototypes, lost contexts) and runner API checks."""
        base = self.url(bundle_dir)
        script = f"async ([url, base, args]) => {{ const webloom = await import(url); {body} }}"
        return page.evaluate(script, [f"{base}/webloom.js", base, list(args)])


@pytest.fixture(scope="session")
def bundles(web_root, http_server) -> Bundles:
    return Bundles(web_root, http_server)


# ---- small recurrent graphs the backend tests share ----------------------------------------------

def lstm_graph(masked: bool = False, backwards: bool = False, hidden: int = 8, zero_output: bool = False):
    """LSTM over x[batch, time, 5] from input h0, returning (y sequence, h, c); mask input if ``masked``."""
    from converter.ir.graph import Graph
    rng = np.random.default_rng(3)
    g = Graph("lstm")
    x = g.input("x", "float32", ("batch", "time", 5))
    mask = g.input("mask", "float32", ("batch", "time")) if masked else None
    h0 = g.input("h0", "float32", ("batch", hidden))
    w = g.const("W", rng.uniform(-1, 1, (5, 4 * hidden)))
    u = g.const("U", rng.uniform(-0.7, 0.7, (hidden, 4 * hidden)))
    b = g.const("b", rng.uniform(-1, 1, (4 * hidden,)))
    attrs = {"return_sequences": True, "go_backwards": backwards, "zero_output_for_mask": zero_output}
    g.outputs = g.add("LSTM", [x, w, u, b, h0, None, mask], attrs)
    return g


def lstm_feeds(seed: int, batch: int, time: int, hidden: int = 8) -> dict:
    rng = np.random.default_rng(seed)
    return {"x": rng.uniform(-1, 1, (batch, time, 5)).astype(np.float32),
            "h0": rng.uniform(-1, 1, (batch, hidden)).astype(np.float32)}


def length_mask(lengths, time: int) -> np.ndarray:
    """[batch, time] float32 mask with the first ``lengths[row]`` steps of each row on."""
    return (np.arange(time)[None, :] < np.array(lengths)[:, None]).astype(np.float32)


def gru_graph(reset_after: bool, hidden: int = 6):
    """Masked GRU over x[batch, time, 3] returning (last output, h), zero output for masked steps."""
    from converter.ir.graph import Graph
    rng = np.random.default_rng(4)
    g = Graph("gru")
    x = g.input("x", "float32", ("batch", "time", 3))
    mask = g.input("mask", "float32", ("batch", "time"))
    w = g.const("W", rng.uniform(-1, 1, (3, 3 * hidden)))
    u = g.const("U", rng.uniform(-0.8, 0.8, (hidden, 3 * hidden)))
    rb = g.const("rb", rng.uniform(-1, 1, (3 * hidden,))) if reset_after else None
    g.outputs = g.add("GRU", [x, w, u, None, rb, None, mask],
                      {"return_sequences": False, "reset_after": reset_after, "zero_output_for_mask": True})
    return g


def gru_feeds() -> dict:
    rng = np.random.default_rng(6)
    return {"x": rng.uniform(-1, 1, (2, 5, 3)).astype(np.float32),
            "mask": np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1]], np.float32)}


def seq_dims(x) -> dict:
    """batch and time of a [batch, time, features] feed (a mask input alone cannot tell them apart)."""
    return {"batch": int(x.shape[0]), "time": int(x.shape[1])}
