"""Shape ONNX ops: Shape/Size/ConstantOfShape/Range/Equal (static or symbolic shape values), Reshape,
Flatten, Transpose, Squeeze/Unsqueeze, Concat, Slice, Split, Gather, Expand, Tile.

Each op that can meet shape values (numpy object arrays holding SymDims) has a ``fold`` doing the same
with numpy, so the TorchScript exporter's Shape -> Gather -> Unsqueeze -> Concat chains stay
conversion-time arithmetic with the batch left free.
"""

from __future__ import annotations

import numpy as np

from converter.frontends.onnx.builder import Fill, NodeCall, onnx_op
from converter.frontends.onnx.symbolic import as_shape, divide, is_symbolic, shape_array
from converter.ir import dims
from converter.ir.graph import Value

INT64_MAX = 2 ** 63 - 1


def _rank(x) -> int:
    return len(x.shape) if isinstance(x, (Value, Fill)) else np.asarray(x).ndim


def _shape_of(x) -> tuple:
    if isinstance(x, (Value, Fill)):
        return tuple(x.shape)
    return tuple(np.asarray(x).shape)


def _axes(n: NodeCall, axes, rank: int) -> list:
    out = []
    for a in axes:
        if not -rank <= int(a) < rank:
            raise n.error(f"axis {a} is out of range for rank {rank}")
        out.append(int(a) % rank)
    return out


# ---- shape values --------------------------------------------------------------------------------

@onnx_op("Shape", attrs={"start": 0, "end": None})
def shape(n: NodeCall):
    full = shape_array(_shape_of(n.inputs[0]))
    end = n.attrs["end"]
    return [full[int(n.attrs["start"]):None if end is None else int(end)]]


@onnx_op("Size")
def size(n: NodeCall):
    return [shape_array([dims.size(_shape_of(n.inputs[0]))]).reshape(())]


@onnx_op("ConstantOfShape", attrs={"value": None})
def constant_of_shape(n: NodeCall):
    from onnx import numpy_helper
    value = np.zeros(1, np.float32) if n.attrs["value"] is None else numpy_helper.to_array(n.attrs["value"])
    target = as_shape(n.need_static(0, "shape"))
    if all(isinstance(d, int) for d in target):
        return [np.full(target, value.reshape(-1)[0], dtype=value.dtype)]
    dtype = "float32" if value.dtype.kind in "fb" else "int32"
    return [Fill(target, value.reshape(-1)[0], dtype)]


@onnx_op("Range")
def range_op(n: NodeCall):
    raise n.error("Range bounds computed from the model's inputs (not static) cannot be converted; fix "
                  "the free dims with --input-shape")


def fold_where(n: NodeCall):
    cond, x, y = (np.asarray(n.static(i)) for i in range(3))
    if not (is_symbolic(x) or is_symbolic(y) or is_symbolic(cond)):
        return None
    return [np.where(cond.astype(bool), x, y)]


def _fold_compare(n: NodeCall):
    a, b = np.asarray(n.static(0)), np.asarray(n.static(1))
    if not (is_symbolic(a) or is_symbolic(b)):
        return None
    fn = {"Equal": np.equal, "Less": np.less, "Greater": np.greater}[n.op]
    return [np.asarray(fn(a, b), dtype=bool)]


@onnx_op("Equal", "Less", "Greater", fold=_fold_compare)
def compare(n: NodeCall):
    raise n.refuse(f"{n.op} on computed tensors")


@onnx_op("Not")
def not_op(n: NodeCall):
    raise n.refuse("Not on computed tensors")


# ---- reshapes ------------------------------------------------------------------------------------

def reshape_to(n: NodeCall, x, target, suffix: str = ""):
    if isinstance(x, np.ndarray):
        return np.reshape(x, tuple(dims.evaluate(d, {}) for d in target))
    if isinstance(x, Fill):
        return Fill(tuple(target), x.value, x.dtype)
    return n.add1("Reshape", [x], {"shape": tuple(target)}, suffix)


def resolve_shape(n: NodeCall, in_shape: tuple, spec: tuple, allowzero: bool) -> tuple:
    """ONNX Reshape's target: 0 copies the input dim (unless allowzero), -1 takes what is left."""
    out = []
    for i, d in enumerate(spec):
        if d == 0 and not allowzero and not isinstance(d, str):
            if i >= len(in_shape):
                raise n.error(f"shape {spec}: a 0 at position {i} has no input dim to copy")
            out.append(in_shape[i])
        else:
            out.append(d)
    if sum(1 for d in out if d == -1) > 1:
        raise n.error(f"shape {spec} has more than one -1")
    if -1 in [d for d in out if isinstance(d, int)]:
        known = dims.size([d for d in out if d != -1])
        rest = divide(dims.size(in_shape), known)
        out = [rest if d == -1 else d for d in out]
    return tuple(dims.normalize(d) for d in out)


def _fold_reshape(n: NodeCall):
    x = n.static(0)
    if not is_symbolic(x) and not is_symbolic(n.static(1)):
        return None
    return reshape(n)


@onnx_op("Reshape", attrs={"allowzero": 0, "shape": None}, fold=_fold_reshape)
def reshape(n: NodeCall):
    spec = tuple(n.attrs["shape"]) if n.opset < 5 else as_shape(n.need_static(1, "shape"))
    target = resolve_shape(n, _shape_of(n.inputs[0]), spec, bool(n.attrs["allowzero"]))
    return [reshape_to(n, n.inputs[0], target)]


@onnx_op("Flatten", attrs={"axis": 1})
def flatten(n: NodeCall):
    x = n.inputs[0]
    s = _shape_of(x)
    axis = int(n.attrs["axis"]) % (len(s) + 1) if s else 0
    return [reshape_to(n, x, (dims.size(s[:axis]), dims.size(s[axis:])))]


def _unsqueeze_axes(n: NodeCall) -> list:
    return list(n.attrs["axes"] or []) if n.opset < 13 else n.ints(1, "axes")


def _fold_squeeze(n: NodeCall):
    return (squeeze if n.op == "Squeeze" else unsqueeze)(n) if is_symbolic(n.static(0)) else None


@onnx_op("Unsqueeze", attrs={"axes": None}, fold=_fold_squeeze)
def unsqueeze(n: NodeCall):
    x = n.inputs[0]
    s = list(_shape_of(x))
    rank = len(s) + len(_unsqueeze_axes(n))
    for a in sorted(_axes(n, _unsqueeze_axes(n), rank)):
        s.insert(a, 1)
    if isinstance(x, np.ndarray):
        return [x.reshape(tuple(dims.evaluate(d, {}) for d in s))]
    return [reshape_to(n, x, s)]


@onnx_op("Squeeze", attrs={"axes": None}, fold=_fold_squeeze)
def squeeze(n: NodeCall):
    x = n.inputs[0]
    s = _shape_of(x)
    given = (n.attrs["axes"] if n.opset < 13 else (n.ints(1, "axes") if n.has(1) else None))
    axes = _axes(n, given, len(s)) if given else [i for i, d in enumerate(s) if d == 1]
    for a in axes:
        if s[a] != 1:
            raise n.error(f"cannot squeeze axis {a} of size {s[a]}")
    target = [d for i, d in enumerate(s) if i not in axes]
    if isinstance(x, np.ndarray):
        return [x.reshape(tuple(int(d) for d in target))]
    return [reshape_to(n, x, target)]


@onnx_op("Transpose", attrs={"perm": None})
def transpose(n: NodeCall):
    x = n.value(0)
    perm = tuple(n.attrs["perm"]) if n.attrs["perm"] is not None else tuple(range(len(x.shape)))[::-1]
    return [n.add1("Transpose", [x], {"perm": perm})]


# ---- joins and cuts ------------------------------------------------------------------------------

def _fold_concat(n: NodeCall):
    xs = [n.static(i) for i in range(len(n.inputs))]
    if not any(is_symbolic(x) for x in xs):
        return None
    axis = int(n.attrs["axis"])
    return [np.concatenate([np.asarray(x, dtype=object) for x in xs], axis=axis)]


@onnx_op("Concat", attrs={"axis": None}, fold=_fold_concat)
def concat(n: NodeCall):
    if n.attrs["axis"] is None:
        raise n.error("attribute 'axis' is required")
    parts = [i for i in range(len(n.inputs)) if n.has(i) and 0 not in _shape_of(n.inputs[i])]
    values = [n.value(i) for i in parts]
    if not values:
        raise n.error("all inputs are empty")
    axis = int(n.attrs["axis"]) % len(values[0].shape)
    return [n.add1("Concat", values, {"axis": axis})]


def _slice_params(n: NodeCall, rank: int):
    if n.opset < 10:
        starts, ends = list(n.attrs["starts"]), list(n.attrs["ends"])
        axes = list(n.attrs["axes"] or range(len(starts)))
        steps = [1] * len(starts)
    else:
        starts, ends = n.ints(1, "starts"), n.ints(2, "ends")
        axes = n.ints(3, "axes") if n.has(3) else list(range(len(starts)))
        steps = n.ints(4, "steps") if n.has(4) else [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise n.error(f"starts {starts}, ends {ends}, axes {axes}, steps {steps} differ in length")
    return list(zip(_axes(n, axes, rank), starts, ends, steps))


def _fold_slice(n: NodeCall):
    x = n.static(0)
    if not is_symbolic(x):
        return None
    index = [slice(None)] * x.ndim
    for axis, start, end, step in _slice_params(n, x.ndim):
        index[axis] = slice(start, end, step)     # Python's clamping is ONNX's
    return [x[tuple(index)]]


@onnx_op("Slice", attrs={"starts": None, "ends": None, "axes": None}, fold=_fold_slice)
def slice_op(n: NodeCall):
    y = n.value(0)
    for k, (axis, start, end, step) in enumerate(_slice_params(n, len(y.shape))):
        y = slice_axis(n, y, axis, start, end, step, f"axis{k}")
    return [y]


def slice_axis(n: NodeCall, y, axis: int, start: int, end: int, step: int, suffix: str):
    if step == 0:
        raise n.error("Slice step 0 is invalid")
    size = y.shape[axis]
    if not dims.is_static(size):
        return _slice_symbolic(n, y, axis, start, end, step, suffix)
    picked = range(*slice(start, end, step).indices(dims.evaluate(size, {})))
    if len(picked) == dims.evaluate(size, {}) and step == 1:
        return y
    if step == 1 or len(picked) == 0:
        return n.add1("Slice", [y], {"axis": axis, "start": picked.start, "end": max(picked.stop,
                                                                                     picked.start)}, suffix)
    if step == -1:
        part = n.add1("Slice", [y], {"axis": axis, "start": picked[-1], "end": picked[0] + 1}, suffix)
        return n.add1("Reverse", [part], {"axis": axis}, suffix + "/reverse")
    return _gather_static(n, y, axis, np.array(list(picked), dtype=np.int64))


def _slice_symbolic(n: NodeCall, y, axis, start, end, step, suffix):
    big = INT64_MAX // 2
    if step == 1:
        hi = None if end >= big else end
        if start == 0 and hi is None:
            return y
        return n.add1("Slice", [y], {"axis": axis, "start": start, "end": hi}, suffix)
    if step == -1 and (start == -1 or start >= big) and end <= -big:
        return n.add1("Reverse", [y], {"axis": axis}, suffix)
    raise n.error(f"Slice [{start}:{end}:{step}] of symbolic dim {y.shape[axis]} needs a static size; fix "
                  "the free dims with --input-shape")


@onnx_op("Split", attrs={"axis": 0, "split": None, "num_outputs": None})
def split(n: NodeCall):
    x = n.value(0)
    axis = _axes(n, [n.attrs["axis"]], len(x.shape))[0]
    count = len(n.node.output)
    if n.attrs["split"] is not None:
        sizes = list(n.attrs["split"])
    elif n.has(1):
        sizes = n.ints(1, "split")
    else:
        if not dims.is_static(x.shape[axis]):
            raise n.error(f"an equal split of symbolic dim {x.shape[axis]} needs sizes; fix it with "
                          "--input-shape")
        total = dims.evaluate(x.shape[axis], {})
        part = -(-total // count)
        sizes = [min(part, total - part * k) for k in range(count)]
    if len(sizes) != count:
        raise n.error(f"split sizes {sizes} do not match the {count} outputs")
    outs, start = [], 0
    for k, s in enumerate(sizes):
        outs.append(n.add1("Slice", [x], {"axis": axis, "start": start, "end": start + s}, f"part{k}"))
        start += s
    return outs


def _fold_gather(n: NodeCall):
    data, idx = n.static(0), n.static(1)
    if not is_symbolic(data):
        return None
    return [np.take(data, np.asarray(idx, dtype=np.int64), axis=int(n.attrs["axis"]))]


@onnx_op("Gather", attrs={"axis": 0}, fold=_fold_gather)
def gather(n: NodeCall):
    data = n.inputs[0]
    rank = _rank(data)
    axis = _axes(n, [n.attrs["axis"]], rank)[0]
    idx = n.static(1)
    if idx is None:
        return [_embedding(n, axis)]
    return [_gather_static(n, n.value(0), axis, np.asarray(idx, dtype=np.int64))]


def _embedding(n: NodeCall, axis: int):
    table = n.static(0)
    if table is None or axis != 0 or np.asarray(table).ndim != 2:
        raise n.refuse("Gather of computed indices other than an embedding lookup (a constant 2-D table, "
                       "axis 0)")
    idx = n.value(1)
    if idx.dtype != "int32":
        idx = n.add1("Cast", [idx], {"to": "int32"}, "ids")
    return n.add1("Gather", [n.value(0), idx])


def _gather_static(n: NodeCall, x, axis: int, idx: np.ndarray):
    """Constant indices into a computed tensor: slices of one element, concatenated, then reshaped."""
    size = x.shape[axis]
    flat = idx.reshape(-1)
    if (flat < 0).any() and not dims.is_static(size):
        raise n.error(f"negative indices into symbolic dim {size}; fix it with --input-shape")
    if dims.is_static(size):
        limit = dims.evaluate(size, {})
        if ((flat < -limit) | (flat >= limit)).any():
            raise n.error(f"indices {flat.tolist()} are out of range for axis {axis} of size {limit}")
        flat = flat % limit
    parts = [n.add1("Slice", [x], {"axis": axis, "start": int(i), "end": int(i) + 1}, f"take{k}")
             for k, i in enumerate(flat)]
    y = parts[0] if len(parts) == 1 else n.add1("Concat", parts, {"axis": axis}, "takes")
    target = tuple(x.shape[:axis]) + tuple(idx.shape) + tuple(x.shape[axis + 1:])
    return y if tuple(y.shape) == target else n.add1("Reshape", [y], {"shape": target}, "shape")


def _fold_expand(n: NodeCall):
    x = n.static(0)
    target = as_shape(n.need_static(1, "shape"))
    if is_symbolic(x) or not all(isinstance(d, int) for d in target):
        return expand(n)
    return None


@onnx_op("Expand", fold=_fold_expand)
def expand(n: NodeCall):
    x = n.inputs[0]
    target = as_shape(n.need_static(1, "shape"))
    s = _shape_of(x)
    rank = max(len(s), len(target))
    s = (1,) * (rank - len(s)) + tuple(s)
    target = (1,) * (rank - len(target)) + tuple(target)
    out = tuple(d if t == 1 else t for d, t in zip(s, target))
    if isinstance(x, Fill):
        return [Fill(out, x.value, x.dtype)]
    if isinstance(x, np.ndarray) and not is_symbolic(x) and not all(dims.is_static(d) for d in out):
        # torch.zeros(layers, batch, hidden) of the dynamo exporter: constant data of symbolic shape
        dtype = "float32" if x.dtype.kind in "fb" else "int32"
        return [Fill(out, x.reshape(tuple(int(d) for d in s)), dtype)]
    if isinstance(x, np.ndarray) and is_symbolic(x):
        return [np.broadcast_to(x.reshape(tuple(int(d) for d in s)), tuple(int(d) for d in out)).copy()]
    v = n.value(0)
    if len(v.shape) != rank:
        v = n.add1("Reshape", [v], {"shape": s}, "rank")
    repeats = []
    for d, o in zip(s, out):
        if dims.normalize(d) == dims.normalize(o):
            repeats.append(1)
        elif d == 1 and dims.is_static(o):
            repeats.append(dims.evaluate(o, {}))
        else:
            raise n.error(f"expanding {dims.fmt_shape(s)} to symbolic {dims.fmt_shape(out)} needs a static "
                          "size; fix the free dims with --input-shape")
    return [v if all(r == 1 for r in repeats) else n.add1("Tile", [v], {"repeats": tuple(repeats)})]


@onnx_op("Tile")
def tile(n: NodeCall):
    return [n.add1("Tile", [n.value(0)], {"repeats": tuple(n.ints(1, "repeats"))})]
