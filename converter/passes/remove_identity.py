"""remove_identity: drop nodes whose output equals one of their inputs.

Each pattern returns the input that the node's output can be replaced with.
"""

from __future__ import annotations

import numpy as np

from converter.ir import dims
from converter.passes.rewrite import Context, Rule, apply_rules


def _passthrough(ctx: Context, node, value):
    """``value`` when it can stand in for the node's only output, else None."""
    if value is None or len(node.outputs) != 1:
        return None
    return value if ctx.can_replace(node.outputs[0], value) else None


def identity(ctx, node):
    if node.op == "Identity":
        return _passthrough(ctx, node, node.inputs[0])
    return None


def linear_unary(ctx, node):
    if node.op == "Unary" and node.attrs["fn"] == "linear":
        return _passthrough(ctx, node, node.inputs[0])
    return None


def same_shape_reshape(ctx, node):
    x = node.inputs[0]
    if node.op == "Reshape" and tuple(dims.normalize(d) for d in node.attrs["shape"]) == tuple(x.shape):
        return _passthrough(ctx, node, x)
    return None


def same_dtype_cast(ctx, node):
    if node.op == "Cast" and node.attrs["to"] == node.inputs[0].dtype:
        return _passthrough(ctx, node, node.inputs[0])
    return None


def identity_transpose(ctx, node):
    if node.op == "Transpose" and tuple(node.attrs["perm"]) == tuple(range(len(node.inputs[0].shape))):
        return _passthrough(ctx, node, node.inputs[0])
    return None


def unit_tile(ctx, node):
    if node.op == "Tile" and all(r == 1 for r in node.attrs["repeats"]):
        return _passthrough(ctx, node, node.inputs[0])
    return None


def zero_pad(ctx, node):
    if node.op == "Pad" and all(tuple(p) == (0, 0) for p in node.attrs["pads"]):
        return _passthrough(ctx, node, node.inputs[0])
    return None


def single_concat(ctx, node):
    if node.op == "Concat" and len(node.inputs) == 1:
        return _passthrough(ctx, node, node.inputs[0])
    return None


# The neutral constant of each binary fn, and which operand positions may hold it (x - 0 but not 0 - x).
_NEUTRAL = {"add": (0.0, (0, 1)), "sub": (0.0, (1,)), "mul": (1.0, (0, 1)), "div": (1.0, (1,))}


def neutral_binary(ctx, node):
    """Dropout leftovers: scaling by exactly 1 (rate 0) or adding 0 that does not broadcast x."""
    if node.op != "Binary" or node.attrs["fn"] not in _NEUTRAL:
        return None
    neutral, positions = _NEUTRAL[node.attrs["fn"]]
    for pos in positions:
        c, x = node.inputs[pos], node.inputs[1 - pos]
        if c.is_const and not x.is_const and np.all(c.data == neutral):
            found = _passthrough(ctx, node, x)
            if found is not None:
                return found
    return None


def _forward(ctx, node, value):
    ctx.replace(node.outputs[0], value)


RULES = [
    Rule(identity, _forward),             # Identity(x) -> x
    Rule(linear_unary, _forward),         # Unary{linear}(x) -> x
    Rule(same_shape_reshape, _forward),   # Reshape(x[s]){shape=s} -> x
    Rule(same_dtype_cast, _forward),      # Cast(x:t){to=t} -> x
    Rule(identity_transpose, _forward),   # Transpose(x){perm=0..r-1} -> x
    Rule(unit_tile, _forward),            # Tile(x){repeats=1,..,1} -> x
    Rule(zero_pad, _forward),             # Pad(x){pads=(0,0),..} -> x
    Rule(single_concat, _forward),        # Concat(x) -> x
    Rule(neutral_binary, _forward),       # x*1, 1*x, x/1, x+0, 0+x, x-0 (no broadcast) -> x
]


def remove_identity(graph) -> bool:
    return apply_rules(graph, RULES)
