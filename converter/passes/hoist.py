"""hoist_input_projection: the input projection of a recurrent layer as one MatMul over all time steps.

``x @ W + b`` does not depend on the state, so it runs as one large MatMul (fast on every backend) and
only ``h @ U`` stays inside the sequential recurrence. GRU with ``reset_after`` keeps its recurrent bias
``rb`` in the recurrence (it is multiplied by the reset gate there).
"""

from __future__ import annotations

from converter.ops import registry
from converter.passes.rewrite import Context, Rule, apply_rules

# op -> (recurrence op, input positions that move to the recurrence after xw and U)
RECURRENCES = {
    "LSTM": ("LSTMRecurrence", ("h0", "c0", "mask")),
    "GRU": ("GRURecurrence", ("rb", "h0", "mask")),
    "SimpleRNN": ("SimpleRNNRecurrence", ("h0", "mask")),
}
CANONICAL = {"LSTM": "ifco", "GRU": "zrh"}


def _named_inputs(node) -> dict:
    names = [n.rstrip("?") for n in node.opdef.inputs]
    return dict(zip(names, node.inputs))


def recurrent_layer(ctx: Context, node):
    """LSTM/GRU/SimpleRNN in canonical gate order (fuse_gates runs first for other layouts)."""
    if node.op not in RECURRENCES:
        return None
    if node.op in CANONICAL and node.attrs["gate_layout"] != CANONICAL[node.op]:
        return None
    return True


def _hoist(ctx: Context, node, _match):
    rec_op, moved = RECURRENCES[node.op]
    args = _named_inputs(node)
    xw = ctx.insert(node, "MatMul", [args["x"], args["W"], args["b"]], {}, node.name + "_xw")[0]
    rec_def = registry.get(rec_op)
    attrs = {k: v for k, v in node.attrs.items() if k in rec_def.attrs}
    outs = ctx.insert(node, rec_op, [xw, args["U"]] + [args[m] for m in moved], attrs, node.name)
    for old, new in zip(node.outputs, outs):
        ctx.replace(old, new)


RULES = [
    Rule(recurrent_layer, _hoist),  # LSTM(x, W, U, b, ..) -> LSTMRecurrence(MatMul(x, W, b), U, ..)
]


def hoist_input_projection(graph) -> bool:
    return apply_rules(graph, RULES)
