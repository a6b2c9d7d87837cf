"""Recurrent layers: LSTM, GRU, SimpleRNN, RNN over cells (incl. StackedRNNCells), Bidirectional.

Every recurrent layer becomes one canonical IR op per cell (``LSTM``/``GRU``/``SimpleRNN``). Keras'
weights are already in the canonical layout (kernel [D, kH], recurrent kernel [H, kH], gates ifco/zrh);
GRU's reset_after bias [2, 3H] splits into the input bias and the recurrent bias.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from converter.frontends.keras.builder import LayerCall, inner_layer, keras_layer
from converter.frontends.keras.layers import activation
from converter.ir.graph import Value
from converter.ops import registry
from converter.ops.recurrent import CELLS as IR_CELLS
from converter.ops.recurrent import Cell

# Keras cell class -> the IR cell (op, gate count, states: converter/ops/recurrent.py)
CELLS: dict[str, Cell] = {"LSTMCell": IR_CELLS["lstm"], "GRUCell": IR_CELLS["gru"],
                          "SimpleRNNCell": IR_CELLS["rnn"]}
LAYER_CELLS = {"LSTM": "LSTMCell", "GRU": "GRUCell", "SimpleRNN": "SimpleRNNCell"}


@dataclass
class Options:
    """Layer-level options shared by the cells of one recurrent layer."""
    return_sequences: bool
    return_state: bool
    go_backwards: bool
    stateful: bool
    zero_output_for_mask: bool

    @classmethod
    def of(cls, lc: LayerCall, cfg: dict) -> "Options":
        if cfg.get("time_major"):
            raise lc.error("time_major=True is not supported; use batch-major inputs")
        return cls(bool(cfg.get("return_sequences", False)), bool(cfg.get("return_state", False)),
                   bool(cfg.get("go_backwards", False)), bool(cfg.get("stateful", False)),
                   bool(cfg.get("zero_output_for_mask", False)))


def _cells(lc: LayerCall, cls: str, cfg: dict) -> list[tuple[str, dict]]:
    """The (cell class, cell config) list of a recurrent layer config."""
    if cls in LAYER_CELLS:
        return [(LAYER_CELLS[cls], cfg)]
    if cls != "RNN":
        raise lc.error(f"{cls} is not a recurrent layer this converter knows")
    cell = cfg.get("cell")
    cells = cell if isinstance(cell, list) else [cell]
    out = []
    for c in cells:
        ccls, ccfg = inner_layer(c, f"layer '{lc.name}' (RNN)")
        if ccls == "StackedRNNCells":
            out += [inner_layer(x, f"layer '{lc.name}' (StackedRNNCells)") for x in ccfg.get("cells", [])]
        elif ccls in CELLS:
            out.append((ccls, ccfg))
        else:
            raise lc.error(f"RNN cell {ccls} is not supported (LSTMCell, GRUCell, SimpleRNNCell, "
                           "StackedRNNCells only); see docs/supported-layers.md")
    return out


def _weight_count(cell: str, cfg: dict) -> int:
    return 3 if cfg.get("use_bias", True) else 2


def _cell_weights(lc: LayerCall, cell: str, cfg: dict, weights: list, d: int, tag: str) -> list:
    """The cell's weight inputs (W, U, b, and GRU's rb) as constants, shapes checked against the config."""
    desc = CELLS[cell]
    op, gates = desc.op, desc.n_gates
    h = int(cfg["units"])
    sub = lc.sub(lc.class_name, lc.name, cfg, weights, [], [])
    w = lc.const(f"{tag}kernel", sub.weight(0, (d, gates * h), "kernel"))
    u = lc.const(f"{tag}recurrent_kernel", sub.weight(1, (h, gates * h), "recurrent_kernel"))
    b = rb = None
    if cfg.get("use_bias", True):
        if op == "GRU" and cfg.get("reset_after", True):
            both = sub.weight(2, (2, gates * h), "bias")
            b, rb = lc.const(f"{tag}bias", both[0]), lc.const(f"{tag}recurrent_bias", both[1])
        else:
            b = lc.const(f"{tag}bias", sub.weight(2, (gates * h,), "bias"))
    given = {"W": w, "U": u, "b": b, "rb": rb}
    return [given[name] for name in desc.weights]


def _cell_attrs(lc: LayerCall, op: str, cfg: dict, return_sequences: bool, go_backwards: bool,
                zero_output: bool) -> dict:
    attrs = {"activation": activation.recurrent_fn(lc, cfg.get("activation", "tanh")),
             "recurrent_activation": activation.recurrent_fn(lc, cfg.get("recurrent_activation",
                                                                         "sigmoid")),
             "return_sequences": return_sequences, "go_backwards": go_backwards,
             "zero_output_for_mask": zero_output, "reset_after": bool(cfg.get("reset_after", True))}
    known = registry.get(op).attrs
    return {k: v for k, v in attrs.items() if k in known}


def _state_inputs(lc: LayerCall, prefix: str, names: tuple, batch, units: int) -> list[Value]:
    """Stateful layers: the carried state becomes a graph input and its final value a graph output."""
    states = []
    for s in names:
        v = lc.g.input(f"{prefix}_{s}", "float32", (batch, units))
        states.append(v)
    return states


def _record_states(lc: LayerCall, inputs: list[Value], outputs: list[Value]) -> None:
    recs = lc.g.meta.setdefault("states", [])
    for i, o in zip(inputs, outputs):
        recs.append({"input": i.name, "output": f"{i.name}_next", "output_value": o})


def run_layer(lc: LayerCall, cls: str, cfg: dict, weights: list, x: Value, mask: Optional[Value],
              init: list, opts: Options, prefix: str) -> tuple[Value, list[Value]]:
    """One recurrent layer (one or more stacked cells) -> (output, final states flattened)."""
    if len(x.shape) != 3:
        raise lc.error(f"expects a [batch, time, features] input, got rank {len(x.shape)}")
    cells = _cells(lc, cls, cfg)
    counts = [_weight_count(c, cc) for c, cc in cells]
    if len(weights) != sum(counts):
        raise lc.error(f"expected {sum(counts)} weights for {len(cells)} cell(s), the file holds "
                       f"{len(weights)}; the file's weights do not match its config")
    n_states = sum(len(CELLS[c].states) for c, _ in cells)
    if opts.stateful and init:
        raise lc.error("a stateful layer called with initial_state is not supported")
    if init and len(init) != n_states:
        raise lc.error(f"initial_state has {len(init)} tensors, the cells carry {n_states} states")
    y, finals, start, w0 = x, [], 0, 0
    seq_mask = mask
    for i, (cell, ccfg) in enumerate(cells):
        last = i == len(cells) - 1
        op, state_names = CELLS[cell].op, CELLS[cell].states
        d = y.shape[-1]
        if not isinstance(d, int):
            raise lc.error(f"input feature size {d} is symbolic; it must be fixed")
        tag = f"cell{i}/" if len(cells) > 1 else ""
        ws = _cell_weights(lc, cell, ccfg, weights[w0:w0 + counts[i]], d, tag)
        w0 += counts[i]
        units = int(ccfg["units"])
        cell_prefix = f"{prefix}_cell{i}" if len(cells) > 1 else prefix
        if opts.stateful:
            states = _state_inputs(lc, cell_prefix, state_names, x.shape[0], units)
        else:
            states = list(init[start:start + len(state_names)]) or [None] * len(state_names)
        start += len(state_names)
        # stacked cells: the first cell walks backwards and emits in processing order, so the later
        # cells run forwards over that order with the mask reversed to match
        backwards = opts.go_backwards and i == 0
        attrs = _cell_attrs(lc, op, ccfg, opts.return_sequences if last else True, backwards,
                            opts.zero_output_for_mask if last else False)
        name = f"{prefix}/cell{i}" if len(cells) > 1 else prefix
        outs = lc.g.add(op, [y] + ws + states + [seq_mask], attrs, name=name)
        y, cell_finals = outs[0], outs[1:]
        if opts.stateful:
            _record_states(lc, states, cell_finals)
        finals += cell_finals
        if backwards and not last and seq_mask is not None:
            seq_mask = lc.g.add1("Reverse", [seq_mask], {"axis": 1}, name=f"{prefix}/mask_reversed")
    return y, finals


def _initial_state(lc: LayerCall) -> list[Value]:
    init = lc.kwargs.get("initial_state")
    if init is None:
        init = lc.inputs[1:]      # Keras 2 serializes initial_state tensors as extra inputs
    elif isinstance(init, Value):
        init = [init]
    return [v for v in init if v is not None]


@keras_layer("LSTM", "GRU", "SimpleRNN", "RNN")
def recurrent(lc: LayerCall):
    opts = Options.of(lc, lc.config)
    mask = lc.masks[0] if lc.masks else None
    y, states = run_layer(lc, lc.class_name, lc.config, lc.weights, lc.inputs[0], mask,
                          _initial_state(lc), opts, lc.name)
    out_mask = mask if opts.return_sequences else None
    if opts.return_state:
        return [y] + states, [out_mask] + [None] * len(states)
    return [y], [out_mask]


def _merge(lc: LayerCall, mode: Optional[str], y: Value, y_rev: Value) -> list[Value]:
    if mode is None:
        return [y, y_rev]
    if mode == "concat":
        return [lc.g.add1("Concat", [y, y_rev], {"axis": -1}, name=lc.node())]
    if mode in ("sum", "mul"):
        fn = "add" if mode == "sum" else "mul"
        return [lc.g.add1("Binary", [y, y_rev], {"fn": fn}, name=lc.node())]
    if mode == "ave":
        total = lc.g.add1("Binary", [y, y_rev], {"fn": "add"}, name=lc.node("sum"))
        two = lc.const("two", 2.0)
        return [lc.g.add1("Binary", [total, two], {"fn": "div"}, name=lc.node())]
    raise lc.error(f"merge_mode {mode!r} is not supported (concat, sum, mul, ave, None)")


@keras_layer("Bidirectional")
def bidirectional(lc: LayerCall):
    cls, cfg = inner_layer(lc.config.get("layer"), f"layer '{lc.name}' (Bidirectional)")
    if "backward_layer" in lc.config and lc.config["backward_layer"]:
        bcls, bcfg = inner_layer(lc.config["backward_layer"], f"layer '{lc.name}' (Bidirectional)")
    else:
        bcls, bcfg = cls, dict(cfg, go_backwards=not cfg.get("go_backwards", False))
    fwd, bwd = Options.of(lc, cfg), Options.of(lc, bcfg)
    # Keras forces zero outputs at masked steps in both directions when returning sequences
    fwd.zero_output_for_mask = fwd.return_sequences
    bwd.zero_output_for_mask = bwd.return_sequences
    half = len(lc.weights) // 2
    x, mask = lc.inputs[0], lc.masks[0] if lc.masks else None
    init = _initial_state(lc)
    fi, bi = init[:len(init) // 2], init[len(init) // 2:]
    y, fs = run_layer(lc, cls, cfg, lc.weights[:half], x, mask, fi, fwd, f"{lc.name}_forward")
    y_rev, bs = run_layer(lc, bcls, bcfg, lc.weights[half:], x, mask, bi, bwd, f"{lc.name}_backward")
    if fwd.return_sequences:
        y_rev = lc.g.add1("Reverse", [y_rev], {"axis": 1}, name=lc.node("backward_reversed"))
    mode = lc.config.get("merge_mode", "concat")
    outs = _merge(lc, mode, y, y_rev)
    out_mask = mask if fwd.return_sequences else None
    masks = [out_mask] * len(outs)
    if fwd.return_state:
        return outs + fs + bs, masks + [None] * (len(fs) + len(bs))
    return outs, masks
