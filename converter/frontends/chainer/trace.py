"""Run one forward pass of a live chainer.Chain and keep its computational graph.

Chainer models are Python code; only their parameters are data. So the frontend does what Chainer's
own backward pass does: it runs the model once on example inputs (test mode, graph recording on) and
walks the graph from the output Variables back through each Variable's ``creator`` FunctionNode.

Stateful links (``L.LSTM`` keeps ``c`` and ``h``, ``L.StatefulGRU`` keeps ``h`` between calls) get
placeholder state Variables before the call, so that the lateral connection is part of the graph; the
states become graph inputs and their new values graph outputs (``graph.meta["states"]``).

A list of variable-length arrays (Chainer's way to batch sequences for the NStep links) is one padded
graph input [B, T_MAX, ...] plus an int32 lengths input ``<name>_lengths``; the traced call gets the
list back as rows of the padded Variable, so the builder can tell which padded row each one is. The
NStep links' ``_call`` is wrapped while tracing to record each call (link, states, xs, results), so the
builder converts the link as one fused recurrence instead of Chainer's per-step graph (``nstep.py``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from converter.errors import ConversionError


@dataclass
class StateSlot:
    """One carried state of a stateful link: the placeholder fed in and the Variable it became."""
    name: str            # graph input name, e.g. "l1_h"
    link_path: str       # "/l1"
    attr: str            # "h" or "c"
    placeholder: object  # chainer.Variable fed to the traced call
    result: object = None


@dataclass
class Sequences:
    """A list input of variable-length arrays (sequence b is ``arrays[b]``, its first axis the time).
    ``max_length`` is the padded length T_MAX the graph is built for (default: the longest array)."""
    arrays: list
    max_length: Optional[int] = None


@dataclass
class SequenceInput:
    """A traced list input: the padded graph input, the lengths and the rows handed to the model."""
    name: str
    padded: object       # chainer.Variable [B, T_MAX, ...], the graph input ``name``
    lengths: np.ndarray  # int32 [B], the traced lengths (graph input ``<name>_lengths``)
    rows: list           # chainer.Variable per sequence: padded[b, :lengths[b]]

    @property
    def lengths_name(self) -> str:
        return f"{self.name}_lengths"


@dataclass
class NStepCall:
    """One call of an NStep link recorded while tracing (after its own sorting is undone)."""
    link: object
    path: str
    hs: list             # [hx] or [hx, cx], each a chainer.Variable or None
    xs: list
    hys: list            # [hy] or [hy, cy]
    ys: list


@dataclass
class Trace:
    """The recorded forward pass: what the builder needs to turn it into IR."""
    inputs: list                 # [(name, chainer.Variable)] data inputs in call order
    outputs: list                # [(name, chainer.Variable)]
    states: list                 # [StateSlot]
    params: dict                 # id(VariableNode) -> parameter path without the leading "/"
    keep: list = field(default_factory=list, repr=False)   # keeps nodes alive while building
    links: int = 0
    sequences: list = field(default_factory=list)          # [SequenceInput]
    nsteps: list = field(default_factory=list)             # [NStepCall]


def stateful_attrs(link) -> Optional[tuple]:
    """The state attributes a link carries between calls, in ``set_state`` argument order."""
    import chainer.links as L
    if isinstance(link, L.LSTM):
        return ("c", "h")
    if isinstance(link, L.StatefulGRU):
        return ("h",)
    return None


def trace(chain, inputs, forward: Optional[Callable] = None, batch: Optional[int] = None) -> Trace:
    """Call ``forward(chain, *inputs)`` (default ``chain(*inputs)``) once in test mode and record it.

    ``inputs`` maps a graph input name to an example array (int arrays become int32 inputs, floats
    float32). The states of stateful links are restored afterwards, so tracing does not disturb the model.
    """
    import chainer
    if not isinstance(chain, chainer.Link):
        raise ConversionError(f"from_chainer expects a chainer.Link/Chain, got {type(chain).__name__}; "
                              "build the model in Python and pass the object")
    named, sequences = _example_inputs(inputs)
    if batch is None:
        batch = int(named[0][1].shape[0]) if named and named[0][1].ndim else 1
    args = [next((s.rows for s in sequences if s.padded is v), v) for _, v in named]
    states, saved = _install_states(chain, batch)
    nsteps: list = []
    created: list = []
    try:
        with chainer.using_config("train", False), chainer.using_config("enable_backprop", True), \
                _recording_nstep(chain, nsteps), _keeping_variables(created):
            result = (forward or _call)(chain, *args)
        for slot in states:
            slot.result = getattr(_link_at(chain, slot.link_path), slot.attr)
        # a stateful link the traced method never called (e.g. an encode() beside the decoder's LSTM)
        # carries no state in this graph
        states = [slot for slot in states if slot.result is not slot.placeholder]
    except ConversionError:
        raise
    except Exception as e:  # the user's forward failed on the example inputs: say where to look
        detail = " ".join(str(e).split())[:300]
        raise ConversionError(f"the traced forward call raised {type(e).__name__}: {detail}; check the "
                              "example input shapes and dtypes") from None
    finally:
        _restore_states(chain, saved)
    params = {id(p.node): path.lstrip("/") for path, p in chain.namedparams()}
    outputs = _named_outputs(result, states)
    keep = [v for _, v in named] + [v for _, v in outputs] + [s.result for s in states]
    keep += [s.rows for s in sequences] + nsteps + created
    return Trace(named, outputs, states, params, keep, links=len(list(chain.children())) or 1,
                 sequences=sequences, nsteps=nsteps)


def _call(chain, *args):
    return chain(*args)


def _example_inputs(inputs) -> tuple[list, list]:
    """([(name, graph input Variable)], [SequenceInput]) from the example inputs."""
    import chainer
    if isinstance(inputs, dict):
        items = list(inputs.items())
    elif isinstance(inputs, (list, tuple)):
        items = [(f"input{i}" if len(inputs) > 1 else "x", a) for i, a in enumerate(inputs)]
    else:
        items = [("x", inputs)]
    named, sequences = [], []
    for name, a in items:
        if isinstance(a, Sequences) or _is_sequence_list(a):
            seq = _sequence_input(str(name), a if isinstance(a, Sequences) else Sequences(list(a)))
            sequences.append(seq)
            named.append((seq.name, seq.padded))
            continue
        named.append((str(name), chainer.Variable(_example_array(name, a))))
    if not named:
        raise ConversionError("from_chainer needs at least one example input")
    return named, sequences


def _example_array(name, a) -> np.ndarray:
    import chainer
    try:
        a = a.array if isinstance(a, chainer.Variable) else np.asarray(a)
    except ValueError:
        raise ConversionError(f"example input {name!r} is not an array (sequences of different lengths?); "
                              "give a numpy array, or a list of numpy arrays for a list of sequences"
                              ) from None
    if np.issubdtype(a.dtype, np.integer):
        return a.astype(np.int32)
    if np.issubdtype(a.dtype, np.floating):
        return a.astype(np.float32)
    raise ConversionError(f"example input {name!r} has dtype {a.dtype}; give int or float arrays")


def _is_sequence_list(a) -> bool:
    """An input given as a list/tuple of arrays (each [length, ...]) is one list input."""
    import chainer
    if not isinstance(a, (list, tuple)) or not a:
        return False
    return all(isinstance(x, (np.ndarray, chainer.Variable)) and x.ndim >= 1 for x in a)


def _data(x):
    import chainer
    return x.array if isinstance(x, chainer.Variable) else x


def _sequence_input(name: str, seqs: Sequences) -> SequenceInput:
    import chainer
    import chainer.functions as F
    arrays = [_example_array(f"{name}[{b}]", _data(x)) for b, x in enumerate(seqs.arrays)]
    tails = {(a.shape[1:], a.dtype.name) for a in arrays}
    if len(tails) != 1:
        raise ConversionError(f"list input {name!r}: the sequences differ in shape after the time axis or in "
                              f"dtype ({sorted(tails)}); give arrays [length, ...] of one dtype")
    lengths = np.array([len(a) for a in arrays], np.int32)
    t_max = int(lengths.max()) if seqs.max_length is None else int(seqs.max_length)
    if t_max < int(lengths.max()) or t_max < 1:
        raise ConversionError(f"list input {name!r}: max_length {t_max} is shorter than its longest sequence "
                              f"({int(lengths.max())}); give max_length >= every length, at least 1")
    padded = np.zeros((len(arrays), t_max) + arrays[0].shape[1:], arrays[0].dtype)
    for b, a in enumerate(arrays):
        padded[b, :len(a)] = a
    var = chainer.Variable(padded)
    rows = [F.get_item(var, (b, slice(0, int(n)))) for b, n in enumerate(lengths)]
    return SequenceInput(name, var, lengths, rows)


@contextlib.contextmanager
def _keeping_variables(created: list):
    """Keep every Variable made during the call alive, so that constants a function wraps on the fly
    (``F.average(x, weights=array)``, ``x * numpy_array``) still have their data when converted."""
    import chainer
    original = chainer.Variable.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        created.append(self)

    chainer.Variable.__init__ = init
    try:
        yield
    finally:
        chainer.Variable.__init__ = original


@contextlib.contextmanager
def _recording_nstep(chain, calls: list):
    """Wrap NStepRNNBase._call (behind every NStep link's forward) to record each call."""
    from chainer.links.rnn import n_step_rnn
    original = n_step_rnn.NStepRNNBase._call
    paths = {id(link): path.strip("/") for path, link in chain.namedlinks()}

    def recorded(link, hs, xs, **kwargs):
        hys, ys = original(link, hs, xs, **kwargs)
        calls.append(NStepCall(link, paths.get(id(link), type(link).__name__.lower()), list(hs), list(xs),
                               list(hys), list(ys)))
        return hys, ys

    n_step_rnn.NStepRNNBase._call = recorded
    try:
        yield
    finally:
        n_step_rnn.NStepRNNBase._call = original


def _link_at(chain, path: str):
    return dict(chain.namedlinks())[path]


def state_slots(chain) -> list:
    """[(graph input name, link path, link, attr)] for every stateful link's state, h before c (as the
    Keras frontend orders an LSTM's states)."""
    slots = []
    for path, link in chain.namedlinks():
        prefix = path.strip("/").replace("/", "_") or "state"
        for attr in sorted(stateful_attrs(link) or (), key=lambda a: a != "h"):
            slots.append((f"{prefix}_{attr}", path, link, attr))
    return slots


def _install_states(chain, batch: int) -> tuple[list, list]:
    """Zero placeholder states for every stateful link; returns (slots, saved states to restore)."""
    import chainer
    placeholders, saved = {}, []
    for path, link in chain.namedlinks():
        attrs = stateful_attrs(link)
        if attrs is None:
            continue
        saved.append((link, {a: getattr(link, a) for a in attrs}))
        dtype = next(iter(link.params()), None)
        dtype = np.float32 if dtype is None else dtype.dtype
        made = [chainer.Variable(np.zeros((batch, link.state_size), dtype)) for _ in attrs]
        link.set_state(*made)
        placeholders.update({(path, a): v for a, v in zip(attrs, made)})
    slots = [StateSlot(name, path, attr, placeholders[path, attr])
             for name, path, _, attr in state_slots(chain)]
    return slots, saved


def _restore_states(chain, saved: list) -> None:
    for link, values in saved:
        for attr, value in values.items():
            setattr(link, attr, value)


def _named_outputs(result, states: list) -> list:
    import chainer
    if result is None and states:       # a method called for its effect on the states, e.g. priming
        return []
    if isinstance(result, chainer.Variable):
        items = [("output", result)]
    elif isinstance(result, dict):
        items = [(str(k), v) for k, v in result.items()]
    elif isinstance(result, (list, tuple)):
        items = [(f"output{i}", v) for i, v in enumerate(result)]
    else:
        raise ConversionError(f"the traced forward call returned {type(result).__name__}; return a "
                              "chainer.Variable, or a tuple/list/dict of them (None only when it updates "
                              "a stateful link)")
    for name, v in items:
        is_list = isinstance(v, (list, tuple)) and v and all(isinstance(x, chainer.Variable) for x in v)
        if not (isinstance(v, chainer.Variable) or is_list):
            raise ConversionError(f"output {name!r} is a {type(v).__name__}, not a chainer.Variable; "
                                  "return the Variables the model computes (or a list of sequences)")
    return [(name, list(v) if isinstance(v, (list, tuple)) else v) for name, v in items]
