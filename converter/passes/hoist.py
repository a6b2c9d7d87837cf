"""hoist_input_projection: the input projection of a recurrent layer as one MatMul over all time steps.

``x @ W + b`` does not depend on the state, so it runs as one large MatMul (fast on every backend) and
only ``h @ U`` stays inside the sequential recurrence. GRU with ``reset_after`` keeps its recurrent bias
``rb`` in the recurrence (it is multiplied by the reset gate there). What moves to the hoisted op is the
cell descriptor's ``carried`` inputs (``converter/ops/recurrent.py``).
"""

from __future__ import annotations

from converter.ops import registry
from converter.ops.recurrent import cell_of
from converter.passes.rewrite import Context, Rule, apply_rules


def recurrent_layer(ctx: Context, node):
    """A full recurrent op in canonical gate order (fuse_gates runs first for other layouts)."""
    cell = cell_of(node.op)
    if cell is None or node.op != cell.op:
        return None
    if node.attrs.get("gate_layout", cell.layout) != cell.layout:
        return None
    return cell


def _hoist(ctx: Context, node, cell):
    xw = ctx.insert(node, "MatMul", [node.input("x"), node.input("W"), node.input("b")], {},
                    node.name + "_xw")[0]
    rec_attrs = registry.get(cell.recurrence).attrs
    attrs = {k: v for k, v in node.attrs.items() if k in rec_attrs}
    inputs = [xw, node.input("U")] + [node.input(n) for n in cell.carried]
    outs = ctx.insert(node, cell.recurrence, inputs, attrs, node.name)
    for old, new in zip(node.outputs, outs):
        ctx.replace(old, new)


RULES = [
    Rule(recurrent_layer, _hoist),  # LSTM(x, W, U, b, ..) -> LSTMRecurrence(MatMul(x, W, b), U, ..)
]


def hoist_input_projection(graph) -> bool:
    return apply_rules(graph, RULES)
