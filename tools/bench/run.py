"""The side-by-side benchmark (issue 6): Webloom vs TF.js vs ONNX Runtime Web in one headless Chromium, plus
native Keras and onnxruntime in this process. Every row first checks its output against Keras' (max
|got - want| / (1 + |want|) <= 1e-4); a fast wrong answer is printed as a failure, never timed.

    bash tools/bench/run.sh                          # everything, regenerates docs/benchmarks.{md,png}
    bash tools/bench/run.sh --models m2,m5 --runtimes webloom,ort:wasm --runs 10
    bash tools/bench/run.sh --smoke                  # M2 only, 2 runs, correctness first, no docs

Run through run.sh (it installs the bench-only packages); `--runtimes` takes runtime names (webloom, tfjs,
ort, keras, onnxruntime) or runtime:backend pairs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for path in (str(ROOT), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

import machine  # noqa: E402
import models  # noqa: E402
import native  # noqa: E402

BROWSER_BACKENDS = {"webloom": ("webgpu", "webgl", "wasm"), "tfjs": ("webgpu", "webgl", "wasm", "cpu"),
                    "ort": ("wasm", "webgpu")}
NATIVE = ("keras", "onnxruntime")
THREADED = {("webloom", "wasm"), ("ort", "wasm")}     # rows that run once per --threads count
BARRIERS = ("spin", "wait", "hybrid")                 # Webloom's wasm barrier kinds (load's threadBarrier)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="tools/bench/run.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(models.ALL_MODELS), help="comma-separated, e.g. m1,m4")
    p.add_argument("--runtimes", default="webloom,tfjs,ort,keras,onnxruntime",
                   help="runtimes or runtime:backend pairs, e.g. webloom,tfjs:wasm,ort")
    p.add_argument("--threads", default=f"1,{min(4, os.cpu_count() or 1)}",
                   help="thread counts for the Webloom and ORT-web wasm rows (default 1 and the cores, <= 4)")
    p.add_argument("--barriers", default="spin",
                   help="Webloom wasm barrier kinds for rows with > 1 thread: spin, wait, hybrid or a list")
    p.add_argument("--split-all", action="store_true",
                   help="split every recurrence and MatMul over the threads, below the converter's "
                        "thresholds too (converter/backends/wasm/lower.py): to measure where threads pay off")
    p.add_argument("--runs", type=int, default=30, help="timed runs per row (default 30)")
    p.add_argument("--budget-s", type=float, default=15.0,
                   help="stop a row's timed runs past this many seconds (>= 3 runs; the table shows n)")
    p.add_argument("--work", type=Path, default=HERE / ".work", help="model files and results.json")
    p.add_argument("--docs", type=Path, default=ROOT / "docs", help="where benchmarks.md/.png go")
    p.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.{md,png}")
    p.add_argument("--smoke", action="store_true",
                   help="CI check: M2 (unless --models), 2 runs, no docs; exit 1 if any row is wrong")
    args = p.parse_args(argv)
    if args.smoke:
        if args.models == ",".join(models.ALL_MODELS):
            args.models = "m2"
        args.runs, args.budget_s, args.no_docs = min(args.runs, 2), min(args.budget_s, 2.0), True
        if "--threads" not in (argv if argv is not None else sys.argv):
            args.threads = "1"
    args.work = args.work.resolve()      # the page URLs are paths under ROOT
    if not args.work.is_relative_to(ROOT):
        p.error(f"--work {args.work} is outside the repository {ROOT}: the bench page serves the model files "
                "from the repository, so give a folder inside it (default tools/bench/.work)")
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in models.MODELS]
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(models.ALL_MODELS)}")
    threads = sorted({int(t) for t in args.threads.split(",") if t.strip()})
    barriers = [b.strip() for b in args.barriers.split(",") if b.strip()]
    if not threads or min(threads) < 1 or any(b not in BARRIERS for b in barriers) or not barriers:
        p.error(f"--threads takes counts >= 1 (e.g. 1,2), --barriers some of {', '.join(BARRIERS)}")
    args.rows = [r for row in plan_rows(p, args.runtimes) for r in thread_rows(row, threads, barriers)]
    return args


def thread_rows(row: tuple, threads: list, barriers: list) -> list:
    """(runtime, backend, threads, barrier) rows: one per thread count for THREADED pairs (Webloom's with
    more than one thread once per barrier kind), one single-threaded row for everything else."""
    if row not in THREADED:
        return [(*row, 1, None)]
    out = []
    for n in threads:
        kinds = barriers if row[0] == "webloom" and n > 1 else [None]
        out += [(*row, n, b) for b in kinds]
    return out


def plan_rows(p, text: str) -> list:
    """[(runtime, backend or None)] from the --runtimes list, in the table's order."""
    rows = []
    for item in (s.strip() for s in text.split(",") if s.strip()):
        runtime, _, backend = item.partition(":")
        if runtime in NATIVE and not backend:
            rows.append((runtime, None))
        elif runtime in BROWSER_BACKENDS and (not backend or backend in BROWSER_BACKENDS[runtime]):
            rows += [(runtime, b) for b in BROWSER_BACKENDS[runtime] if not backend or b == backend]
        else:
            p.error(f"--runtimes: unknown {item!r}; runtimes are {', '.join([*BROWSER_BACKENDS, *NATIVE])} "
                    f"with backends {BROWSER_BACKENDS}")
    return rows


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


# ---- preparing the models ------------------------------------------------------------------------------

def prepare(key: str, rows: list, work: Path) -> dict:
    """Builds one model and writes every file its rows need; returns what the rows and report use."""
    import exports
    built = models.build(models.MODELS[key])
    folder = work / key
    folder.mkdir(parents=True, exist_ok=True)
    keras_path = exports.write_keras(built, folder)
    exports.write_case(built, folder)
    runtimes = {r[0] for r in rows}
    info = {"built": built, "folder": folder, "keras": keras_path, "twin_gap": built.twin_gap,
            "raw_bytes": built.raw_weight_bytes, "problems": {}}
    if "webloom" in runtimes:
        source = folder / ("model-step.keras" if key == "m5" else "model.keras")
        info["webloom"] = exports.write_webloom(source, folder / "webloom")
    if "tfjs" in runtimes:
        info["tfjs"] = _try(info, "tfjs", lambda: exports.write_tfjs(built.twin, folder / "tfjs"))
    if runtimes & {"ort", "onnxruntime"}:
        onnx_path = folder / "model.onnx"
        info["onnx"] = _try(info, "onnx", lambda: exports.write_onnx(built.twin, built.x, onnx_path))
    return info


def _try(info: dict, what: str, fn):
    """An export that fails (a peer converter's bug) fails its rows with the reason, not the whole run."""
    try:
        return fn()
    except Exception as err:
        info["problems"][what] = f"{what} export failed: {type(err).__name__}: {str(err).splitlines()[0]}"
        return None


# ---- running the rows ----------------------------------------------------------------------------------

def browser_spec(key: str, runtime: str, backend: str, info: dict, args, threads: int = 1,
                 barrier=None) -> tuple[dict, Path | str]:
    """The page's spec for one row, and the model file/folder whose bytes the table reports (or why not)."""
    rel = "/" + info["folder"].relative_to(ROOT).as_posix()
    mode = "infer" if key != "m5" else ("step" if runtime == "webloom" else "window")
    spec = {"runtime": runtime, "backend": backend, "mode": mode, "caseUrl": f"{rel}/case.json",
            "webloomUrl": "/" + (args.work / "webloom.js").relative_to(ROOT).as_posix(),
            "budgetMs": args.budget_s * 1e3, "tolerance": native.TOLERANCE, "threads": threads,
            "barrier": barrier}
    if runtime == "webloom":
        compiled = info["webloom"].get(backend)
        if compiled is None:
            return spec, f"not available: the converter has no {backend} backend yet"
        if isinstance(compiled, str):
            return spec, f"converter failed: {compiled}"
        spec["modelUrl"] = f"{rel}/webloom/"
        return spec, compiled
    what = "tfjs" if runtime == "tfjs" else "onnx"
    if info.get(what) is None:
        return spec, info["problems"].get(what, f"{what} export missing")
    spec["modelUrl"] = f"{rel}/tfjs/model.json" if runtime == "tfjs" else f"{rel}/model.onnx"
    return spec, info[what].parent if runtime == "tfjs" else info[what]


def open_row(key: str, runtime: str, backend, info: dict, chromium, args, threads: int = 1, barrier=None):
    """Opens and checks one row; returns its PageRow/NativeRow, or a failed row dict saying why not."""
    import exports
    if runtime == "keras":
        return _native(lambda: native.keras_row(info["built"], info["keras"]), "keras", "tf cpu")
    if runtime == "onnxruntime":
        if info.get("onnx") is None:
            return native.failed_row("onnxruntime", "cpu", info["problems"].get("onnx", "no ONNX file"))
        return _native(lambda: native.ort_row(info["built"], info["onnx"]), "onnxruntime", "cpu")
    spec, target = browser_spec(key, runtime, backend, info, args, threads, barrier)
    if isinstance(target, str):
        return native.failed_row(runtime, backend, target)
    handle = chromium.open(spec, timeout_s=args.budget_s * 4 + 240)
    handle.info["bytes"] = exports.folder_bytes(Path(target))
    return handle


def _native(fn, runtime: str, backend: str):
    try:
        return fn()
    except Exception as err:
        return native.failed_row(runtime, backend, f"{type(err).__name__}: {str(err).splitlines()[0]}")


def alternate(handles: list, runs: int, budget_s: float) -> dict:
    """Times the rows in rounds: round r runs every row still going once, in the rows' order on even rounds
    and reversed on odd ones (A B C, C B A, ...), so machine noise (a neighbour's burst, thermal drift) hits
    every row alike and run i of two rows is a pair taken side by side. A row stops after `runs` runs, or
    past budget_s of its own timed runs after >= 3 (1 for a row whose check took over half the budget).
    Returns {id(handle): [ms per run]}; a row whose page dies mid-way gets an error and keeps its runs."""
    times = {id(h): [] for h in handles}
    spent = dict.fromkeys(times, 0.0)
    active, rnd = list(handles), 0
    while active:
        for h in (active if rnd % 2 == 0 else active[::-1]):
            t0 = time.perf_counter()
            try:
                times[id(h)].append(h.run())
            except RuntimeError as err:
                h.info.update(ok=False, error=f"page failed while timing: {err}")
            spent[id(h)] += time.perf_counter() - t0
        active = [h for h in active if h.info.get("ok") and not _finished(h, times[id(h)], spent[id(h)],
                                                                            runs, budget_s)]
        rnd += 1
    return times


def _finished(h, times: list, spent_s: float, runs: int, budget_s: float) -> bool:
    least = 1 if h.info.get("slow") else 3
    return len(times) >= runs or (len(times) >= least and spent_s > budget_s)


def summarize(info: dict, times: list) -> dict:
    """The report's row: what opening said, every timed run (for the pair ratios), median and min."""
    ms = sorted(times)
    mid = len(ms) // 2
    median = (ms[mid] if len(ms) % 2 else (ms[mid - 1] + ms[mid]) / 2) if ms else None
    return {**info, "times": list(times), "median_ms": median, "min_ms": ms[0] if ms else None,
            "runs": len(ms)}


def run_model(key: str, info: dict, rows: list, chromium, args) -> list:
    """Opens every row of one model (all pages at once), alternates their timed runs, closes them."""
    opened = []
    for runtime, backend, threads, barrier in rows:
        handle = open_row(key, runtime, backend, info, chromium, args, threads, barrier)
        row_info = handle if isinstance(handle, dict) else handle.info
        row_info.update(threads=threads, barrier=barrier)
        log(f"{key} {label(runtime, backend, threads, barrier)} opened: " + describe_open(handle))
        opened.append(handle)
    live = [h for h in opened if not isinstance(h, dict) and h.info.get("ok")]
    times = alternate(live, args.runs, args.budget_s)
    out = []
    for h in opened:
        if isinstance(h, dict):
            out.append(h)
            continue
        row = summarize(h.info, times.get(id(h), []))
        h.close()
        log(f"{key} {label(row['runtime'], row['backend'], row.get('threads', 1), row.get('barrier'))} "
            f"{describe(row)}")
        out.append(row)
    return out


def label(runtime: str, backend, threads: int, barrier) -> str:
    return f"{runtime}:{backend}" + (f" x{threads}" if threads > 1 else "") + (f" {barrier}" * bool(barrier))


def describe_open(handle) -> str:
    info = handle if isinstance(handle, dict) else handle.info
    if info.get("error"):
        return info["error"]
    return (f"ok (max err {info['max_err']:.1e}), load {info['load_ms']:.0f} ms, "
            f"first run {info['first_run_ms']:.1f} ms")


def describe(row: dict) -> str:
    if row.get("error"):
        return row["error"]
    if not row.get("runs"):
        return "ok, no timed runs"
    return (f"ok (max err {row['max_err']:.1e}) median {row['median_ms']:.3f} ms, "
            f"min {row['min_ms']:.3f} ms, n={row['runs']}, load {row['load_ms']:.0f} ms")


def main(argv=None) -> int:
    args = parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / ".gitignore").write_text("*\n")
    started = time.time()
    if args.split_all:
        from converter.backends.wasm import lower as wasm_lower
        wasm_lower.RNN_SPLIT_MACS = wasm_lower.MM_SPLIT_MACS = 0
    settings = {"models": args.models, "rows": args.rows, "runs": args.runs, "budget_s": args.budget_s,
                "split_all": args.split_all,
                "load": os.getloadavg()}
    results = {"args": settings,
               "models": {}, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    infos = {}
    for key in args.models:
        log(f"{key}: building the Keras model, its tf_keras twin and every runtime's files")
        infos[key] = prepare(key, args.rows, args.work)
        results["models"][key] = {"title": models.MODELS[key].title, "twin_gap": infos[key]["twin_gap"],
                                  "raw_bytes": infos[key]["raw_bytes"], "rows": [],
                                  "problems": infos[key]["problems"]}
    results["machine"] = machine.describe()
    with contextlib.ExitStack() as stack:
        chromium = None
        if any(r[0] not in NATIVE for r in args.rows):
            import browser
            snapshot_runtime(args.work)
            base = stack.enter_context(browser.serve(ROOT))
            chromium = stack.enter_context(browser.Browser(base))
            results["browser"] = {"version": chromium.version, **chromium.environment(),
                                  "flags": browser.FLAGS}
        for key in args.models:
            load = os.getloadavg()          # the machine's load while this model's rows ran (report.py)
            results["models"][key]["rows"] = run_model(key, infos[key], args.rows, chromium, args)
            results["models"][key]["load"] = [load, os.getloadavg()]
    if any(r[:2] == ("webloom", "wasm") for r in args.rows) and not args.smoke:
        results["kernels"] = kernel_profile(args)
    results["seconds"] = time.time() - started
    results["args"]["load_after"] = os.getloadavg()
    (args.work / "results.json").write_text(json.dumps(results, indent=1, default=str))
    if not args.no_docs:
        import report
        paths = report.write(results, args.docs)
        log("wrote " + ", ".join(str(p) for p in paths))
    wrong = [(k, r) for k, m in results["models"].items() for r in m["rows"] if is_failure(r)]
    for key, row in wrong:
        name = label(row["runtime"], row["backend"], row.get("threads", 1), row.get("barrier"))
        log(f"FAILED {key} {name}: {row['error']}")
    log(f"done in {results['seconds']:.0f} s; results in {args.work / 'results.json'}")
    return 1 if args.smoke and wrong else 0


def kernel_profile(args) -> dict | None:
    """tools/bench/kernels.py's per-kernel times and GFLOP/s vs peak (~10-30 s) for the machine's section;
    a failure there is logged and leaves the table out, it does not fail the bench."""
    import kernels
    log("wasm kernels: timing each kernel alone (tools/bench/kernels.py)")
    try:
        return kernels.measure(args.models, args.work)
    except Exception as err:
        first = str(err).splitlines()[0] if str(err) else ""
        log(f"wasm kernels: not measured: {type(err).__name__}: {first}")
        return None


def snapshot_runtime(work: Path) -> None:
    """A copy of the built runtime, so a rebuild of runtime-js/dist during a long run cannot break rows."""
    dist = ROOT / "runtime-js" / "dist" / "webloom.js"
    if not dist.exists():
        raise SystemExit(f"{dist} is missing; build it with tools/setup.sh (npm run build in runtime-js)")
    (work / "webloom.js").write_bytes(dist.read_bytes())


def is_failure(row: dict) -> bool:
    """A row that ran (or should have) and did not pass; 'not available' is a fact, not a failure."""
    return not row.get("ok") and not str(row.get("error", "")).startswith("not available")


if __name__ == "__main__":
    sys.exit(main())
