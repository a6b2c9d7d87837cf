"""The Python entry points: model in, IR graph out."""

from __future__ import annotations

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
