"""The captioning example end to end: build its page with build_web.py (convert_keras on the shipped
CNN encoder and stateful single-step LSTM decoder), open it in Chromium, and check that the page's
two-runner greedy loop captions the shipped sample images exactly as Keras' greedy decoding did
(samples.json, made by make_model.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.examples.pages import ROOT, build_example, page_results

EXAMPLE = ROOT / "examples" / "captioning"
SAMPLES = json.loads((EXAMPLE / "samples.json").read_text())
VOCAB = json.loads((EXAMPLE / "vocab.json").read_text())


@pytest.fixture(scope="module")
def web_dir(web_root) -> Path:
    return build_example(EXAMPLE, web_root / "captioning")


def test_shipped_files_are_small_and_the_model_is_trained():
    total = sum(p.stat().st_size for p in EXAMPLE.iterdir() if p.is_file())
    assert total < 2 * 1024 * 1024, f"examples/captioning holds {total} bytes"
    # the captions must actually describe the pictures, or the demo shows nothing
    assert SAMPLES["held_out_accuracy"] >= 0.9
    size = VOCAB["image_size"]
    assert all(len(s["pixels"]) == size * size * 3 for s in SAMPLES["samples"])


@pytest.mark.parametrize("backend", ["wasm", "webgpu", "webgl"])
def test_page_captions_match_keras_greedy(page, web_dir, http_server, backend):
    result = page_results(page, f"{http_server}/{web_dir.name}/index.html?backend={backend}&temperature=0")
    assert result["backend"] == backend
    assert result["captions"] == [s["keras"] for s in SAMPLES["samples"]]
    rows = page.eval_on_selector_all("#captions tbody tr", "rows => rows.map(r => "
                                     "Array.from(r.cells, c => c.textContent))")
    assert [r[3] for r in rows] == result["captions"]
    # timings are shown (performance.now() is coarse without cross-origin isolation: 0.00 happens)
    assert all(float(r[4]) >= 0 and float(r[5]) >= 0 for r in rows), rows


def test_sampling_uses_the_vocabulary_and_is_reproducible(page, web_dir, http_server):
    url = f"{http_server}/{web_dir.name}/index.html?backend=wasm&temperature=1.5&rng=3"
    first = page_results(page, url)["captions"]
    again = page_results(page, url)["captions"]
    assert first == again
    words = set(VOCAB["words"]) - {"<pad>", "<start>", "<end>"}
    assert all(set(c.split()) <= words for c in first if c), first
    assert all(len(c.split()) <= VOCAB["max_words"] for c in first)
