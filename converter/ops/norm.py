"""Normalization: LayerNorm (BatchNormalization is folded by frontends into Binary mul + add)."""

from __future__ import annotations

import numpy as np

from converter.ops.common import check_dim, fail, fmt, need_dtype, norm_axis
from converter.ops.registry import register


@register("LayerNorm", inputs=("x", "gamma?", "beta?"), attrs={"axes": (-1,), "epsilon": 1e-3})
class LayerNorm:
    """y = (x - mean) / sqrt(var + epsilon) * gamma + beta over ``axes`` (biased variance, as Keras).

    gamma and beta have the shape of x's normalized axes, in axis order (Keras: [C] for axes=(-1,)).
    """

    def infer(x, gamma, beta, *, attrs):
        need_dtype("LayerNorm", "x", x, "float32")
        axes = _axes(attrs["axes"], len(x.shape))
        want = tuple(x.shape[a] for a in axes)
        for what, info in (("gamma", gamma), ("beta", beta)):
            if info is None:
                continue
            need_dtype("LayerNorm", what, info, "float32")
            if len(info.shape) != len(want):
                fail("LayerNorm", f"{what} {fmt(info)} must have the shape of x's axes {axes}: {want}")
            for got, exp in zip(info.shape, want):
                check_dim("LayerNorm", f"{what} shape {fmt(info)}", got, exp)
        return [("float32", x.shape)]

    def reference(x, gamma, beta, *, axes, epsilon):
        axes = _axes(axes, x.ndim)
        mean = np.mean(x, axis=axes, keepdims=True)
        var = np.mean(np.square(x - mean), axis=axes, keepdims=True)
        y = (x - mean) / np.sqrt(var + np.float32(epsilon))
        shape = [x.shape[i] if i in axes else 1 for i in range(x.ndim)]
        if gamma is not None:
            y = y * gamma.reshape(shape)
        if beta is not None:
            y = y + beta.reshape(shape)
        return (y.astype(np.float32),)


def _axes(axes, rank) -> tuple:
    if not axes:
        fail("LayerNorm", "axes must name at least one axis")
    return tuple(sorted({norm_axis("LayerNorm", a, rank) for a in axes}))
