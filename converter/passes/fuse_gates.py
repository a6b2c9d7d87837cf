"""fuse_gates: recurrent weights in one fused matrix per input, in the canonical gate order.

Backends accept only the canonical layouts (``Cell.gates`` of ``converter/ops/recurrent.py``: LSTM
``ifco``, GRU ``zrh``, gate-major blocks of H columns, as Keras). A ``gate_layout`` is an order of the
gate letters, optionally with ``_interleaved`` (column ``u * gates + g`` for unit u and gate g instead of
``g * H + u``: Chainer's LSTM); ``Cell.permutation`` is the one place that turns it canonical. Weights
that arrive as a Concat of per-gate constants are first joined into one constant.
"""

from __future__ import annotations

from converter.ops.recurrent import cell_of
from converter.passes.rewrite import Context, Rule, apply_rules


def _gated(node):
    """The cell of a full recurrent op whose weights carry a gate layout, else None."""
    cell = cell_of(node.op)
    return cell if cell is not None and node.op == cell.op and cell.n_gates > 1 else None


def _const_concat(v):
    """The producer of ``v`` when it is a Concat of constants (per-gate weights), else None."""
    p = v.producer if v is not None else None
    if p is not None and p.op == "Concat" and all(x.is_const for x in p.inputs):
        return p
    return None


def per_gate_concat(ctx: Context, node):
    cell = _gated(node)
    if cell is None:
        return None
    found = [w for w in cell.weights if _const_concat(node.input(w))]
    return found or None


def _join_concat(ctx: Context, node, names):
    joined = {}
    for w in names:
        v = node.input(w)
        concat = v.producer
        data = concat.opdef.reference(*(x.data for x in concat.inputs), **concat.attrs)[0]
        joined[w] = ctx.const(v.name, data, v.dtype)
    ctx.rebuild(node, inputs=joined)


def non_canonical_layout(ctx: Context, node):
    cell = _gated(node)
    if cell is None or node.attrs["gate_layout"] == cell.layout:
        return None
    if not all(node.input(w) is None or node.input(w).is_const for w in cell.weights):
        return None
    return cell


def _permute_gates(ctx: Context, node, cell):
    layout = node.attrs["gate_layout"]
    canonical = {}
    for w in cell.weights:
        v = node.input(w)
        if v is not None:
            canonical[w] = ctx.const(f"{v.name}_{cell.layout}", cell.to_canonical(v.data, layout), v.dtype)
    ctx.rebuild(node, inputs=canonical, attrs={"gate_layout": cell.layout})


RULES = [
    Rule(per_gate_concat, _join_concat),         # LSTM(x, Concat(#Wi, #Wf, #Wc, #Wo), ..) -> LSTM(x, #W, ..)
    Rule(non_canonical_layout, _permute_gates),  # LSTM{gate_layout=L}(x, #W, #U, #b) -> LSTM{ifco}(..perm)
]


def fuse_gates(graph) -> bool:
    return apply_rules(graph, RULES)
