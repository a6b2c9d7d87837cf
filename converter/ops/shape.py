"""Shape ops: Reshape, Transpose, Concat, Reverse, Tile, Slice, Pad.

Ops that change a symbolic dim (Concat along it, Pad, Slice) give derived dims (converter.ir.dims:
expressions such as ``time+2`` or ``max(time-1,0)``).
"""

from __future__ import annotations

import numpy as np

from converter.ir import dims
from converter.ops.common import fail, fmt, need_attr, norm_axis, same_dim
from converter.ops.registry import register


@register("Reshape", inputs=("x",), attrs={"shape": None}, needs_bindings=True)
class Reshape:
    """y = x reshaped to ``shape`` (the full target shape; symbolic dims allowed, no -1)."""

    def infer(x, *, attrs):
        shape = tuple(dims.normalize(d) for d in need_attr("Reshape", attrs, "shape"))
        if any(isinstance(d, int) and d < 0 for d in shape):
            fail("Reshape", f"target {dims.fmt_shape(shape)} has a negative dim; give the full shape")
        if not same_dim(dims.size(x.shape), dims.size(shape)):
            fail("Reshape", f"cannot reshape {fmt(x)} ({dims.size(x.shape)} elements) to "
                            f"{dims.fmt_shape(shape)} ({dims.size(shape)} elements)")
        return [(x.dtype, shape)]

    def reference(x, *, shape, bindings=None):
        return (x.reshape(_concrete(shape, x.size, bindings)),)


def _concrete(shape, total: int, bindings) -> tuple:
    """Evaluate a target shape: with the interpreter's bindings, or else from the element count when at
    most one dim is symbolic (constant folding has no bindings)."""
    if bindings is not None:
        return dims.eval_shape(shape, bindings)
    symbolic = [i for i, d in enumerate(shape) if not dims.is_static(d)]
    if len(symbolic) > 1:
        fail("Reshape", f"target {dims.fmt_shape(shape)} has several symbolic dims and no symbol bindings")
    static = [dims.evaluate(d, {}) if i not in symbolic else -1 for i, d in enumerate(shape)]
    return tuple(static) if total or not symbolic else tuple(0 if d == -1 else d for d in static)


@register("Transpose", inputs=("x",), attrs={"perm": None})
class Transpose:
    """y = x.transpose(perm)."""

    def infer(x, *, attrs):
        perm = tuple(need_attr("Transpose", attrs, "perm"))
        if sorted(perm) != list(range(len(x.shape))):
            fail("Transpose", f"perm {perm} is not a permutation of the axes of {fmt(x)}")
        return [(x.dtype, tuple(x.shape[p] for p in perm))]

    def reference(x, *, perm):
        return (np.transpose(x, perm),)


@register("Concat", inputs=("xs*",), attrs={"axis": None})
class Concat:
    """y = concatenate(xs, axis); the other dims must match; the axis length is the sum of the inputs'."""

    def infer(*xs, attrs):
        if not xs:
            fail("Concat", "needs at least one input")
        rank, first = len(xs[0].shape), xs[0]
        axis = norm_axis("Concat", need_attr("Concat", attrs, "axis"), rank)
        for x in xs:
            if x.dtype != first.dtype or len(x.shape) != rank:
                fail("Concat", f"inputs {', '.join(fmt(v) for v in xs)} differ in dtype or rank")
            if any(not same_dim(a, b) for i, (a, b) in enumerate(zip(x.shape, first.shape)) if i != axis):
                fail("Concat", f"inputs {', '.join(fmt(v) for v in xs)} differ outside axis {axis}")
        total = dims.add(*(x.shape[axis] for x in xs))
        return [(first.dtype, tuple(first.shape[:axis]) + (total,) + tuple(first.shape[axis + 1:]))]

    def reference(*xs, axis):
        return (np.concatenate(xs, axis=axis),)


@register("Reverse", inputs=("x",), attrs={"axis": 1})
class Reverse:
    """y = x reversed along axis."""

    def infer(x, *, attrs):
        norm_axis("Reverse", attrs["axis"], len(x.shape))
        return [(x.dtype, x.shape)]

    def reference(x, *, axis):
        return (np.flip(x, axis=axis),)


@register("Tile", inputs=("x",), attrs={"repeats": None})
class Tile:
    """y = np.tile(x, repeats) with one repeat count per axis."""

    def infer(x, *, attrs):
        repeats = tuple(need_attr("Tile", attrs, "repeats"))
        if len(repeats) != len(x.shape) or any(int(r) < 1 for r in repeats):
            fail("Tile", f"repeats {repeats} must give a count >= 1 for each axis of {fmt(x)}")
        return [(x.dtype, tuple(dims.mul(d, int(r)) for d, r in zip(x.shape, repeats)))]

    def reference(x, *, repeats):
        return (np.tile(x, tuple(repeats)),)


def _slice_len(dim, start, end):
    if dims.is_static(dim):
        return len(range(*slice(start, end).indices(dims.evaluate(dim, {}))))
    start = start or 0
    if start < 0:
        # the backends place the window from a static start; a negative one moves with the length
        fail("Slice", f"slice [{start}:{end}] of symbolic dim {dim} has a negative start; "
                      "give that input a static size (convert_keras --input-shape NAME=?,LENGTH,...)")
    if end is None:
        return dim if start == 0 else dims.normalize(f"max({dim}-{start},0)")
    if end >= start:
        return end - start
    if end >= 0:
        return 0
    # Python semantics: a negative end counts from the end, and the slice is never negative
    return dims.normalize(f"max({dim}-{start - end},0)")


@register("Slice", inputs=("x",), attrs={"axis": None, "start": None, "end": None})
class Slice:
    """y = x[..., start:end, ...] on ``axis`` (Python slice semantics; None = from start / to end)."""

    def infer(x, *, attrs):
        axis = norm_axis("Slice", need_attr("Slice", attrs, "axis"), len(x.shape))
        length = _slice_len(x.shape[axis], attrs["start"], attrs["end"])
        return [(x.dtype, tuple(x.shape[:axis]) + (length,) + tuple(x.shape[axis + 1:]))]

    def reference(x, *, axis, start, end):
        index = [slice(None)] * x.ndim
        index[axis] = slice(start, end)
        return (x[tuple(index)],)


@register("Pad", inputs=("x",), attrs={"pads": None, "value": 0.0})
class Pad:
    """y = x padded with ``value``; ``pads`` gives (before, after) for every axis."""

    def infer(x, *, attrs):
        pads = tuple(tuple(p) for p in need_attr("Pad", attrs, "pads"))
        if len(pads) != len(x.shape) or any(len(p) != 2 or min(p) < 0 for p in pads):
            fail("Pad", f"pads {pads} must be one non-negative (before, after) pair per axis of {fmt(x)}")
        shape = tuple(dims.add(d, lo + hi) for d, (lo, hi) in zip(x.shape, pads))
        return [(x.dtype, shape)]

    def reference(x, *, pads, value):
        return (np.pad(x, tuple(tuple(p) for p in pads), constant_values=value),)
