"""docs/benchmarks.md and docs/benchmarks.png from run.py's results: the rows per model, the ratios we
quote (speedup = peer median / Webloom median, > 1 means Webloom is faster) and the issue's targets, each
met or missed by how much. Only rows that passed the correctness check enter a ratio.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

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


def find(rows: list, runtime: str, backend) -> dict | None:
    for row in rows:
        if row["runtime"] == runtime and (backend is None or row["backend"] == backend):
            return row if row.get("ok") and row.get("median_ms") else None
    return None


def speedup(rows: list, ours: str, runtime: str, backend) -> float | None:
    mine, peer = find(rows, "webloom", ours), find(rows, runtime, backend)
    return peer["median_ms"] / mine["median_ms"] if mine and peer else None


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
    lines = [f"### {model['title']}", "",
             f"Raw float32 weights: {model['raw_bytes']:,} bytes. tf_keras twin vs Keras 3: max |diff| "
             f"{model['twin_gap']:.1e}. Times in {unit}.", "",
             "| runtime | backend | check (max err) | median | min | runs | load ms | bytes on disk |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for row in model["rows"]:
        backend = row["backend"] + (" (SwiftShader: CPU emulation)" if _emulated(results, row["backend"])
                                    and row["runtime"] in ("webloom", "tfjs", "ort") else "")
        if key == "m5" and row["runtime"] == "webloom":
            backend += ", stateful step()"
        elif key == "m5":
            backend += ", window re-fed" if row["runtime"] != "keras" else ", stateful step"
        nbytes = f"{row['bytes']:,}" if row.get("bytes") else ""
        lines.append(f"| {RUNTIME_NAMES.get(row['runtime'], row['runtime'])} | {backend} | {_status(row)} | "
                     f"{_ms(row.get('median_ms'))} | {_ms(row.get('min_ms'))} | {row.get('runs') or ''} | "
                     f"{_ms(row.get('load_ms'))} | {nbytes} |")
    return lines + [""]


def ratio_table(results: dict) -> list:
    keys = list(results["models"])
    lines = ["## Ratios (speedup = peer median / Webloom median; > 1: Webloom faster)", "",
             "| comparison | " + " | ".join(k.upper() for k in keys) + " |",
             "|---|" + "---:|" * len(keys)]
    for label, ours, runtime, backend, _ in COMPARISONS:
        cells = []
        for key in keys:
            value = speedup(results["models"][key]["rows"], ours, runtime, backend)
            cells.append(f"{value:.2f}x" if value else "n/a")
        lines.append(f"| Webloom {label} | " + " | ".join(cells) + " |")
    return lines + ["", "n/a: one side did not run, is not available, or failed its check. M5 compares "
                    "Webloom's stateful step() (one character in per call) with the peers re-feeding the "
                    "40-character window per character, as an application without a step would.", ""]


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
    lines = ["## Targets (goals, not gates)", "",
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


def header(results: dict) -> list:
    b = results.get("browser", {})
    cpu = _cpu_name()
    a = results["args"]
    return ["# Benchmarks: Webloom vs TensorFlow.js vs ONNX Runtime Web vs native", "",
            "Generated by `bash tools/bench/run.sh` (tools/bench/run.py); do not edit by hand.", "",
            f"- Date: {results['started']}; whole run {results['seconds']:.0f} s",
            f"- Machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}",
            f"- Browser: Chromium {b.get('version', 'not run')} headless; WebGPU adapter: "
            f"{b.get('webgpu') or 'none'}; WebGL2 renderer: {b.get('webgl') or 'none'}",
            f"- Flags: `{' '.join(b.get('flags', []))}`",
            f"- Page cross-origin isolated (5 us timer): {b.get('crossOriginIsolated')}; every runtime "
            "single-threaded (ORT-web numThreads 1, TF.js wasm threads 1, native onnxruntime 1 thread)",
            f"- Runs: batch 1, one warm-up after the check, then up to {a['runs']} timed runs per row, "
            f"stopping past {a['budget_s']:g} s after >= 3 runs (after 1 run, with the check as warm-up, "
            "when the check took over half that); each run includes reading the output back",
            "- Check: every row first compares its output with Keras 3's: max |got - want| / (1 + |want|) "
            "<= 1e-4; a row that fails is printed as FAILED and not timed",
            "- Peers: TF.js runs the tensorflowjs layers-model converted from a tf_keras twin with the same "
            "weights; ORT runs a tf2onnx export of that twin (ONNX LSTM op, opset 17)",
            "- SwiftShader rows are WebGPU/WebGL2 emulated on the CPU: they say nothing about real GPUs", ""]


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def chart(results: dict, path: Path) -> Path:
    rows = []
    for key, model in results["models"].items():
        for label, ours, runtime, backend, colour in COMPARISONS:
            value = speedup(model["rows"], ours, runtime, backend)
            rows.append((f"{key} {label}", value, colour))
    note = "LOG2 AXIS. GPU ROWS ARE SWIFTSHADER (CPU EMULATION). " + str(results["started"])
    title = "WEBLOOM SPEEDUP = PEER MEDIAN / WEBLOOM MEDIAN (>1: WEBLOOM FASTER)"
    return png.bar_chart(rows, path, title, note)


def write(results: dict, docs: Path) -> list:
    docs.mkdir(parents=True, exist_ok=True)
    lines = header(results) + ["![speedups](benchmarks.png)", ""] + ratio_table(results) + targets(results)
    lines += ["## Rows", ""]
    for key, model in results["models"].items():
        lines += model_table(results, key, model)
    md = docs / "benchmarks.md"
    md.write_text("\n".join(lines))
    return [md, chart(results, docs / "benchmarks.png")]
