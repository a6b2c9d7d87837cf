"""Recurrent ops: LSTM, GRU, SimpleRNN and their hoisted forms (*Recurrence, xw = x @ W + b given).

The cell math is Keras' (gate order ifco for LSTM, zrh for GRU). One loop (``run_recurrence``) drives
every op; the full ops compute ``xw`` and call the matching *Recurrence reference, so the hoisting pass
is exact by construction.

Masks: mask[:, t] (float32 0/1) belongs to input step t in the original time order, also with
go_backwards (Keras reverses inputs and mask together). A masked step keeps the states and outputs the
previous output (zeros before the first step, or always zeros with zero_output_for_mask). With
go_backwards the sequence output is in processing order (step 0 is input t = T-1), as in Keras.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from converter.ir import dims
from converter.ops.activations import ACTIVATIONS, apply_default
from converter.ops.common import check_dim, fail, fmt, need_dtype, need_rank
from converter.ops.registry import register

RNN_ATTRS = {"activation": "tanh", "return_sequences": False, "go_backwards": False,
             "zero_output_for_mask": False,
             # ONNX options: cell clip (0 = off) on every activation input; (alpha, beta) or () per function
             "clip": 0.0, "activation_params": ()}
GATED_ATTRS = {**RNN_ATTRS, "recurrent_activation": "sigmoid", "recurrent_activation_params": ()}
# LSTM only: coupled gates f = 1 - i; h = o * output_activation(c) ("" = activation)
LSTM_ATTRS = {**GATED_ATTRS, "input_forget": False, "output_activation": "", "output_activation_params": ()}
ACTIVATION_ATTRS = ("activation", "recurrent_activation", "output_activation")
_INTERLEAVED = "_interleaved"


# ---- the cell descriptor ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    """What defines a recurrent cell, for every part that handles one (frontends, passes, lowerings).

    ``gates``: the canonical gate order (gate-major blocks of H columns, Keras' layout), ``candidate``
    the letter a ``gate_layout`` may write as ``a`` (Chainer's name for the cell candidate); ``states``
    the carried states (h first); ``op``/``recurrence`` the full and the hoisted op; ``weights`` the
    inputs whose last axis holds the gates; ``carried`` the inputs the hoisted op takes after xw and U;
    ``extras`` cell inputs past the mask (LSTM's peephole ``p``, [3H] in gate order i, f, o);
    ``attrs`` the cell's own attrs (defaults), ``options`` the attrs that change the cell math and that
    every backend's recurrence kernel must implement (see docs/design.md "adding a recurrent option").
    """
    kind: str
    op: str
    recurrence: str
    gates: str
    candidate: str
    states: tuple
    weights: tuple
    carried: tuple
    attrs: dict = field(default_factory=dict)
    options: tuple = ()
    extras: tuple = ()

    @property
    def n_gates(self) -> int:
        return len(self.gates)

    @property
    def layout(self) -> str:
        return self.gates

    def parse_layout(self, layout: str) -> tuple[str, bool]:
        """(gate order in canonical letters, interleaved) or a one-line error naming the layout."""
        interleaved = layout.endswith(_INTERLEAVED)
        order = (layout[:-len(_INTERLEAVED)] if interleaved else layout).replace("a", self.candidate)
        if sorted(order) != sorted(self.gates):
            raise ValueError(f"{self.op}: gate_layout {layout!r} is not understood; expected an order of "
                             f"{self.gates!r} (a = candidate) with optional {_INTERLEAVED!r}")
        return order, interleaved

    def permutation(self, layout: str, units: int) -> np.ndarray:
        """perm such that ``w[..., perm]`` turns ``layout`` columns into the canonical order."""
        order, interleaved = self.parse_layout(layout)
        n = self.n_gates
        perm = np.empty(n * units, dtype=np.int64)
        for new_pos, gate in enumerate(self.gates):
            old_pos = order.index(gate)
            for u in range(units):
                perm[new_pos * units + u] = u * n + old_pos if interleaved else old_pos * units + u
        return perm

    def to_canonical(self, array: Optional[np.ndarray], layout: str) -> Optional[np.ndarray]:
        """``array`` (a weight or bias, gates on the last axis) reordered from ``layout``."""
        if array is None or layout == self.gates:
            return array
        return array[..., self.permutation(layout, array.shape[-1] // self.n_gates)]


_OPTIONS = ("clip", "activation_params")
LSTM_CELL = Cell("lstm", "LSTM", "LSTMRecurrence", "ifco", "c", ("h", "c"), ("W", "U", "b"),
                 ("h0", "c0", "mask", "p"), dict(LSTM_ATTRS),
                 _OPTIONS + ("recurrent_activation_params", "input_forget", "output_activation",
                             "output_activation_params"), ("p",))
GRU_CELL = Cell("gru", "GRU", "GRURecurrence", "zrh", "h", ("h",), ("W", "U", "b", "rb"),
                ("rb", "h0", "mask"), {**GATED_ATTRS, "reset_after": True},
                _OPTIONS + ("recurrent_activation_params", "reset_after"))
RNN_CELL = Cell("rnn", "SimpleRNN", "SimpleRNNRecurrence", "h", "h", ("h",), ("W", "U", "b"),
                ("h0", "mask"), dict(RNN_ATTRS), _OPTIONS)
CELLS = {c.kind: c for c in (LSTM_CELL, GRU_CELL, RNN_CELL)}
_BY_OP = {name: c for c in CELLS.values() for name in (c.op, c.recurrence)}


def cell_of(op: str) -> Optional[Cell]:
    """The cell of a recurrent op (full or hoisted form), None for other ops."""
    return _BY_OP.get(op)


def _inputs(cell: Cell, full: bool) -> tuple:
    states = tuple(f"{s}0?" for s in cell.states)
    if full:
        vectors = tuple(f"{w}?" for w in cell.weights if w not in ("W", "U"))
        return ("x", "W", "U") + vectors + states + ("mask?",) + tuple(f"{e}?" for e in cell.extras)
    return ("xw", "U") + tuple(f"{n}?" for n in cell.carried)


# ---- shape rules -----------------------------------------------------------------------------------

def _infer(op: str, seq, U, gates: int, vectors: dict, states: dict, mask, attrs, seq_width=None):
    """Shared shape rule. ``seq`` is x (width ``seq_width``) or xw (width gates*H when it is None);
    ``vectors`` are the biases [gates*H], ``states`` the initial states [B, H]."""
    need_rank(op, "input sequence", seq, 3)
    need_rank(op, "U", U, 2)
    infos = {"input sequence": seq, "U": U, "mask": mask, **vectors, **states}
    for what, info in infos.items():
        if info is not None:
            need_dtype(op, what, info, "float32")
    hidden, batch, time = U.shape[0], seq.shape[0], seq.shape[1]
    width = dims.mul(gates, hidden)
    check_dim(op, f"U's width (U {fmt(U)})", U.shape[1], width)
    seq_width = width if seq_width is None else seq_width
    check_dim(op, f"input sequence width ({fmt(seq)})", seq.shape[2], seq_width)
    for what, info in vectors.items():
        if info is not None:
            need_rank(op, what, info, 1)
            check_dim(op, f"{what}'s length", info.shape[0], width)
    for what, info in [*states.items(), ("mask", mask)]:
        if info is not None:
            need_rank(op, what, info, 2)
            check_dim(op, f"{what}'s batch dim ({fmt(info)})", info.shape[0], batch)
            second = time if what == "mask" else hidden
            check_dim(op, f"{what}'s second dim ({fmt(info)})", info.shape[1], second)
    for key in ACTIVATION_ATTRS:
        if attrs.get(key) and attrs[key] not in ACTIVATIONS:
            fail(op, f"unknown {key} {attrs[key]!r}; known: {', '.join(sorted(ACTIVATIONS))}")
        params = attrs.get(f"{key}_params", ())
        if not isinstance(params, (tuple, list)) or len(params) > 2:
            fail(op, f"{key}_params must be () or (alpha,) or (alpha, beta), got {params!r}")
    if float(attrs.get("clip", 0.0)) < 0:
        fail(op, f"clip must be >= 0 (0 = off), got {attrs['clip']}")
    y = (batch, time, hidden) if attrs["return_sequences"] else (batch, hidden)
    return [("float32", y)] + [("float32", (batch, hidden))] * (2 if op.startswith("LSTM") else 1)


def _infer_full(op, x, W, U, gates, vectors, states, mask, attrs):
    need_rank(op, "x", x, 3)
    need_rank(op, "W", W, 2)
    need_rank(op, "U", U, 2)
    need_dtype(op, "W", W, "float32")
    check_dim(op, f"W's rows (x {fmt(x)}, W {fmt(W)})", W.shape[0], x.shape[2])
    check_dim(op, f"W's width (W {fmt(W)}, U {fmt(U)})", W.shape[1], U.shape[-1])
    return _infer(op, x, U, gates, vectors, states, mask, attrs, seq_width=x.shape[2])


# ---- the shared step loop ------------------------------------------------------------------------

def run_recurrence(xw, step, states, mask, go_backwards, return_sequences, zero_output_for_mask):
    """Run ``step(xw_t, states) -> (states, output)`` over time; returns (y, final states)."""
    batch, time = xw.shape[:2]
    hidden = states[0].shape[1]
    order = range(time - 1, -1, -1) if go_backwards else range(time)
    prev = np.zeros((batch, hidden), np.float32)
    outputs = []
    for t in order:
        new_states, out = step(xw[:, t], states)
        if mask is not None:
            keep = (mask[:, t] != 0)[:, None]
            new_states = [np.where(keep, n, s) for n, s in zip(new_states, states)]
            out = np.where(keep, out, 0.0 if zero_output_for_mask else prev).astype(np.float32)
        states, prev = new_states, out
        outputs.append(out)
    if return_sequences:
        y = np.stack(outputs, axis=1) if outputs else np.zeros((batch, 0, hidden), np.float32)
    else:
        y = prev
    return y, states


def _zeros_or(state, batch, hidden):
    return np.zeros((batch, hidden), np.float32) if state is None else state.astype(np.float32)


def _hidden(U):
    return U.shape[0]


def _activation(name: str, params=(), clip: float = 0.0):
    """The cell function ``name(params)`` applied after ONNX's cell clip (bounds its input; 0 = off)."""
    bound = np.float32(clip)

    def apply(x):
        if bound > 0:
            x = np.clip(x, -bound, bound)
        return apply_default(name, x, params)
    return apply


def lstm_recurrence(xw, U, h0, c0, mask, p=None, *, activation, recurrent_activation, clip=0.0,
                    activation_params=(), recurrent_activation_params=(), input_forget=False,
                    output_activation="", output_activation_params=(), **loop):
    """i, f = rec(z + p*c_prev) (f = 1 - i with input_forget), c = f*c + i*act(z_c), o = rec(z_o + p_o*c),
    h = o * out(c); ``p`` = peepholes [3H] (i, f, o); every activation input clipped by ``clip``."""
    batch, hidden = xw.shape[0], _hidden(U)
    act = _activation(activation, activation_params, clip)
    rec = _activation(recurrent_activation, recurrent_activation_params, clip)
    out = _activation(output_activation or activation,
                      output_activation_params if output_activation else activation_params)
    p_i, p_f, p_o = (np.zeros(hidden, np.float32),) * 3 if p is None else np.split(p, 3)

    def step(xw_t, states):
        h, c_prev = states
        z = xw_t + h @ U
        z_i, z_f, z_c, z_o = (z[:, k * hidden:(k + 1) * hidden] for k in range(4))
        i = rec(z_i + p_i * c_prev)
        f = (np.float32(1) - i) if input_forget else rec(z_f + p_f * c_prev)
        c = (f * c_prev + i * act(z_c)).astype(np.float32)
        o = rec(z_o + p_o * c)
        h = (o * out(c)).astype(np.float32)
        return [h, c], h

    states = [_zeros_or(h0, batch, hidden), _zeros_or(c0, batch, hidden)]
    y, (h, c) = run_recurrence(xw, step, states, mask, **loop)
    return y, h, c


def gru_recurrence(xw, U, rb, h0, mask, *, activation, recurrent_activation, reset_after, clip=0.0,
                   activation_params=(), recurrent_activation_params=(), **loop):
    batch, hidden = xw.shape[0], _hidden(U)
    if rb is not None and not reset_after:
        raise ValueError("GRU: a recurrent bias rb is only valid with reset_after=True")
    act = _activation(activation, activation_params, clip)
    rec = _activation(recurrent_activation, recurrent_activation_params, clip)

    def step(xw_t, states):
        (h,) = states
        x_z, x_r, x_h = (xw_t[:, k * hidden:(k + 1) * hidden] for k in range(3))
        if reset_after:
            inner = h @ U + (0.0 if rb is None else rb)
            r_z, r_r, r_h = (inner[:, k * hidden:(k + 1) * hidden] for k in range(3))
            z = rec(x_z + r_z)
            r = rec(x_r + r_r)
            hh = act(x_h + r * r_h)
        else:
            z = rec(x_z + h @ U[:, :hidden])
            r = rec(x_r + h @ U[:, hidden:2 * hidden])
            hh = act(x_h + (r * h) @ U[:, 2 * hidden:])
        h = (z * h + (1 - z) * hh).astype(np.float32)
        return [h], h

    y, (h,) = run_recurrence(xw, step, [_zeros_or(h0, batch, hidden)], mask, **loop)
    return y, h


def simple_rnn_recurrence(xw, U, h0, mask, *, activation, clip=0.0, activation_params=(), **loop):
    batch, hidden = xw.shape[0], _hidden(U)
    act = _activation(activation, activation_params, clip)

    def step(xw_t, states):
        h = act(xw_t + states[0] @ U)
        return [h], h

    y, (h,) = run_recurrence(xw, step, [_zeros_or(h0, batch, hidden)], mask, **loop)
    return y, h


def _project(x, W, b):
    """xw = x @ W + b for all steps at once (what hoist_input_projection makes a MatMul)."""
    xw = np.matmul(x, W, dtype=np.float32) if x.size else np.zeros(x.shape[:2] + W.shape[1:], np.float32)
    return xw if b is None else xw + b


# ---- the ops ---------------------------------------------------------------------------------------

def _full_attrs(cell: Cell) -> dict:
    return {**cell.attrs, "gate_layout": cell.layout} if cell.n_gates > 1 else dict(cell.attrs)


def _register(cell: Cell, full: bool):
    name = cell.op if full else cell.recurrence
    outputs = ("y",) + cell.states
    attrs = _full_attrs(cell) if full else dict(cell.attrs)
    return register(name, inputs=_inputs(cell, full), outputs=outputs, attrs=attrs, recurrent=True)


def _check_peepholes(op: str, p, U) -> None:
    if p is None:
        return
    need_rank(op, "p (peepholes)", p, 1)
    need_dtype(op, "p (peepholes)", p, "float32")
    check_dim(op, f"p's length (peepholes i, f, o; U {fmt(U)})", p.shape[0], dims.mul(3, U.shape[0]))


def _check_layout(cell: Cell, attrs) -> None:
    try:
        cell.parse_layout(attrs["gate_layout"])
    except ValueError as e:
        fail(cell.op, str(e).split(": ", 1)[1])


@_register(LSTM_CELL, full=True)
class LSTM:
    """Keras LSTM: i, f, o = rec_act(.), c = f*c + i*act(z_c), h = o*act(c)."""

    def infer(x, W, U, b, h0, c0, mask, p, *, attrs):
        _check_layout(LSTM_CELL, attrs)
        _check_peepholes("LSTM", p, U)
        return _infer_full("LSTM", x, W, U, 4, {"b": b}, {"h0": h0, "c0": c0}, mask, attrs)

    def reference(x, W, U, b, h0, c0, mask, p, *, gate_layout, **attrs):
        W, U, b = (LSTM_CELL.to_canonical(a, gate_layout) for a in (W, U, b))
        return lstm_recurrence(_project(x, W, b), U, h0, c0, mask, p, **attrs)


@_register(LSTM_CELL, full=False)
class LSTMRecurrence:
    """LSTM with the input projection xw = x @ W + b already computed (gate order ifco)."""

    def infer(xw, U, h0, c0, mask, p, *, attrs):
        _check_peepholes("LSTMRecurrence", p, U)
        return _infer("LSTMRecurrence", xw, U, 4, {}, {"h0": h0, "c0": c0}, mask, attrs)

    def reference(xw, U, h0, c0, mask, p, **attrs):
        return lstm_recurrence(xw, U, h0, c0, mask, p, **attrs)


@_register(GRU_CELL, full=True)
class GRU:
    """Keras GRU (zrh). reset_after: hh = act(xw_h + r*(h@U_h + rb_h)); else act(xw_h + (r*h)@U_h)."""

    def infer(x, W, U, b, rb, h0, mask, *, attrs):
        _check_layout(GRU_CELL, attrs)
        if rb is not None and not attrs["reset_after"]:
            fail("GRU", "a recurrent bias rb is only valid with reset_after=True")
        return _infer_full("GRU", x, W, U, 3, {"b": b, "rb": rb}, {"h0": h0}, mask, attrs)

    def reference(x, W, U, b, rb, h0, mask, *, gate_layout, **attrs):
        W, U, b, rb = (GRU_CELL.to_canonical(a, gate_layout) for a in (W, U, b, rb))
        return gru_recurrence(_project(x, W, b), U, rb, h0, mask, **attrs)


@_register(GRU_CELL, full=False)
class GRURecurrence:
    """GRU with xw = x @ W + b already computed (gate order zrh)."""

    def infer(xw, U, rb, h0, mask, *, attrs):
        if rb is not None and not attrs["reset_after"]:
            fail("GRURecurrence", "a recurrent bias rb is only valid with reset_after=True")
        return _infer("GRURecurrence", xw, U, 3, {"rb": rb}, {"h0": h0}, mask, attrs)

    def reference(xw, U, rb, h0, mask, **attrs):
        return gru_recurrence(xw, U, rb, h0, mask, **attrs)


@_register(RNN_CELL, full=True)
class SimpleRNN:
    """Keras SimpleRNN: h = act(x @ W + b + h @ U)."""

    def infer(x, W, U, b, h0, mask, *, attrs):
        return _infer_full("SimpleRNN", x, W, U, 1, {"b": b}, {"h0": h0}, mask, attrs)

    def reference(x, W, U, b, h0, mask, **attrs):
        return simple_rnn_recurrence(_project(x, W, b), U, h0, mask, **attrs)


@_register(RNN_CELL, full=False)
class SimpleRNNRecurrence:
    """SimpleRNN with xw = x @ W + b already computed."""

    def infer(xw, U, h0, mask, *, attrs):
        return _infer("SimpleRNNRecurrence", xw, U, 1, {}, {"h0": h0}, mask, attrs)

    def reference(xw, U, h0, mask, **attrs):
        return simple_rnn_recurrence(xw, U, h0, mask, **attrs)
