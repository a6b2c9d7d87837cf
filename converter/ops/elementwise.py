"""Elementwise ops: Unary, Binary, Where, FusedElementwise, Softmax, Cast, Identity."""

from __future__ import annotations

import re

import numpy as np

from converter.ops.activations import ACTIVATIONS, BINARY_FNS, ELEMENTWISE_FNS
from converter.ops.common import broadcast, fail, fmt, need_attr, need_dtype, norm_axis
from converter.ops.registry import register

_ARG = re.compile(r"^(in|t)(\d+)$")


@register("Unary", inputs=("x",), attrs={"fn": None, "alpha": 0.0, "beta": 0.0}, elementwise=True)
class Unary:
    """y = fn(x, alpha, beta) with fn from ACTIVATIONS (most ignore beta, many alpha)."""

    def infer(x, *, attrs):
        fn = need_attr("Unary", attrs, "fn")
        if fn not in ACTIVATIONS:
            fail("Unary", f"unknown fn {fn!r}; known: {', '.join(sorted(ACTIVATIONS))}")
        need_dtype("Unary", "x", x, "float32")
        return [("float32", x.shape)]

    def reference(x, *, fn, alpha, beta):
        return (ACTIVATIONS[fn](x, alpha, beta),)


@register("Binary", inputs=("a", "b"), attrs={"fn": None}, elementwise=True)
class Binary:
    """y = fn(a, b) with numpy broadcasting; fn in add, sub, mul, div, max, min."""

    def infer(a, b, *, attrs):
        fn = need_attr("Binary", attrs, "fn")
        if fn not in BINARY_FNS:
            fail("Binary", f"unknown fn {fn!r}; known: {', '.join(sorted(BINARY_FNS))}")
        if a.dtype != b.dtype:
            fail("Binary", f"{fn} of {fmt(a)} and {fmt(b)}: dtypes differ; insert a Cast")
        if fn == "div":
            need_dtype("Binary", "div operands", a, "float32")
        return [(a.dtype, broadcast("Binary", a.shape, b.shape))]

    def reference(a, b, *, fn):
        return (np.asarray(BINARY_FNS[fn](a, b), dtype=np.result_type(a, b)),)


@register("Where", inputs=("cond", "x", "y"), attrs={})
class Where:
    """x where cond != 0 else y, numpy broadcasting; cond float32 (0/1; NaN counts as true, -0 as false)
    or int32. A pure select: NaN/inf in the branch not taken never reaches the output."""

    def infer(cond, x, y, *, attrs):
        need_dtype("Where", "cond", cond, "float32", "int32")
        if x.dtype != y.dtype:
            fail("Where", f"x {fmt(x)} and y {fmt(y)}: dtypes differ; insert a Cast")
        return [(x.dtype, broadcast("Where", cond.shape, x.shape, y.shape))]

    def reference(cond, x, y):
        return (np.where(np.asarray(cond) != 0, x, y).astype(np.asarray(x).dtype),)


def parse_step(step, n_inputs: int, index: int):
    """Split a FusedElementwise step into (fn, args, (alpha, beta)); check names and argument references."""
    step = tuple(step)
    if not step or step[0] not in ELEMENTWISE_FNS:
        fail("FusedElementwise", f"step {index} {step!r}: unknown fn; known: {sorted(ELEMENTWISE_FNS)}")
    arity = ELEMENTWISE_FNS[step[0]][0]
    if len(step) not in (1 + arity, 2 + arity, 3 + arity) or (arity == 2 and len(step) != 3):
        fail("FusedElementwise", f"step {index} {step!r}: {step[0]} takes {arity} args"
                                 + (" and optional alpha, beta" if arity == 1 else ""))
    args = step[1:1 + arity]
    for a in args:
        m = _ARG.match(str(a))
        limit = n_inputs if m and m.group(1) == "in" else index
        if not m or int(m.group(2)) >= limit:
            fail("FusedElementwise", f"step {index} {step!r}: argument {a!r} is not in<k> (k < {n_inputs})"
                                     f" or t<j> (j < {index})")
    params = tuple(float(p) for p in step[1 + arity:])
    return step[0], args, ((params + (0.0,) * (2 - len(params))) if arity == 1 else ())


@register("FusedElementwise", inputs=("xs*",), attrs={"program": None}, elementwise=True)
class FusedElementwise:
    """A chain of elementwise steps (fn, arg[, arg][, alpha[, beta]]); the last step's result is the output.

    Args are "in<k>" (k-th input) or "t<j>" (result of step j). Unary fns take one arg and the optional
    alpha and beta; binary fns take two args. Inputs broadcast like numpy; the output has the broadcast shape
    of all inputs.
    """

    def infer(*xs, attrs):
        program = need_attr("FusedElementwise", attrs, "program")
        if not xs or not program:
            fail("FusedElementwise", "needs at least one input and one step")
        for x in xs:
            need_dtype("FusedElementwise", "every input", x, "float32")
        for i, step in enumerate(program):
            parse_step(step, len(xs), i)
        return [("float32", broadcast("FusedElementwise", *(x.shape for x in xs)))]

    def reference(*xs, program):
        results = []
        for i, step in enumerate(program):
            fn, args, params = parse_step(step, len(xs), i)
            vals = [xs[int(a[2:])] if a.startswith("in") else results[int(a[1:])] for a in args]
            f = ELEMENTWISE_FNS[fn][1]
            results.append(np.asarray(f(*vals, *params), dtype=np.float32))
        shape = np.broadcast_shapes(*(np.shape(x) for x in xs))
        return (np.broadcast_to(results[-1], shape),)


@register("Softmax", inputs=("x",), attrs={"axis": -1})
class Softmax:
    """exp(x - max) / sum(exp(x - max)) along axis."""

    def infer(x, *, attrs):
        need_dtype("Softmax", "x", x, "float32")
        norm_axis("Softmax", attrs["axis"], len(x.shape))
        return [("float32", x.shape)]

    def reference(x, *, axis):
        if x.size == 0:
            return (x.astype(np.float32),)
        with np.errstate(all="ignore"):
            e = np.exp(x - np.max(x, axis=axis, keepdims=True))
            return ((e / np.sum(e, axis=axis, keepdims=True)).astype(np.float32),)


@register("Cast", inputs=("x",), attrs={"to": None}, elementwise=True)
class Cast:
    """float32 <-> int32; float -> int truncates toward zero (as Keras' cast)."""

    def infer(x, *, attrs):
        to = need_attr("Cast", attrs, "to")
        if to not in ("float32", "int32"):
            fail("Cast", f"to must be float32 or int32, got {to!r}")
        return [(to, x.shape)]

    def reference(x, *, to):
        if to == "int32" and np.issubdtype(x.dtype, np.floating):
            with np.errstate(all="ignore"):
                return (np.trunc(x).astype(np.int32),)
        return (x.astype(to),)


@register("Identity", inputs=("x",), attrs={}, elementwise=True)
class Identity:
    """y = x (dropout, noise and other training-only layers)."""

    def infer(x, *, attrs):
        return [(x.dtype, x.shape)]

    def reference(x):
        return (x,)
