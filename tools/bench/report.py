"""docs/benchmarks.md and its chart from run.py's results: the rows per model, the ratios we quote and the
issue's targets, each met or missed by how much. Only rows that passed the correctness check enter a ratio.

A ratio is the median over pairs of runs taken side by side (run.py alternates the rows, run i of each row
is in round i) of peer time / Webloom time, with the interquartile range of those per-pair ratios: > 1
means Webloom is faster, and an IQR that straddles 1 means this machine cannot tell the two apart.
docs/benchmarks.md keeps one section per machine (CPU model); a run replaces its machine's section only.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import machine
import png

COMPARISONS = [   # (label, webloom backend, peer runtime, peer backend, colour)
    ("wasm vs TF.js wasm", "wasm", "tfjs", "wasm", (90, 140, 210)),
    ("webgl vs TF.js webgl", "webgl", "tfjs", "webgl", (120, 90, 200)),
    ("webgpu vs TF.js webgpu", "webgpu", "tfjs", "webgpu", (170, 90, 170)),
    ("wasm vs ORT-web wasm", "wasm", "ort", "wasm", (40, 150, 110)),
    ("webgpu vs ORT-web webgpu", "webgpu", "ort", "webgpu", (90, 170, 60)),
    ("wasm vs native Keras", "wasm", "keras", None, (210, 120, 40)),
    ("wasm vs native onnxruntime", "wasm", "onnxruntime", None, (190, 70, 60)),
]
RUNTIME_NAMES = {"webloom": "Webloom", "tfjs": "TF.js 4.22", "ort": "ORT-web 1.30",
                 "keras": "Keras 3 (native)", "onnxruntime": "onnxruntime (native)"}


def find(rows: list, runtime: str, backend, threads: int = 1, barrier=None) -> dict | None:
    """The row of `runtime` on `backend` (None: any) with `threads` threads (rows from before the thread
    rows count as 1) and, when given, that barrier kind; None unless it passed and was timed."""
    for row in rows:
        if (row["runtime"] == runtime and (backend is None or row["backend"] == backend)
                and row.get("threads", 1) == threads and barrier in (None, row.get("barrier"))):
            return row if row.get("ok") and row.get("median_ms") else None
    return None


def pair_ratios(rows: list, ours: str, runtime: str, backend, threads: int = 1, barrier=None,
                peer_threads=None) -> dict | None:
    """{median, q1, q3, n} of peer / Webloom time over paired runs, both at `threads` threads (the peer at
    `peer_threads` when given; `barrier`: Webloom's kind); rows without per-run times (results written
    before the bench alternated) give the ratio of medians with n = 0."""
    mine = find(rows, "webloom", ours, threads, barrier)
    peer = find(rows, runtime, backend, threads if peer_threads is None else peer_threads)
    return ratio_of(mine, peer)


def ratio_of(mine: dict | None, peer: dict | None) -> dict | None:
    if not mine or not peer or mine is peer:
        return None
    pairs = sorted(p / m for p, m in zip(peer.get("times") or [], mine.get("times") or []) if m > 0)
    if not pairs:
        value = peer["median_ms"] / mine["median_ms"]
        return {"median": value, "q1": value, "q3": value, "n": 0}
    return {"median": _quantile(pairs, 0.5), "q1": _quantile(pairs, 0.25), "q3": _quantile(pairs, 0.75),
            "n": len(pairs)}


def _quantile(sorted_values: list, q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on an already sorted list."""
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def speedup(rows: list, ours: str, runtime: str, backend) -> float | None:
    stats = pair_ratios(rows, ours, runtime, backend)
    return stats["median"] if stats else None


def _ratio_cell(stats: dict | None) -> str:
    if not stats:
        return "n/a"
    if not stats["n"]:
        return f"{stats['median']:.2f}x"
    return f"{stats['median']:.2f}x ({stats['q1']:.2f}-{stats['q3']:.2f}, n {stats['n']})"


def _emulated(results: dict, backend: str) -> bool:
    b = results.get("browser", {})
    text = str(b.get("webgpu") if backend == "webgpu" else b.get("webgl") if backend == "webgl" else "")
    return "swiftshader" in text.lower()


def _status(row: dict) -> str:
    if row.get("ok"):
        return f"ok ({row['max_err']:.0e})"
    err = str(row.get("error") or "failed")
    return err if err.startswith("not available") else f"**FAILED**: {err}"


def _ms(value) -> str:
    return "" if value is None else f"{value:.3f}" if value < 10 else f"{value:.1f}"


def model_table(results: dict, key: str, model: dict) -> list:
    unit = "ms per generated character" if key == "m5" else "ms per run"
    lines = [f"#### {model['title']}", "",
             f"Raw float32 weights: {model['raw_bytes']:,} bytes. tf_keras twin vs Keras 3: max |diff| "
             f"{model['twin_gap']:.1e}. Times in {unit}; first run: the check, the first whole run after "
             "load (lazy compiles included)." + _model_load(model), "",
             "| runtime | backend | threads | check (max err) | median | min | runs | load ms | first run ms "
             "| bytes on disk |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for row in model["rows"]:
        backend = row["backend"] + (" (SwiftShader: CPU emulation)" if _emulated(results, row["backend"])
                                    and row["runtime"] in ("webloom", "tfjs", "ort") else "")
        if row.get("variant"):
            backend += f" ({row['variant']})"      # which wasm module ran: relaxed-simd (FMA) or simd128
        if key == "m5" and row["runtime"] == "webloom":
            backend += ", stateful step()"
        elif key == "m5":
            backend += ", window re-fed" if row["runtime"] != "keras" else ", stateful step"
        nbytes = f"{row['bytes']:,}" if row.get("bytes") else ""
        threads = f"{row.get('threads', 1)}" + (f" ({row['barrier']} barrier)" if row.get("barrier") else "")
        lines.append(f"| {RUNTIME_NAMES.get(row['runtime'], row['runtime'])} | {backend} | {threads} | "
                     f"{_status(row)} | "
                     f"{_ms(row.get('median_ms'))} | {_ms(row.get('min_ms'))} | {row.get('runs') or ''} | "
                     f"{_ms(row.get('load_ms'))} | {_ms(row.get('first_run_ms'))} | {nbytes} |")
    return lines + [""]


def ratio_table(results: dict) -> list:
    keys = list(results["models"])
    lines = ["### Ratios (median of per-pair peer / Webloom times (IQR, pairs); > 1: Webloom faster)", "",
             "| comparison | " + " | ".join(k.upper() for k in keys) + " |",
             "|---|" + "---:|" * len(keys)]
    for label, ours, runtime, backend, _ in COMPARISONS:
        cells = []
        for key in keys:
            cells.append(_ratio_cell(pair_ratios(results["models"][key]["rows"], ours, runtime, backend)))
        lines.append(f"| Webloom {label} | " + " | ".join(cells) + " |")
    lines += thread_ratio_lines(results, keys)
    return lines + ["", "n/a: one side did not run, is not available, or failed its check. Rows that name no "
                    "thread count compare one thread with one thread. M5 compares "
                    "Webloom's stateful step() (one character in per call) with the peers re-feeding the "
                    "40-character window per character, as an application without a step would.", ""]


def thread_counts(results: dict) -> list:
    """The thread counts > 1 of this run's rows."""
    return sorted({r.get("threads", 1) for m in results["models"].values() for r in m["rows"]} - {1})


def thread_ratio_lines(results: dict, keys: list) -> list:
    """Per thread count n > 1: Webloom wasm vs ORT-web wasm both at n threads, and Webloom at n threads
    (each barrier kind) vs Webloom at 1 thread (> 1: the threads pay off)."""
    lines = []
    for n in thread_counts(results):
        rows = [results["models"][k]["rows"] for k in keys]
        barriers = sorted({r.get("barrier") for rs in rows for r in rs if r.get("threads") == n} - {None})
        kind = "spin" if "spin" in barriers else None
        cells = [_ratio_cell(pair_ratios(rs, "wasm", "ort", "wasm", n, kind)) for rs in rows]
        lines.append(f"| Webloom wasm vs ORT-web wasm, both {n} threads | " + " | ".join(cells) + " |")
        for barrier in barriers:
            cells = [_ratio_cell(ratio_of(find(rs, "webloom", "wasm", n, barrier),
                                          find(rs, "webloom", "wasm"))) for rs in rows]
            lines.append(f"| Webloom wasm {n} threads ({barrier} barrier) vs Webloom wasm 1 thread | "
                         + " | ".join(cells) + " |")
        cells = [_ratio_cell(ratio_of(find(rs, "ort", "wasm", n), find(rs, "ort", "wasm"))) for rs in rows]
        lines.append(f"| ORT-web wasm {n} threads vs ORT-web wasm 1 thread (peer / peer) | "
                     + " | ".join(cells) + " |")
    return lines


def _target(text: str, values: dict, goal: float, higher_is_better: bool, unit: str = "x") -> str:
    """One target line: per model the value and met / missed by how much."""
    parts = []
    for key, value in values.items():
        if value is None:
            parts.append(f"{key.upper()} n/a")
            continue
        met = value >= goal if higher_is_better else value <= goal
        shown = f"{value:.3g}{unit}"
        parts.append(f"{key.upper()} {shown} " + ("met" if met else f"**missed** by "
                                                   f"{abs(value - goal) / goal * 100:.1f}%"))
    return f"- {text}: " + "; ".join(parts)


def targets(results: dict) -> list:
    ms = results["models"]
    wasm_ort = {k: speedup(m["rows"], "wasm", "ort", "wasm") for k, m in ms.items()}
    native = {}
    for k, m in ms.items():
        s = speedup(m["rows"], "wasm", "onnxruntime", None)
        native[k] = 1 / s if s else None
    gpu = {k: speedup(m["rows"], "webgpu", "ort", "webgpu") for k, m in ms.items()}
    gl = {k: speedup(m["rows"], "webgl", "tfjs", "webgl") for k, m in ms.items()}
    lines = ["### Targets (goals, not gates; met only when met on every machine in this file)", "",
             _target("wasm >= 1.5x faster than ORT-web wasm", wasm_ort, 1.5, True),
             _target("wasm within 2x of native onnxruntime (Webloom / onnxruntime time)", native, 2.0, False),
             _target("webgpu >= 3x faster than ORT-web webgpu", gpu, 3.0, True),
             _target("webgl >= 5x faster than TF.js webgl", gl, 5.0, True)]
    if "m5" in ms:
        row = find(ms["m5"]["rows"], "webloom", "wasm")
        lines.append(_target("M5 <= 0.1 ms per character on wasm",
                             {"m5": row["median_ms"] if row else None}, 0.1, False, " ms"))
    sizes = {}
    for k, m in ms.items():
        row = next((r for r in m["rows"] if r["runtime"] == "webloom" and r.get("bytes")), None)
        sizes[k] = row["bytes"] / m["raw_bytes"] if row else None
    lines.append(_target("bundle bytes within 2% of raw float32 weights (bundle / raw)", sizes, 1.02, False))
    return lines + [""]


TITLE = "# Benchmarks: Webloom vs TensorFlow.js vs ONNX Runtime Web vs native"
INTRO = ("Generated by `bash tools/bench/run.sh` (tools/bench/run.py); do not edit by hand. One section per "
         "machine (CPU model) the bench ran on: a run replaces its own machine's section and keeps the "
         "others. A target counts as met only when it is met on every machine below.")
SECTION = re.compile(r"<!-- machine: (.*?) -->\n(.*?)<!-- end machine -->\n?", re.S)


def machine_of(results: dict) -> dict:
    """results['machine'] (run.py records it); older results: this process's CPU."""
    return results.get("machine") or {"cpu": _cpu_name(), "cores": os.cpu_count(), "features": [],
                                      "os": f"{platform.system()} {platform.release()}",
                                      "python": platform.python_version()}


def header(results: dict) -> list:
    b = results.get("browser", {})
    m = machine_of(results)
    a = results["args"]
    extra = "".join(f", {k} {m[k]}" for k in ("l2", "hypervisor") if m.get(k))
    features = ", ".join(m.get("features") or []) or "none of " + ", ".join(machine.FEATURES)
    return [f"## {m['cpu']}", "",
            f"- Date: {results['started']}; whole run {results['seconds']:.0f} s",
            f"- Machine: {m['cpu']}, {m['cores']} cores{extra}; CPU features: {features}; {m['os']}, "
            f"Python {m['python']}; navigator.hardwareConcurrency {b.get('hardwareConcurrency', 'n/a')}",
            f"- Browser: Chromium {b.get('version', 'not run')} headless; WebGPU adapter: "
            f"{b.get('webgpu') or 'none'}; WebGL2 renderer: {b.get('webgl') or 'none'}",
            f"- Flags: `{' '.join(b.get('flags', []))}`",
            f"- Page cross-origin isolated (5 us timer, wasm threads): {b.get('crossOriginIsolated')}; "
            "threads per row in the threads column: Webloom wasm (numThreads) and ORT-web wasm (numThreads) "
            "at each count of --threads, every other runtime single-threaded (TF.js wasm threads 1, native "
            "onnxruntime 1 thread); ratios compare equal thread counts",
            f"- Load average (1, 5, 15 min): at the start {_load(a.get('load'))}, at the end "
            f"{_load(a.get('load_after'))}",
            f"- Runs: batch 1; per model every row is opened and checked, warmed up once, then timed in "
            f"rounds that alternate the rows (A B C, C B A, ...), up to {a['runs']} runs per row, a row "
            f"stopping past {a['budget_s']:g} s of its own runs after >= 3 (after 1, with the check as "
            "warm-up, when the check took over half that); each run includes reading the output back",
            "- Check: every row first compares its output with Keras 3's: max |got - want| / (1 + |want|) "
            "<= 1e-4; a row that fails is printed as FAILED and not timed",
            "- Peers: TF.js runs the tensorflowjs layers-model converted from a tf_keras twin with the same "
            "weights; ORT runs a tf2onnx export of that twin (ONNX LSTM op, opset 17)",
            "- SwiftShader rows are WebGPU/WebGL2 emulated on the CPU: they say nothing about real GPUs", ""]


def _model_load(model: dict) -> str:
    if not model.get("load"):
        return ""
    before, after = model["load"]
    return f" Load average while its rows ran: {before[0]:.2f} at the start, {after[0]:.2f} at the end."


def _load(values) -> str:
    return " ".join(f"{v:.2f}" for v in values) if values else "not recorded"


def _cpu_name() -> str:
    return machine.describe()["cpu"]


def chart(results: dict, path: Path) -> Path:
    rows = []
    for key, model in results["models"].items():
        for label, ours, runtime, backend, colour in COMPARISONS:
            value = speedup(model["rows"], ours, runtime, backend)
            rows.append((f"{key} {label}", value, colour))
    note = "LOG2 AXIS. GPU ROWS ARE SWIFTSHADER (CPU EMULATION). " + str(results["started"])
    title = "WEBLOOM SPEEDUP = MEDIAN PAIRED PEER / WEBLOOM TIME (>1: WEBLOOM FASTER)"
    return png.bar_chart(rows, path, title, note)


def section(results: dict, chart_name: str) -> str:
    lines = header(results) + [f"![speedups on this machine]({chart_name})", ""] + ratio_table(results)
    lines += targets(results) + ["### Rows", ""]
    for key, model in results["models"].items():
        lines += model_table(results, key, model)
    if results.get("kernels"):      # tools/bench/kernels.py: time and GFLOP/s per wasm kernel
        import kernels
        lines += ["### wasm kernels", ""] + kernels.table(results["kernels"]) + [""]
    return "\n".join(lines)


def sections(text: str) -> dict:
    """{cpu: section body} of an existing benchmarks.md, in file order."""
    return {cpu: body for cpu, body in SECTION.findall(text)}


def write(results: dict, docs: Path) -> list:
    """Writes this machine's section (and chart) into docs/benchmarks.md, keeping other machines'."""
    docs.mkdir(parents=True, exist_ok=True)
    cpu = machine_of(results)["cpu"]
    png_path = docs / f"benchmarks-{machine.slug(cpu)}.png"
    md = docs / "benchmarks.md"
    kept = sections(md.read_text()) if md.exists() else {}
    kept[cpu] = section(results, png_path.name).rstrip("\n") + "\n"
    body = [TITLE, "", INTRO, ""]
    for name, text in kept.items():
        body += [f"<!-- machine: {name} -->", text.rstrip("\n"), "<!-- end machine -->", ""]
    md.write_text("\n".join(body))
    return [md, chart(results, png_path)]
