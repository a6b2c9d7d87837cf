"""The Chainer frontend on the catalogue of tests/cases/chainer_models.py: NStep links over lists of
variable-length sequences, reductions, pooling, array and sequence functions; Chainer's own forward vs
the interpreter on the traced graph (1e-5), before and after the optimization passes."""

from __future__ import annotations

import copy

import numpy as np
import pytest

pytest.importorskip("chainer")

from converter import from_chainer  # noqa: E402
from converter.passes import optimize  # noqa: E402
from tests.cases.chainer_models import CASES, feeds_for, run_chainer  # noqa: E402


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_matches_chainer(case):
    chain, inputs, forward = case.make()
    want = run_chainer(chain, inputs, forward)
    graph = from_chainer(chain, inputs, forward=forward)
    feeds = feeds_for(graph, inputs)
    assert [v.name for v in graph.outputs] == list(want)
    optimized = copy.deepcopy(graph)
    optimize(optimized)
    for g in (graph, optimized):
        for value, got in zip(g.outputs, g.run(feeds)):
            np.testing.assert_allclose(got, want[value.name], rtol=1e-5, atol=1e-5, err_msg=value.name)
