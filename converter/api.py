"""The Python entry points: model in, IR graph out."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Optional

from converter.frontends.keras.loader import load_keras
from converter.frontends.keras.spec import KerasModelSpec
from converter.ir.graph import Graph


def load_keras_spec(path_or_model) -> KerasModelSpec:
    """The parsed model (layers, calls, weights) without building a graph; see docs/design.md section 2."""
    return load_keras(path_or_model)


def from_keras(path_or_model, input_shapes: Optional[dict] = None) -> Graph:
    """An IR graph from a `.h5`/`.keras` path or an in-memory keras.Model.

    `input_shapes` maps an input name to a full shape (batch first) whose ints fix dims the model
    leaves free and whose `None`s stay symbolic, e.g. `{"x": [None, 20, 8]}`.
    Raises ConversionError with a one-line message for anything that cannot be converted.
    """
    from converter.frontends.keras.builder import build_graph
    spec = load_keras(path_or_model)
    return build_graph(spec, input_shapes)


class Bundle:
    """A compiled model for one backend: ``program`` (see docs/design.md section 4), ``to_bytes()``,
    ``save(path)`` (a file path, or a folder that gets ``model.<backend>.wlm``)."""

    def __init__(self, backend: str, program):
        self.backend = backend
        self.program = program

    def to_bytes(self) -> bytes:
        from converter.bundle import encode_bundle
        return encode_bundle(self.program)

    def save(self, path) -> "Path":
        from converter.backends import bundle_name
        from converter.bundle import write_bundle
        path = Path(path)
        if path.is_dir() or not path.suffix:
            path = path / bundle_name(self.backend)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bundle(self.program, path)
        return path

    def __repr__(self):
        p = self.program
        return (f"Bundle({self.backend}: {len(p.kernels)} kernels, {len(p.steps)} steps, "
                f"{len(p.weights)} weight bytes)")


def compile(graph: Graph, backend: str = "wasm", **opts) -> Bundle:  # noqa: A001 (the API's verb)
    """Optimize and lower a copy of ``graph`` for ``backend`` ("wasm", "webgpu", "webgl")."""
    from converter import backends
    return Bundle(backend, backends.lower(backend, copy.deepcopy(graph), **opts))


def from_onnx(path_or_proto, input_shapes: Optional[dict] = None, states=None) -> Graph:
    """An IR graph from an ONNX file path or an ``onnx.ModelProto`` (read with the onnx package only).

    ``input_shapes`` maps an input name to a full shape whose ints fix symbolic dims (``dim_param``) and
    whose ``None``s keep them free. ``states`` lists ``(input, output)`` name pairs carried as state
    (``runner.step()``). ``run(xs)`` takes the inputs in the model's order (or a dict by name) and returns
    the outputs in its order; int64 inputs become int32. Raises ConversionError (one line).
    """
    from converter.frontends.onnx import build_graph, load_onnx
    return build_graph(load_onnx(path_or_proto), input_shapes, states)


def from_chainer(chain, inputs, forward=None, batch: Optional[int] = None) -> Graph:
    """An IR graph traced from one forward pass of a live ``chainer.Chain`` (test mode).

    ``inputs`` maps graph input names to example arrays (or is a list of arrays), passed positionally to
    ``forward(chain, *arrays)`` (default ``chain(*arrays)``). Shapes are those of the examples. Stateful
    links (``L.LSTM``, ``L.StatefulGRU``) get their states as extra inputs ``<link>_h``/``<link>_c`` and
    outputs ``<link>_h_next``/...; ``batch`` sets the states' batch size (default: the first input's).
    Raises ConversionError with a one-line message for anything that cannot be converted.
    """
    from converter.frontends.chainer import build_graph, trace
    return build_graph(trace(chain, inputs, forward=forward, batch=batch))
