"""Run one forward pass of a live chainer.Chain and keep its computational graph.

Chainer models are Python code; only their parameters are data. So the frontend does what Chainer's
own backward pass does: it runs the model once on example inputs (test mode, graph recording on) and
walks the graph from the output Variables back through each Variable's ``creator`` FunctionNode.

Stateful links (``L.LSTM`` keeps ``c`` and ``h``, ``L.StatefulGRU`` keeps ``h`` between calls) get
placeholder state Variables before the call, so that the lateral connection is part of the graph; the
states become graph inputs and their new values graph outputs (``graph.meta["states"]``).
"""

from __future__ import annotations

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
class Trace:
    """The recorded forward pass: what the builder needs to turn it into IR."""
    inputs: list                 # [(name, chainer.Variable)] data inputs in call order
    outputs: list                # [(name, chainer.Variable)]
    states: list                 # [StateSlot]
    params: dict                 # id(VariableNode) -> parameter path without the leading "/"
    keep: list = field(default_factory=list, repr=False)   # keeps nodes alive while building
    links: int = 0


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
    named = _example_inputs(inputs)
    if batch is None:
        batch = int(named[0][1].shape[0]) if named and named[0][1].ndim else 1
    states, saved = _install_states(chain, batch)
    try:
        with chainer.using_config("train", False), chainer.using_config("enable_backprop", True):
            result = (forward or _call)(chain, *[v for _, v in named])
        for slot in states:
            slot.result = getattr(_link_at(chain, slot.link_path), slot.attr)
    except ConversionError:
        raise
    except Exception as e:  # the user's forward failed on the example inputs: say where to look
        detail = " ".join(str(e).split())[:300]
        raise ConversionError(f"the traced forward call raised {type(e).__name__}: {detail}; check the "
                              "example input shapes and dtypes") from None
    finally:
        _restore_states(chain, saved)
    params = {id(p.node): path.lstrip("/") for path, p in chain.namedparams()}
    outputs = _named_outputs(result)
    keep = [v for _, v in named] + [v for _, v in outputs] + [s.result for s in states]
    return Trace(named, outputs, states, params, keep, links=len(list(chain.children())) or 1)


def _call(chain, *args):
    return chain(*args)


def _example_inputs(inputs) -> list:
    import chainer
    if isinstance(inputs, dict):
        items = list(inputs.items())
    elif isinstance(inputs, (list, tuple)):
        items = [(f"input{i}" if len(inputs) > 1 else "x", a) for i, a in enumerate(inputs)]
    else:
        items = [("x", inputs)]
    named = []
    for name, a in items:
        a = a.array if isinstance(a, chainer.Variable) else np.asarray(a)
        if np.issubdtype(a.dtype, np.integer):
            a = a.astype(np.int32)
        elif np.issubdtype(a.dtype, np.floating):
            a = a.astype(np.float32)
        else:
            raise ConversionError(f"example input {name!r} has dtype {a.dtype}; give int or float arrays")
        named.append((str(name), chainer.Variable(a)))
    if not named:
        raise ConversionError("from_chainer needs at least one example input")
    return named


def _link_at(chain, path: str):
    return dict(chain.namedlinks())[path]


def _install_states(chain, batch: int) -> tuple[list, list]:
    """Zero placeholder states for every stateful link; returns (slots, saved states to restore)."""
    import chainer
    slots, saved = [], []
    for path, link in chain.namedlinks():
        attrs = stateful_attrs(link)
        if attrs is None:
            continue
        saved.append((link, {a: getattr(link, a) for a in attrs}))
        prefix = path.strip("/").replace("/", "_") or "state"
        dtype = next(iter(link.params()), None)
        dtype = np.float32 if dtype is None else dtype.dtype
        placeholders = [chainer.Variable(np.zeros((batch, link.state_size), dtype)) for _ in attrs]
        link.set_state(*placeholders)
        # h before c, as the Keras frontend orders an LSTM's states
        for attr, var in sorted(zip(attrs, placeholders), key=lambda p: p[0] != "h"):
            slots.append(StateSlot(f"{prefix}_{attr}", path, attr, var))
    return slots, saved


def _restore_states(chain, saved: list) -> None:
    for link, values in saved:
        for attr, value in values.items():
            setattr(link, attr, value)


def _named_outputs(result) -> list:
    import chainer
    if isinstance(result, chainer.Variable):
        items = [("output", result)]
    elif isinstance(result, dict):
        items = [(str(k), v) for k, v in result.items()]
    elif isinstance(result, (list, tuple)):
        items = [(f"output{i}", v) for i, v in enumerate(result)]
    else:
        raise ConversionError(f"the traced forward call returned {type(result).__name__}; return a "
                              "chainer.Variable, or a tuple/list/dict of them")
    for name, v in items:
        if not isinstance(v, chainer.Variable):
            raise ConversionError(f"output {name!r} is a {type(v).__name__}, not a chainer.Variable; "
                                  "return the Variables the model computes")
    return items
