"""fuse_gates: recurrent weights in one fused matrix per input, in the canonical gate order.

Backends accept only the canonical layouts (LSTM ``ifco``, GRU ``zrh``: gate-major blocks of H columns,
as Keras). A ``gate_layout`` is an order of the gate letters, optionally with ``_interleaved`` (column
``u * gates + g`` for unit u and gate g instead of ``g * H + u``: Chainer's LSTM). The letter ``a`` names
the candidate gate (LSTM ``c``, GRU ``h``), as Chainer does. Weights that arrive as a Concat of
per-gate constants are first joined into one constant.
"""

from __future__ import annotations

import numpy as np

from converter.passes.rewrite import Context, Rule, apply_rules

CANONICAL = {"LSTM": "ifco", "GRU": "zrh"}
_CANDIDATE = {"LSTM": "c", "GRU": "h"}
# positions of W, U, b (and GRU's rb) among the op's inputs; their last axis holds the gates
WEIGHT_INPUTS = {"LSTM": (1, 2, 3), "GRU": (1, 2, 3, 4)}
_SUFFIX = "_interleaved"


def parse_layout(op: str, layout: str) -> tuple[str, bool]:
    """(gate order in canonical letters, interleaved) or a one-line error naming the layout."""
    order, interleaved = layout, layout.endswith(_SUFFIX)
    if interleaved:
        order = layout[:-len(_SUFFIX)]
    order = order.replace("a", _CANDIDATE[op])
    if sorted(order) != sorted(CANONICAL[op]):
        raise ValueError(f"{op}: gate_layout {layout!r} is not understood; expected an order of "
                         f"{CANONICAL[op]!r} (a = candidate) with optional {_SUFFIX!r}")
    return order, interleaved


def column_permutation(op: str, layout: str, units: int) -> np.ndarray:
    """perm such that ``w[..., perm]`` turns ``layout`` columns into the canonical order."""
    order, interleaved = parse_layout(op, layout)
    gates = len(order)
    perm = np.empty(gates * units, dtype=np.int64)
    for new_pos, gate in enumerate(CANONICAL[op]):
        old_pos = order.index(gate)
        for u in range(units):
            old = u * gates + old_pos if interleaved else old_pos * units + u
            perm[new_pos * units + u] = old
    return perm


def _const_concat(v):
    """The producer of ``v`` when it is a Concat of constants (per-gate weights), else None."""
    p = v.producer if v is not None else None
    if p is not None and p.op == "Concat" and all(x.is_const for x in p.inputs):
        return p
    return None


def per_gate_concat(ctx: Context, node):
    if node.op not in WEIGHT_INPUTS:
        return None
    found = [i for i in WEIGHT_INPUTS[node.op] if i < len(node.inputs) and _const_concat(node.inputs[i])]
    return found or None


def _join_concat(ctx: Context, node, positions):
    for i in positions:
        concat = node.inputs[i].producer
        data = concat.opdef.reference(*(x.data for x in concat.inputs), **concat.attrs)[0]
        node.inputs[i] = ctx.const(node.inputs[i].name, data, node.inputs[i].dtype)
    ctx.changed()


def non_canonical_layout(ctx: Context, node):
    if node.op not in CANONICAL or node.attrs["gate_layout"] == CANONICAL[node.op]:
        return None
    weights = [node.inputs[i] for i in WEIGHT_INPUTS[node.op] if i < len(node.inputs)]
    if not all(w is None or w.is_const for w in weights):
        return None
    return True


def _permute_gates(ctx: Context, node, _match):
    units = node.inputs[2].shape[0]          # U is [H, gates*H]
    perm = column_permutation(node.op, node.attrs["gate_layout"], units)
    for i in WEIGHT_INPUTS[node.op]:
        w = node.inputs[i] if i < len(node.inputs) else None
        if w is not None:
            node.inputs[i] = ctx.const(w.name + "_" + CANONICAL[node.op], w.data[..., perm], w.dtype)
    node.attrs["gate_layout"] = CANONICAL[node.op]
    ctx.changed()


RULES = [
    Rule(per_gate_concat, _join_concat),         # LSTM(x, Concat(#Wi, #Wf, #Wc, #Wo), ..) -> LSTM(x, #W, ..)
    Rule(non_canonical_layout, _permute_gates),  # LSTM{gate_layout=L}(x, #W, #U, #b) -> LSTM{ifco}(..perm)
]


def fuse_gates(graph) -> bool:
    return apply_rules(graph, RULES)
