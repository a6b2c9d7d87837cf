"""The wasm prelude's vectorized exp / tanh / sigmoid against float64 over the whole float32 range.

Every 2^12-th float32 bit pattern (both signs, every exponent, NaNs and infinities included) plus a dense
grid over [-20, 20] where the gates live: relative error for normal results, absolute error (a few
subnormal ulps) for subnormal ones, NaN exactly where float64 gives NaN, infinities exact.
"""

import numpy as np
import pytest

from converter.backends import lower
from converter.ir.graph import Graph
from tests.unit.wasm_run import run_program

FLT_MIN = 1.1754944e-38
# bounds with margin over the measured maxima (tanh 3.2e-7, sigmoid 1.9e-7, exp 8e-8)
REL = {"tanh": 1e-6, "sigmoid": 1e-6, "exponential": 5e-7}


def _inputs() -> np.ndarray:
    bits = np.arange(0, 2**32, 2**12, dtype=np.uint64).astype(np.uint32)
    grid = np.linspace(-20, 20, 40001, dtype=np.float32)
    return np.concatenate([bits.view(np.float32), grid]).astype(np.float32)


def _reference(fn: str, x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        if fn == "tanh":
            return np.tanh(x)
        if fn == "exponential":
            return np.exp(x)
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


@pytest.fixture(scope="module")
def results():
    x = _inputs()
    g = Graph("act")
    xi = g.input("x", "float32", (1, len(x)))
    g.outputs = [g.add1("Unary", [xi], {"fn": fn, "alpha": 0.0}, name=fn) for fn in REL]
    got = run_program(lower("wasm", g), g, [x.reshape(1, -1)])
    with np.errstate(invalid="ignore"):     # signalling NaN patterns become quiet ones
        return x.astype(np.float64), dict(zip(REL, (o.ravel().astype(np.float64) for o in got)))


@pytest.mark.parametrize("fn", list(REL))
def test_activation_error_over_the_float_range(results, fn):
    x, got = results
    want, have = _reference(fn, x), got[fn]
    assert np.array_equal(np.isnan(have), np.isnan(want)), f"{fn}: NaN where float64 has none or vice versa"
    inf = np.isinf(want) | (np.abs(want) > 3.4028235e38)
    np.testing.assert_array_equal(have[inf], np.sign(want[inf]) * np.inf)   # float32 overflow is inf
    normal = ~np.isnan(want) & ~inf & (np.abs(want) >= FLT_MIN)
    rel = np.abs(have[normal] - want[normal]) / np.abs(want[normal])
    worst = int(np.argmax(rel))
    assert rel[worst] <= REL[fn], f"{fn}: relative error {rel[worst]:.3g} at x = {x[normal][worst]!r}"
    tiny = ~np.isnan(want) & ~inf & ~normal
    assert np.max(np.abs(have[tiny] - want[tiny]), initial=0.0) <= 4 * 1.4e-45, f"{fn}: subnormal results"


def test_saturation_is_exact(results):
    # 1 + tanh(x) and 1 - sigmoid(x) must reach 0 where float32 does (gelu_tanh, GRU's 1 - z)
    x, got = results
    big = np.abs(x) >= 9
    np.testing.assert_array_equal(got["tanh"][big], np.sign(x[big]))
    assert np.all(got["sigmoid"][x >= 17] == 1.0)
