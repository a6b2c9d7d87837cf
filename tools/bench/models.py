"""The benchmark's models (issue 6), built with fixed seeds, with their inputs and Keras' own outputs.

Each model is built twice: with Keras 3 (the model Webloom converts and native Keras times) and as a
tf_keras (Keras 2) twin holding the same weights, because TF.js 4.22 cannot read a Keras 3 topology and
tf2onnx only emits ONNX's fused LSTM op from a tf_keras graph (a Keras 3 export becomes a Loop, 5-10x
slower, which would flatter us). `twin_gap` records how far the twin is from the Keras 3 model, so a bad
twin shows up instead of silently skewing a peer's correctness check.

M5 (generation) reuses M2's weights: the window model re-fed per character for runtimes without a
stateful step, and a stateful twin (batch 1, free time, so priming is one run) for Webloom's step().
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

CHARS, WINDOW = 57, 40
GEN_SEED_CHARS = 40          # the priming text of M5
GEN_CHARS = 16               # characters generated per timed M5 run


@dataclass(frozen=True)
class ModelDef:
    key: str                              # "m1"...
    title: str
    build: Callable                       # build(K) -> model, K = keras or tf_keras
    make_input: Callable                  # make_input(rng) -> np.ndarray, batch 1
    dtype: str = "float32"
    small: bool = False                   # fit for the smoke run


def _m1(K):
    return K.Sequential([
        K.Input(shape=(100,), dtype="int32", batch_size=1, name="ids"),
        K.layers.Embedding(20000, 128, name="embed"),
        K.layers.LSTM(64, return_sequences=True, name="lstm1"),
        K.layers.LSTM(32, name="lstm2"),
        K.layers.Dense(1, activation="sigmoid", name="score"),
    ], name="m1_sentiment")


def _m2(K):
    return K.Sequential([
        K.Input(shape=(WINDOW, CHARS), batch_size=1, name="chars"),
        K.layers.LSTM(128, name="lstm"),
        K.layers.Dense(CHARS, activation="softmax", name="next_char"),
    ], name="m2_char")


def _m3(K):
    return K.Sequential([
        K.Input(shape=(3, 1), batch_size=1, name="words"),
        K.layers.LSTM(512, return_sequences=True, name="lstm1"),
        K.layers.LSTM(512, name="lstm2"),
        K.layers.Dense(112, activation="softmax", name="next_word"),
    ], name="m3_word512")


def _m4(K):
    return K.Sequential([
        K.Input(shape=(200, 64), batch_size=1, name="frames"),
        K.layers.LSTM(256, name="lstm"),
        K.layers.Dense(10, name="logits"),
    ], name="m4_long")


def char_stateful(K):
    """M2's layers as a stateful model stepping one character (or priming a whole text) per call."""
    inp = K.Input(batch_shape=(1, None, CHARS), name="chars")
    y = K.layers.LSTM(128, stateful=True, name="lstm")(inp)
    y = K.layers.Dense(CHARS, activation="softmax", name="next_char")(y)
    return K.Model(inp, y, name="m5_char_step")


def _ids(rng):
    return rng.integers(1, 20000, (1, 100)).astype(np.int32)


def _one_hot_text(rng, n=WINDOW):
    x = np.zeros((1, n, CHARS), np.float32)
    x[0, np.arange(n), rng.integers(0, CHARS, n)] = 1.0
    return x


def _uniform(shape):
    def make(rng):
        return rng.uniform(-1, 1, shape).astype(np.float32)
    return make


MODELS = {
    "m1": ModelDef("m1", "M1 sentiment (Embedding 20000x128, LSTM 64+32)", _m1, _ids, "int32"),
    "m2": ModelDef("m2", "M2 char (LSTM 128 over 40x57)", _m2, _one_hot_text, small=True),
    "m3": ModelDef("m3", "M3 word512 (LSTM 512+512 over 3 steps)", _m3, _uniform((1, 3, 1))),
    "m4": ModelDef("m4", "M4 long (LSTM 256 over 200x64)", _m4, _uniform((1, 200, 64))),
    "m5": ModelDef("m5", "M5 generation (M2 per generated character)", _m2, _one_hot_text, small=True),
}
ALL_MODELS = tuple(MODELS)


@dataclass
class Built:
    """A model in both Keras flavours, its input and the Keras 3 outputs every runtime must match."""
    mdef: ModelDef
    keras_model: object
    twin: object
    x: np.ndarray
    expected: np.ndarray
    twin_gap: float
    raw_weight_bytes: int
    stateful: Optional[object] = None
    generation: dict = field(default_factory=dict)


def build(mdef: ModelDef, seed: int = 0) -> Built:
    import keras
    import tf_keras
    keras.utils.set_random_seed(seed)
    model = mdef.build(keras)
    model.set_weights(spread_weights(model.get_weights(), np.random.default_rng(seed)))
    twin = mdef.build(tf_keras)
    twin.set_weights(model.get_weights())
    x = mdef.make_input(np.random.default_rng(seed + 1))
    expected = np.asarray(model(x, training=False))
    gap = float(np.max(np.abs(np.asarray(twin(x, training=False)) - expected)))
    raw = sum(int(np.asarray(w).size) * 4 for w in model.get_weights())
    built = Built(mdef, model, twin, x, expected, gap, raw)
    if mdef.key == "m5":
        built.stateful = char_stateful(keras)
        built.stateful.set_weights(model.get_weights())
        built.generation = generation_reference(model, built.stateful, x)
    return built


def spread_weights(weights: list, rng) -> list:
    """Random weights large enough that gates saturate sometimes and softmax outputs are peaked.

    Keras' default init leaves a random model's outputs near uniform (every character the same argmax,
    probabilities ~1/57), where a 1e-4 check and greedy generation would prove little.
    """
    out = []
    for w in weights:
        fan_in = w.shape[0] if w.ndim == 2 else 4
        a = min(1.5, 3.0 / np.sqrt(fan_in))
        out.append(rng.uniform(-a, a, w.shape).astype(np.float32))
    return out


def greedy_window(predict, seed_ids: list, n: int) -> tuple[list, list]:
    """Generates n characters by re-feeding the last WINDOW ones; returns (chars, probabilities)."""
    text, probs = list(seed_ids), []
    for _ in range(n):
        window = np.zeros((1, WINDOW, CHARS), np.float32)
        window[0, np.arange(WINDOW), text[-WINDOW:]] = 1.0
        p = np.asarray(predict(window)).reshape(-1)
        probs.append(p)
        text.append(int(np.argmax(p)))
    return text[len(seed_ids):], probs


def greedy_stateful(model, seed_ids: list, n: int) -> tuple[int, list, list]:
    """Primes the stateful model with the seed text in one call (its argmax is the first character),
    then steps n times, one character in and the next one out; returns (first, chars, probabilities)."""
    _reset(model)
    prime = np.zeros((1, len(seed_ids), CHARS), np.float32)
    prime[0, np.arange(len(seed_ids)), seed_ids] = 1.0
    last = int(np.argmax(np.asarray(model(prime, training=False))))
    first, chars, probs = last, [], []
    for _ in range(n):
        step = np.zeros((1, 1, CHARS), np.float32)
        step[0, 0, last] = 1.0
        p = np.asarray(model(step, training=False)).reshape(-1)
        probs.append(p)
        last = int(np.argmax(p))
        chars.append(last)
    _reset(model)
    return first, chars, probs


def _reset(model) -> None:
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_state()


def generation_reference(window_model, stateful_model, x: np.ndarray) -> dict:
    """The characters and probabilities both generation schemes must reproduce."""
    seed_ids = [int(i) for i in np.argmax(x[0], axis=-1)]
    w_chars, w_probs = greedy_window(lambda v: window_model(v, training=False), seed_ids, GEN_CHARS)
    first, s_chars, s_probs = greedy_stateful(stateful_model, seed_ids, GEN_CHARS)
    return {"seed": seed_ids, "window_chars": w_chars, "window_probs": np.stack(w_probs),
            "step_first": first, "step_chars": s_chars, "step_probs": np.stack(s_probs)}
