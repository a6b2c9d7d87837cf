"""Per-kernel time and GFLOP/s of Webloom's wasm kernels on the bench models, against this core's peak.

    .venv/bin/python tools/bench/kernels.py [--models m1,m2,m3,m4] [--work DIR] [--json FILE]

For each model (its `model.keras` from the bench's work folder, built with tools/bench/models.py when
missing) the wasm Program is compiled, then `kernels.mjs` times every step alone in the bench's headless
Chromium (the engine the bench measures; Node's older V8 allocates registers differently), with the
plain SIMD module and with the relaxed-SIMD one (f32x4.relaxed_madd: FMA), and a whole run through the
runtime's Runner, whose excess over the sum of the steps is the JS side of a run (input/output copies,
argument set-up, the async call). Each time is the least over 3 rounds x 9 batches of calls (a batch
>= 3 ms): what the kernel does when it has the core, steady even where other jobs share the machine.
MACs come from the step's tensor shapes (MatMul M*K*N; a recurrence B*T*H*G*H, less the first step when
there is no h0: its U @ h is zero and the kernel skips it). run.py calls `measure()` and report.py
writes `table()` into the machine's section.

Peak: % of peak is against the engine's own register-only multiply-add loop (PEAK_C), plain and relaxed.
The nominal figure printed with it is clock * vector pipes * 4 lanes * 2 flops, assumptions per vendor in
PIPES, the clock lscpu's max MHz, else /proc/cpuinfo's MHz (a VM reports the nominal clock while the core
boosts: the FMA loop's rate over 16 flops a cycle gives the clock it really ran at).
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import statistics
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(ROOT), str(HERE)]

import machine  # noqa: E402

VARIANTS = {"relaxed-simd": "relaxed", "simd128": "plain"}   # Runner.backendVariant -> module
PROFILED = ("m1", "m2", "m3", "m4")      # M5 is M2's weights stepped: its kernels are M2's
# (vendor, FMA pipes, madds per cycle without FMA): Zen 2-5 have two FMA pipes and two separate FADD pipes,
# so mul + add also sustains two f32x4 multiply-adds a cycle; Intel cores since Haswell run FADD on the two
# FMA ports, so mul + add is one multiply-add a cycle.
PIPES = {"AuthenticAMD": (2, 2), "GenuineIntel": (2, 1)}
DEFAULT_PIPES = (2, 1)


def peak_gflops(lscpu: dict | None = None) -> dict:
    """{clock_ghz, fma, plain} peak GFLOP/s of one core at 128-bit SIMD, and the assumptions."""
    info = lscpu if lscpu is not None else machine._lscpu()
    mhz = info.get("CPU max MHz") or machine._cpuinfo().get("cpu MHz") or "0"
    ghz = float(mhz) / 1000.0
    vendor = info.get("Vendor ID", "")
    fma_pipes, plain_madds = PIPES.get(vendor, DEFAULT_PIPES)
    has_fma = "fma" in (info.get("Flags") or "").split()
    fma = ghz * fma_pipes * 4 * 2 if has_fma else ghz * plain_madds * 4 * 2
    return {"clock_ghz": ghz, "fma": fma, "plain": ghz * plain_madds * 4 * 2, "vendor": vendor,
            "assumes": f"{ghz:.2f} GHz, {fma_pipes} FMA pipes, {plain_madds} mul+add per cycle, 4 lanes"}


# The engine's own peak: 12 independent multiply-add chains on registers (no loads), enough to cover the
# latency of 2 pipes x 4-5 cycles; `a` is read from memory so the compiler cannot fold the loop away.
PEAK_C = r"""
#include <wasm_simd128.h>
typedef float f4 __attribute__((__vector_size__(16), __aligned__(4)));
static inline f4 vmadd(f4 a, f4 b, f4 acc) {
#ifdef __wasm_relaxed_simd__
  return (f4)wasm_f32x4_relaxed_madd((v128_t)a, (v128_t)b, (v128_t)acc);
#else
  return acc + a * b;
#endif
}
__attribute__((export_name("peak"))) void peak(float *io, int n) {
  const f4 a = (f4)wasm_v128_load(io), b = a * 0.999f;
  f4 c[12];
  for (int j = 0; j < 12; j++) c[j] = a + (float)j;
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < 12; j++) c[j] = vmadd(c[j], b, a);
  }
  f4 s = c[0];
  for (int j = 1; j < 12; j++) s += c[j];
  wasm_v128_store(io, (v128_t)s);
}
"""
PEAK_ITERS = 200_000           # 200k x 12 multiply-adds of 4 lanes: 19.2 MFLOP, ~0.5 ms


def write_peak(folder: Path, url) -> dict:
    """The peak microkernel's two modules under `folder`: {variant: url}."""
    from converter.backends.wasm.toolchain import compile_modules
    modules = compile_modules(PEAK_C)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for variant, name in (("simd128", "plain"), ("relaxed-simd", "relaxed")):
        (folder / f"peak-{name}.wasm").write_bytes(modules[variant])
        out[name] = url(folder / f"peak-{name}.wasm")
    return out


MADDS = ("f32x4.relaxed_madd", "f32x4.mul")     # one per f32x4 multiply-add (plain: mul + add)


def inner_loops(wasm: bytes) -> dict:
    """{export name: (instructions, f32x4 multiply-adds)} of each function's innermost loop with the
    most multiply-adds, from `wasm-tools print` (a dev tool: requirements-dev.txt); {} without it.
    Instructions per MAC = instructions / (4 * multiply-adds), counting wasm operations without the
    local.get/set/tee (register names once compiled): what the engine compiles, not its x86 output."""
    tool = shutil.which("wasm-tools") or str(Path(sys.executable).with_name("wasm-tools"))
    if not Path(tool).exists():
        return {}
    with tempfile.NamedTemporaryFile(suffix=".wasm") as f:
        f.write(wasm)
        f.flush()
        text = subprocess.run([tool, "print", f.name], capture_output=True, text=True, timeout=60).stdout
    names = dict(re.findall(r'\(export "([^"]+)" \(func (\d+)\)\)', text))
    index = {int(v): k for k, v in names.items()}
    out, func, stack = {}, -1, []
    for line in text.splitlines():
        op = line.strip().split(" ")[0]
        if op == "(func":
            func, stack = func + 1, []
        elif op == "loop":
            stack.append([0, 0, False])        # instructions, multiply-adds, has an inner loop
        elif op == "end" and stack:
            n, madds, nested = stack.pop()
            if stack:
                stack[-1][2] = True
            best = out.get(index.get(func, ""), (0, 0))
            if not nested and madds > best[1] and func in index:
                out[index[func]] = (n, madds)
        elif stack and op and not op.startswith(("block", "end", "(", ";;", "local.")):
            stack[-1][0] += 1
            stack[-1][1] += op in MADDS
    return out


def _prod(shape) -> int:
    return int(np.prod(shape)) if len(shape) else 1


def step_info(program, step, shapes: dict) -> dict:
    """What a step is (kernel, shape text) and its MACs, from its tensors' evaluated shapes."""
    kernel = program.kernels[step.kernel]
    names = [b.name for b in kernel.bindings]
    t = {n: shapes[i] for n, i in zip(names, step.tensors)}
    macs, shape = 0, ""
    if kernel.name == "MatMul":
        k, n = t["x"][-1], t["y"][-1]
        m = _prod(t["y"]) // n
        macs, shape = m * k * n, f"{m}x{k} @ {k}x{n}"
    elif kernel.name.endswith("Recurrence"):
        b, steps, gh = t["xw"]
        h = t["U"][1]
        run = steps if "h0" in names else steps - 1
        macs, shape = b * run * h * gh, f"B{b} T{steps} H{h} G{gh // h}"
    return {"kernel": kernel.name, "entry": kernel.entry, "shape": shape, "macs": macs}


def _align(n: int) -> int:
    return -(-n // 64) * 64


def write_job(program, feeds: dict, folder: Path, url) -> tuple[dict, list]:
    """The job the page's profile() reads (the runtime's memory layout, files under `folder`, which the
    server gives at url(path)) and the steps' descriptions."""
    from converter.bundle import evaluate, save_bundle
    bindings = {}
    for io in program.inputs:
        for d, n in zip(io.shape, feeds[io.name].shape):
            if not str(d).lstrip("-").isdigit():
                bindings[str(d)] = int(n)
    slot_at, at = [], _align(len(program.weights))
    for slot in program.slots:
        slot_at.append(at)
        at = _align(at + max(evaluate(s, bindings) for s in slot.sizes))
    offsets = {t.id: t.weight_offset if t.kind == "weight" else slot_at[t.slot] for t in program.tensors}
    shapes = {t.id: [evaluate(str(d), bindings) for d in t.shape] for t in program.tensors}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plain.wasm").write_bytes(program.module)
    (folder / "relaxed.wasm").write_bytes(program.module_relaxed)
    (folder / "w.bin").write_bytes(program.weights)
    bundle = save_bundle(program, folder / "model.wasm.wlm")
    inputs = [{"name": io.name, "dtype": io.dtype, "offset": offsets[io.tensor],
               "data": base64.b64encode(np.ascontiguousarray(feeds[io.name], io.dtype).tobytes()).decode()}
              for io in program.inputs]
    steps = [{"entry": program.kernels[s.kernel].entry, "ptrs": [offsets[t] for t in s.tensors],
              "params": [evaluate(p, bindings) for p in s.params]} for s in program.steps]
    job = {"weights": url(folder / "w.bin"), "total_bytes": at, "inputs": inputs, "steps": steps,
           "modules": {v: url(folder / f"{v}.wasm") for v in ("plain", "relaxed")},
           "bundle": url(bundle), "runtime": url(ROOT / "runtime-js" / "dist" / "webloom.js")}
    return job, [step_info(program, s, shapes) for s in program.steps]


def model_file(key: str, work: Path) -> tuple[Path, dict]:
    """The bench's Keras file and input for model `key` (built and written when the work folder has none)."""
    folder = work / key
    keras_path, case = folder / "model.keras", folder / "case.json"
    if not keras_path.exists() or not case.exists():
        import exports
        import models
        built = models.build(models.MODELS[key])
        folder.mkdir(parents=True, exist_ok=True)
        exports.write_keras(built, folder)
        exports.write_case(built, folder)
    data = json.loads(case.read_text())["input"]
    return keras_path, data


def profile_model(key: str, work: Path, page, url, rounds: int = 3) -> dict:
    """{model, steps: [{kernel, shape, macs, plain_ms, relaxed_ms}], program and runner ms} for one model."""
    import converter
    from converter.backends import lower
    keras_path, data = model_file(key, work)
    program = lower("wasm", converter.from_keras(str(keras_path)))
    x = np.asarray(data["data"], dtype=data["dtype"]).reshape(data["shape"])
    job, steps = write_job(program, {program.inputs[0].name: x}, work / "kernels" / key, url)
    job["rounds"], job["min"] = rounds, True
    res = page.evaluate("async (job) => (await import('/tools/bench/kernels.mjs')).profile(job)", job)
    loops = {"plain": inner_loops(program.module), "relaxed": inner_loops(program.module_relaxed)}
    for step in steps:
        for variant, found in loops.items():
            n, madds = found.get(step["entry"], (0, 0))
            step[f"{variant}_ipm"] = n / (4 * madds) if madds else None
    out = {"model": key, "steps": steps}
    for variant in ("plain", "relaxed"):
        for step, ms in zip(steps, res[variant]["steps"]):
            step[f"{variant}_ms"] = ms
        out[f"{variant}_program_ms"] = res[variant]["program_ms"]
    out["runner_ms"], out["runner_variant"] = res["runner"]["ms"], res["runner"]["variant"]
    return out


def measure(keys, work: Path, rounds: int = 3) -> dict:
    """Every model's profile plus the machine's peak (what report.py's table needs), in one Chromium."""
    import browser
    started = time.time()
    work = work.resolve()
    keys = [k for k in keys if k in PROFILED]
    with browser.serve(ROOT) as base_url, browser.Browser(base_url) as chromium:
        page = chromium._page()
        url = _url_of(base_url)
        measured = page.evaluate("async (a) => (await import('/tools/bench/kernels.mjs')).peak(a)",
                                 {"modules": write_peak(work / "kernels", url), "iters": PEAK_ITERS})
        profiles = [profile_model(k, work, page, url, rounds) for k in keys]
        page.close()
    peak = peak_gflops()
    peak["measured"] = {v: 12 * 8 * PEAK_ITERS / (ms * 1e6) for v, ms in measured.items()}
    return {"peak": peak, "models": profiles, "seconds": time.time() - started,
            "browser": chromium.version}


def _url_of(base_url: str):
    return lambda p: base_url + "/" + p.resolve().relative_to(ROOT).as_posix()


def _gflops(macs: int, ms: float) -> float:
    return 2 * macs / (ms * 1e6) if ms > 0 else 0.0


def table(result: dict) -> list:
    """Markdown lines: one row per compute step (MACs > 0), the rest of the run summed, the JS side."""
    peak = result["peak"]
    got = peak.get("measured") or {"plain": peak["plain"], "relaxed": peak["fma"]}
    clock = got["relaxed"] / (peak["fma"] / peak["clock_ghz"]) if peak["clock_ghz"] else 0.0
    lines = [f"Each kernel alone in Chromium {result.get('browser', '')}, one thread "
             "(tools/bench/kernels.py): the least of 27 batches of calls (each >= 3 ms), steadier than "
             "a median where other jobs share the cores. "
             f"% peak is against this engine's own register-only multiply-add loop: {got['plain']:.1f} "
             f"GFLOP/s with mul + add (plain SIMD), {got['relaxed']:.1f} with relaxed_madd (FMA); from the "
             f"nominal {peak['assumes']}: {peak['plain']:.1f} / {peak['fma']:.1f} (the FMA loop implies "
             f"{clock:.2f} GHz).", "",
             "Instr/MAC: wasm operations (local.get/set aside) per multiply-accumulate in the kernel's "
             "innermost loop, plain / relaxed.", "",
             "| model | kernel | shape | MACs | instr/MAC | plain ms | GFLOP/s | % peak | relaxed ms "
             "| GFLOP/s "
             "| % peak |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in result["models"]:
        rest = {"plain": 0.0, "relaxed": 0.0}
        for s in m["steps"]:
            if not s["macs"]:
                rest["plain"] += s["plain_ms"]
                rest["relaxed"] += s["relaxed_ms"]
                continue
            cells = []
            for v, p in (("plain", got["plain"]), ("relaxed", got["relaxed"])):
                g = _gflops(s["macs"], s[f"{v}_ms"])
                cells += [f"{s[f'{v}_ms']:.3f}", f"{g:.1f}", f"{100 * g / p:.0f}%" if p else "-"]
            ipm = " / ".join(f"{s[f'{v}_ipm']:.2f}" if s.get(f"{v}_ipm") else "-"
                             for v in ("plain", "relaxed"))
            lines.append(f"| {m['model']} | {s['kernel']} | {s['shape']} | {s['macs'] / 1e6:.2f}M | {ipm} | "
                         + " | ".join(cells) + " |")
        js = m["runner_ms"] - m[f"{VARIANTS[m['runner_variant']]}_program_ms"]
        lines.append(f"| {m['model']} | other kernels | | | | {rest['plain']:.3f} | | | "
                     f"{rest['relaxed']:.3f} | | |")
        lines.append(f"| {m['model']} | all steps | | | | {m['plain_program_ms']:.3f} | | | "
                     f"{m['relaxed_program_ms']:.3f} | | |")
        lines.append(f"| {m['model']} | Runner.run() ({m['runner_variant']}) / JS side | | | | | | | "
                     f"{m['runner_ms']:.3f} / {js:.3f} | | |")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="tools/bench/kernels.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="m1,m2,m3,m4")
    p.add_argument("--work", type=Path, default=HERE / ".work", help="the bench's work folder")
    p.add_argument("--rounds", type=int, default=3, help="timing rounds per variant (median over them)")
    p.add_argument("--json", type=Path, help="also write the result here")
    args = p.parse_args(argv)
    args.work = args.work.resolve()
    result = measure([k.strip() for k in args.models.split(",")], args.work, args.rounds)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    print("\n".join(table(result)))
    print(f"({result['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
