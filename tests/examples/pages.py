"""Shared by the example-page tests: build an example's page folder with its build_web.py, and open a
page, wait for it to finish and return what it published as ``window.webloomResults``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def build_example(example: Path, out: Path) -> Path:
    done = subprocess.run([sys.executable, str(example / "build_web.py"), "--out", str(out),
                           "--backend", "all"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def page_results(page, url: str) -> dict:
    page.goto(url)
    page.wait_for_selector("body[data-done]", timeout=80_000)
    status = page.inner_text("#status")
    assert page.get_attribute("body", "data-done") == "true", status
    assert not page.errors, page.errors
    return page.evaluate("window.webloomResults")
