"""Activation and elementwise functions: the numpy spec every backend's expressions must match.

``ACTIVATIONS[name](x, alpha, beta)`` computes in float32 with Keras' own formulas (including where
those formulas give NaN at ±inf, e.g. softsign and swish at -inf), without numpy warnings. ``alpha`` and
``beta`` are the op's attributes; functions that take no parameter ignore them. Where no parameter is
given (recurrent activations with ``*_params == ()``) ``DEFAULT_PARAMS`` holds the defaults: Keras' for
Keras names, ONNX's for the ONNX-only ones (hard_sigmoid_ab, thresholded_relu, scaled_tanh, affine).

``ELEMENTWISE_FNS[name] = (arity, fn)`` lists every function a ``FusedElementwise`` step may use: the
unary ones (``fn(x, alpha)``) and the binary ones (``fn(a, b)``). Backends map these names to their own
expressions; a coverage test keeps the tables in sync.
"""

from __future__ import annotations

import math

import numpy as np

F32 = np.float32
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)

# (alpha, beta) of activations named without parameters; functions not listed take none (0.0, 0.0).
DEFAULT_PARAMS = {"elu": (1.0, 0.0), "leaky_relu": (0.2, 0.0), "hard_sigmoid_ab": (0.2, 0.5),
                  "thresholded_relu": (1.0, 0.0), "scaled_tanh": (1.0, 1.0), "affine": (1.0, 0.0)}
DEFAULT_ALPHA = {name: ab[0] for name, ab in DEFAULT_PARAMS.items()}

_erf64 = np.frompyfunc(math.erf, 1, 1)


def _f(x):
    return np.asarray(x, dtype=F32)


def sigmoid(x, alpha=0.0):
    # exp of -|x| never overflows, so large |x| saturates to exactly 0 or 1 without warnings
    x = _f(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, F32(1) / (F32(1) + e), e / (F32(1) + e)).astype(F32)


def softplus(x, alpha=0.0):
    # log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): no overflow for large x
    x = _f(x)
    return (np.maximum(x, F32(0)) + np.log1p(np.exp(-np.abs(x)))).astype(F32)


def elu(x, alpha=1.0):
    x = _f(x)
    return np.where(x >= 0, x, F32(alpha) * np.expm1(np.minimum(x, F32(0)))).astype(F32)


def gelu(x, alpha=0.0):
    # exact gelu needs erf; float64 math.erf then rounded to float32 is exact to float32 precision
    x = _f(x)
    erf = _erf64((x.astype(np.float64) / math.sqrt(2.0))).astype(np.float64)
    return (x * (erf + 1.0).astype(F32) / F32(2)).astype(F32)


def gelu_tanh(x, alpha=0.0):
    x = _f(x)
    inner = F32(SQRT_2_OVER_PI) * (x + F32(0.044715) * x * x * x)
    return (x * (F32(0.5) * (F32(1) + np.tanh(inner)))).astype(F32)


def _unary(fn):
    """Wrap a float32 formula so that it ignores the parameters and never warns on NaN/inf/0."""
    def apply(x, alpha=0.0, beta=0.0):
        with np.errstate(all="ignore"):
            return np.asarray(fn(_f(x)), dtype=F32)
    return apply


def _with_alpha(fn):
    def apply(x, alpha=0.0, beta=0.0):
        with np.errstate(all="ignore"):
            return np.asarray(fn(_f(x), F32(alpha)), dtype=F32)
    return apply


def _with_alpha_beta(fn):
    def apply(x, alpha=0.0, beta=0.0):
        with np.errstate(all="ignore"):
            return np.asarray(fn(_f(x), F32(alpha), F32(beta)), dtype=F32)
    return apply


ACTIVATIONS = {
    "linear": _unary(lambda x: x),
    "relu": _unary(lambda x: np.maximum(x, F32(0))),
    "relu6": _unary(lambda x: np.clip(x, F32(0), F32(6))),
    "sigmoid": _unary(sigmoid),
    "hard_sigmoid": _unary(lambda x: np.clip(x / F32(6) + F32(0.5), F32(0), F32(1))),
    "hard_sigmoid_k2": _unary(lambda x: np.clip(F32(0.2) * x + F32(0.5), F32(0), F32(1))),
    "tanh": _unary(np.tanh),
    "softsign": _unary(lambda x: x / (F32(1) + np.abs(x))),
    "softplus": _unary(softplus),
    "elu": _with_alpha(elu),
    "selu": _unary(lambda x: F32(SELU_SCALE) * elu(x, SELU_ALPHA)),
    "exponential": _unary(np.exp),
    "swish": _unary(lambda x: x * sigmoid(x)),
    "leaky_relu": _with_alpha(lambda x, a: np.where(x >= 0, x, a * x)),
    "gelu_tanh": _unary(gelu_tanh),
    "gelu": _unary(gelu),
    "neg": _unary(np.negative),
    "exp": _unary(np.exp),
    "log": _unary(np.log),
    "sqrt": _unary(np.sqrt),
    "rsqrt": _unary(lambda x: F32(1) / np.sqrt(x)),
    "abs": _unary(np.abs),
    "square": _unary(np.square),
    "reciprocal": _unary(lambda x: F32(1) / x),
    # ONNX's parameterized functions (RNN activations and node-level ops)
    "hard_sigmoid_ab": _with_alpha_beta(lambda x, a, b: np.clip(a * x + b, F32(0), F32(1))),
    "thresholded_relu": _with_alpha(lambda x, a: np.where((x > a) | np.isnan(x), x, F32(0))),
    "scaled_tanh": _with_alpha_beta(lambda x, a, b: a * np.tanh(b * x)),
    "affine": _with_alpha_beta(lambda x, a, b: a * x + b),
}


def _binary(fn):
    def apply(a, b):
        with np.errstate(all="ignore"):
            return fn(np.asarray(a), np.asarray(b))
    return apply


BINARY_FNS = {
    "add": _binary(np.add),
    "sub": _binary(np.subtract),
    "mul": _binary(np.multiply),
    "div": _binary(np.divide),
    "max": _binary(np.maximum),
    "min": _binary(np.minimum),
}

ELEMENTWISE_FNS = {**{n: (1, f) for n, f in ACTIVATIONS.items()},
                   **{n: (2, f) for n, f in BINARY_FNS.items()}}


def activation(name: str):
    """The function for an activation name, with a clear error for unknown names."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(sorted(ACTIVATIONS))}") from None


def param_defaults(name: str, alpha=None, beta=None) -> tuple:
    """(alpha, beta) for ``name`` with None replaced by the function's default."""
    da, db = DEFAULT_PARAMS.get(name, (0.0, 0.0))
    return (da if alpha is None else float(alpha)), (db if beta is None else float(beta))


def unpack_params(params) -> tuple:
    """An ``*_params`` attribute (``()``, ``(alpha,)`` or ``(alpha, beta)``) as (alpha|None, beta|None)."""
    params = tuple(params or ())
    if len(params) > 2:
        raise ValueError(f"activation params {params}: at most (alpha, beta)")
    return tuple(params) + (None,) * (2 - len(params))


def apply_default(name: str, x, params=()):
    """Apply an activation named with optional ``params`` (recurrent ops); defaults from DEFAULT_PARAMS."""
    return activation(name)(x, *param_defaults(name, *unpack_params(params)))
