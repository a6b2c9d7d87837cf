"""Lists of variable-length sequences in the Chainer frontend.

Chainer batches sequences as a Python list of arrays ``xs[b]`` of shape [length_b, ...]. In the IR such a
list is one padded value [B, T_MAX, ...] plus an int32 lengths value [B] (a ``SeqValue``). Two things
make lists: a list graph input (``trace.SequenceInput``: the model gets rows ``padded[b, :length_b]``) and
the ``ys`` of an NStep link (``nstep.py``). Each element Variable of a list is a *row*; a row is never an
IR value of its own (its length is only known at run time). Rows are consumed whole:

- ``lift(rows)``: the padded value of a list. A list built by applying the same functions to every row
  (``[embed(x) for x in xs]``) is lifted by converting those functions once on the padded value; only
  functions that act on each time step alone may do this (``LIFTABLE``);
- an NStep link takes a lifted list as its xs; ``F.pad_sequence`` gives the padded value; a returned list
  becomes one padded output, zero past each row's length.

Padded steps of a lifted value hold what the functions compute on zero padding; the consumers above
mask them (the recurrence keeps its state there, outputs are zeroed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from converter.errors import ConversionError
from converter.ir.graph import Value

# functions that act on every time step alone, so they may run on the padded list at once
LIFTABLE = {"EmbedIDFunction", "LinearFunction", "ReLU", "Sigmoid", "Tanh", "LeakyReLU", "ELU", "Exp",
            "Log", "Sqrt", "Absolute", "Neg", "Square", "Softplus", "HardSigmoid", "Clip", "AddConstant",
            "MulConstant", "SubFromConstant", "DivFromConstant", "Dropout", "Copy", "Identity"}
# function attributes that must agree between the rows for one conversion to stand for all of them
SCALAR_ATTRS = ("value", "slope", "alpha", "ignore_label", "beta", "x_min", "x_max", "ratio")


@dataclass
class SeqValue:
    """A list in the IR: padded [B, T, ...] (zeros past each length where ``zero_padded``) + lengths."""
    what: str               # for messages: "list input 'xs'", "the ys of NStep link 'rnn'"
    padded: Value
    lengths: Value          # int32 [B]
    time: int
    zero_padded: bool = True


class SequenceTable:
    """Rows and NStep results of one trace, and the IR values standing for them."""

    def __init__(self, builder):
        self.b = builder
        self.rows: dict[int, tuple] = {}        # id(row node) -> (source, b); source: SeqValue | NStepCall
        self.pending: dict[int, object] = {}    # id(hy/cy node) -> NStepCall not converted yet
        self.converted: dict[int, SeqValue] = {}   # id(NStepCall) -> its ys
        self.masks: dict[int, Value] = {}          # id(lengths value) -> its float32 mask
        self.by_input: dict[int, object] = {id(s.padded.node): s for s in builder.trace.sequences}
        for call in builder.trace.nsteps:
            for h in call.hys:
                self.pending[id(h.node)] = call
            for k, y in enumerate(call.ys):
                self.rows[id(y.node)] = (call, k)

    # ---- graph inputs ----------------------------------------------------------------------------
    def add_input(self, name: str, var) -> None:
        """After the padded input ``name`` is added: its lengths input, and its rows."""
        seq = self.by_input.get(id(var.node))
        if seq is None:
            return
        g = self.b.g
        padded = self.b.entries[id(var.node)][0]
        lengths = g.input(seq.lengths_name, "int32", (int(var.shape[0]),))
        # what the caller puts in the padding is unknown: consumers mask it
        source = SeqValue(f"list input {name!r}", padded, lengths, int(var.shape[1]), zero_padded=False)
        for k, row in enumerate(seq.rows):
            self.rows[id(row.node)] = (source, k)

    # ---- rows and NStep results ------------------------------------------------------------------
    def resolve(self, vnode) -> None:
        """Called for a value not converted yet: converts a pending NStep call (its hy/cy); a row used
        directly by a function stops with what to do instead."""
        key = id(vnode)
        if key in self.pending:
            self._convert_nstep(self.pending[key])
        elif key in self.rows:
            source, k = self.rows[key]
            what = source.what if isinstance(source, SeqValue) else f"the ys of NStep link {source.path!r}"
            user = self.b.consumers[-1] if self.b.consumers else "the model's output"
            raise ConversionError(f"sequence {k} of {what} is used by {user}: a list of variable-length "
                                  "sequences can feed NStep links (through per-step functions such as "
                                  "EmbedID or Linear), F.pad_sequence, or be returned whole; use hy, or "
                                  "F.pad_sequence(ys), instead (docs/chainer.md)")

    def _convert_nstep(self, call) -> SeqValue:
        if id(call) not in self.converted:
            from converter.frontends.chainer.nstep import convert_nstep
            for h in call.hys:
                self.pending.pop(id(h.node), None)
            ys, states = convert_nstep(self.b, call)
            for h, value in zip(call.hys, states):
                self.b.entries[id(h.node)] = (value, "chainer")
            self.converted[id(call)] = ys
        return self.converted[id(call)]

    def row(self, vnode) -> Optional[tuple]:
        """(SeqValue, b) when vnode is row b of a list, else None."""
        found = self.rows.get(id(vnode))
        if found is None:
            return None
        source, k = found
        return (source if isinstance(source, SeqValue) else self._convert_nstep(source)), k

    # ---- lifting ---------------------------------------------------------------------------------
    def lift(self, nodes: list, what: str) -> tuple[Value, SeqValue]:
        """The padded IR value of the list ``nodes`` (VariableNodes) and the list it comes from."""
        rows = [self.row(n) for n in nodes]
        if all(r is not None for r in rows):
            seq = rows[0][0]
            if any(r[0] is not seq for r in rows) or [r[1] for r in rows] != list(range(len(nodes))) \
                    or len(nodes) != int(seq.padded.shape[0]):
                raise ConversionError(f"{what}: the list must hold every sequence of {seq.what} in its "
                                      "order (no reordering, subsets or mixing of lists)")
            return seq.padded, seq
        fns = [n.creator_node for n in nodes]
        first = fns[0]
        if any(r is not None for r in rows):
            raise ConversionError(f"{what}: some of its sequences come straight from a list and others "
                                  "through functions; apply the same functions to every sequence")
        if first is None:
            raise ConversionError(f"{what}: its sequences must come from a list input or an NStep link's "
                                  "ys (each through the same per-step functions); a list of constants or "
                                  "of separate inputs cannot be converted")
        cls = type(first).__name__
        if cls not in LIFTABLE:
            raise ConversionError(f"{what}: Chainer function {cls} is applied to each sequence; only "
                                  f"per-step functions ({', '.join(sorted(LIFTABLE))}) can be; apply it "
                                  "after F.pad_sequence")
        self._same_function(fns, what)
        data = [i for i, node in enumerate(first.inputs) if self.b.array(node) is None]
        if len(data) != 1:
            raise ConversionError(f"{what}: {cls} takes {len(data)} computed inputs; only one can be a list")
        inner, seq = self.lift([f.inputs[data[0]] for f in fns], what)
        return self._apply(first, data[0], inner), seq

    def _same_function(self, fns: list, what: str) -> None:
        first = fns[0]
        for f in fns[1:]:
            same = type(f) is type(first) and len(f.inputs) == len(first.inputs)
            same = same and all(self.b.array(a) is None or a is b for a, b in zip(f.inputs, first.inputs))
            same = same and all(_attr(f, k) == _attr(first, k) for k in SCALAR_ATTRS)
            if not same:
                raise ConversionError(f"{what}: its sequences go through different functions or parameters "
                                      f"({type(first).__name__} vs {type(f).__name__}); apply the same "
                                      "links to every sequence")

    def _apply(self, fnode, index: int, inner: Value) -> Value:
        """Convert ``fnode`` once with its list input ``index`` standing for the padded ``inner``."""
        from converter.frontends.chainer.builder import HANDLERS, Call
        key = id(fnode.inputs[index])
        self.b.entries[key] = (inner, "chainer")
        self.b.consumers.append(type(fnode).__name__)
        try:
            result = HANDLERS[type(fnode).__name__](Call(self.b, fnode))[0]
        finally:
            self.b.consumers.pop()
            del self.b.entries[key]
        return result[0] if isinstance(result, tuple) else result

    # ---- masks and outputs -----------------------------------------------------------------------
    def mask(self, seq: SeqValue) -> Value:
        """float32 [B, T]: 1 where step t of row b is valid (t < lengths[b]), the IR's LengthMask (one per
        lengths value; a length above T counts as T, a negative one as 0)."""
        key = id(seq.lengths)
        if key not in self.masks:
            self.masks[key] = self.b.g.add1("LengthMask", [seq.lengths, seq.padded],
                                            name=f"{seq.lengths.name}/mask")
        return self.masks[key]

    def zero_padding(self, value: Value, seq: SeqValue) -> Value:
        """``value`` [B, T, ...] with every step past a row's length set to zero."""
        mask = self.mask(seq)
        if value.dtype == "int32":
            mask = self.b.g.add1("Cast", [mask], {"to": "int32"}, name=f"{value.name}/mask")
        shape = tuple(value.shape[:2]) + (1,) * (len(value.shape) - 2)
        if len(shape) > 2:
            mask = self.b.g.add1("Reshape", [mask], {"shape": shape}, name=f"{value.name}/mask")
        return self.b.g.add1("Binary", [value, mask], {"fn": "mul"}, name=f"{value.name}/zero_padding")

    def padded_output(self, vars_: list, name: str) -> Value:
        value, seq = self.lift([v.node for v in vars_], f"output {name!r}")
        return value if (value is seq.padded and seq.zero_padded) else self.zero_padding(value, seq)

    def merge_outputs(self, outputs: list) -> list:
        """A model returning its list of sequences (``return ys``) traces as one output per sequence;
        those become one padded output ``output``."""
        if len(outputs) > 1 and all(not isinstance(v, list) and id(v.node) in self.rows
                                    for _, v in outputs):
            return [("output", [v for _, v in outputs])]
        return outputs


def _attr(fnode, key):
    value = getattr(fnode, key, None)
    return np.asarray(value).tolist() if isinstance(value, np.ndarray) else value
