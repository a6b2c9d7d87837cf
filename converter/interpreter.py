"""The numpy interpreter: runs any IR graph with the ops' reference functions. It is the oracle."""

from __future__ import annotations

from typing import Mapping, Sequence, Union

import numpy as np

from converter.ir import dims

Feeds = Union[Sequence, Mapping[str, object]]


def bind_inputs(graph, inputs: Feeds) -> tuple[dict, dict]:
    """Check the feeds against the graph's inputs; return (id(value) -> array, symbol bindings)."""
    if isinstance(inputs, Mapping):
        names = [v.name for v in graph.inputs]
        missing = [n for n in names if n not in inputs]
        extra = [n for n in inputs if n not in names]
        if missing or extra:
            raise ValueError(f"inputs by name: missing {missing}, unknown {extra}; expected {names}")
        arrays = [inputs[n] for n in names]
    else:
        arrays = list(inputs)
        if len(arrays) != len(graph.inputs):
            raise ValueError(f"expected {len(graph.inputs)} inputs "
                             f"({', '.join(v.name for v in graph.inputs)}), got {len(arrays)}")
    env, bindings = {}, {}
    for v, a in zip(graph.inputs, arrays):
        a = np.asarray(a)
        if v.dtype == "int32" and not np.issubdtype(a.dtype, np.integer):
            if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
                raise ValueError(f"input {v.name}: expected int32 values, got {a.dtype} with fractions")
        dims.bind(v.shape, a.shape, bindings, f"input {v.name}")
        env[id(v)] = np.ascontiguousarray(a.astype(v.dtype))
    return env, bindings


def run(graph, inputs: Feeds, return_all: bool = False):
    """Evaluate ``graph``; returns the outputs in order (and the whole environment if ``return_all``)."""
    env, bindings = bind_inputs(graph, inputs)
    for node in graph.nodes:
        args = []
        for v in node.inputs:
            if v is None:
                args.append(None)
            elif v.is_const:
                args.append(v.data)
            else:
                args.append(env[id(v)])
        kwargs = dict(node.attrs)
        if node.opdef.traits.get("needs_bindings"):  # e.g. Reshape to a target with several symbols
            kwargs["bindings"] = bindings
        try:
            results = node.opdef.reference(*args, **kwargs)
        except Exception as e:  # re-raised with the node named: the oracle must point at the op
            shapes = [None if a is None else tuple(np.shape(a)) for a in args]
            raise RuntimeError(f"interpreter: node {node.name} ({node.op}) inputs {shapes}: {e}") from e
        if len(results) != len(node.outputs):
            raise RuntimeError(f"interpreter: {node.op} returned {len(results)} outputs, "
                               f"expected {len(node.outputs)}")
        for out, r in zip(node.outputs, results):
            r = np.asarray(r)
            want = dims.eval_shape(out.shape, bindings)
            if tuple(r.shape) != want:
                raise RuntimeError(f"interpreter: {node.name} ({node.op}) output {out.name} has shape "
                                   f"{r.shape}, shape rule says {want}")
            env[id(out)] = np.ascontiguousarray(r.astype(out.dtype, copy=False))
    outs = []
    for v in graph.outputs:
        outs.append(v.data.copy() if v.is_const else env[id(v)])
    return (outs, env, bindings) if return_all else outs
