"""ONNX LSTM, GRU and RNN onto the IR's recurrent ops (opsets 7..current, every attribute).

The one place where ONNX's gate order meets the IR's (``GATE_ORDER``): ONNX stacks LSTM gates as
i, o, f, c and GRU gates as z, r, h; the IR (Keras) wants i, f, c, o and z, r, h. ONNX P (peepholes) is
i, o, f; the IR's ``p`` is i, f, o.

Directions: ``reverse`` is the IR's go_backwards with zero_output_for_mask and a Reverse of the
sequence output, because ONNX keeps Y in the original time order; ``bidirectional`` runs both and
stacks them on ONNX's num_directions axis. ``sequence_lens`` becomes a [B, T] mask (outputs past a
row's length are zero and Y_h / Y_c hold the state at its last valid step, as ONNX says); ``layout``
0 ([T, B, D]) is a Transpose to the IR's batch-major form and back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from converter.frontends.onnx.builder import Fill, NodeCall, onnx_op
from converter.ir import dims
from converter.ops import registry

# ONNX gate blocks -> IR gate blocks: IR block k is ONNX block GATE_ORDER[cell][k]
GATE_ORDER = {"LSTM": (0, 2, 3, 1), "GRU": (0, 1, 2), "RNN": (0,)}
PEEPHOLE_ORDER = (0, 2, 1)       # ONNX P = [i, o, f] -> IR p = [i, f, o]
IR_OP = {"LSTM": "LSTM", "GRU": "GRU", "RNN": "SimpleRNN"}
DEFAULT_ACTS = {"LSTM": ("Sigmoid", "Tanh", "Tanh"), "GRU": ("Sigmoid", "Tanh"), "RNN": ("Tanh",)}


@dataclass(frozen=True)
class RnnActivation:
    """An ONNX recurrent activation: its IR name and its (alpha, beta) parameters with ONNX defaults."""
    ir: str
    alpha: object = None          # default alpha, None = takes no alpha
    beta: object = None           # default beta, None = takes no beta


ACTIVATIONS = {
    "sigmoid": RnnActivation("sigmoid"), "tanh": RnnActivation("tanh"), "relu": RnnActivation("relu"),
    "softsign": RnnActivation("softsign"), "softplus": RnnActivation("softplus"),
    "hardsigmoid": RnnActivation("hard_sigmoid_ab", 0.2, 0.5), "leakyrelu": RnnActivation("leaky_relu", 0.01),
    "elu": RnnActivation("elu", 1.0), "thresholdedrelu": RnnActivation("thresholded_relu", 1.0),
    "scaledtanh": RnnActivation("scaled_tanh", 1.0, 1.0), "affine": RnnActivation("affine", 1.0, 0.0),
}
# What an IR activation name computes when the op has no *_params attributes (older IR): the (alpha,
# beta) those names imply, so that only exactly those parameter values convert.
FIXED_PARAMS = {"hard_sigmoid_ab": ("hard_sigmoid_k2", (0.2, 0.5)), "elu": ("elu", (1.0,)),
                "leaky_relu": ("leaky_relu", (0.2,))}

COMMON_ATTRS = {"activation_alpha": None, "activation_beta": None, "activations": None, "clip": None,
                "direction": "forward", "hidden_size": None, "layout": 0}


def _activations(n: NodeCall, count: int, directions: int) -> list:
    """[(RnnActivation, params tuple)] per direction and slot, consuming alpha/beta lists like onnxruntime:
    in order, each activation taking the values it uses (ONNX: defaults as of the activation ops)."""
    names = list(n.attrs["activations"] or DEFAULT_ACTS[n.op] * directions)
    if len(names) != count * directions:
        raise n.error(f"activations {names} must list {count} functions per direction ({directions})")
    alphas = list(n.attrs["activation_alpha"] or [])
    betas = list(n.attrs["activation_beta"] or [])
    out = []
    for name in names:
        act = ACTIVATIONS.get(str(name).lower())
        if act is None:
            raise n.refuse(f"activation {name!r} (known: {', '.join(sorted(ACTIVATIONS))})")
        params = ()
        if act.alpha is not None:
            alpha = float(alphas.pop(0)) if alphas else act.alpha
            params = (alpha,) if act.beta is None else (alpha, float(betas.pop(0)) if betas else act.beta)
        out.append((act, params))
    return [out[d * count:(d + 1) * count] for d in range(directions)]


def _ir_activation(n: NodeCall, opdef, key: str, act, params, attrs: dict) -> None:
    """Set IR attribute ``key`` (and ``key``_params when the IR op has it) for one activation slot."""
    if f"{key}_params" in opdef.attrs:
        attrs[key], attrs[f"{key}_params"] = act.ir, tuple(params)
        return
    fixed = FIXED_PARAMS.get(act.ir)
    if fixed is not None and tuple(np.float32(params)) == tuple(np.float32(fixed[1])):
        attrs[key] = fixed[0]
    elif not params:
        attrs[key] = act.ir
    else:
        raise n.refuse(f"activation {act.ir} with parameters {params} (this build's IR op {opdef.name} "
                       "has no "
                       f"{key}_params)")


def _set_option(n: NodeCall, opdef, attrs: dict, key: str, value, default) -> None:
    if key in opdef.attrs:
        attrs[key] = value
    elif value != default:
        raise n.refuse(f"attribute {key}={value} (this build's IR op {opdef.name} has no '{key}')")


# ---- inputs --------------------------------------------------------------------------------------

def _weights(n: NodeCall, cell: str, hidden: int, width: int):
    """Per direction (W[D, gH], U[H, gH], b_input[gH], b_recurrent[gH]) in IR gate order."""
    gates = len(GATE_ORDER[cell])
    W = _static_f32(n, 1, "W")
    R = _static_f32(n, 2, "R")
    dirs = W.shape[0]
    _check(n, "W", W.shape, (dirs, gates * hidden, width))
    _check(n, "R", R.shape, (dirs, gates * hidden, hidden))
    B = _static_f32(n, 3, "B") if n.has(3) else np.zeros((dirs, 2 * gates * hidden), np.float32)
    _check(n, "B", B.shape, (dirs, 2 * gates * hidden))
    order = GATE_ORDER[cell]

    def reorder(a):   # a[..., gates*H] ONNX blocks -> IR blocks
        blocks = np.split(a, gates, axis=-1)
        return np.ascontiguousarray(np.concatenate([blocks[k] for k in order], axis=-1))
    out = []
    for d in range(dirs):
        out.append((reorder(W[d].T), reorder(R[d].T), reorder(B[d, :gates * hidden]),
                    reorder(B[d, gates * hidden:])))
    return out


def _static_f32(n: NodeCall, i: int, what: str) -> np.ndarray:
    a = n.static(i)
    if a is None:
        raise n.refuse(f"{n.op} with a computed {what} (only constant weights)")
    return np.asarray(a, np.float32)


def _check(n: NodeCall, what: str, got, want) -> None:
    if tuple(got) != tuple(want):
        raise n.error(f"{what} has shape {tuple(got)}, expected {tuple(want)} from hidden_size and the input")


def _state(n: NodeCall, i: int, d: int, layout: int, batch, hidden: int):
    """initial_h / initial_c of direction d as [B, H], or None when absent or all zeros."""
    if not n.has(i):
        return None
    x = n.inputs[i]
    axis = 1 if layout else 0
    if isinstance(x, Fill):
        if x.scalar == 0:
            return None
        raise n.error("a constant non-zero initial state of symbolic shape; fix the free dims with "
                      "--input-shape")
    data = n.static(i)
    if data is not None:
        data = np.asarray(data, np.float32)
        if not np.any(data):
            return None
        return n.const(np.ascontiguousarray(np.take(data, d, axis=axis)), f"state{i}_{d}")
    v = n.value(i)
    part = n.add1("Slice", [v], {"axis": axis, "start": d, "end": d + 1}, f"state{i}_{d}") \
        if v.shape[axis] != 1 else v
    return n.add1("Reshape", [part], {"shape": (batch, hidden)}, f"state{i}_{d}/2d")


def _mask(n: NodeCall, x):
    """sequence_lens -> float32 mask [B, T] (None when absent or every row is full length)."""
    if not n.has(4):
        return None
    batch, time = x.shape[0], x.shape[1]
    lens = n.static(4)
    if lens is not None:
        lens = np.asarray(lens).astype(np.int64).reshape(-1)
        if dims.is_static(time) and np.all(lens == dims.evaluate(time, {})):
            return None
        if dims.is_static(time):
            t = dims.evaluate(time, {})
            if (lens < 0).any() or (lens > t).any():
                raise n.error(f"sequence_lens {lens.tolist()} must lie in 0..{t}")
            return n.const((np.arange(t)[None, :] < lens[:, None]).astype(np.float32), "mask")
    if "LengthMask" not in registry.all_ops():
        raise n.refuse("sequence_lens computed from the inputs (this build's IR has no LengthMask op)")
    lengths = n.value(4)
    if lengths.dtype != "int32":
        lengths = n.add1("Cast", [lengths], {"to": "int32"}, "lengths")
    del batch
    return n.add1("LengthMask", [lengths, x], suffix="mask")


# ---- the handler ---------------------------------------------------------------------------------

def _rnn_attrs(n: NodeCall, opdef, cell: str, acts, reverse: bool, needs_y: bool) -> dict:
    attrs = {"return_sequences": needs_y, "go_backwards": reverse, "zero_output_for_mask": True}
    slots = {"LSTM": ("recurrent_activation", "activation", "output_activation"),
             "GRU": ("recurrent_activation", "activation"), "RNN": ("activation",)}[cell]
    for key, (act, params) in zip(slots, acts):
        if key == "output_activation" and key not in opdef.attrs:
            if (act, params) != acts[1]:
                raise n.refuse(f"LSTM output activation {act.ir} differing from the cell activation "
                               f"{acts[1][0].ir} (this build's IR op LSTM has no output_activation)")
            continue
        _ir_activation(n, opdef, key, act, params, attrs)
    clip = n.attrs["clip"]
    _set_option(n, opdef, attrs, "clip", float(clip) if clip is not None else 0.0, 0.0)
    if cell == "LSTM":
        _set_option(n, opdef, attrs, "input_forget", bool(n.attrs["input_forget"]), False)
    if cell == "GRU":
        attrs["reset_after"] = bool(n.attrs["linear_before_reset"])
    return attrs


def _named_inputs(opdef, values: dict) -> list:
    names = [name.rstrip("?") for name in opdef.inputs]
    unknown = set(values) - set(names)
    if unknown:
        raise ValueError(f"IR op {opdef.name} has no inputs {sorted(unknown)}")
    return [values.get(name) for name in names]


def _empty_rows(n: NodeCall, mask):
    """[B, 1] float32, 0 for rows of length 0, when sequence_lens may hold a 0: onnxruntime gives such
    rows Y_h = Y_c = 0 (not the initial state), and so does this frontend."""
    if mask is None:
        return None
    lens = n.static(4)
    if lens is not None and np.all(np.asarray(lens) > 0):
        return None
    return n.add1("Slice", [mask], {"axis": 1, "start": 0, "end": 1}, "nonempty")


def _direction(n, cell, opdef, x, weights, states, mask, peep, attrs, d, nonempty=None):
    W, U, b_in, b_rec = weights
    values = {"x": x, "W": n.const(W, f"W{d}"), "U": n.const(U, f"U{d}")}
    if cell == "GRU" and attrs["reset_after"]:
        values["b"], values["rb"] = n.const(b_in, f"b{d}"), n.const(b_rec, f"rb{d}")
    else:
        values["b"] = n.const(b_in + b_rec, f"b{d}")
    values.update({k: v for k, v in states.items() if v is not None})
    if mask is not None:
        values["mask"] = mask
    if peep is not None:
        values["p"] = n.const(peep, f"p{d}")
    outs = list(n.add(IR_OP[cell], _named_inputs(opdef, values), attrs, f"dir{d}"))
    if nonempty is not None:
        outs[1:] = [n.add1("Binary", [s, nonempty], {"fn": "mul"}, f"dir{d}/state{k}")
                    for k, s in enumerate(outs[1:])]
    if attrs["go_backwards"] and attrs["return_sequences"]:
        outs[0] = n.add1("Reverse", [outs[0]], {"axis": 1}, f"dir{d}/y")
    return outs


def _peepholes(n: NodeCall, opdef, dirs: int, hidden: int):
    if not n.has(7):
        return [None] * dirs
    P = _static_f32(n, 7, "P")
    _check(n, "P", P.shape, (dirs, 3 * hidden))
    if not np.any(P):
        return [None] * dirs
    if "p?" not in opdef.inputs:
        raise n.refuse("LSTM peepholes P (this build's IR op LSTM has no input p)")
    return [np.concatenate([np.split(P[d], 3)[k] for k in PEEPHOLE_ORDER]) for d in range(dirs)]


def recurrent(n: NodeCall, cell: str):
    opdef = registry.get(IR_OP[cell])
    layout = int(n.attrs["layout"])
    direction = n.attrs["direction"]
    dirs = {"forward": 1, "reverse": 1, "bidirectional": 2}.get(direction)
    if dirs is None or layout not in (0, 1):
        raise n.refuse(f"direction={direction!r} / layout={layout}")
    x = n.value(0)
    if len(x.shape) != 3:
        raise n.error(f"X must be 3-D, got {dims.fmt_shape(x.shape)}")
    if layout == 0:
        x = n.add1("Transpose", [x], {"perm": (1, 0, 2)}, "x")
    batch, width = x.shape[0], x.shape[2]
    if not dims.is_static(width):
        raise n.error(f"X's feature dim {width} is symbolic; it must match W")
    hidden = int(n.attrs["hidden_size"] or _static_f32(n, 2, "R").shape[-1])
    weights = _weights(n, cell, hidden, dims.evaluate(width, {}))
    if len(weights) != dirs:
        raise n.error(f"W holds {len(weights)} directions, direction={direction!r} needs {dirs}")
    acts = _activations(n, len(DEFAULT_ACTS[cell]), dirs)
    mask = _mask(n, x)
    nonempty = _empty_rows(n, mask)
    peeps = _peepholes(n, opdef, dirs, hidden) if cell == "LSTM" else [None] * dirs
    needs_y = bool(n.node.output) and bool(n.node.output[0])
    results = []
    for d in range(dirs):
        reverse = direction == "reverse" or d == 1
        attrs = _rnn_attrs(n, opdef, cell, acts[d], reverse, needs_y)
        states = {"h0": _state(n, 5, d, layout, batch, hidden)}
        if cell == "LSTM":
            states["c0"] = _state(n, 6, d, layout, batch, hidden)
        results.append(_direction(n, cell, opdef, x, weights[d], states, mask, peeps[d], attrs, d, nonempty))
    return _stack_outputs(n, results, layout, needs_y, batch, hidden)


def _stack_outputs(n: NodeCall, results: list, layout: int, needs_y: bool, batch, hidden: int):
    outs = [None]
    if needs_y:
        ys = [n.add1("Reshape", [r[0]], {"shape": (batch, r[0].shape[1], 1, hidden)}, f"y{d}")
              for d, r in enumerate(results)]
        y = ys[0] if len(ys) == 1 else n.add1("Concat", ys, {"axis": 2}, "y")
        outs[0] = n.add1("Transpose", [y], {"perm": (1, 2, 0, 3)}, "Y") if layout == 0 else y
    for k in range(1, len(results[0])):
        axis = 1 if layout else 0
        shape = (batch, 1, hidden) if layout else (1, batch, hidden)
        parts = [n.add1("Reshape", [r[k]], {"shape": shape}, f"state{k}_{d}") for d, r in enumerate(results)]
        outs.append(parts[0] if len(parts) == 1 else n.add1("Concat", parts, {"axis": axis}, f"Y{k}"))
    return outs


@onnx_op("LSTM", attrs={**COMMON_ATTRS, "input_forget": 0, "output_sequence": 0})
def lstm(n: NodeCall):
    return recurrent(n, "LSTM")


@onnx_op("GRU", attrs={**COMMON_ATTRS, "linear_before_reset": 0, "output_sequence": 0})
def gru(n: NodeCall):
    return recurrent(n, "GRU")


@onnx_op("RNN", attrs={**COMMON_ATTRS, "output_sequence": 0})
def rnn(n: NodeCall):
    return recurrent(n, "RNN")
