"""Keras 3 operation nodes recorded in functional graphs (e.g. the mask a Masking layer or an
Embedding(mask_zero=True) passes on is saved as ``NotEqual`` and ``Any`` nodes feeding ``mask=``)."""

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


@keras_layer("NotEqual")
def not_equal(lc: LayerCall):
    x, value = _tensor_and_scalar(lc)
    return [lc.g.add1("NotEqualMask", [x], {"value": value}, name=lc.node())], [None]


@keras_layer("Any")
def any_(lc: LayerCall):
    # the input is a 0/1 mask, so "any" is a max
    x = lc.inputs[0]
    axis = lc.config.get("axis")
    axes = tuple(range(len(x.shape))) if axis is None else (
        tuple(axis) if isinstance(axis, (list, tuple)) else (int(axis),))
    axes = tuple(sorted(a % len(x.shape) for a in axes))
    attrs = {"fn": "max", "axes": axes, "keepdims": bool(lc.config.get("keepdims", False))}
    return [lc.g.add1("Reduce", [x], attrs, name=lc.node())], [None]
