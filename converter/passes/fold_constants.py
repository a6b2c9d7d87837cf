"""fold_constants: evaluate nodes whose inputs are all constants with the op's reference.

Folds are bounded so that the weights do not grow: a fold may produce at most as many elements as its
inputs hold, or ``SMALL_FOLD`` elements, whichever is larger (a Tile or broadcast of a constant stays a
node and is computed at run time).
"""

from __future__ import annotations

import numpy as np

from converter.ir import dims
from converter.passes.rewrite import Context, Rule, apply_rules

SMALL_FOLD = 4096


def _elements(shape) -> int:
    return int(np.prod(shape, dtype=np.int64)) if len(shape) else 1


def all_constant(ctx: Context, node):
    present = [v for v in node.inputs if v is not None]
    if not present or not all(v.is_const for v in present):
        return None
    if not all(dims.is_static(d) for o in node.outputs for d in o.shape):
        return None
    produced = sum(_elements(o.shape) for o in node.outputs)
    if produced > max(sum(v.data.size for v in present), SMALL_FOLD):
        return None
    # a graph output cannot become a constant (it must stay a named tensor the runtime can read)
    if any(ctx.is_output(o) for o in node.outputs):
        return None
    return True


def _fold(ctx: Context, node, _match):
    args = [None if v is None else v.data for v in node.inputs]
    try:
        results = node.opdef.reference(*args, **node.attrs)
    except Exception as e:  # the op rejects its constant inputs: the model itself is invalid
        raise ValueError(f"fold_constants: node {node.name} ({node.op}) fails on its constant inputs: "
                         f"{e}; check the model's weights for this layer") from e
    for out, r in zip(node.outputs, results):
        const = ctx.const(out.name, np.asarray(r), out.dtype)
        ctx.replace(out, const)


RULES = [
    Rule(all_constant, _fold),   # Op(#a, #b, ...) -> #Op(a, b, ...)
]


def fold_constants(graph) -> bool:
    return apply_rules(graph, RULES)
