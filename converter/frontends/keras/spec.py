"""What the Keras loader hands to the graph builder: a model as plain data (docs/design.md section 2).

Every model, Sequential or Functional, Keras 2 or 3, file or in-memory, arrives in one functional form:
layers in config order, each with the calls made to it and its weights in `layer.get_weights()` order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np


class TensorRef(NamedTuple):
    """Output `output` of call number `call` of layer `layer`; equal to the plain tuple form."""
    layer: str
    call: int
    output: int


@dataclass
class CallSpec:
    """One call of a layer: tensor inputs in order, keyword arguments (tensor refs or python values).

    Normalized across Keras versions: `initial_state` is always a kwarg holding a list of refs, and
    kwargs that mean "not given" (None) or only matter in training (`training`) are dropped. Positional
    arguments that are not tensors (Keras 3 op nodes such as `x + 1.0`) are kept in kwargs["_args"],
    the full positional list with refs in place.
    """
    inputs: list
    kwargs: dict = field(default_factory=dict)


@dataclass(eq=False)
class LayerSpec:
    """A layer as saved. InputLayer has no calls; its config always holds `batch_shape` and `dtype`."""
    class_name: str
    name: str
    config: dict
    calls: list
    weights: list

    def weight_bytes(self) -> int:
        return sum(int(np.asarray(w).nbytes) for w in self.weights)


@dataclass
class KerasModelSpec:
    keras_version: str
    major: int
    source: str
    layers: list
    inputs: list
    outputs: list
    name: str = "model"
    meta: dict[str, Any] = field(default_factory=dict)

    def layer(self, name: str) -> LayerSpec:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer named {name!r} in {self.source}")

    def weight_bytes(self) -> int:
        return sum(layer.weight_bytes() for layer in self.layers)

    def call_order(self) -> list:
        """(LayerSpec, call index) pairs in an order where every call comes after what it reads.

        Config order is not enough: a shared layer's second call may read a layer listed after it.
        """
        done = {layer.name for layer in self.layers if not layer.calls}
        pending = [(layer, i) for layer in self.layers for i in range(len(layer.calls))]
        done_calls: set = set()
        order = []
        while pending:
            waiting = []
            for layer, i in pending:
                refs = call_refs(layer.calls[i])
                if all(r.layer in done or (r.layer, r.call) in done_calls for r in refs):
                    order.append((layer, i))
                else:
                    waiting.append((layer, i))
            if len(waiting) == len(pending):
                names = ", ".join(f"{layer.name}#{i}" for layer, i in waiting)
                raise ValueError(f"{self.source}: the layer graph has a cycle or dangling calls: {names}")
            # A call counts as done only after the sweep, so one sweep is one topological level.
            done_calls.update((layer.name, i) for layer, i in pending if (layer, i) not in waiting)
            pending = waiting
        return order


def call_refs(call: CallSpec) -> list:
    """Every TensorRef a call reads: its inputs and any ref nested in its kwargs."""
    refs = list(call.inputs)

    def walk(value):
        if isinstance(value, TensorRef):
            refs.append(value)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
    walk(call.kwargs)
    return refs
