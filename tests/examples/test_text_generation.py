"""The text generation example end to end: build its page with build_web.py (convert_keras on the
shipped window model, and again with --step for its one-step stateful form), open it in Chromium, press
Generate like a visitor, and compare what it generates (sampled at the default temperature 0.7 with its
seeded RNG, then greedily) with what Keras generated from the same seed with the same sampler
(expected.json, made by make_model.py with examples/js_sampling.py).

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

from tests.examples.pages import (BACKENDS, ROOT, build_example, check_backend_bar, click_and_wait, open_page,
                                  screenshot)

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
    assert set(EXPECTED["sampled"]["window"] + EXPECTED["sampled"]["step"]) <= set(VOCAB["chars"])


def test_web_dir_layout(web_dir):
    names = {p.relative_to(web_dir).as_posix() for p in web_dir.rglob("*") if p.is_file()}
    bundles = {f"{mode}/model.{backend}.wlm" for mode in ("window", "step") for backend in BACKENDS}
    page_files = {"index.html", "webloom.js", "vocab.json", "expected.json", "page.js", "page.css"}
    assert page_files | bundles <= names
    assert not (EXAMPLE / "model_step.keras").exists()     # the step bundle comes from --step


@pytest.mark.parametrize("backend", BACKENDS)
def test_generation_matches_keras(page, web_dir, http_server, backend):
    open_page(page, f"{http_server}/{web_dir.name}/index.html?backend={backend}", wait="ready")
    check_backend_bar(page, backend)
    assert page.input_value("#temperature") == "0.7"       # sampling by default: greedy loops
    sampled, n = EXPECTED["sampled"], 40      # each mode draws from its own createRng: a prefix
    page.fill("#count", str(n))
    result = click_and_wait(page, "#go")
    assert result["backend"] == backend and result["seed"] == EXPECTED["seed"]
    assert result["window"]["text"] == sampled["window"][:n]
    assert result["step"]["text"] == sampled["step"][:n]
    if backend == "webgpu":        # generate() ran on the GPU: one readback for the whole text
        assert result["step"]["readbacks"] == 1, result["step"]
    keras_first = np.array(EXPECTED["first_probs"])
    for mode in ("window", "step"):
        np.testing.assert_allclose(result[mode]["firstProbs"], keras_first, atol=1e-4, err_msg=mode)
        assert result[mode]["charsPerSecond"] > 0
        assert "characters/s" in page.inner_text(f"#{mode}-time")
    # both modes see the same seed from a zero state before the first choice
    np.testing.assert_allclose(result["window"]["firstProbs"], result["step"]["firstProbs"], atol=1e-5)
    screenshot(page, f"text_generation-{backend}")
    n = 30       # greedy: ~3 s per mode on SwiftShader WebGPU
    page.fill("#temperature", "0")
    page.fill("#count", str(n))
    greedy = click_and_wait(page, "#go")
    assert greedy["window"]["text"] == EXPECTED["window_greedy"][:n]
    assert greedy["step"]["text"] == EXPECTED["step_greedy"][:n]


def test_text_is_streamed_while_it_is_generated(page, web_dir, http_server):
    open_page(page, f"{http_server}/{web_dir.name}/index.html?backend=wasm", wait="ready")
    page.fill("#count", "400")
    # record the window text's lengths as the page updates it
    page.evaluate("""() => { window.seen = []; new MutationObserver(() => window.seen.push(
        document.getElementById('window-text').textContent.length)).observe(
        document.getElementById('window-text'), {childList: true, subtree: true, characterData: true}); }""")
    click_and_wait(page, "#go")
    seen = page.evaluate("window.seen")
    seed = len(EXPECTED["seed"])
    partial = sorted({n - seed for n in seen if seed < n < seed + 400})
    assert len(partial) >= 10 and partial[0] <= 8, partial

