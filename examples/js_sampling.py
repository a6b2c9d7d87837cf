"""A Python twin of the runtime's sampling helpers (runtime-js/src/sampling.ts): `createRng` (mulberry32)
and `sample`, so that a Python reference can draw exactly the tokens a page draws with the same seed.
tests/examples/test_js_sampling.py checks it against the JS functions."""

from __future__ import annotations

import math

import numpy as np

MASK = 0xFFFFFFFF


def _imul(a: int, b: int) -> int:
    return (a * b) & MASK


def create_rng(seed: int):
    """Numbers in [0, 1), the same sequence as createRng(seed) in JS."""
    state = int(seed) & MASK

    def random() -> float:
        nonlocal state
        state = (state + 0x6D2B79F5) & MASK
        t = state
        t = _imul(t ^ (t >> 15), t | 1)
        t ^= (t + _imul(t ^ (t >> 7), t | 61)) & MASK
        return (((t ^ (t >> 14)) & MASK) >> 8) / 16777216   # 24 bits, as drawAt keeps
    return random


def sample(logits, temperature: float, random) -> int:
    """sample(logits, {temperature, random}) of the runtime (no topK): argmax at temperature 0."""
    values = [float(v) for v in logits]
    if temperature == 0:
        return int(np.argmax(values))
    order = sorted((i for i, v in enumerate(values) if v == v), key=lambda i: (-values[i], i))
    top = values[order[0]]
    weights = [math.exp((values[i] - top) / temperature) for i in order]
    r = random() * sum(weights)
    for i, w in zip(order, weights):
        r -= w
        if r < 0:
            return i
    return order[-1]


def log_probs(probs) -> np.ndarray:
    """What the pages pass to sample(): Float32Array.from(probs, Math.log), i.e. float32 logs."""
    return np.log(np.asarray(probs, np.float64)).astype(np.float32)
