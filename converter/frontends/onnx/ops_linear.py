"""Linear, convolution, pooling and reduction ONNX ops: Gemm, MatMul, Conv, MaxPool, AveragePool,
GlobalAveragePool/GlobalMaxPool, ReduceMean/ReduceMax/ReduceSum.

ONNX convolutions are channels first (NCHW); the IR's are channels last. Conv and Pool are wrapped in
Transposes (NCHW -> NHWC -> NCHW); the frontend's simplify pass moves them through elementwise ops so
that the pairs between consecutive convolutions cancel.
"""

from __future__ import annotations

import numpy as np

from converter.frontends.onnx.builder import Fill, NodeCall, onnx_op
from converter.ir import dims

REDUCE = {"ReduceMean": "mean", "ReduceMax": "max", "ReduceSum": "sum"}


def _weight(n: NodeCall, i: int, what: str) -> np.ndarray:
    w = n.static(i)
    if w is None:
        raise n.refuse(f"{n.op} with a computed {what} (only constant weights)")
    return np.asarray(w, dtype=np.float32)


@onnx_op("Gemm", attrs={"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0, "broadcast": 0})
def gemm(n: NodeCall):
    a = n.value(0)
    if len(a.shape) != 2:
        raise n.error(f"A must be 2-D, got shape {dims.fmt_shape(a.shape)}")
    if n.attrs["transA"]:
        a = n.add1("Transpose", [a], {"perm": (1, 0)}, "transA")
    w = _weight(n, 1, "B")
    w = w.T if n.attrs["transB"] else w
    alpha, beta = np.float32(n.attrs["alpha"]), np.float32(n.attrs["beta"])
    if alpha != 1:
        w = w * alpha
    bias, rest = None, None
    if n.has(2):
        c = n.static(2)
        if c is not None and beta != 0 and np.asarray(c).size in (1, w.shape[1]) and np.ndim(c) <= 2 \
                and (np.ndim(c) < 2 or np.shape(c)[0] == 1):
            bias = np.broadcast_to(np.asarray(c, np.float32).reshape(-1) * beta, (w.shape[1],)).copy()
        elif c is not None and beta == 0:
            pass
        else:
            rest = n.value(2)
            if beta != 1:
                rest = n.add1("Binary", [rest, n.const(beta, "beta")], {"fn": "mul"}, "beta")
    y = n.add1("MatMul", [a, n.const(w, "B"), None if bias is None else n.const(bias, "C")],
               suffix="matmul" if rest is not None else "")
    return [y if rest is None else n.add1("Binary", [y, rest], {"fn": "add"})]


@onnx_op("MatMul")
def matmul(n: NodeCall):
    w = _weight(n, 1, "second operand")
    fill = n.inputs[0]
    if isinstance(fill, Fill) and w.ndim == 2 and fill.shape and fill.shape[-1] == w.shape[0]:
        # data @ W stays static data: the dynamo exporter's unrolled RNN applies U to its zero state
        data = np.broadcast_to(fill.value, fill.value.shape[:-1] + (w.shape[0],)) if fill.value.ndim \
            else np.full((w.shape[0],), fill.value, np.float32)
        return [Fill(tuple(fill.shape[:-1]) + (w.shape[1],), np.matmul(data, w, dtype=np.float32))]
    a = n.value(0)
    if w.ndim > 2 or (w.ndim == 2 and w.shape[0] != a.shape[-1] and dims.is_static(a.shape[-1])):
        raise n.refuse(f"MatMul with a constant of shape {w.shape} (only a 2-D right operand)")
    if len(a.shape) == 1:
        a = n.add1("Reshape", [a], {"shape": (1, a.shape[0])}, "row")
        y = n.add1("MatMul", [a, n.const(w.reshape(w.shape[0], -1), "B")], suffix="matmul")
        return [n.add1("Reshape", [y], {"shape": tuple(y.shape[1:]) if w.ndim == 2 else ()})]
    if w.ndim == 1:
        y = n.add1("MatMul", [a, n.const(w.reshape(-1, 1), "B")], suffix="matmul")
        return [n.add1("Reshape", [y], {"shape": tuple(y.shape[:-1])})]
    return [n.add1("MatMul", [a, n.const(w, "B")])]


# ---- convolution and pooling ---------------------------------------------------------------------

def _to_last(n: NodeCall, x, suffix="nhwc"):
    r = len(x.shape)
    return n.add1("Transpose", [x], {"perm": (0,) + tuple(range(2, r)) + (1,)}, suffix)


def _to_first(n: NodeCall, y, suffix=""):
    r = len(y.shape)
    return n.add1("Transpose", [y], {"perm": (0, r - 1) + tuple(range(1, r - 1))}, suffix)


def spatial(n: NodeCall, x, kernel, strides, dilations, ceil_mode=False):
    """Explicit (before, after) pads per spatial dim from ONNX pads / auto_pad (and ceil_mode)."""
    k = len(kernel)
    auto = n.attrs.get("auto_pad", "NOTSET") or "NOTSET"
    pads = list(n.attrs.get("pads") or [0] * (2 * k))
    if len(pads) != 2 * k:
        raise n.error(f"pads {pads} must have {2 * k} entries")
    out = []
    for i in range(k):
        size = x.shape[2 + i]
        reach = dilations[i] * (kernel[i] - 1) + 1
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            total = _same_total(n, size, reach, strides[i])
            lo = total // 2 if auto == "SAME_UPPER" else total - total // 2
            out.append((lo, total - lo))
        elif auto == "VALID":
            out.append((0, 0))
        elif auto == "NOTSET":
            out.append((int(pads[i]), int(pads[i + k])))
        else:
            raise n.refuse(f"auto_pad={auto!r}")
        if ceil_mode:
            out[-1] = _ceil_pads(n, size, reach, strides[i], out[-1])
    return tuple(out)


def _same_total(n: NodeCall, size, reach: int, stride: int) -> int:
    if not dims.is_static(size):
        if stride != 1:
            raise n.error(f"auto_pad SAME with stride {stride} on symbolic dim {size}; fix it with "
                          "--input-shape")
        return reach - 1
    size = dims.evaluate(size, {})
    return max((-(-size // stride) - 1) * stride + reach - size, 0)


def _ceil_pads(n: NodeCall, size, reach: int, stride: int, pad):
    if not dims.is_static(size):
        raise n.error(f"ceil_mode on symbolic dim {size}; fix it with --input-shape")
    padded = dims.evaluate(size, {}) + pad[0] + pad[1]
    count = -(-(padded - reach) // stride) + 1
    if (count - 1) * stride >= dims.evaluate(size, {}) + pad[0]:
        count -= 1          # the last window must start inside the input or its left padding
    extra = max((count - 1) * stride + reach - padded, 0)
    return (pad[0], pad[1] + extra)


@onnx_op("Conv", attrs={"auto_pad": "NOTSET", "dilations": None, "group": 1, "kernel_shape": None,
                        "pads": None, "strides": None})
def conv(n: NodeCall):
    x = n.value(0)
    w = _weight(n, 1, "weight")
    k = w.ndim - 2
    if k not in (1, 2) or len(x.shape) != k + 2:
        raise n.refuse(f"{k}-D Conv (only 1-D and 2-D)")
    if int(n.attrs["group"]) != 1:
        raise n.refuse(f"attribute group={n.attrs['group']} (grouped/depthwise convolution)")
    strides = tuple(n.attrs["strides"] or (1,) * k)
    dilations = tuple(n.attrs["dilations"] or (1,) * k)
    pads = spatial(n, x, w.shape[2:], strides, dilations)
    # ONNX w[F, C, kh, kw] -> IR w[kh, kw, C, F]
    w_ir = np.ascontiguousarray(np.transpose(w, tuple(range(2, k + 2)) + (1, 0)))
    b = n.const(_weight(n, 2, "bias"), "bias") if n.has(2) else None
    y = n.add1("Conv", [_to_last(n, x), n.const(w_ir, "weight"), b],
               {"strides": strides, "dilations": dilations, "pads": pads}, "conv")
    return [_to_first(n, y)]


POOL_ATTRS = {"auto_pad": "NOTSET", "ceil_mode": 0, "dilations": None, "kernel_shape": None, "pads": None,
              "storage_order": 0, "strides": None, "count_include_pad": 0}


@onnx_op("MaxPool", "AveragePool", attrs=POOL_ATTRS)
def pool(n: NodeCall):
    x = n.value(0)
    kernel = tuple(n.attrs["kernel_shape"] or ())
    k = len(kernel)
    if k not in (1, 2) or len(x.shape) != k + 2:
        raise n.refuse(f"{n.op} over {k} spatial dims (only 1-D and 2-D)")
    if any(d != 1 for d in (n.attrs["dilations"] or ())):
        raise n.refuse(f"attribute dilations={n.attrs['dilations']}")
    if n.attrs["storage_order"]:
        raise n.refuse("attribute storage_order=1")
    if len([o for o in n.node.output if o]) > 1:
        raise n.refuse("the Indices output of MaxPool")
    strides = tuple(n.attrs["strides"] or (1,) * k)
    pads = spatial(n, x, kernel, strides, (1,) * k, bool(n.attrs["ceil_mode"]))
    fn = "max" if n.op == "MaxPool" else "avg"
    if fn == "avg" and n.attrs["count_include_pad"] and any(p != (0, 0) for p in pads):
        raise n.refuse("AveragePool with count_include_pad=1 and padding")
    y = n.add1("Pool", [_to_last(n, x)], {"fn": fn, "size": kernel, "strides": strides, "pads": pads}, "pool")
    return [_to_first(n, y)]


@onnx_op("GlobalAveragePool", "GlobalMaxPool")
def global_pool(n: NodeCall):
    x = n.value(0)
    axes = tuple(range(2, len(x.shape)))
    fn = "mean" if n.op == "GlobalAveragePool" else "max"
    return [n.add1("Reduce", [x], {"fn": fn, "axes": axes, "keepdims": True})]


@onnx_op(*REDUCE, attrs={"axes": None, "keepdims": 1, "noop_with_empty_axes": 0})
def reduce(n: NodeCall):
    x = n.value(0)
    axes_from_input = n.opset >= (13 if n.op == "ReduceSum" else 18)
    axes = (n.ints(1, "axes") if n.has(1) else None) if axes_from_input else n.attrs["axes"]
    if not axes:
        if n.attrs["noop_with_empty_axes"]:
            return [n.add1("Identity", [x])]
        axes = range(len(x.shape))
    axes = tuple(sorted({int(a) % max(len(x.shape), 1) for a in axes}))
    if not x.shape:
        return [n.add1("Identity", [x])]
    if any(x.shape[a] == 0 for a in axes):
        raise n.refuse(f"{n.op} over an empty axis (shape {dims.fmt_shape(x.shape)})")
    return [n.add1("Reduce", [x], {"fn": REDUCE[n.op], "axes": axes, "keepdims": bool(n.attrs["keepdims"])})]
