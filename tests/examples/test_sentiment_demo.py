"""The README's main job end to end: convert the shipped sentiment model with convert_keras (as
tools/demo.sh does), then check the output folder two ways a user would: the demo page in Chromium per
backend (it compares with Keras' outputs from sample.json) and the Node check script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "sentiment"


@pytest.fixture(scope="module")
def web_dir(web_root) -> Path:
    out = web_root / "sentiment-demo"
    cmd = [sys.executable, "-m", "converter", "keras", str(EXAMPLE / "model.keras"), "--backend", "all",
           "--out", str(out), "--sample", str(EXAMPLE / "expected.json")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "bundles" in done.stdout
    return out


def test_output_folder_is_self_contained(web_dir):
    names = {p.name for p in web_dir.iterdir()}
    assert {"webloom.js", "index.html", "sample.json", "model.wasm.wlm", "model.webgpu.wlm",
            "model.webgl.wlm"} <= names


@pytest.mark.parametrize("backend", ["wasm", "webgpu", "webgl"])
def test_demo_page_reproduces_keras(page, web_dir, http_server, backend):
    page.goto(f"{http_server}/{web_dir.name}/index.html?backend={backend}")
    page.wait_for_selector("body[data-done]", timeout=120_000)
    status = page.inner_text("#status")
    assert page.get_attribute("body", "data-done") == "true", status
    assert f"Backend: {backend}" in status and "sample.json" in status
    rows = page.eval_on_selector_all("#report tbody tr", "rows => rows.map(r => "
                                     "Array.from(r.cells, c => c.textContent))")
    assert [r[0] for r in rows] == ["score"]
    assert float(rows[0][4]) <= 1e-4, rows


def test_node_check_script(web_dir):
    done = subprocess.run(["node", str(EXAMPLE / "check.mjs"), str(web_dir), str(EXAMPLE / "expected.json")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "max rel diff vs Keras" in done.stdout
    expected = json.loads((EXAMPLE / "expected.json").read_text())
    assert len(expected["outputs"]["score"]["data"]) == 4
