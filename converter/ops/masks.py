"""Masks and reductions: NotEqualMask (Keras Masking / Embedding mask_zero) and Reduce (global pooling)."""

from __future__ import annotations

import numpy as np

from converter.ops.common import check_dim, fail, fmt, need_dtype, norm_axis
from converter.ops.registry import register

REDUCE_FNS = ("mean", "max", "sum")


@register("NotEqualMask", inputs=("x",), attrs={"value": 0.0, "reduce_last": False})
class NotEqualMask:
    """float32 (x != value); with reduce_last, any over the last axis (Keras Masking). NaN != value."""

    def infer(x, *, attrs):
        if attrs["reduce_last"]:
            if not x.shape:
                fail("NotEqualMask", f"reduce_last needs rank >= 1, got {fmt(x)}")
            return [("float32", tuple(x.shape[:-1]))]
        return [("float32", x.shape)]

    def reference(x, *, value, reduce_last):
        ne = np.asarray(x) != np.asarray(value, dtype=np.asarray(x).dtype)
        if reduce_last:
            ne = np.any(ne, axis=-1)
        return (ne.astype(np.float32),)


@register("Reduce", inputs=("x", "mask?"), attrs={"fn": "mean", "axes": (1,), "keepdims": False})
class Reduce:
    """fn over axes. With mask[B, T] (axes must be (1,)): mean = sum(x*m)/sum(m) (NaN when every step
    is masked, as Keras), sum = sum(x*m), max = max over the unmasked steps (-inf when none)."""

    def infer(x, mask, *, attrs):
        if attrs["fn"] not in REDUCE_FNS:
            fail("Reduce", f"unknown fn {attrs['fn']!r}; use one of {REDUCE_FNS}")
        rank = len(x.shape)
        axes = sorted({norm_axis("Reduce", a, rank) for a in attrs["axes"]})
        if mask is not None:
            need_dtype("Reduce", "x with a mask", x, "float32")
            need_dtype("Reduce", "mask", mask, "float32")
            if axes != [1] or len(mask.shape) != 2 or rank < 2:
                fail("Reduce", f"a mask needs axes=(1,) and mask[B, T]; got axes {attrs['axes']}, "
                               f"x {fmt(x)}, mask {fmt(mask)}")
            check_dim("Reduce", f"mask {fmt(mask)} vs x {fmt(x)}", mask.shape[0], x.shape[0])
            check_dim("Reduce", f"mask {fmt(mask)} vs x {fmt(x)}", mask.shape[1], x.shape[1])
        if attrs["keepdims"]:
            shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        else:
            shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        return [(x.dtype, shape)]

    def reference(x, mask, *, fn, axes, keepdims):
        axes = tuple(sorted({a % x.ndim for a in axes}))
        with np.errstate(all="ignore"):
            if mask is None:
                if fn == "max" and any(x.shape[a] == 0 for a in axes):
                    fail("Reduce", f"max over an empty axis of shape {x.shape}")
                return (getattr(np, fn)(x, axis=axes, keepdims=keepdims).astype(x.dtype),)
            m = mask.reshape(mask.shape + (1,) * (x.ndim - 2)).astype(np.float32)
            if fn == "max":
                masked = np.where(m != 0, x, np.float32(-np.inf))
                return (np.max(masked, axis=1, keepdims=keepdims, initial=-np.inf).astype(np.float32),)
            total = np.sum(x * m, axis=1, keepdims=keepdims)
            if fn == "sum":
                return (total.astype(np.float32),)
            return ((total / np.sum(m, axis=1, keepdims=keepdims)).astype(np.float32),)


@register("LengthMask", inputs=("lengths", "like"), attrs={})
class LengthMask:
    """float32 mask[b, t] = t < lengths[b] for like[B, T, ...] (only like's shape is used; T may be
    symbolic). Lengths outside [0, T] give all-zero / all-one rows (ONNX sequence_lens, Chainer NStep)."""

    def infer(lengths, like, *, attrs):
        need_dtype("LengthMask", "lengths", lengths, "int32")
        if len(lengths.shape) != 1 or len(like.shape) < 2:
            fail("LengthMask", f"needs lengths[B] and like[B, T, ...]; got lengths {fmt(lengths)}, "
                               f"like {fmt(like)}")
        check_dim("LengthMask", f"lengths {fmt(lengths)} vs like {fmt(like)}", lengths.shape[0],
                  like.shape[0])
        return [("float32", (like.shape[0], like.shape[1]))]

    def reference(lengths, like):
        steps = np.arange(like.shape[1], dtype=np.int64)
        return ((steps[None, :] < np.asarray(lengths, np.int64)[:, None]).astype(np.float32),)
