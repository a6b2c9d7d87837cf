"""Linear and lookup ops: MatMul (Dense) and Gather (Embedding)."""

from __future__ import annotations

import numpy as np

from converter.ops.activations import ACTIVATIONS
from converter.ops.common import check_dim, fail, fmt, need_dtype, need_rank
from converter.ops.registry import register


def check_activation(op: str, name: str) -> None:
    if name not in ACTIVATIONS:
        fail(op, f"unknown activation {name!r}; known: {', '.join(sorted(ACTIVATIONS))}")


@register("MatMul", inputs=("x", "w", "b?"), attrs={"activation": "linear", "alpha": 0.0})
class MatMul:
    """y = activation(x @ w + b, alpha); x[..., K], w[K, N], b[N] -> y[..., N]."""

    def infer(x, w, b, *, attrs):
        for what, info in (("x", x), ("w", w), ("b", b)):
            if info is not None:
                need_dtype("MatMul", what, info, "float32")
        if len(x.shape) < 1:
            fail("MatMul", f"x must have rank >= 1, got {fmt(x)}")
        need_rank("MatMul", "w", w, 2)
        check_dim("MatMul", f"x's last dim (x {fmt(x)}, w {fmt(w)})", x.shape[-1], w.shape[0])
        if b is not None:
            need_rank("MatMul", "b", b, 1)
            check_dim("MatMul", "b's length", b.shape[0], w.shape[1])
        check_activation("MatMul", attrs["activation"])
        return [("float32", tuple(x.shape[:-1]) + (w.shape[1],))]

    def reference(x, w, b, *, activation, alpha):
        y = np.matmul(x, w, dtype=np.float32) if x.size else np.zeros(x.shape[:-1] + w.shape[1:], np.float32)
        if b is not None:
            y = y + b
        return (ACTIVATIONS[activation](y, alpha),)


@register("Gather", inputs=("table", "idx"), attrs={})
class Gather:
    """y[..., :] = table[idx[...], :]; indices outside [0, V) are an error."""

    def infer(table, idx, *, attrs):
        need_rank("Gather", "table", table, 2)
        need_dtype("Gather", "idx", idx, "int32")
        return [(table.dtype, tuple(idx.shape) + (table.shape[1],))]

    def reference(table, idx):
        idx = np.asarray(idx)
        bad = (idx < 0) | (idx >= table.shape[0])
        if np.any(bad):
            raise IndexError(f"Gather: index {int(idx[bad].flat[0])} is outside [0, {table.shape[0]}); "
                             f"check the model's input ids against the embedding size")
        return (table[idx],)
