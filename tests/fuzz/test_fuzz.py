"""The fuzzing suite's short run (docs/security.md; tools/fuzz/long_run.py runs the same targets long).

Fixed seeds, so a failure reproduces: the assertion names the target, seed and iteration, and
``python tools/fuzz/long_run.py --target T --seed S --start I --iterations 1`` replays it. Fails on any
crash or hang, and on any bundle that one reader accepts and the other refuses."""

from __future__ import annotations

import pytest

from tests.fuzz import targets

SEED = 20261201
COUNTS = {"keras": 150, "chainer": 100, "onnx": 300}
BUNDLES = 1000


def _check(report) -> None:
    print(report.summary())
    assert not report.failed, f"{report.summary()}; first failures: {report.examples}"
    assert sum(report.counts.values()) > 0


def test_bundle_mutants_python_js_and_runtime():
    reports = targets.run_bundles(SEED, BUNDLES)
    for report in reports:
        _check(report)
    python, js_reader, js_runtime, _ = reports
    # the mutator must reach both sides of the readers and the runtime, or the run proves little
    assert python.counts["accepted"] > BUNDLES // 10 and python.counts["error"] > BUNDLES // 10
    assert js_runtime.counts["accepted"] > 20


@pytest.mark.parametrize("target", sorted(COUNTS))
def test_model_mutants_through_the_converter(target):
    reason = targets.skip_reason(target)
    if reason:
        pytest.skip(reason)
    report = targets.run_model(target, SEED, COUNTS[target])
    _check(report)
    assert report.counts["accepted"] > 0 and report.counts["error"] > 0
