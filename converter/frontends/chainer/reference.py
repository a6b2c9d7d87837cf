"""Chainer's own outputs for `--verify` (converter/conversion.py ``_reference``): the user's chain, the one
the CLI built and traced, run forward again on the sample inputs (test mode, no backprop).

Exact on the graph's terms: stateful links start from the graph's state inputs (``set_state``) and their
new states are the ``*_next`` outputs; a list input comes back from its padded array + lengths as the
list of arrays the chain takes, and a list output goes out padded with zeros, as the graph's does.
"""

from __future__ import annotations

import numpy as np

from converter.frontends.chainer.trace import Sequences, state_slots


def chainer_reference(chain, examples: dict, forward, graph):
    """``fn(arrays in graph-input order) -> (label, outputs in graph-output order)``. ``examples`` are
    the traced inputs (name -> array or Sequences); names and shapes are taken now, before --rename."""
    names = [v.name for v in graph.inputs]
    shapes = [tuple(int(d) for d in v.shape) for v in graph.outputs]
    states = [p["output"] for p in graph.meta.get("states", []) or []]

    def run(arrays):
        import chainer
        given = dict(zip(names, arrays))
        slots = {name: (link, attr) for name, _, link, attr in state_slots(chain)}
        args = [_argument(name, example, given) for name, example in examples.items()]
        saved = [(link, attr, getattr(link, attr)) for link, attr in slots.values()]
        try:
            _set_states(slots, given)
            with chainer.using_config("train", False), chainer.no_backprop_mode():
                result = forward(chain, *args) if forward else chain(*args)
            nexts = [getattr(*slots[out[:-len("_next")]]) for out in states]
        finally:
            for link, attr, value in saved:
                setattr(link, attr, value)
        data = _outputs(result, shapes[:len(shapes) - len(states)])
        return f"chainer {chainer.__version__}", data + [np.asarray(v.array) for v in nexts]
    return run


def _argument(name, example, given):
    import chainer
    if not isinstance(example, Sequences):
        return chainer.Variable(given[name])
    padded, lengths = given[name], given[f"{name}_lengths"]     # lengths checked to lie in [0, T_MAX]
    if not lengths.all():
        raise ValueError(f"list input {name!r} holds an empty sequence, which Chainer's NStep links refuse")
    return [chainer.Variable(padded[b, :n]) for b, n in enumerate(lengths)]


def _set_states(slots: dict, given: dict) -> None:
    """Each link's state from the graph's state inputs, in ``set_state`` order (L.LSTM: c, h)."""
    import chainer
    from converter.frontends.chainer.trace import stateful_attrs
    links = {id(link): link for link, _ in slots.values()}
    for link in links.values():
        by_attr = {attr: name for name, (l, attr) in slots.items() if l is link}
        if all(name in given for name in by_attr.values()):
            link.set_state(*(chainer.Variable(given[by_attr[a]]) for a in stateful_attrs(link)))


def _outputs(result, shapes: list) -> list:
    """The chain's result as the graph's data outputs (the trace's naming and merging rules)."""
    import chainer
    if result is None:
        items = []
    elif isinstance(result, dict):
        items = list(result.values())
    elif isinstance(result, (list, tuple)):
        items = list(result)
    else:
        items = [result]
    if len(shapes) == 1 and len(items) > 1 and all(isinstance(v, chainer.Variable) for v in items):
        items = [items]                 # a returned list of sequences is one padded output
    if len(items) != len(shapes):
        raise ValueError(f"the chain returned {len(items)} outputs, the graph has {len(shapes)}")
    return [_padded(v, shape) if isinstance(v, (list, tuple)) else np.asarray(v.array)
            for v, shape in zip(items, shapes)]


def _padded(rows, shape) -> np.ndarray:
    out = np.zeros(shape, np.asarray(rows[0].array).dtype)
    for b, row in enumerate(rows):
        out[b, :len(row)] = row.array
    return out
