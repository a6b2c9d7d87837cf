"""Handlers for Chainer's reductions and array functions: mean/max/min/sum over axes, stack, split_axis,
separate, swapaxes, indexing (``x[...]``), F.pad_sequence and F.where.

Reductions keep an NHWC image where the result's axes come out in Chainer's order anyway (the spatial
axes or the channels reduced, or keepdims); otherwise they work on Chainer's layout.
"""

from __future__ import annotations

import numpy as np

from converter.frontends.chainer.builder import CHAINER, NHWC, TO_NHWC, Call, chainer_function


def _axes(call: Call, rank: int) -> tuple:
    axis = call.fn.axis
    if axis is None:
        return tuple(range(rank))
    return tuple(sorted(int(a) % rank for a in ((axis,) if np.isscalar(axis) else axis)))


def _reduce_input(call: Call, axes: tuple, keepdims: bool):
    """(x, axes in x's layout, the result's layout)."""
    x, layout = call.entry(0)
    if layout == NHWC and len(x.shape) == 4:
        kept_nhwc = [a for a in TO_NHWC if a not in axes]
        if keepdims:
            return x, tuple(sorted(TO_NHWC.index(a) for a in axes)), NHWC
        if kept_nhwc == sorted(kept_nhwc):       # e.g. [B, C] after the spatial axes
            return x, tuple(sorted(TO_NHWC.index(a) for a in axes)), CHAINER
    return call.value(0), axes, CHAINER


def _reduce(call: Call, fn: str, negate: bool = False):
    rank = len(call.nodes[0].shape)
    axes = _axes(call, rank)
    keepdims = bool(call.fn.keepdims)
    x, axes, layout = _reduce_input(call, axes, keepdims)
    if negate:                                   # min(x) = -max(-x), exact
        x = call.add1("Unary", [x], {"fn": "neg"}, "neg")
    y = call.add1("Reduce", [x], {"fn": fn, "axes": axes, "keepdims": keepdims})
    if negate:
        y = call.add1("Unary", [y], {"fn": "neg"}, "min")
    return [(y, layout)]


@chainer_function("Mean")
def mean(call: Call):
    """F.mean, and F.average without weights."""
    return _reduce(call, "mean")


@chainer_function("Sum")
def reduce_sum(call: Call):
    return _reduce(call, "sum")


@chainer_function("Max")
def reduce_max(call: Call):
    return _reduce(call, "max")


@chainer_function("Min")
def reduce_min(call: Call):
    return _reduce(call, "max", negate=True)


# ---- stacking, splitting, axes --------------------------------------------------------------------

@chainer_function("Stack")
def stack(call: Call):
    shape = call.out_shape()
    axis = int(call.fn.axis) % len(shape)
    one = shape[:axis] + (1,) + shape[axis + 1:]
    parts = [call.add1("Reshape", [call.value(i)], {"shape": one}, f"item{i}")
             for i in range(len(call.nodes))]
    return [call.add1("Concat", parts, {"axis": axis})]


def _slices(call: Call, axis: int, bounds: list, squeeze: bool) -> list:
    x = call.value(0)
    dropped = tuple(int(d) for i, d in enumerate(call.nodes[0].shape) if i != axis)
    outs = []
    for k, (start, end) in enumerate(bounds):
        y = call.add1("Slice", [x], {"axis": axis, "start": start, "end": end}, f"part{k}")
        if squeeze:
            y = call.add1("Reshape", [y], {"shape": dropped}, f"part{k}")
        outs.append(y)
    return outs


@chainer_function("SplitAxis")
def split_axis(call: Call):
    rank = len(call.nodes[0].shape)
    axis = int(call.fn.axis) % rank
    size = int(call.nodes[0].shape[axis])
    if call.fn.indices is not None:
        cuts = [min(max(int(i), 0), size) for i in call.fn.indices]
    else:
        step = size // int(call.fn.sections)
        cuts = [step * k for k in range(1, int(call.fn.sections))]
    edges = [0] + cuts + [size]
    return _slices(call, axis, list(zip(edges[:-1], edges[1:])), squeeze=False)


@chainer_function("Separate")
def separate(call: Call):
    rank = len(call.nodes[0].shape)
    axis = int(call.fn.axis) % rank
    size = int(call.nodes[0].shape[axis])
    return _slices(call, axis, [(k, k + 1) for k in range(size)], squeeze=True)


@chainer_function("Swapaxes")
def swapaxes(call: Call):
    rank = len(call.nodes[0].shape)
    perm = list(range(rank))
    a, b = int(call.fn.axis1) % rank, int(call.fn.axis2) % rank
    perm[a], perm[b] = perm[b], perm[a]
    return [call.add1("Transpose", [call.value(0)], {"perm": tuple(perm)})]


# ---- indexing --------------------------------------------------------------------------------------

def _index_key(call: Call, rank: int) -> list:
    """The key as one entry per input axis (int or slice); None (new axes) only change the final shape."""
    key = call.fn.slices if isinstance(call.fn.slices, tuple) else (call.fn.slices,)
    named = [k for k in key if k is not None and k is not Ellipsis]
    for k in named:
        if not isinstance(k, (int, np.integer, slice)):
            raise call.error(f"index {k!r}: only ints, slices, None and ... are supported (no array "
                             "indices); use F.stack or F.concat of slices")
        if isinstance(k, slice) and k.step not in (None, 1):
            raise call.error(f"slice {k}: only step 1 is supported")
    if Ellipsis in key:
        at = key.index(Ellipsis)
        fill = [slice(None)] * (rank - len(named))
        named = [k for k in key[:at] if k is not None] + fill + [k for k in key[at + 1:] if k is not None]
    return named + [slice(None)] * (rank - len(named))


@chainer_function("GetItem")
def get_item(call: Call):
    x = call.value(0)
    shape = tuple(int(d) for d in call.nodes[0].shape)
    for axis, k in enumerate(_index_key(call, len(shape))):
        if isinstance(k, slice):
            start, end, _ = k.indices(shape[axis])
            if (start, end) == (0, shape[axis]):
                continue
        else:
            start = int(k) % shape[axis]
            end = start + 1
        x = call.add1("Slice", [x], {"axis": axis, "start": start, "end": max(end, start)}, f"axis{axis}")
    if tuple(x.shape) != call.out_shape():
        x = call.add1("Reshape", [x], {"shape": call.out_shape()})
    return [x]


# ---- lists of sequences, selection ------------------------------------------------------------------

@chainer_function("PadSequence")
def pad_sequence(call: Call):
    seqs = call.b.seqs
    value, seq = seqs.lift(list(call.nodes), "F.pad_sequence")
    length = call.out_shape()[1]
    if length != seq.time:
        raise call.error(f"pads to length {length}, but {seq.what} is padded to {seq.time}; call it without "
                         f"length= (or length={seq.time}) and give the list input that max_length")
    y = value if seq.zero_padded and value is seq.padded else seqs.zero_padding(value, seq)
    padding = float(np.asarray(call.fn.padding))
    if padding != 0:
        if value.dtype != "float32":
            raise call.error("a non-zero padding of int sequences is not supported; pad with 0")
        mask = seqs.mask(seq)
        shape = tuple(value.shape[:2]) + (1,) * (len(value.shape) - 2)
        mask = call.add1("Reshape", [mask], {"shape": shape}, "mask")
        off = call.add1("Binary", [call.const("one", np.float32(1)), mask], {"fn": "sub"}, "off")
        fill = call.add1("Binary", [off, call.const("padding", np.float32(padding))], {"fn": "mul"}, "fill")
        y = call.add1("Binary", [y, fill], {"fn": "add"})
    return [y]


@chainer_function("Where")
def where(call: Call):
    """F.where(condition, x, y). Chainer computes no bool Variables, so the condition is an array:
    a constant of the graph, frozen at its traced value as Python control flow is."""
    cond = np.asarray(call.fn.condition, np.float32)       # Chainer keeps it on the function node
    return [call.add1("Where", [call.const("condition", cond), call.value(0), call.value(1)])]
