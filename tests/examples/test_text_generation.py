"""The text generation example end to end: build its page with build_web.py (convert_keras on the
shipped window model and its stateful single-step twin), open it in Chromium, and compare what it
generates greedily with what Keras generated from the same seed (expected.json, made by make_model.py).

Window re-feed and stateful step are different computations after the first character (the window
model restarts from zero state over the last MAXLEN characters, the stateful twin remembers everything),
so each mode is compared with Keras running the same mode, and the two modes must agree exactly on the
first character's probabilities.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.examples.pages import ROOT, build_example, page_results

EXAMPLE = ROOT / "examples" / "text_generation"
EXPECTED = json.loads((EXAMPLE / "expected.json").read_text())
VOCAB = json.loads((EXAMPLE / "vocab.json").read_text())


@pytest.fixture(scope="module")
def web_dir(web_root) -> Path:
    return build_example(EXAMPLE, web_root / "text-generation")


def test_shipped_files_are_small():
    total = sum(p.stat().st_size for p in EXAMPLE.iterdir() if p.is_file())
    assert total < 2 * 1024 * 1024, f"examples/text_generation holds {total} bytes"
    assert len(EXPECTED["seed"]) == VOCAB["maxlen"]
    assert set(EXPECTED["window_greedy"] + EXPECTED["step_greedy"]) <= set(VOCAB["chars"])


def test_web_dir_layout(web_dir):
    names = {p.relative_to(web_dir).as_posix() for p in web_dir.rglob("*") if p.is_file()}
    bundles = {f"{mode}/model.{backend}.wlm" for mode in ("window", "step")
               for backend in ("wasm", "webgpu", "webgl")}
    assert {"index.html", "webloom.js", "vocab.json", "expected.json"} | bundles <= names


@pytest.mark.parametrize("backend", ["wasm", "webgpu", "webgl"])
def test_greedy_generation_matches_keras(page, web_dir, http_server, backend):
    n = EXPECTED["generate"]       # 80 characters: ~7 s on SwiftShader WebGPU, ~6 s WebGL, < 1 s wasm
    result = page_results(page, f"{http_server}/{web_dir.name}/index.html?backend={backend}&n={n}"
                            "&temperature=0&auto=1")
    assert result["backend"] == backend
    assert result["seed"] == EXPECTED["seed"]
    assert result["window"]["text"] == EXPECTED["window_greedy"][:n]
    assert result["step"]["text"] == EXPECTED["step_greedy"][:n]
    keras_first = np.array(EXPECTED["first_probs"])
    for mode in ("window", "step"):
        np.testing.assert_allclose(result[mode]["firstProbs"], keras_first, atol=1e-4, err_msg=mode)
        assert result[mode]["msPerChar"] > 0
    # both modes see the same seed from a zero state before the first choice
    np.testing.assert_allclose(result["window"]["firstProbs"], result["step"]["firstProbs"], atol=1e-5)
    assert "ms per char" in page.inner_text("#step-time")


def test_sampling_is_reproducible_with_a_seeded_rng(page, web_dir, http_server):
    url = f"{http_server}/{web_dir.name}/index.html?backend=wasm&n=30&temperature=0.8&rng=7&auto=1"
    first = page_results(page, url)
    again = page_results(page, url)
    assert first["window"]["text"] == again["window"]["text"]
    assert first["step"]["text"] == again["step"]["text"]
    assert set(first["window"]["text"] + first["step"]["text"]) <= set(VOCAB["chars"])
    # temperature 0.8 draws from the distribution, so it departs from the greedy text
    assert first["window"]["text"] != EXPECTED["window_greedy"][:30]
