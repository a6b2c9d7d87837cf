"""The side-by-side benchmark's smoke run (issue 6): M2 on every runtime, correctness checks, 2 runs.

`tools/bench/run.sh --smoke` installs the bench-only packages it needs (tf2onnx, onnxruntime, tensorflowjs,
TF.js and onnxruntime-web from npm), so the peers are always checked here, never skipped. The report tests
feed run.py's results format to the table/chart writer directly and need no browser.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "tools" / "bench"
WORK = BENCH / ".work" / "smoke"

PEER_ROWS = {("tfjs", "webgpu"), ("tfjs", "webgl"), ("tfjs", "wasm"), ("tfjs", "cpu"), ("ort", "wasm"),
             ("ort", "webgpu"), ("keras", "tf cpu"), ("onnxruntime", "cpu")}


def run_smoke():
    proc = subprocess.run(["bash", str(BENCH / "run.sh"), "--smoke", "--work", str(WORK)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    results = WORK / "results.json"
    assert results.exists(), f"run.sh --smoke wrote no results:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc, json.loads(results.read_text())


# one test, not several sharing a fixture: pytest-xdist would run the whole smoke run once per worker
@pytest.mark.browser
@pytest.mark.slow
def test_smoke_run_checks_webloom_and_every_peer():
    proc, results = run_smoke()
    rows = results["models"]["m2"]["rows"]
    bad = [f"{r['runtime']}:{r['backend']}: {r.get('error')}" for r in rows
           if not r.get("ok") and not str(r.get("error", "")).startswith("not available")]
    assert not bad, "rows failed:\n" + "\n".join(bad) + "\n" + proc.stdout[-2000:]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    by_key = {(r["runtime"], r["backend"]): r for r in rows}
    wasm = by_key[("webloom", "wasm")]
    assert wasm["ok"] and wasm["max_err"] <= 1e-4 and wasm["median_ms"] > 0, wasm
    assert wasm["bytes"] > results["models"]["m2"]["raw_bytes"]   # the bundle holds every weight
    for key in PEER_ROWS:
        assert key in by_key and by_key[key]["ok"], f"peer row {key} missing or wrong: {by_key.get(key)}"
    adapters = str(results["browser"]["webgpu"]) + str(results["browser"]["webgl"])
    assert "swiftshader" in adapters.lower()


def _fake_results(webloom_ok: bool) -> dict:
    def row(runtime, backend, ms, ok=True, error=None):
        return {"runtime": runtime, "backend": backend, "ok": ok, "max_err": 1e-7 if ok else 0.3,
                "median_ms": ms, "min_ms": ms, "runs": 30, "load_ms": 5.0, "bytes": 1100, "error": error}
    rows = [row("webloom", "wasm", 0.5, webloom_ok, None if webloom_ok else "wrong output: max error 3e-01"),
            row("webloom", "webgl", None, False, "not available: the converter has no webgl backend yet"),
            row("ort", "wasm", 1.0), row("tfjs", "webgl", 100.0), row("onnxruntime", "cpu", 0.2)]
    return {"args": {"runs": 30, "budget_s": 15}, "started": "2026-01-01 00:00:00 UTC", "seconds": 1.0,
            "browser": {"version": "156", "webgpu": "google swiftshader", "webgl": "SwiftShader",
                        "flags": []},
            "models": {"m2": {"title": "M2 char", "twin_gap": 0.0, "raw_bytes": 1000, "rows": rows,
                              "problems": {}}}}


def _report():
    sys.path.insert(0, str(BENCH))
    try:
        import report
    finally:
        sys.path.remove(str(BENCH))
    return report


def test_report_quotes_ratios_and_targets(tmp_path):
    md_path, png_path = _report().write(_fake_results(True), tmp_path)
    md = md_path.read_text()
    assert "| Webloom wasm vs ORT-web wasm | 2.00x |" in md
    assert "wasm >= 1.5x faster than ORT-web wasm: M2 2x met" in md
    assert "M2 2.5x **missed** by 25.0%" in md            # 0.5 ms vs native onnxruntime 0.2 ms: goal 2x
    assert "not available: the converter has no webgl backend yet" in md
    assert "SwiftShader: CPU emulation" in md
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_never_times_a_wrong_answer(tmp_path):
    md = _report().write(_fake_results(False), tmp_path)[0].read_text()
    assert "**FAILED**: wrong output" in md
    assert "| Webloom wasm vs ORT-web wasm | n/a |" in md
