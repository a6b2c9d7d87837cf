"""Layout clean-up after an ONNX import, as rewrite rules (converter/passes/rewrite.py).

ONNX convolutions and pooling are channels first, the IR's channels last, so every Conv/Pool arrives
wrapped in Transposes, and time-major recurrent ops ([T, B, D]) in Transposes too. These rules sink a
Transpose through the elementwise ops and reductions after it, until it meets the next op's opposite
Transpose and both vanish; a Transpose that only moves unit dims becomes a Reshape, and Reshape chains
collapse. Every rule is exact (it reorders the same float32 operations).
"""

from __future__ import annotations

import numpy as np

from converter.ir import dims
from converter.passes.rewrite import Context, Rule, apply_rules


def _from_transpose(ctx: Context, value):
    """The Transpose producing ``value`` when nothing else reads it."""
    p = value.producer if value is not None else None
    if p is None or p.op != "Transpose" or ctx.single_user(value) is None:
        return None
    return p


def double_transpose(ctx, node):
    if node.op != "Transpose":
        return None
    inner = node.inputs[0].producer
    return inner if inner is not None and inner.op == "Transpose" else None


def _compose(ctx, node, inner):
    p1, p2 = inner.attrs["perm"], node.attrs["perm"]
    y = ctx.insert(node, "Transpose", [inner.inputs[0]], {"perm": tuple(p1[k] for k in p2)})[0]
    ctx.replace(node.outputs[0], y)


def unary_after_transpose(ctx, node):
    if node.op not in ("Unary", "Cast", "Identity"):
        return None
    return _from_transpose(ctx, node.inputs[0])


def _sink_unary(ctx, node, t):
    y = ctx.insert(node, node.op, [t.inputs[0]], dict(node.attrs))[0]
    ctx.replace(node.outputs[0], ctx.insert(node, "Transpose", [y], dict(t.attrs))[0])


def binary_after_transpose(ctx, node):
    """Binary(Transpose(x), #c) with c of no higher rank: the constant is permuted instead."""
    if node.op != "Binary":
        return None
    for pos in (0, 1):
        t, c = _from_transpose(ctx, node.inputs[pos]), node.inputs[1 - pos]
        if t is not None and c.is_const and c.data.ndim <= len(t.attrs["perm"]):
            return pos, t
    return None


def _sink_binary(ctx, node, match):
    pos, t = match
    perm = t.attrs["perm"]
    c = node.inputs[1 - pos].data
    c = c.reshape((1,) * (len(perm) - c.ndim) + c.shape).transpose(np.argsort(perm))
    const = ctx.const(node.inputs[1 - pos].name + "_t", np.ascontiguousarray(c), node.inputs[1 - pos].dtype)
    args = [t.inputs[0], const] if pos == 0 else [const, t.inputs[0]]
    y = ctx.insert(node, "Binary", args, dict(node.attrs))[0]
    ctx.replace(node.outputs[0], ctx.insert(node, "Transpose", [y], dict(t.attrs))[0])


def reduce_after_transpose(ctx, node):
    if node.op != "Reduce" or node.inputs[1] is not None or not node.attrs["keepdims"]:
        return None
    return _from_transpose(ctx, node.inputs[0])


def _sink_reduce(ctx, node, t):
    perm = t.attrs["perm"]
    axes = tuple(sorted(perm[a % len(perm)] for a in node.attrs["axes"]))
    y = ctx.insert(node, "Reduce", [t.inputs[0], None], {**node.attrs, "axes": axes})[0]
    ctx.replace(node.outputs[0], ctx.insert(node, "Transpose", [y], dict(t.attrs))[0])


def unit_transpose(ctx, node):
    """A Transpose whose non-unit axes keep their order is a Reshape."""
    if node.op != "Transpose":
        return None
    shape = node.inputs[0].shape
    moved = [a for a in node.attrs["perm"] if dims.normalize(shape[a]) != 1]
    return True if moved == sorted(moved) else None


def _to_reshape(ctx, node, _match):
    y = ctx.insert(node, "Reshape", [node.inputs[0]], {"shape": tuple(node.outputs[0].shape)})[0]
    ctx.replace(node.outputs[0], y)


def double_reshape(ctx, node):
    if node.op != "Reshape":
        return None
    inner = node.inputs[0].producer
    return inner if inner is not None and inner.op == "Reshape" else None


def _collapse_reshape(ctx, node, inner):
    y = ctx.insert(node, "Reshape", [inner.inputs[0]], dict(node.attrs))[0]
    ctx.replace(node.outputs[0], y)


def _non_unit(shape) -> list:
    return [d for d in shape if dims.normalize(d) != 1]


def unit_reshape_after_transpose(ctx, node):
    """Reshape(Transpose(x)) that only drops or adds unit dims, when x has unit dims: the Transpose can
    act on x without them (time-major recurrent outputs: [B,T,1,H] -> [T,1,B,H] -> [T,B,H])."""
    if node.op != "Reshape":
        return None
    t = _from_transpose(ctx, node.inputs[0])
    if t is None:
        return None
    x = t.inputs[0]
    if len(_non_unit(x.shape)) == len(x.shape):
        return None
    if _non_unit(node.inputs[0].shape) != _non_unit(node.outputs[0].shape):
        return None
    return t


def _transpose_without_units(ctx, node, t):
    x, perm = t.inputs[0], t.attrs["perm"]
    kept = [a for a in range(len(x.shape)) if dims.normalize(x.shape[a]) != 1]
    squeezed = ctx.insert(node, "Reshape", [x], {"shape": tuple(x.shape[a] for a in kept)})[0]
    order = [kept.index(a) for a in perm if a in kept]
    moved = ctx.insert(node, "Transpose", [squeezed], {"perm": tuple(order)})[0]
    ctx.replace(node.outputs[0], ctx.insert(node, "Reshape", [moved], dict(node.attrs))[0])


def _groups(shape, target):
    """Consecutive groups of ``shape``'s axes whose sizes multiply to ``target``'s dims, or None."""
    groups, start = [], 0
    for want in target:
        end, size = start, 1
        while end < len(shape) and dims.normalize(size) != dims.normalize(want):
            size = dims.mul(size, shape[end])
            end += 1
        if dims.normalize(size) != dims.normalize(want) or end == start:
            return None
        groups.append(list(range(start, end)))
        start = end
    return groups if start == len(shape) else None


def merging_reshape_after_transpose(ctx, node):
    """Reshape(Transpose(x)) merging output axes that are consecutive in x too (a bidirectional
    layer's [T, B, 2, H] -> [T, B, 2H]): merge them in x first, then transpose the groups."""
    if node.op != "Reshape":
        return None
    t = _from_transpose(ctx, node.inputs[0])
    if t is None or 1 in [dims.normalize(d) for d in node.inputs[0].shape]:
        return None
    groups = _groups(node.inputs[0].shape, node.outputs[0].shape)
    if groups is None or all(len(g) == 1 for g in groups):
        return None
    perm = t.attrs["perm"]
    sources = [[perm[a] for a in g] for g in groups]
    if any(src != list(range(src[0], src[0] + len(src))) for src in sources):
        return None
    return t, sources


def _merge_then_transpose(ctx, node, match):
    t, sources = match
    x = t.inputs[0]
    by_start = sorted(range(len(sources)), key=lambda k: sources[k][0])
    merged = tuple(dims.size([x.shape[a] for a in sources[k]]) for k in by_start)
    y = ctx.insert(node, "Reshape", [x], {"shape": merged})[0]
    perm = tuple(by_start.index(k) for k in range(len(sources)))
    ctx.replace(node.outputs[0], ctx.insert(node, "Transpose", [y], {"perm": perm})[0])


def bias_after_matmul(ctx, node):
    """Binary add(MatMul(x, w), #b[N]) -> MatMul(x, w, b): the bias Gemm/Linear exports keep apart."""
    if node.op != "Binary" or node.attrs["fn"] != "add":
        return None
    for pos in (0, 1):
        m, b = node.inputs[pos].producer, node.inputs[1 - pos]
        if (m is not None and m.op == "MatMul" and m.inputs[2] is None and m.attrs["activation"] == "linear"
                and ctx.single_user(node.inputs[pos]) is node and b.is_const
                and b.data.reshape(-1).shape[0] == dims.evaluate(m.inputs[1].shape[1], {})
                and b.data.ndim <= len(m.outputs[0].shape)
                and tuple(node.outputs[0].shape) == tuple(m.outputs[0].shape)):
            return m, b
    return None


def _fold_bias(ctx, node, match):
    m, b = match
    bias = ctx.const(b.name + "_bias", np.ascontiguousarray(b.data.reshape(-1)), "float32")
    y = ctx.insert(node, "MatMul", [m.inputs[0], m.inputs[1], bias], dict(m.attrs))[0]
    ctx.replace(node.outputs[0], y)


RULES = [
    Rule(double_transpose, _compose),                # Transpose(Transpose(x, p1), p2) -> Transpose(x, p1.p2)
    Rule(unit_transpose, _to_reshape),               # Transpose moving only unit dims -> Reshape
    Rule(double_reshape, _collapse_reshape),         # Reshape(Reshape(x)) -> Reshape(x)
    Rule(unit_reshape_after_transpose, _transpose_without_units),  # R(T(x)) -> R(T(R(x))), units out
    Rule(merging_reshape_after_transpose, _merge_then_transpose),   # R(T(x)) -> T(R(x)), merged axes
    Rule(unary_after_transpose, _sink_unary),        # f(Transpose(x)) -> Transpose(f(x))
    Rule(binary_after_transpose, _sink_binary),      # Transpose(x) op #c -> Transpose(x op #c')
    Rule(reduce_after_transpose, _sink_reduce),      # Reduce(Transpose(x)) -> Transpose(Reduce(x))
    Rule(bias_after_matmul, _fold_bias),             # MatMul(x, w) + #b -> MatMul(x, w, b)
]


def simplify(graph) -> bool:
    # with remove_identity's rules in the same sweeps: an identity Reshape left between two Transposes
    # must go before the pair can cancel
    from converter.passes.remove_identity import RULES as IDENTITY_RULES
    return apply_rules(graph, list(IDENTITY_RULES) + RULES)
