"""Keras 3 operation nodes recorded in functional graphs. Keras 3 saves the mask logic of Masking,
Embedding(mask_zero=True) and the merge layers as operations (``NotEqual``, ``Any``, ``ExpandDims``,
``ZerosLike``, ``LogicalOr``, ``Concatenate``...) feeding the next layer's ``mask=``. The loader names
them ``ops.<Class>``. Masks are float32 0/1 in the IR, so the boolean ops become max / min."""

from __future__ import annotations

from converter.frontends.keras.builder import LayerCall, keras_layer
from converter.ir.graph import Value


def _tensor_and_scalar(lc: LayerCall) -> tuple[Value, float]:
    args = lc.kwargs.get("_args") or lc.inputs
    tensors = [a for a in args if isinstance(a, Value)]
    scalars = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
    if len(tensors) != 1 or len(scalars) != 1:
        raise lc.error("only comparisons of one tensor with a number are supported")
    return tensors[0], float(scalars[0])


def _axis(lc: LayerCall, rank: int, default=None):
    axis = lc.config.get("axis", default)
    return None if axis is None else int(axis) % rank


@keras_layer("ops.NotEqual")
def not_equal(lc: LayerCall):
    x, value = _tensor_and_scalar(lc)
    return [lc.g.add1("NotEqualMask", [x], {"value": value}, name=lc.node())], [None]


@keras_layer("ops.Any")
def any_(lc: LayerCall):
    # the input is a 0/1 mask, so "any" is a max
    x = lc.inputs[0]
    axis = lc.config.get("axis")
    axes = tuple(range(len(x.shape))) if axis is None else (
        tuple(axis) if isinstance(axis, (list, tuple)) else (int(axis),))
    axes = tuple(sorted(a % len(x.shape) for a in axes))
    attrs = {"fn": "max", "axes": axes, "keepdims": bool(lc.config.get("keepdims", False))}
    return [lc.g.add1("Reduce", [x], attrs, name=lc.node())], [None]


@keras_layer("ops.ExpandDims")
def expand_dims(lc: LayerCall):
    x = lc.inputs[0]
    axis = int(lc.config.get("axis", -1))
    axis = axis % (len(x.shape) + 1)
    shape = list(x.shape[:axis]) + [1] + list(x.shape[axis:])
    return [lc.g.add1("Reshape", [x], {"shape": tuple(shape)}, name=lc.node())], [None]


@keras_layer("ops.ZerosLike")
def zeros_like(lc: LayerCall):
    # zeros of x's shape without touching x's values (x * 0 would turn inf/NaN into NaN)
    x = lc.inputs[0]
    ones = lc.g.add1("NotEqualMask", [x], {"value": 0.0}, name=lc.node("ones"))
    zero = lc.g.const(lc.node("zero"), 0.0)
    return [lc.g.add1("Binary", [ones, zero], {"fn": "mul"}, name=lc.node())], [None]


def _logical(fn: str):
    def handler(lc: LayerCall):
        a, b = lc.inputs[:2]
        return [lc.g.add1("Binary", [a, b], {"fn": fn}, name=lc.node())], [None]
    return handler


keras_layer("ops.LogicalOr")(_logical("max"))
keras_layer("ops.LogicalAnd")(_logical("min"))


@keras_layer("ops.Concatenate")
def concatenate(lc: LayerCall):
    xs = [x for x in lc.inputs if isinstance(x, Value)]
    axis = _axis(lc, len(xs[0].shape), default=0)
    return [lc.g.add1("Concat", xs, {"axis": axis}, name=lc.node())], [None]
