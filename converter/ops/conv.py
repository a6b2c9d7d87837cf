"""Convolution and pooling, channels last: 1D x[B, W, C] and 2D x[B, H, W, C], explicit pads.

A symbolic spatial dim L gives the derived output dim (L + pad_total - reach) / stride + 1 (floor
division; converter/ir/dims.py), which is L itself for Keras "same" padding with stride 1.
"""

from __future__ import annotations

import itertools

import numpy as np

from converter.ir import dims
from converter.ops.activations import ACTIVATIONS
from converter.ops.common import check_dim, fail, fmt, need_attr, need_dtype, need_rank
from converter.ops.linear import check_activation
from converter.ops.registry import register

CONV_ATTRS = {"strides": None, "dilations": None, "pads": None, "activation": "linear", "alpha": 0.0}
POOL_FNS = ("max", "avg")


def spatial_attrs(op: str, n: int, strides, dilations, pads):
    """Normalize strides/dilations/pads for n spatial dims (None = 1s / no padding; ints broadcast)."""
    def per_dim(value, default, what):
        value = (default,) * n if value is None else value
        value = (value,) * n if isinstance(value, int) else tuple(value)
        if len(value) != n:
            fail(op, f"{what} {value} must have {n} entries (one per spatial dim)")
        return value
    strides = tuple(int(s) for s in per_dim(strides, 1, "strides"))
    dilations = tuple(int(d) for d in per_dim(dilations, 1, "dilations"))
    pads = tuple((int(p[0]), int(p[1])) for p in per_dim(pads, (0, 0), "pads"))
    if min(strides + dilations) < 1 or min(p for pair in pads for p in pair) < 0:
        fail(op, f"strides {strides} and dilations {dilations} must be >= 1, pads {pads} >= 0")
    return strides, dilations, pads


def out_dim(op: str, dim, kernel: int, stride: int, dilation: int, pad) -> dims.Dim:
    reach = dilation * (kernel - 1) + 1
    if not dims.is_static(dim):
        # valid only once L + pads >= reach, which the runtime cannot know before the input arrives
        return dims.normalize(f"({dims.normalize(dim)}+{sum(pad)}-{reach})/{stride}+1")
    size = dims.evaluate(dim, {}) + sum(pad) - reach
    if size < 0:
        fail(op, f"window {reach} is larger than the padded input {dims.evaluate(dim, {}) + sum(pad)}")
    return size // stride + 1


def windows(x, kernel, strides, dilations, pads, fill):
    """Yield (kernel offset, strided window view) for each kernel position; x is padded with ``fill``."""
    n = len(kernel)
    xp = np.pad(x, ((0, 0),) + tuple(pads) + ((0, 0),), constant_values=fill)
    outs = [(xp.shape[1 + i] - dilations[i] * (kernel[i] - 1) - 1) // strides[i] + 1 for i in range(n)]
    for offset in itertools.product(*(range(k) for k in kernel)):
        index = tuple(slice(o * d, o * d + (m - 1) * s + 1, s)
                      for o, d, m, s in zip(offset, dilations, outs, strides))
        yield offset, xp[(slice(None),) + index]


@register("Conv", inputs=("x", "w", "b?"), attrs=CONV_ATTRS)
class Conv:
    """y = activation(conv(x, w) + b); w[K, C, F] (1D) or w[KH, KW, C, F] (2D), cross-correlation."""

    def infer(x, w, b, *, attrs):
        need_rank("Conv", "x", x, 3, 4)
        n = len(x.shape) - 2
        need_rank("Conv", "w", w, n + 2)
        for what, info in (("x", x), ("w", w), ("b", b)):
            if info is not None:
                need_dtype("Conv", what, info, "float32")
        check_dim("Conv", f"w's input channels (x {fmt(x)}, w {fmt(w)})", w.shape[n], x.shape[-1])
        if b is not None:
            need_rank("Conv", "b", b, 1)
            check_dim("Conv", "b's length", b.shape[0], w.shape[-1])
        check_activation("Conv", attrs["activation"])
        strides, dilations, pads = spatial_attrs("Conv", n, attrs["strides"], attrs["dilations"],
                                                 attrs["pads"])
        kernel = [dims.evaluate(k, {}) for k in w.shape[:n]]
        spatial = tuple(out_dim("Conv", x.shape[1 + i], kernel[i], strides[i], dilations[i], pads[i])
                        for i in range(n))
        return [("float32", (x.shape[0],) + spatial + (w.shape[-1],))]

    def reference(x, w, b, *, strides, dilations, pads, activation, alpha):
        n = x.ndim - 2
        strides, dilations, pads = spatial_attrs("Conv", n, strides, dilations, pads)
        y = None
        for offset, window in windows(x, w.shape[:n], strides, dilations, pads, 0.0):
            term = np.matmul(window, w[offset], dtype=np.float32)
            y = term if y is None else y + term
        if b is not None:
            y = y + b
        return (ACTIVATIONS[activation](y, alpha),)


@register("Pool", inputs=("x",), attrs={"fn": None, "size": None, "strides": None, "pads": None})
class Pool:
    """max or avg over windows of ``size`` (strides default to size); avg counts non-pad elements only."""

    def infer(x, *, attrs):
        need_rank("Pool", "x", x, 3, 4)
        need_dtype("Pool", "x", x, "float32")
        if need_attr("Pool", attrs, "fn") not in POOL_FNS:
            fail("Pool", f"unknown fn {attrs['fn']!r}; use one of {POOL_FNS}")
        n = len(x.shape) - 2
        size, strides, pads = pool_attrs(n, attrs["size"], attrs["strides"], attrs["pads"])
        spatial = tuple(out_dim("Pool", x.shape[1 + i], size[i], strides[i], 1, pads[i]) for i in range(n))
        return [("float32", (x.shape[0],) + spatial + (x.shape[-1],))]

    def reference(x, *, fn, size, strides, pads):
        n = x.ndim - 2
        size, strides, pads = pool_attrs(n, size, strides, pads)
        ones = (1,) * n
        if fn == "max":
            views = [v for _, v in windows(x, size, strides, ones, pads, -np.inf)]
            return (np.maximum.reduce(views).astype(np.float32),)
        total = sum(v for _, v in windows(x, size, strides, ones, pads, 0.0))
        mask = np.ones((1,) + x.shape[1:-1] + (1,), np.float32)
        count = sum(v for _, v in windows(mask, size, strides, ones, pads, 0.0))
        return ((total / count).astype(np.float32),)


def pool_attrs(n, size, strides, pads):
    size = need_attr("Pool", {"size": size}, "size")
    size = (int(size),) * n if isinstance(size, int) else tuple(int(s) for s in size)
    if len(size) != n or min(size) < 1:
        fail("Pool", f"size {size} must give n={n} window sizes >= 1")
    strides, _, pads = spatial_attrs("Pool", n, size if strides is None else strides, None, pads)
    return size, strides, pads
