"""The page side: a loopback HTTP server for the repository root and one headless Chromium session in
which every browser row runs, each in its own page (so one runtime's globals, caches and GPU state never
leak into another's numbers). A model's rows are open at the same time, so run.py can alternate their
timed runs; Playwright launches Chromium without background-tab timer throttling.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = os.environ.get("WEBLOOM_CHROMIUM", "/usr/bin/chromium")
# SwiftShader gives WebGPU and WebGL2 here (CPU emulation); the rest keeps the browser quiet and offline.
FLAGS = ["--no-sandbox", "--enable-unsafe-webgpu", "--enable-unsafe-swiftshader", "--enable-features=Vulkan",
         "--use-vulkan=swiftshader", "--use-webgpu-adapter=swiftshader", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
PAGE = "/tools/bench/page/index.html"


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm",
                      ".mjs": "text/javascript", ".js": "text/javascript", ".wlm": "application/octet-stream",
                      ".onnx": "application/octet-stream", ".bin": "application/octet-stream"}

    def end_headers(self):
        # load times must include the transfer every row, not a warm HTTP cache from an earlier page
        self.send_header("Cache-Control", "no-store")
        # cross-origin isolation: performance.now() resolves to 5 us instead of 100 us (sub-ms rows need it)
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()

    def log_message(self, *args):
        pass


@contextmanager
def serve(root: Path):
    """Serves `root` on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(_Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


_RACE = """({call, arg, ms}) => Promise.race([window[call](arg), new Promise((_, reject) => setTimeout(
  () => reject(new Error(`timed out after ${ms / 1000} s`)), ms))])"""


class PageRow:
    """One row's page: `info` is what benchOpen reported (ok, max_err, load_ms, first_run_ms, ...);
    run() times one run (ms) and raises RuntimeError when the page hangs or crashes."""

    def __init__(self, page, spec: dict, timeout_s: float):
        self.page, self.spec, self.timeout_ms = page, spec, timeout_s * 1e3
        try:
            # evaluate() itself never times out; the race bounds a row whose runtime hangs (awaits forever)
            self.info = self._call("benchOpen", spec)
        except RuntimeError as err:   # a hung or crashed page is that row's failure, not the run's
            self.info = {"runtime": spec["runtime"], "backend": spec["backend"], "ok": False,
                         "error": f"page failed: {err}"}

    def _call(self, name: str, arg=None):
        try:
            return self.page.evaluate(_RACE, {"call": name, "arg": arg, "ms": self.timeout_ms})
        except Exception as err:
            raise RuntimeError(str(err).splitlines()[0]) from None

    def run(self) -> float:
        return float(self._call("benchRun"))

    def close(self) -> None:
        self.page.close()


class Browser:
    """One Chromium for the whole run; `open(spec)` gives a PageRow in a fresh page."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self._pw = None
        self._browser = None
        self.version = ""

    def __enter__(self):
        from playwright.sync_api import sync_playwright
        if not Path(CHROMIUM).exists():
            raise FileNotFoundError(f"{CHROMIUM} is missing; install Debian's chromium (tools/setup.sh "
                                    f"--dev) or set WEBLOOM_CHROMIUM")
        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        self.version = self._browser.version
        return self

    def __exit__(self, *exc):
        self._browser.close()
        self._pw.stop()

    def _page(self):
        page = self._browser.new_page()
        page.goto(self.base_url + PAGE)
        page.wait_for_function("window.benchReady === true", timeout=30_000)
        return page

    def environment(self) -> dict:
        page = self._page()
        try:
            return page.evaluate("window.benchEnvironment()")
        finally:
            page.close()

    def open(self, spec: dict, timeout_s: float) -> PageRow:
        return PageRow(self._page(), spec, timeout_s)
