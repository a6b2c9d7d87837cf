"""The NStep links (``L.NStepLSTM``, ``L.NStepGRU``, ``L.NStepRNNTanh``/``ReLU`` and their ``NStepBi*``
twins) as fused, masked recurrences over the padded list.

Chainer runs them on a list of variable-length sequences (sorted, transposed, one small graph per time
step). Here each layer and direction is one IR recurrence over the padded [B, T, D] value with the
lengths as the mask: a padded step keeps the state and outputs zeros, so ``ys`` is zero past each length
and the final state is the state at each row's own last step, which is Chainer's ``hy``/``cy``.

The backward direction of a right-padded batch runs ``go_backwards`` with the same mask: it meets the
padding first (masked, the state stays the initial one), then the valid steps from the last to the
first; its sequence output is in processing order, so it is reversed along time to line up with the
forward direction's.

Chainer's weight names per layer and direction (``link[k].w0...``), each W [H, in] and b [H]:
LSTM w0..w3 input -> i, f, a (cell candidate), o and w4..w7 the same from h (F.n_step_lstm stacks them
as a, i, f, o); GRU w0..w2 input -> r, z, h~ and w3..w5 from h, h~ = tanh(W2 x + b2 + r * (W5 h + b5));
RNN w0 input, w1 from h. They are concatenated in that order and the op's ``gate_layout`` says so
(the IR's recurrent-cell descriptor, ``converter/ops/recurrent.py``, reorders them).
"""

from __future__ import annotations

import numpy as np

from converter.errors import ConversionError
from converter.frontends.chainer.sequences import SeqValue
from converter.ops.recurrent import CELLS, Cell

# link class name -> (IR cell kind, activation)
KINDS = {"NStepLSTM": ("lstm", "tanh"), "NStepBiLSTM": ("lstm", "tanh"),
         "NStepGRU": ("gru", "tanh"), "NStepBiGRU": ("gru", "tanh"),
         "NStepRNNTanh": ("rnn", "tanh"), "NStepBiRNNTanh": ("rnn", "tanh"),
         "NStepRNNReLU": ("rnn", "relu"), "NStepBiRNNReLU": ("rnn", "relu")}
# Chainer's gate order in w0, w1, ... (the same again from h): the IR op's gate_layout (a = candidate)
CHAINER_GATES = {"lstm": "ifao", "gru": "rzh", "rnn": "h"}


def _kind(link) -> tuple[Cell, str]:
    import chainer.links as L
    for exact in (True, False):           # a user subclass of one of them too
        for name, (kind, activation) in KINDS.items():
            cls = getattr(L, name, None)
            if cls is not None and (type(link) is cls if exact else isinstance(link, cls)):
                return CELLS[kind], activation
    raise ConversionError(f"NStep link {type(link).__name__} is not supported; use one of "
                          f"{', '.join(KINDS)}")


def _weights(cell: Cell, w: list, b: list) -> dict:
    """The cell's weight inputs in Chainer's gate order: W [in, gates*H], U [H, gates*H], the biases.
    GRU keeps the recurrent bias apart (it sits inside r * (W_h h + b_h)); the others add the two."""
    n = cell.n_gates
    cat = lambda parts: np.concatenate(parts, axis=0)  # noqa: E731
    given = {"W": cat(w[:n]).T, "U": cat(w[n:]).T}
    if "rb" in cell.weights:
        given.update(b=cat(b[:n]), rb=cat(b[n:]))
    else:
        given["b"] = cat(b[:n]) + cat(b[n:])
    return given


class _NStep:
    def __init__(self, builder, call):
        self.b, self.g, self.call = builder, builder.g, call
        self.link = call.link
        self.cell_kind, self.activation = _kind(self.link)
        self.dirs, self.layers, self.hidden = self.link.direction, self.link.n_layers, self.link.out_size

    def initial(self, k: int, index: int):
        """Layer/direction ``index``'s initial state from hs[k] ([L*D, B, H]); None = zeros."""
        var = self.call.hs[k] if k < len(self.call.hs) else None
        if var is None:
            return None
        value = self.b.value(var.node)
        want = (self.layers * self.dirs, None, self.hidden)
        if len(value.shape) != 3 or value.shape[0] != want[0] or value.shape[2] != want[2]:
            raise ConversionError(f"NStep link {self.call.path!r}: state {k} has shape {value.shape}, "
                                  f"expected [{want[0]}, batch, {want[2]}]")
        one = self.g.add1("Slice", [value], {"axis": 0, "start": index, "end": index + 1},
                          name=f"{self.call.path}/{index}/h0")
        return self.g.add1("Reshape", [one], {"shape": tuple(value.shape[1:])},
                           name=f"{self.call.path}/{index}/h0")

    def cell(self, x, mask, index: int, backwards: bool):
        """One layer/direction: (y [B, T, H] in time order, final states)."""
        params = self.link[index]
        n = self.link.n_weights
        w = [np.asarray(getattr(params, f"w{j}").array, np.float32) for j in range(n)]
        b = [np.asarray(getattr(params, f"b{j}").array, np.float32) for j in range(n)]
        name = f"{self.call.path}/{index}"
        weights = {k: self.g.const(f"{name}/{k}", v) for k, v in _weights(self.cell_kind, w, b).items()}
        attrs = {"return_sequences": True, "go_backwards": backwards, "zero_output_for_mask": True,
                 "activation": self.activation}
        if self.cell_kind.n_gates > 1:
            attrs["gate_layout"] = CHAINER_GATES[self.cell_kind.kind]
        states = [self.initial(k, index) for k in range(len(self.cell_kind.states))]
        inputs = [x] + [weights[k] for k in self.cell_kind.weights] + states + [mask]
        y, *final = self.g.add(self.cell_kind.op, inputs, attrs, name=name)
        if backwards:
            y = self.g.add1("Reverse", [y], {"axis": 1}, name=f"{name}/reverse")
        return y, final

    def stacked(self, states: list, k: int):
        """hy (k=0) or cy (k=1): the final states of every layer and direction, [L*D, B, H]."""
        parts = []
        for index, s in enumerate(states):
            shape = (1,) + tuple(s[k].shape)
            name = f"{self.call.path}/{index}/{'hc'[k]}y"
            parts.append(self.g.add1("Reshape", [s[k]], {"shape": shape}, name=name))
        if len(parts) == 1:
            return parts[0]
        return self.g.add1("Concat", parts, {"axis": 0}, name=f"{self.call.path}/{'hc'[k]}y")

    def convert(self):
        x, seq = self.b.seqs.lift([v.node for v in self.call.xs], f"the xs of NStep link {self.call.path!r}")
        if x.dtype != "float32" or len(x.shape) != 3:
            raise ConversionError(f"NStep link {self.call.path!r}: its xs are {x.dtype} sequences of shape "
                                  f"[length, {', '.join(map(str, x.shape[2:]))}]; give float32 [length, "
                                  "features] (embed ids first with L.EmbedID)")
        mask = self.b.seqs.mask(seq)
        states = []
        for layer in range(self.layers):
            outs = []
            for d in range(self.dirs):
                y, s = self.cell(x, mask, layer * self.dirs + d, backwards=d == 1)
                outs.append(y)
                states.append(s)
            x = outs[0] if self.dirs == 1 else self.g.add1("Concat", outs, {"axis": 2},
                                                           name=f"{self.call.path}/{layer}/ys")
        ys = SeqValue(f"the ys of NStep link {self.call.path!r}", x, seq.lengths, seq.time)
        n_states = len(self.call.hys)
        return ys, [self.stacked(states, k) for k in range(n_states)]


def convert_nstep(builder, call) -> tuple[SeqValue, list]:
    """(ys as a SeqValue, [hy] or [hy, cy]) for one recorded NStep call."""
    return _NStep(builder, call).convert()
