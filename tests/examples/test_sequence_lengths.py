"""The sequence lengths example: the lesson's padded batch (lengths 4, 9, 10, 5, 10) through
Embedding(mask_zero) + RNN(StackedRNNCells([LSTMCell(7), LSTMCell(7)])) on every backend. The page's
outputs must match Keras' (expected.json), padded steps must repeat the last real step and each row
alone must equal the row in the batch; a visitor's own sentences are checked against the interpreter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.examples.pages import (BACKENDS, ROOT, build_example, check_backend_bar, click_and_wait, open_page,
                                  screenshot)

EXAMPLE = ROOT / "examples" / "sequence_lengths"
EXPECTED = json.loads((EXAMPLE / "expected.json").read_text())
VOCAB = json.loads((EXAMPLE / "vocab.json").read_text())
TYPED = "the cat\nthe old mouse said it is easy to propose"


@pytest.fixture(scope="module")
def web_dir(web_root) -> Path:
    return build_example(EXAMPLE, web_root / "sequence-lengths")


@pytest.fixture(scope="module")
def graph():
    from converter import from_keras
    return from_keras(str(EXAMPLE / "model.keras"))


def _ids(text: str) -> np.ndarray:
    index = {w: i for i, w in enumerate(VOCAB["words"])}
    lines = [line.split() for line in text.splitlines()]
    ids = np.zeros((len(lines), VOCAB["max_length"]), np.int32)
    for r, words in enumerate(lines):
        ids[r, :len(words)] = [index[w] for w in words]
    return ids


def test_shipped_batch_is_the_lessons():
    assert EXPECTED["lengths"] == [4, 9, 10, 5, 10]
    ids = np.array(EXPECTED["inputs"]["words"]["data"]).reshape(EXPECTED["inputs"]["words"]["shape"])
    assert [int(np.count_nonzero(r)) for r in ids] == EXPECTED["lengths"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_padding_changes_nothing(page, web_dir, http_server, backend, graph):
    open_page(page, f"{http_server}/{web_dir.name}/index.html?backend={backend}")
    check_backend_bar(page, backend)
    result = page.evaluate("window.webloomResults")
    assert result["backend"] == backend
    np.testing.assert_allclose(result["lstmOutputs"], EXPECTED["outputs"]["lstm_outputs"]["data"],
                               atol=1e-4, rtol=1e-4)
    assert [r["length"] for r in result["rows"]] == EXPECTED["lengths"]
    assert all(r["padDiff"] == 0 and r["aloneDiff"] <= 1e-5 for r in result["rows"]), result["rows"]
    assert "Keras' outputs for this batch" in page.inner_text("#summary")
    # the visitor types two sentences of their own and runs them
    page.fill("#sentences", TYPED)
    typed = click_and_wait(page, "#run")
    (want, probs) = graph.run([_ids(TYPED)])
    np.testing.assert_allclose(typed["lstmOutputs"], want.ravel(), atol=1e-4, rtol=1e-4)
    assert [r["length"] for r in typed["rows"]] == [2, 9]
    nexts = [VOCAB["words"][int(np.argmax(probs[r, n - 1]))] for r, n in enumerate([2, 9])]
    assert [r["next"] for r in typed["rows"]] == nexts
    screenshot(page, f"sequence_lengths-{backend}")


def test_unknown_words_are_named(page, web_dir, http_server):
    open_page(page, f"{http_server}/{web_dir.name}/index.html?backend=wasm")
    page.fill("#sentences", "the dog barked")
    page.evaluate("delete document.body.dataset.done")
    page.click("#run")
    page.wait_for_selector("body[data-done='input-error']")
    assert page.inner_text("#status") == "not in the fable's vocabulary: dog, barked"
