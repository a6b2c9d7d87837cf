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


def _fake_results(webloom_ok: bool, cpu: str = "Test CPU 9000") -> dict:
    def row(runtime, backend, times, ok=True, error=None):
        ms = sorted(times)
        return {"runtime": runtime, "backend": backend, "ok": ok, "max_err": 1e-7 if ok else 0.3,
                "times": times if ok else [], "median_ms": ms[len(ms) // 2] if ok else None,
                "min_ms": ms[0] if ok else None, "runs": len(times) if ok else 0, "load_ms": 5.0,
                "first_run_ms": 7.5, "bytes": 1100, "error": error}
    # per-pair ort/webloom ratios 1.8, 2.0, 2.0, 2.2, 2.4: median 2.0, IQR 2.0-2.2
    rows = [row("webloom", "wasm", [0.5] * 5, webloom_ok,
                None if webloom_ok else "wrong output: max error 3e-01"),
            row("webloom", "webgl", [], False, "not available: the converter has no webgl backend yet"),
            row("ort", "wasm", [0.9, 1.0, 1.0, 1.1, 1.2]), row("tfjs", "webgl", [100.0] * 5),
            row("onnxruntime", "cpu", [0.2] * 5)]
    return {"args": {"runs": 30, "budget_s": 15}, "started": "2026-01-01 00:00:00 UTC", "seconds": 1.0,
            "machine": {"cpu": cpu, "cores": 2, "features": ["fma"], "l2": "2 MiB", "os": "Linux",
                        "python": "3.11"},
            "browser": {"version": "156", "webgpu": "google swiftshader", "webgl": "SwiftShader",
                        "flags": [], "hardwareConcurrency": 2},
            "models": {"m2": {"title": "M2 char", "twin_gap": 0.0, "raw_bytes": 1000, "rows": rows,
                              "problems": {}}}}


def _bench(name: str):
    sys.path.insert(0, str(BENCH))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(BENCH))


def test_report_quotes_ratios_and_targets(tmp_path):
    md_path, png_path = _bench("report").write(_fake_results(True), tmp_path)
    md = md_path.read_text()
    assert "| Webloom wasm vs ORT-web wasm | 2.00x (2.00-2.20, n 5) |" in md
    assert "wasm >= 1.5x faster than ORT-web wasm: M2 2x met" in md
    assert "M2 2.5x **missed** by 25.0%" in md            # 0.5 ms vs native onnxruntime 0.2 ms: goal 2x
    assert "not available: the converter has no webgl backend yet" in md
    assert "SwiftShader: CPU emulation" in md
    assert "## Test CPU 9000" in md and "CPU features: fma" in md
    assert "| 5.000 | 7.500 | 1,100 |" in md               # load and first-run columns
    assert png_path.name == "benchmarks-test-cpu-9000.png"
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_pairs_runs_rather_than_medians():
    report = _bench("report")
    # the machine slowed down during the peer's later runs: per-row medians say 2.5x, side-by-side pairs 1.5x
    rows = [{"runtime": "webloom", "backend": "wasm", "ok": True, "median_ms": 2.0, "times": [1, 2, 4]},
            {"runtime": "ort", "backend": "wasm", "ok": True, "median_ms": 5.0, "times": [1.5, 5, 6]}]
    assert report.pair_ratios(rows, "wasm", "ort", "wasm") == {"median": 1.5, "q1": 1.5, "q3": 2.0, "n": 3}
    legacy = [{**r, "times": None} for r in rows]                    # results from before the pairing
    assert report.pair_ratios(legacy, "wasm", "ort", "wasm")["n"] == 0
    assert report.speedup(legacy, "wasm", "ort", "wasm") == 2.5


def test_report_keeps_one_section_per_machine(tmp_path):
    report = _bench("report")
    report.write(_fake_results(True, cpu="CPU A"), tmp_path)
    report.write(_fake_results(True, cpu="CPU B"), tmp_path)
    again = _fake_results(False, cpu="CPU A")       # a new run on machine A replaces A's section only
    md = report.write(again, tmp_path)[0].read_text()
    assert list(report.sections(md)) == ["CPU A", "CPU B"]
    a, b = report.sections(md).values()
    assert "**FAILED**: wrong output" in a and "**FAILED**" not in b
    assert md.count("# Benchmarks") == 1


def test_report_never_times_a_wrong_answer(tmp_path):
    md = _bench("report").write(_fake_results(False), tmp_path)[0].read_text()
    assert "**FAILED**: wrong output" in md
    assert "| Webloom wasm vs ORT-web wasm | n/a |" in md


class _FakeRow:
    def __init__(self, name, log, fail_at=None, slow=False):
        self.name, self.log, self.fail_at = name, log, fail_at
        self.info = {"ok": True, "slow": slow}

    def run(self):
        self.log.append(self.name)
        if len(self.log) == self.fail_at:
            raise RuntimeError("page crashed")
        return 1.0


def test_bench_alternates_rows_and_reverses_each_round():
    run = _bench("run")
    log = []
    rows = [_FakeRow("A", log), _FakeRow("B", log), _FakeRow("C", log)]
    times = run.alternate(rows, runs=4, budget_s=60)
    assert "".join(log) == "ABCCBAABCCBA"
    assert all(len(times[id(r)]) == 4 for r in rows)
    log.clear()
    crash = [_FakeRow("A", log), _FakeRow("B", log, fail_at=2)]   # B's page dies in round 0
    times = run.alternate(crash, runs=3, budget_s=60)
    assert "".join(log) == "ABAA" and times[id(crash[1])] == []
    assert crash[1].info["error"] == "page failed while timing: page crashed"
    log.clear()
    slow = [_FakeRow("A", log, slow=True), _FakeRow("B", log)]    # past the budget: 1 run vs >= 3
    run.alternate(slow, runs=10, budget_s=0)
    assert "".join(log) == "ABBB"


def test_thread_rows_are_planned_per_count_and_compared_at_equal_counts(tmp_path):
    run, report = _bench("run"), _bench("report")
    args = run.parse_args(["--models", "m2", "--runtimes", "webloom:wasm,ort:wasm,keras", "--threads", "1,2",
                           "--barriers", "spin,wait"])
    assert args.rows == [("webloom", "wasm", 1, None), ("webloom", "wasm", 2, "spin"),
                         ("webloom", "wasm", 2, "wait"), ("ort", "wasm", 1, None), ("ort", "wasm", 2, None),
                         ("keras", None, 1, None)]
    results = _fake_results(True)
    rows = results["models"]["m2"]["rows"]
    base = next(r for r in rows if r["runtime"] == "webloom" and r["backend"] == "wasm")
    rows += [{**base, "threads": 2, "barrier": "spin", "times": [0.25] * 5, "median_ms": 0.25},
             {**base, "threads": 2, "barrier": "wait", "times": [1.0] * 5, "median_ms": 1.0},
             {**base, "runtime": "ort", "threads": 2, "times": [0.75] * 5, "median_ms": 0.75}]
    md = report.write(results, tmp_path)[0].read_text()
    assert "| Webloom wasm vs ORT-web wasm | 2.00x (2.00-2.20, n 5) |" in md        # 1 thread vs 1 thread
    assert "| Webloom wasm vs ORT-web wasm, both 2 threads | 3.00x (3.00-3.00, n 5) |" in md
    assert "| Webloom wasm 2 threads (spin barrier) vs Webloom wasm 1 thread | 2.00x" in md
    assert "| Webloom wasm 2 threads (wait barrier) vs Webloom wasm 1 thread | 0.50x" in md
    assert "| Webloom | wasm | 2 (spin barrier) |" in md and "| ORT-web 1.30 | wasm | 2 |" in md


def test_report_includes_the_kernel_table(tmp_path):
    kernels = _bench("kernels")
    # 4.0M MACs in 0.4 ms = 20 GFLOP/s: 50% of a 40 GFLOP/s plain peak; 0.25 ms = 32 GFLOP/s, 64% of 50
    step = {"kernel": "LSTMRecurrence", "shape": "B1 T40 H128 G4", "macs": 4_000_000, "plain_ms": 0.4,
            "relaxed_ms": 0.25, "plain_ipm": 1.03, "relaxed_ipm": 0.78}
    copy = {"kernel": "Copy", "shape": "", "macs": 0, "plain_ms": 0.01, "relaxed_ms": 0.01}
    profile = {"peak": {"clock_ghz": 2.5, "fma": 40.0, "plain": 40.0, "vendor": "AuthenticAMD",
                        "assumes": "2.50 GHz", "measured": {"plain": 40.0, "relaxed": 50.0}},
               "browser": "156", "models": [{"model": "m2", "steps": [step, copy], "plain_program_ms": 0.42,
                                             "relaxed_program_ms": 0.27, "runner_ms": 0.3,
                                             "runner_variant": "relaxed-simd"}]}
    md = _bench("report").write({**_fake_results(True), "kernels": profile}, tmp_path)[0].read_text()
    assert "### wasm kernels" in md
    assert ("| m2 | LSTMRecurrence | B1 T40 H128 G4 | 4.00M | 1.03 / 0.78 | 0.400 | 20.0 | 50% | 0.250 | 32.0 "
            "| 64% |") in md
    assert "| m2 | Runner.run() (relaxed-simd) / JS side | | | | | | | 0.300 / 0.030 | | |" in md
    assert kernels.peak_gflops({"CPU max MHz": "3000", "Vendor ID": "GenuineIntel", "Flags": "sse fma"}) \
        == {"clock_ghz": 3.0, "fma": 48.0, "plain": 24.0, "vendor": "GenuineIntel",
            "assumes": "3.00 GHz, 2 FMA pipes, 1 mul+add per cycle, 4 lanes"}
