"""The native ceilings, in this Python process: Keras 3 (a tf.function on TensorFlow's CPU kernels) and
onnxruntime's CPU provider on the same ONNX file the page runs.

Each returns a NativeRow shaped like browser.PageRow, so run.py alternates native and page rows alike:
correctness first (`max_err` vs Keras' own eager outputs), then one timed run at a time, each including
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


class NativeRow:
    """A native row shaped like browser.PageRow: `info` from opening and checking it (the check is the
    first run), run() times one run in ms (per generated character for M5), after one warm-up run."""

    def __init__(self, runtime: str, backend: str, err: float, load_ms: float, first_ms: float,
                 nbytes: int, once, per: int = 1):
        self.info = {"runtime": runtime, "backend": backend, "ok": err <= TOLERANCE, "max_err": err,
                     "load_ms": load_ms, "first_run_ms": first_ms, "bytes": nbytes, "slow": False,
                     "error": None if err <= TOLERANCE else f"wrong output: max error {err:.2e}"}
        self._once, self._per = once, per
        if self.info["ok"]:
            once()

    def run(self) -> float:
        try:
            return self._once() / self._per
        except Exception as err:   # a runtime that breaks mid-way fails its row, not the whole bench
            first = str(err).splitlines()[0] if str(err) else ""
            raise RuntimeError(f"{type(err).__name__}: {first}") from None

    def close(self) -> None:
        pass


def _ms(fn):
    """A function timing one call of fn in ms."""
    def once():
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3
    return once


def failed_row(runtime: str, backend: str, message: str) -> dict:
    return {"runtime": runtime, "backend": backend, "ok": False, "max_err": None, "median_ms": None,
            "min_ms": None, "runs": 0, "load_ms": None, "bytes": None, "error": message}


def keras_row(built, model_path: Path) -> NativeRow:
    import keras
    import tensorflow as tf
    if built.generation:
        return _keras_generation(built, model_path.parent / "model-step.keras")
    t0 = time.perf_counter()
    model = keras.models.load_model(model_path, compile=False)
    load_ms = (time.perf_counter() - t0) * 1e3
    x = tf.constant(built.x)
    fn = tf.function(lambda v: model(v, training=False))
    t0 = time.perf_counter()
    err = rel_err(fn(x).numpy(), built.expected)
    first_ms = (time.perf_counter() - t0) * 1e3
    return NativeRow("keras", "tf cpu", err, load_ms, first_ms, model_path.stat().st_size,
                     _ms(lambda: fn(x).numpy()))


def _keras_generation(built, step_path: Path) -> NativeRow:
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

    t0 = time.perf_counter()
    probs, _ = generate()
    first_ms = (time.perf_counter() - t0) * 1e3
    return NativeRow("keras", "tf cpu", rel_err(probs, gen["step_probs"]), load_ms, first_ms,
                     step_path.stat().st_size, lambda: generate()[1], per=GEN_CHARS)


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


def ort_row(built, onnx_path: Path) -> NativeRow:
    import onnxruntime as ort
    opts = ort.SessionOptions()
    # one thread, like every runtime in the page (Webloom's wasm has no threads yet)
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    t0 = time.perf_counter()
    session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    load_ms = (time.perf_counter() - t0) * 1e3
    name = session.get_inputs()[0].name
    size = onnx_path.stat().st_size
    t0 = time.perf_counter()
    if built.generation:
        gen = built.generation
        run_window = lambda w: session.run(None, {name: w})[0]  # noqa: E731
        chars, probs = _window_chars(run_window, gen["seed"])
        err = rel_err(probs, gen["window_probs"]) if chars == gen["window_chars"] else float("inf")
        return NativeRow("onnxruntime", "cpu", err, load_ms, (time.perf_counter() - t0) * 1e3, size,
                         _ms(lambda: _window_chars(run_window, gen["seed"])), per=GEN_CHARS)
    err = rel_err(session.run(None, {name: built.x})[0], built.expected)
    return NativeRow("onnxruntime", "cpu", err, load_ms, (time.perf_counter() - t0) * 1e3, size,
                     _ms(lambda: session.run(None, {name: built.x})[0]))


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
