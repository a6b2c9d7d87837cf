"""The Chainer language model example (examples/chainer_lm, seed 004's RNNForLM trained on the fable):
build its page with build_web.py (convert_chainer on the shipped weights), open it in Chromium, and check
that the page's first 20 greedy words, one runner.step() per word, are Chainer's own, on every backend."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tests.examples.pages import ROOT, build_example, page_results

chainer = pytest.importorskip("chainer")

EXAMPLE = ROOT / "examples" / "chainer_lm"
EXPECTED = json.loads((EXAMPLE / "expected.json").read_text())
VOCAB = json.loads((EXAMPLE / "vocab.json").read_text())
WORDS = 20


@pytest.fixture(scope="module")
def web_dir(web_root) -> Path:
    return build_example(EXAMPLE, web_root / "chainer-lm")


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"chainer_lm_{name}", EXAMPLE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_greedy_words_are_chainers():
    train = _module("train")
    model = train.RNNForLM(len(VOCAB["words"]), train.N_UNITS)
    chainer.serializers.load_npz(EXAMPLE / "params.npz", model)
    ids, gap = train.greedy(model, [VOCAB["words"].index(EXPECTED["seed"])], WORDS)
    assert [VOCAB["words"][i] for i in ids] == EXPECTED["greedy"][:WORDS]
    assert gap > 1e-2            # no near tie that float rounding in a backend could flip
    assert sum(p.stat().st_size for p in EXAMPLE.iterdir() if p.is_file()) < 1024 * 1024


@pytest.mark.parametrize("backend", ["wasm", "webgpu", "webgl"])
def test_page_greedy_words_match_chainer(page, web_dir, http_server, backend):
    result = page_results(page, f"{http_server}/{web_dir.name}/index.html?backend={backend}&n={WORDS}"
                          "&temperature=0&auto=1")
    assert result["backend"] == backend
    assert result["seed"] == [EXPECTED["seed"]]
    assert result["words"] == EXPECTED["greedy"][:WORDS]
    assert result["msPerWord"] > 0 and "ms per word" in page.inner_text("#timing")
    assert page.input_value("#backend") == backend


def test_sampling_is_reproducible_and_unknown_words_are_named(page, web_dir, http_server):
    url = f"{http_server}/{web_dir.name}/index.html?backend=wasm&n=30&temperature=1.5&rng=7&auto=1"
    first, again = page_results(page, url)["words"], page_results(page, url)["words"]
    assert first == again and set(first) <= set(VOCAB["words"])
    assert first != EXPECTED["greedy"][:30]
    page.goto(f"{http_server}/{web_dir.name}/index.html?backend=wasm&seed=the%20dragon&auto=1")
    page.wait_for_selector("body[data-done]", timeout=60_000)
    assert "unknown seed word(s) dragon" in page.inner_text("#status")
    assert np.isfinite(EXPECTED["min_top2_logit_gap"])
