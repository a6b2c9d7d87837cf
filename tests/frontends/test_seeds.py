"""The seed models (Embedding->LSTM->Dense, char LSTM, stacked cells over padded ids, 2x LSTM(512)):
converted from their files and run by the interpreter, vs Keras' predict."""

from __future__ import annotations

import numpy as np
import pytest

from converter import from_keras
from tests.cases import keras_models as km


@pytest.mark.parametrize("case", km.SEED_CASES, ids=lambda c: c.name)
def test_seed_matches_keras(case):
    m = km.materialize(case, km.default_cache_dir())
    graph = from_keras(str(m.model_path))
    graph.verify()
    got = graph.run(m.inputs)
    assert len(got) == len(m.outputs)
    for g, e in zip(got, m.outputs):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, atol=1e-5, rtol=1e-5, err_msg=case.name)


def test_seed002_masks_padded_steps():
    m = km.materialize(km.get("seed002"), km.default_cache_dir())
    graph = from_keras(str(m.model_path))
    y = graph.run(m.inputs)[0]
    # Keras outputs the previous output at masked steps: row 0 (length 4) repeats step 3 to the end
    np.testing.assert_array_equal(y[0, 4:], np.broadcast_to(y[0, 3], y[0, 4:].shape))
    assert graph.inputs[0].dtype == "int32" and graph.inputs[0].shape == ("batch", 10)
    cells = [n for n in graph.nodes if n.op == "LSTM"]
    assert len(cells) == 2 and all(n.input("mask") is not None for n in cells)


def test_seed003_shapes_and_dynamic_batch():
    m = km.materialize(km.get("seed003"), km.default_cache_dir())
    graph = from_keras(str(m.model_path))
    assert graph.inputs[0].shape == ("batch", 3, 1)
    assert graph.outputs[0].shape == ("batch", 112)
    # another batch size runs through the same graph: rows are independent
    x = np.concatenate([m.inputs[0], m.inputs[0][:1]], 0)
    y = graph.run([x])[0]
    np.testing.assert_allclose(y[:2], m.outputs[0], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(y[2], y[0], atol=1e-6)
