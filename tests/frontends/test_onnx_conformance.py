"""The onnx package's node test cases for every op type the ONNX frontend claims, under the interpreter:
each case passes or is refused with its one-line reason, and docs/onnx.md's table says so."""

from __future__ import annotations

import pytest

pytest.importorskip("onnx", reason="onnx is a dependency of the converter (pyproject.toml)")

from tests.cases import onnx_node_cases  # noqa: E402


@pytest.fixture(scope="module")
def results():
    return onnx_node_cases.interpreter_results()


def test_every_claimed_op_has_cases(results):
    ops = {c.op for c in onnx_node_cases.cases()}
    # ops without a node test of their own in the onnx package are covered by the frontend tests
    assert set(onnx_node_cases.claimed_ops()) - ops <= set(), sorted(set(onnx_node_cases.claimed_ops()) - ops)


def test_no_wrong_results_or_crashes(results):
    bad = {name: r for name, r in results.items() if r[0] in ("wrong", "error")}
    assert not bad, bad


def test_refusals_are_one_line_and_point_at_the_cause(results):
    for name, (outcome, reason) in results.items():
        if outcome == "refused":
            assert reason and "\n" not in reason, name
            assert "see docs/onnx.md" in reason or "dtype" in reason or "opset" in reason or \
                "input '" in reason, (name, reason)


def test_docs_table_matches_the_interpreter_run(results):
    documented = onnx_node_cases.doc_results("interpreter")
    assert documented == onnx_node_cases.op_counts(results), \
        "docs/onnx.md is stale: regenerate it with `python -m tests.cases.onnx_node_cases`"
