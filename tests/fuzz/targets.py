"""The fuzz targets, shared by the short run in the test suite (tests/fuzz/test_fuzz.py) and the long run
(tools/fuzz/long_run.py). Each ``run_*`` returns harness Reports; see docs/security.md for what the
outcomes mean and how to replay a failure."""

from __future__ import annotations

import json
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

from converter.bundle import BundleError, read_bundle
from converter.errors import ConversionError
from tests.fuzz import bundle_mutator, harness, model_mutators

ROOT = Path(__file__).resolve().parents[2]
JS_TARGET = Path(__file__).resolve().parent / "js_target.mjs"
WEBLOOM = ROOT / "runtime-js" / "dist" / "webloom.js"
PY_TIMEOUT = 10.0          # seconds per Python iteration (a conversion is ~30 ms)
JS_TIMEOUT_MS = 5000       # per JS iteration (parse + two wasm runs), watchdog-killed beyond


def run_bundles(seed: int, count: int, start: int = 0, limit_seconds: Optional[float] = None) -> list:
    """Python reader, JS reader + wasm runtime, and their differential on the same ``count`` mutants."""
    seeds = bundle_mutator.load_seeds()
    mutants = [bundle_mutator.mutant(seeds, seed, i)[1] for i in range(start, start + count)]
    python = harness.run_target("bundle-python", seed, ((start + i, (lambda d: lambda: read_bundle(d))(m))
                                                        for i, m in enumerate(mutants)),
                                (BundleError,), PY_TIMEOUT, limit_seconds)
    verdicts = python.verdicts
    mutants = mutants[:len(verdicts)]
    js = run_js(mutants)
    reports = [python, _report("bundle-js-reader", seed, start, [(r["parse"], r["detail"]) for r in js]),
               _report("bundle-js-runtime", seed, start, [(r["run"], r["detail"]) for r in js if r["run"]])]
    diff = harness.Report("bundle-differential", seed)
    for i, (py, j) in enumerate(zip(verdicts, js)):
        agree = (py == "accepted") == (j["parse"] == "accepted")
        diff.add("accepted" if agree else "crash", start + i,
                 "" if agree else f"python {py}, js {j['parse']}: {j['detail'][:200]}")
    return reports + [diff]


def run_js(mutants: list) -> list:
    """The JS outcomes [{parse, run, detail}] of each mutant (tests/fuzz/js_target.mjs)."""
    with tempfile.TemporaryDirectory() as tmp:
        pack, out = Path(tmp) / "mutants.bin", Path(tmp) / "out.json"
        pack.write_bytes(b"".join(struct.pack("<I", len(m)) + m for m in mutants))
        subprocess.run(["node", str(JS_TARGET), str(WEBLOOM), str(pack), str(out), str(JS_TIMEOUT_MS)],
                       check=True, timeout=60 + len(mutants) * 2)
        return json.loads(out.read_text())


def _report(name: str, seed: int, start: int, outcomes: list) -> harness.Report:
    report = harness.Report(name, seed)
    for i, (outcome, detail) in enumerate(outcomes):
        report.add(outcome, start + i, detail)
    return report


MODEL_TARGETS = {"keras": model_mutators.keras_case, "chainer": model_mutators.chainer_case,
                 "onnx": model_mutators.onnx_case}


def skip_reason(target: str) -> str:
    """Why a model target cannot run here ('' when it can)."""
    if target == "onnx":
        return model_mutators.onnx_available()
    if target == "chainer":
        try:
            import chainer  # noqa: F401
        except ImportError:
            return "the Chainer target needs chainer installed (requirements-dev.txt)"
    return ""


def run_model(target: str, seed: int, count: int, start: int = 0,
              limit_seconds: Optional[float] = None) -> harness.Report:
    """Mutated model files of ``target`` through the converter (frontend, optimizer, WebGPU lowering)."""
    make = MODEL_TARGETS[target]
    with tempfile.TemporaryDirectory() as tmp:
        cases = ((i, make(seed, i, Path(tmp))) for i in range(start, start + count))
        return harness.run_target(target, seed, cases, (ConversionError,), PY_TIMEOUT, limit_seconds)
