"""Fixtures (loaded by tests/conftest.py as a plugin) for running bundles through the webloom runtime in headless Chromium and in Node.

- ``web_root``/``http_server``: a static HTTP server on 127.0.0.1 serving a session temp dir;
- ``browser``: one Chromium for the session (Playwright, /usr/bin/chromium, software WebGPU flags);
- ``page``: a fresh page on the server's origin (so module imports and fetches are same-origin);
- ``bundles``: makes bundle dirs under the web root (with webloom.js next to the bundle files) and runs
  them, ``bundles.run_browser(page, dir, feeds)`` / ``bundles.run_node(dir, feeds)`` -> {name: array}.
Converting a catalogue case (tests/cases/keras_models.py) is ``bundles.convert_case(case, backend)``.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Optional

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "runtime-js" / "dist" / "webloom.js"
NODE_RUN = Path(__file__).resolve().parent / "node_run.mjs"
CHROMIUM = "/usr/bin/chromium"
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


@pytest.fixture(scope="session")
def web_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("web")
    (root / "index.html").write_text("<!doctype html><title>webloom tests</title>")
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


@pytest.fixture
def page(browser, http_server):
    context = browser.new_context()
    pg = context.new_page()
    errors: list = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(f"{http_server}/index.html")
    pg.errors = errors
    yield pg
    context.close()


_BROWSER_RUN = """async ([script, dir, feeds, dims, order]) => {
  const webloom = await import(script);
  const runner = await webloom.load(dir, { backendOrder: order });
  if (dims) runner.setDims(dims);
  const result = await runner.predict(feeds);
  const outputs = {};
  for (const [name, values] of Object.entries(result)) outputs[name] = Array.from(values);
  return { backend: runner.backendName, outputs, dims: runner.dims,
           reasons: runner.fallbackReasons };
}"""


def _feeds_json(feeds: dict) -> dict:
    return {name: np.asarray(a).ravel().tolist() for name, a in feeds.items()}


def _arrays(outputs: dict) -> dict:
    # JSON has no NaN: JS writes null, which comes back as nan here
    return {name: np.array([np.nan if v is None else v for v in values], np.float64)
            for name, values in outputs.items()}


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

    def convert_case(self, case, backend: str = "wasm", cache_dir: Optional[Path] = None):
        """Converts a tests/cases/keras_models.py case into a bundle dir; returns (dir, Materialized)."""
        from converter.api import from_keras
        from converter.passes import optimize
        from tests.cases import keras_models
        made = keras_models.materialize(case, cache_dir or keras_models.default_cache_dir())
        graph = from_keras(made.model_path)
        optimize(graph)
        out = self.new_dir(f"{case.name}-{backend}")
        compile_bundle(graph, backend, out)
        return out, made, graph

    def run_browser(self, page, bundle_dir: Path, feeds: dict, dims: Optional[dict] = None,
                    backend_order=("wasm",)) -> dict:
        url = self.url(bundle_dir)
        result = page.evaluate(_BROWSER_RUN, [f"{url}/webloom.js", url + "/", _feeds_json(feeds), dims,
                                              list(backend_order)])
        return _arrays(result["outputs"])

    def run_node(self, bundle_dir: Path, feeds: dict, dims: Optional[dict] = None,
                 backend_order=("wasm",)) -> dict:
        request = {"dir": str(bundle_dir), "webloom": str(bundle_dir / "webloom.js"),
                   "backendOrder": list(backend_order), "dims": dims, "inputs": _feeds_json(feeds)}
        req_path = bundle_dir / "request.json"
        req_path.write_text(json.dumps(request))
        proc = subprocess.run(["node", str(NODE_RUN), str(req_path)], capture_output=True, text=True,
                              timeout=120)
        result = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}
        if proc.returncode != 0 or "error" in result:
            cause = result.get("error") or proc.stderr.strip()
            raise RuntimeError(f"node run of {bundle_dir} failed: {cause}")
        return _arrays(result["outputs"])


def compile_bundle(graph, backend: str, out_dir: Path) -> list:
    """Writes model.<backend>.wlm for ``graph`` into ``out_dir`` with the backend's compile function."""
    from converter.backends import available
    backends = available()
    if backend not in backends:
        raise ValueError(f"compile_bundle: backend {backend!r} is not available ({sorted(backends)})")
    return backends[backend](graph, out_dir)


@pytest.fixture(scope="session")
def bundles(web_root, http_server) -> Bundles:
    return Bundles(web_root, http_server)
