"""The fuzzing suite's long run: the targets of tests/fuzz/targets.py for many iterations.

    .venv/bin/python tools/fuzz/long_run.py --target all --iterations 100000 --out fuzz-report.json

Targets: bundles (Python reader, JS reader + wasm runtime, and their differential), keras, chainer, onnx.
Runs in chunks and rewrites --out after each, so a run stopped early still reports the counts reached.
Exit status 1 when any crash, hang or reader disagreement was found; the report lists the first ones
with their iteration, and ``--start I --iterations 1`` with the same --seed replays one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.fuzz import harness, targets  # noqa: E402

ALL = ("bundles", "keras", "chainer", "onnx")


def _merge(total: dict, report: harness.Report) -> None:
    entry = total.setdefault(report.target, {"counts": {k: 0 for k in harness.OUTCOMES}, "seconds": 0.0,
                                             "examples": {"crash": [], "hang": []}})
    for k in harness.OUTCOMES:
        entry["counts"][k] += report.counts[k]
    entry["seconds"] = round(entry["seconds"] + report.seconds, 1)
    for k, items in report.examples.items():
        entry["examples"][k] = (entry["examples"][k] + items)[:harness.KEEP]


def run(target: str, seed: int, iterations: int, start: int, chunk: int, out: Path, total: dict,
        deadline: float) -> None:
    reason = targets.skip_reason(target) if target != "bundles" else ""
    if reason:
        total[target] = {"skipped": reason}
        return
    done = 0
    while done < iterations and time.time() < deadline:
        n = min(chunk, iterations - done)
        began = time.perf_counter()
        if target == "bundles":
            reports = targets.run_bundles(seed, n, start + done)
        else:
            reports = [targets.run_model(target, seed, n, start + done)]
        wall = time.perf_counter() - began
        for r in reports:
            r.seconds = wall if r.seconds < 0.1 else r.seconds
            _merge(total, r)
        done += n
        out.write_text(json.dumps({"seed": seed, "start": start, "targets": total}, indent=1))
        print(f"{target}: {done}/{iterations}", "; ".join(r.summary() for r in reports), flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=ALL + ("all",), default="all")
    parser.add_argument("--iterations", type=int, default=100_000, help="per target")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", type=int, default=0, help="first iteration (to replay one)")
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument("--hours", type=float, default=24.0, help="stop starting new chunks after this")
    parser.add_argument("--out", type=Path, default=Path("fuzz-report.json"))
    args = parser.parse_args(argv)
    total: dict = {}
    deadline = time.time() + args.hours * 3600
    for target in (ALL if args.target == "all" else (args.target,)):
        run(target, args.seed, args.iterations, args.start, min(args.chunk, args.iterations), args.out, total,
            deadline)
    failed = [t for t, e in total.items() if "counts" in e and (e["counts"]["crash"] or e["counts"]["hang"])]
    print(json.dumps({t: e.get("counts", e) for t, e in total.items()}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
