"""The native ceilings, in this Python process: Keras 3 (a tf.function on TensorFlow's CPU kernels) and
onnxruntime's CPU provider on the same ONNX file the page runs.

Each returns a row dict shaped like the page's (see page/bench.js `row`), so the report treats all rows
alike: correctness first (`max_err` vs Keras' own eager outputs), then timings of runs that include
reading the output back into numpy.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from models import CHARS, GEN_CHARS, WINDOW

TOLERANCE = 1e-4


def rel_err(got, want) -> float:
    """max |got - want| / (1 + |want|): an absolute check for probabilities, relative for large logits."""
    got, want = np.asarray(got, np.float64).ravel(), np.asarray(want, np.float64).ravel()
    if got.shape != want.shape:
        return float("inf")
    return float(np.max(np.abs(got - want) / (1.0 + np.abs(want)))) if got.size else 0.0


def timed(fn, runs: int, budget_s: float) -> list:
    """Per-run milliseconds of `runs` calls after one warm-up, stopping early (>= 3 runs) past budget_s."""
    fn()
    times, start = [], time.perf_counter()
    for i in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
        if i >= 2 and time.perf_counter() - start > budget_s:
            break
    return times


def _row(runtime: str, backend: str, err: float, times: list, load_ms: float, nbytes: int, per: int = 1):
    ms = [t / per for t in times]
    return {"runtime": runtime, "backend": backend, "ok": err <= TOLERANCE, "max_err": err,
            "median_ms": float(np.median(ms)) if ms else None, "min_ms": float(np.min(ms)) if ms else None,
            "runs": len(ms), "load_ms": load_ms, "bytes": nbytes, "error": None}


def failed_row(runtime: str, backend: str, message: str) -> dict:
    return {"runtime": runtime, "backend": backend, "ok": False, "max_err": None, "median_ms": None,
            "min_ms": None, "runs": 0, "load_ms": None, "bytes": None, "error": message}


def keras_row(built, model_path: Path, runs: int, budget_s: float) -> dict:
    import keras
    import tensorflow as tf
    if built.generation:
        return _keras_generation(built, model_path.parent / "model-step.keras", runs, budget_s)
    t0 = time.perf_counter()
    model = keras.models.load_model(model_path, compile=False)
    load_ms = (time.perf_counter() - t0) * 1e3
    x = tf.constant(built.x)
    fn = tf.function(lambda v: model(v, training=False))
    err = rel_err(fn(x).numpy(), built.expected)
    times = timed(lambda: fn(x).numpy(), runs, budget_s)
    return _row("keras", "tf cpu", err, times, load_ms, model_path.stat().st_size)


def _keras_generation(built, step_path: Path, runs: int, budget_s: float) -> dict:
    """M5 natively: the stateful twin stepped one character per tf.function call."""
    import keras
    import tensorflow as tf
    t0 = time.perf_counter()
    model = keras.models.load_model(step_path, compile=False)
    load_ms = (time.perf_counter() - t0) * 1e3
    fn = tf.function(lambda v: model(v, training=False))
    gen = built.generation
    lstm = model.get_layer("lstm")

    def generate():
        lstm.reset_state()
        prime = np.zeros((1, len(gen["seed"]), CHARS), np.float32)
        prime[0, np.arange(len(gen["seed"])), gen["seed"]] = 1.0
        model(prime, training=False)   # priming is not timed: the window runtimes have no such phase
        return _step_chars(fn, gen["step_first"])

    probs, _ = generate()
    err = rel_err(probs, gen["step_probs"])
    times = []
    for _ in range(runs + 1):
        _, ms = generate()
        times.append(ms)
        if len(times) > 3 and sum(times[1:]) > budget_s * 1e3:
            break
    return _row("keras", "tf cpu", err, times[1:], load_ms, step_path.stat().st_size,
                per=GEN_CHARS)


def _step_chars(fn, first: int):
    last, probs, ms = first, [], 0.0
    for _ in range(GEN_CHARS):
        t0 = time.perf_counter()
        x = np.zeros((1, 1, CHARS), np.float32)
        x[0, 0, last] = 1.0
        p = fn(x).numpy().reshape(-1)
        last = int(np.argmax(p))
        ms += (time.perf_counter() - t0) * 1e3
        probs.append(p)
    return np.stack(probs), ms


def ort_row(built, onnx_path: Path, runs: int, budget_s: float) -> dict:
    import onnxruntime as ort
    opts = ort.SessionOptions()
    # one thread, like every runtime in the page (no cross-origin isolation there, so no wasm threads)
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    t0 = time.perf_counter()
    session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    load_ms = (time.perf_counter() - t0) * 1e3
    name = session.get_inputs()[0].name
    size = onnx_path.stat().st_size
    if built.generation:
        gen = built.generation
        run_window = lambda w: session.run(None, {name: w})[0]  # noqa: E731
        chars, probs = _window_chars(run_window, gen["seed"])
        err = rel_err(probs, gen["window_probs"]) if chars == gen["window_chars"] else float("inf")
        times = timed(lambda: _window_chars(run_window, gen["seed"]), runs, budget_s)
        return _row("onnxruntime", "cpu", err, times, load_ms, size, per=GEN_CHARS)
    err = rel_err(session.run(None, {name: built.x})[0], built.expected)
    times = timed(lambda: session.run(None, {name: built.x})[0], runs, budget_s)
    return _row("onnxruntime", "cpu", err, times, load_ms, size)


def _window_chars(run_window, seed: list):
    text, probs = list(seed), []
    window = np.zeros((1, WINDOW, CHARS), np.float32)
    for _ in range(GEN_CHARS):
        window[:] = 0.0
        window[0, np.arange(WINDOW), text[-WINDOW:]] = 1.0
        p = np.asarray(run_window(window)).reshape(-1)
        probs.append(p)
        text.append(int(np.argmax(p)))
    return text[len(seed):], np.stack(probs)
