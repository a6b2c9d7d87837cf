"""The README's main job end to end, as tools/demo.sh does it: convert the shipped sentiment model with
convert_keras (with its sample.json), install the review page, then use the folder the ways a user would:
type reviews into the page on every backend (scores checked against the Python reference: the training
tokenizer and the numpy interpreter), open the Keras comparison, and run the Node check script."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.examples.pages import BACKENDS, check_backend_bar, open_page, screenshot

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "sentiment"
EXPECTED = json.loads((EXAMPLE / "expected.json").read_text())
TYPED = "the acting was not good and the story was boring"


def _convert(out: Path) -> None:
    cmd = [sys.executable, "-m", "converter", "keras", str(EXAMPLE / "model.keras"), "--backend", "all",
           "--out", str(out), "--sample", str(EXAMPLE / "expected.json")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "bundles" in done.stdout


@pytest.fixture(scope="module")
def web_dir(web_root) -> Path:
    out = web_root / "sentiment-demo"
    _convert(out)
    done = subprocess.run([sys.executable, str(EXAMPLE / "build_web.py"), "--out", str(out), "--page-only"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def reference():
    """score(text) as training would compute it: make_model's tokenizer, the interpreter on the model."""
    from converter import from_keras
    spec = importlib.util.spec_from_file_location("sentiment_make_model", EXAMPLE / "make_model.py")
    make_model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_model)
    graph = from_keras(str(EXAMPLE / "model.keras"))

    def score(text: str) -> float:
        ids = np.array([make_model.pad(make_model.tokenize(text))], np.int32)
        return float(graph.run([ids])[0][0, 0])
    return score


def test_shipped_model_gets_its_samples_right():
    scores = EXPECTED["outputs"]["score"]["data"]
    assert [float(s > 0.5) for s in scores] == EXPECTED["labels"], scores
    assert EXPECTED["held_out_accuracy"] >= 0.95


def test_output_folder_is_self_contained(web_dir):
    names = {p.name for p in web_dir.iterdir()}
    assert {"webloom.js", "index.html", "sample.json", "vocab.json", "expected.json", "page.js", "page.css",
            "model.wasm.wlm", "model.webgpu.wlm", "model.webgl.wlm"} <= names


@pytest.mark.parametrize("backend", BACKENDS)
def test_typing_a_review_scores_it_live(page, web_dir, http_server, backend, reference):
    open_page(page, f"{http_server}/{web_dir.name}/index.html?backend={backend}")
    check_backend_bar(page, backend)
    results = page.evaluate("window.webloomResults")
    assert results["backend"] == backend
    # the Keras comparison, under its toggle
    page.click("#compare summary")
    rows = page.eval_on_selector_all("#report tbody tr", "rows => rows.map(r => "
                                     "Array.from(r.cells, c => c.textContent))")
    assert [r[0] for r in rows] == EXPECTED["texts"]
    assert max(float(r[4]) for r in rows) <= 1e-4, rows
    assert "within 1e-4" in page.inner_text("#compare-summary")
    # a visitor types a review: the score follows each keystroke
    page.fill("#review", "")
    page.type("#review", TYPED, delay=5)
    page.wait_for_selector(f"#score[data-text='{TYPED}']", timeout=30_000)
    want = reference(TYPED)
    assert abs(float(page.inner_text("#score")) - want) <= 1e-4, (page.inner_text("#score"), want)
    assert page.inner_text("#label") == ("Positive" if want >= 0.5 else "Negative") == "Negative"
    # an unknown word is shown as such and still scored like training's OOV id
    page.fill("#review", "a wonderful zyxwv film")
    page.wait_for_selector("#score[data-text='a wonderful zyxwv film']", timeout=30_000)
    assert page.inner_text("#tokens .unknown") == "zyxwv"
    assert abs(float(page.inner_text("#score")) - reference("a wonderful zyxwv film")) <= 1e-4
    # a sample button fills the review
    page.click("#samples button >> nth=1")
    page.wait_for_selector(f"#score[data-text='{EXPECTED['texts'][1]}']", timeout=30_000)
    assert page.inner_text("#label") == "Negative"
    page.fill("#review", "")            # nothing to score: the page asks for words
    page.wait_for_selector("#score[data-text='']", timeout=30_000)
    assert page.inner_text("#label") == "Type a few words"
    page.fill("#review", TYPED)
    page.wait_for_selector(f"#score[data-text='{TYPED}']", timeout=30_000)
    assert not page.errors, page.errors
    screenshot(page, f"sentiment-{backend}")


def test_generic_demo_page_still_compares_with_sample_json(page, web_root, http_server):
    out = web_root / "sentiment-generic"
    _convert(out)        # without the review page: the converter's own demo page
    page.goto(f"{http_server}/{out.name}/index.html?backend=wasm")
    page.wait_for_selector("body[data-done]", timeout=120_000)
    assert page.get_attribute("body", "data-done") == "true", page.inner_text("#status")
    rows = page.eval_on_selector_all("#report tbody tr", "rows => rows.map(r => "
                                     "Array.from(r.cells, c => c.textContent))")
    assert [r[0] for r in rows] == ["score"] and float(rows[0][4]) <= 1e-4, rows


def test_node_check_script(web_dir):
    done = subprocess.run(["node", str(EXAMPLE / "check.mjs"), str(web_dir), str(EXAMPLE / "expected.json")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "max rel diff vs Keras" in done.stdout
    assert len(EXPECTED["outputs"]["score"]["data"]) == len(EXPECTED["texts"]) == 4


def test_auto_backend_shows_why_others_were_skipped(page, web_dir, web_root, http_server):
    out = web_root / "sentiment-no-webgpu"
    shutil.copytree(web_dir, out, dirs_exist_ok=True)
    (out / "model.webgpu.wlm").unlink()          # as if this deployment shipped no WebGPU bundle
    open_page(page, f"{http_server}/{out.name}/index.html")
    assert page.input_value("#backend") == "auto"
    info = page.inner_text("#backend-info")
    assert info.startswith("running on webgl") and "skipped webgpu (" in info and "not found" in info, info
