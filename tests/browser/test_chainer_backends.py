"""The Chainer catalogue (tests/cases/chainer_models.py: NStep links over variable-length lists, the
CNN encoder functions, sequence functions) converted with from_chainer, compiled for every backend and
run in Chromium, compared with Chainer's own forward pass (1e-4 abs + rel)."""

from __future__ import annotations

import pytest

from tests.browser.fixtures import assert_close

pytest.importorskip("chainer")

from converter import from_chainer  # noqa: E402
from tests.cases.chainer_models import CASES, feeds_for, run_chainer  # noqa: E402


@pytest.fixture(scope="module")
def converted():
    """name -> (graph, feeds, Chainer's outputs), traced once for all backends."""
    made = {}
    for case in CASES:
        chain, inputs, forward = case.make()
        graph = from_chainer(chain, inputs, forward=forward)
        made[case.name] = (graph, feeds_for(graph, inputs), run_chainer(chain, inputs, forward))
    return made


@pytest.mark.parametrize("backend", ["wasm", "webgpu", "webgl"])
@pytest.mark.parametrize("case", [c.name for c in CASES])
def test_chainer_case_on_backend(page, bundles, converted, case, backend):
    graph, feeds, want = converted[case]
    bundle = bundles.compile(graph, backend, f"chainer/{backend}/{case}")
    run = bundles.run_on(page, bundle, feeds, backend)
    for value in graph.outputs:
        assert_close(run.outputs[value.name], want[value.name], f"{case} on {backend}: {value.name}")
