"""The word generation example (Embedding -> LSTM(512) -> LSTM(512) -> Dense(112) over Aesop's fable):
build its page with build_web.py, then on every backend type three words and press the button like a
visitor, greedily and sampled with the page's seeded RNG; the story must be what Keras continued from
the same words with the same sampler (expected.json, made by make_model.py with examples/js_sampling.py)."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np
import pytest

from tests.examples.pages import (BACKENDS, ROOT, build_example, check_backend_bar, click_and_wait, open_page,
                                  screenshot)

EXAMPLE = ROOT / "examples" / "word_generation"
EXPECTED = json.loads((EXAMPLE / "expected.json").read_text())
VOCAB = json.loads((EXAMPLE / "vocab.json").read_text())
# greedy runs whose choices are never near a tie (float differences cannot flip them)
CLEAR = [g for g in EXPECTED["greedy"] if g["min_top2_gap"] >= 0.02]


@pytest.fixture(scope="module")
def web_dir(web_root) -> Path:
    return build_example(EXAMPLE, web_root / "word-generation")


def test_dictionary_is_the_fables_by_frequency():
    words = (EXAMPLE / "fable.txt").read_text().split()
    assert VOCAB["symbols"] == [w for w, _ in collections.Counter(words).most_common()]
    assert len(VOCAB["symbols"]) == 112 and VOCAB["symbols"][:2] == [",", "the"]
    assert len(CLEAR) >= 2, EXPECTED["greedy"]


def test_model_is_the_seeds_shape():
    from converter import from_keras
    graph = from_keras(str(EXAMPLE / "model.keras"))
    assert graph.inputs[0].shape == ("batch", 3)
    lstms = [n for n in graph.nodes if n.op == "LSTM"]
    assert [n.inputs[2].shape[0] for n in lstms] == [512, 512]       # recurrent kernels [H, 4H]
    assert graph.outputs[0].shape == ("batch", 112)


@pytest.mark.parametrize("backend", BACKENDS)
def test_story_continues_like_keras(page, web_dir, http_server, backend):
    open_page(page, f"{http_server}/{web_dir.name}/index.html?backend={backend}", wait="ready")
    check_backend_bar(page, backend)
    sampled = EXPECTED["sampled"]
    page.fill("#prompt", "")
    page.type("#prompt", sampled["prompt"], delay=5)
    n = 12                 # words: ~0.5 s each on SwiftShader WebGPU; sampling's first 12 are a prefix
    page.fill("#count", str(n))
    assert page.input_value("#temperature") == str(sampled["temperature"])
    page.fill("#rng", str(sampled["rng"]))
    result = click_and_wait(page, "#go")
    assert result["backend"] == backend
    want = " ".join(sampled["text"].split()[:n])
    assert result["text"] == want
    np.testing.assert_allclose(result["firstProbs"], EXPECTED["first_probs"]["probs"], atol=1e-4, rtol=1e-4)
    assert page.inner_text("#story").endswith(want)
    assert "words/s" in page.inner_text("#rate")
    screenshot(page, f"word_generation-{backend}")
    greedy = CLEAR[0]
    page.fill("#prompt", greedy["prompt"])
    page.fill("#temperature", "0")
    page.fill("#count", "8")
    assert click_and_wait(page, "#go")["text"] == " ".join(greedy["text"].split()[:8])


def test_words_outside_the_fable_are_refused_by_name(page, web_dir, http_server):
    open_page(page, f"{http_server}/{web_dir.name}/index.html?backend=wasm", wait="ready")
    page.fill("#prompt", "the dog had")
    page.press("#prompt", "Enter")
    page.wait_for_selector("body[data-done='input-error']")
    assert page.inner_text("#status") == '"dog" is not in the fable; pick words from the list below'
    page.fill("#prompt", "the mice")
    page.click("#go")
    page.wait_for_selector("#status.error >> text=type 3 words (got 2)")
