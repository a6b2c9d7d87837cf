"""Activation functions by Keras name, and the activation layers (Activation, ReLU, LeakyReLU, ...)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from converter.frontends.keras.builder import LayerCall, keras_layer
from converter.ir.graph import Value

# Keras activation name -> (IR Unary fn, alpha). hard_sigmoid depends on the Keras version of the file.
_SIMPLE = {
    "linear": ("linear", 0.0), "relu": ("relu", 0.0), "relu6": ("relu6", 0.0),
    "sigmoid": ("sigmoid", 0.0), "tanh": ("tanh", 0.0), "softsign": ("softsign", 0.0),
    "softplus": ("softplus", 0.0), "elu": ("elu", 1.0), "selu": ("selu", 0.0),
    "exponential": ("exponential", 0.0), "swish": ("swish", 0.0), "silu": ("swish", 0.0),
    "leaky_relu": ("leaky_relu", 0.2), "gelu": ("gelu", 0.0),
}


def activation_name(value) -> str:
    """The activation name of a config entry (a string, or Keras 3's serialized builtin function)."""
    if value is None:
        return "linear"
    if isinstance(value, dict):
        cfg = value.get("config")
        value = cfg if isinstance(cfg, str) else value.get("class_name", "")
    return str(value)


def unary_fn(lc: LayerCall, value) -> tuple[str, float]:
    """(fn, alpha) of a Keras activation for the IR, or a ConversionError naming it."""
    name = activation_name(value)
    if name == "hard_sigmoid":
        return ("hard_sigmoid_k2" if lc.major == 2 else "hard_sigmoid", 0.0)
    if name in _SIMPLE:
        return _SIMPLE[name]
    raise lc.error(f"activation '{name}' is not supported; use one of "
                   f"{', '.join(sorted(set(_SIMPLE) | {'hard_sigmoid', 'softmax'}))}")


def recurrent_fn(lc: LayerCall, value) -> str:
    """Recurrent ops take only a name (Keras' default parameters), so parameterized forms are refused."""
    fn, _ = unary_fn(lc, value)
    return fn


def apply(lc: LayerCall, x: Value, value, suffix: str = "activation", axis: int = -1) -> Value:
    """``x`` through a Keras activation (``softmax`` becomes a Softmax op)."""
    name = activation_name(value)
    if name == "linear":
        return x
    if name == "softmax":
        return lc.g.add1("Softmax", [x], {"axis": axis}, name=lc.node(suffix))
    fn, alpha = unary_fn(lc, value)
    return lc.g.add1("Unary", [x], {"fn": fn, "alpha": alpha}, name=lc.node(suffix))


@keras_layer("Activation", passes_mask=True)
def activation_layer(lc: LayerCall):
    return [apply(lc, lc.inputs[0], lc.config.get("activation"), "")], None


def _relu_like(lc: LayerCall, x: Value, slope: float, max_value: Optional[float]) -> Value:
    if max_value is not None and float(max_value) == 6.0 and slope == 0.0:
        return lc.g.add1("Unary", [x], {"fn": "relu6"}, name=lc.node())
    fn, alpha = ("leaky_relu", slope) if slope else ("relu", 0.0)
    y = lc.g.add1("Unary", [x], {"fn": fn, "alpha": alpha}, name=lc.node())
    if max_value is not None:
        cap = lc.const("max_value", np.float32(max_value))
        y = lc.g.add1("Binary", [y, cap], {"fn": "min"}, name=lc.node("clip"))
    return y


@keras_layer("ReLU", passes_mask=True)
def relu_layer(lc: LayerCall):
    cfg = lc.config
    if float(cfg.get("threshold") or 0.0) != 0.0:
        raise lc.error("ReLU with a nonzero threshold is not supported")
    slope = float(cfg.get("negative_slope") or 0.0)
    return [_relu_like(lc, lc.inputs[0], slope, cfg.get("max_value"))], None


@keras_layer("LeakyReLU", passes_mask=True)
def leaky_relu_layer(lc: LayerCall):
    cfg = lc.config
    slope = cfg.get("negative_slope", cfg.get("alpha", 0.3))
    return [lc.g.add1("Unary", [lc.inputs[0]], {"fn": "leaky_relu", "alpha": float(slope)},
                      name=lc.node())], None


@keras_layer("ELU", passes_mask=True)
def elu_layer(lc: LayerCall):
    alpha = float(lc.config.get("alpha", 1.0))
    return [lc.g.add1("Unary", [lc.inputs[0]], {"fn": "elu", "alpha": alpha}, name=lc.node())], None


@keras_layer("Softmax", passes_mask=True)
def softmax_layer(lc: LayerCall):
    x, mask = lc.inputs[0], lc.masks[0] if lc.masks else None
    axis = lc.config.get("axis", -1)
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise lc.error(f"softmax over several axes {axis} is not supported")
        axis = axis[0]
    if mask is not None:
        # Keras adds (1 - mask) * -1e9 before the softmax; the mask broadcasts against x as in numpy
        if len(mask.shape) != len(x.shape):
            raise lc.error("a masked Softmax layer whose mask rank differs from its input rank "
                           "is not supported")
        one = lc.const("one", np.float32(1.0))
        big = lc.const("large_negative", np.float32(-1e9))
        inv = lc.g.add1("Binary", [one, mask], {"fn": "sub"}, name=lc.node("inv_mask"))
        adder = lc.g.add1("Binary", [inv, big], {"fn": "mul"}, name=lc.node("adder"))
        x = lc.g.add1("Binary", [x, adder], {"fn": "add"}, name=lc.node("masked"))
    return [lc.g.add1("Softmax", [x], {"axis": int(axis)}, name=lc.node())], None


@keras_layer("PReLU", passes_mask=True)
def prelu_layer(lc: LayerCall):
    x = lc.inputs[0]
    shape = [1 if i + 1 in set(lc.config.get("shared_axes") or []) else d for i, d in enumerate(x.shape[1:])]
    if any(not isinstance(d, int) for d in shape):
        raise lc.error("PReLU over a symbolic dimension needs shared_axes there or fixed input_shapes")
    alpha = lc.const("alpha", lc.weight(0, shape, "alpha"))
    # prelu(x) = relu(x) - alpha * relu(-x)
    pos = lc.g.add1("Unary", [x], {"fn": "relu"}, name=lc.node("pos"))
    neg = lc.g.add1("Unary", [x], {"fn": "neg"}, name=lc.node("neg"))
    neg = lc.g.add1("Unary", [neg], {"fn": "relu"}, name=lc.node("neg_relu"))
    scaled = lc.g.add1("Binary", [neg, alpha], {"fn": "mul"}, name=lc.node("scaled"))
    return [lc.g.add1("Binary", [pos, scaled], {"fn": "sub"}, name=lc.node())], None
