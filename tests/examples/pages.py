"""Shared by the example-page tests: build an example's page folder with its build_web.py, open a page
and wait for it, read what it published as ``window.webloomResults``, and take screenshots
(tests/.cache/screenshots/<name>.png, one per page and backend: look at them after a run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "tests" / ".cache" / "screenshots"
BACKENDS = ["wasm", "webgpu", "webgl"]


def build_example(example: Path, out: Path) -> Path:
    done = subprocess.run([sys.executable, str(example / "build_web.py"), "--out", str(out),
                           "--backend", "all"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def wait_done(page, timeout_ms: int = 120_000) -> None:
    """Waits for body[data-done] (the pages set it when a run finished) and checks it succeeded."""
    page.wait_for_selector("body[data-done]", timeout=timeout_ms)
    status = page.inner_text("#status")
    assert page.get_attribute("body", "data-done") == "true", status
    assert not page.errors, page.errors


def open_page(page, url: str, wait: str = "done") -> None:
    """Opens ``url`` at a desktop size; waits for body[data-done] (``wait="done"``) or body[data-ready]."""
    page.set_viewport_size({"width": 1100, "height": 900})
    page.goto(url)
    if wait == "done":
        wait_done(page)
    else:
        page.wait_for_selector(f"body[data-{wait}]", timeout=120_000)


def click_and_wait(page, selector: str) -> dict:
    """Clicks ``selector`` (which starts a run), waits for the run to finish, returns webloomResults."""
    page.evaluate("delete document.body.dataset.done")
    page.click(selector)
    wait_done(page)
    return page.evaluate("window.webloomResults")


def page_results(page, url: str) -> dict:
    open_page(page, url)
    return page.evaluate("window.webloomResults")


def check_backend_bar(page, backend: str) -> None:
    """The selector shows the backend asked for and the bar says it runs there."""
    assert page.input_value("#backend") == backend
    assert f"running on {backend}" in page.inner_text("#backend-info")


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
