"""Merge layers: Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum, with Keras' mask rules."""

from __future__ import annotations

from typing import Optional

import numpy as np

from converter.frontends.keras.builder import LayerCall, keras_layer
from converter.ir.graph import Value

_BINARY = {"Add": "add", "Subtract": "sub", "Multiply": "mul", "Average": "add", "Maximum": "max",
           "Minimum": "min"}


def _and_masks(lc: LayerCall) -> Optional[Value]:
    """Keras' Merge.compute_mask: the AND of the masks that are present (min of 0/1 floats)."""
    present = [m for m in lc.masks if m is not None]
    if not present:
        return None
    out = present[0]
    for i, m in enumerate(present[1:]):
        out = lc.g.add1("Binary", [out, m], {"fn": "min"}, name=lc.node(f"mask{i}"))
    return out


@keras_layer(*_BINARY)
def elementwise_merge(lc: LayerCall):
    xs = lc.inputs
    if len(xs) < 2 or (lc.class_name == "Subtract" and len(xs) != 2):
        raise lc.error(f"got {len(xs)} inputs")
    fn = _BINARY[lc.class_name]
    y = xs[0]
    # folded left to right, as Keras does
    for i, x in enumerate(xs[1:]):
        last = i == len(xs) - 2 and lc.class_name != "Average"
        y = lc.g.add1("Binary", [y, x], {"fn": fn}, name=lc.node() if last else lc.node(f"step{i}"))
    if lc.class_name == "Average":
        n = lc.const("count", np.float32(len(xs)))
        y = lc.g.add1("Binary", [y, n], {"fn": "div"}, name=lc.node())
    return [y], [_and_masks(lc)]


def _ones_mask(lc: LayerCall, x: Value, i: int) -> Value:
    """An all-ones [B, T] mask for an unmasked input (Keras uses ones_like there)."""
    first = lc.g.add1("Slice", [x], {"axis": -1, "start": 0, "end": 1}, name=lc.node(f"ones{i}/slice"))
    zero = lc.g.add1("Binary", [first, lc.const(f"ones{i}/zero", np.float32(0.0))], {"fn": "mul"},
                     name=lc.node(f"ones{i}/zeros"))
    # NaN and inf inputs give NaN * 0 = NaN, and NaN != 1 holds, so the mask is ones everywhere
    mask = lc.g.add1("NotEqualMask", [zero], {"value": 1.0, "reduce_last": True}, name=lc.node(f"ones{i}"))
    return mask


@keras_layer("Concatenate")
def concatenate(lc: LayerCall):
    xs = lc.inputs
    rank = len(xs[0].shape)
    axis = int(lc.config.get("axis", -1)) % rank
    y = lc.g.add1("Concat", xs, {"axis": axis}, name=lc.node())
    present = [m for m in lc.masks if m is not None]
    if not present:
        return [y], [None]
    if axis == rank - 1:
        # masks broadcast over the features and OR-ed over the concatenated axis; an unmasked input
        # contributes ones, which makes the result all ones: no mask
        if len(present) != len(xs):
            return [y], [None]
        out = present[0]
        for i, m in enumerate(present[1:]):
            out = lc.g.add1("Binary", [out, m], {"fn": "max"}, name=lc.node(f"mask{i}"))
        return [y], [out]
    if axis != 1 or rank < 3:
        raise lc.error(f"masked concatenation along axis {axis} is not supported "
                       "(only the last axis or time)")
    masks = [m if m is not None else _ones_mask(lc, x, i) for i, (x, m) in enumerate(zip(xs, lc.masks))]
    return [y], [lc.g.add1("Concat", masks, {"axis": 1}, name=lc.node("mask"))]
