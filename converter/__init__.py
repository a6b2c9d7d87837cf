"""Webloom: compile trained recurrent models (Keras, Chainer) to WebGPU / WebGL2 / WebAssembly bundles."""

from converter.ir.graph import Graph  # noqa: F401

__version__ = "0.1.0"


def from_keras(model, input_shapes=None) -> Graph:
    """Read a Keras model (path to .h5/.keras, or an in-memory keras.Model) into an IR graph."""
    from converter.api import from_keras as _from_keras
    return _from_keras(model, input_shapes=input_shapes)


def compile(graph: Graph, backend: str = "wasm", **opts):  # noqa: A001 (the API's verb)
    """Optimize and lower a copy of ``graph`` for a backend; returns a Bundle with ``save(path)``."""
    from converter.api import compile as _compile
    return _compile(graph, backend, **opts)


def from_chainer(chain, inputs, forward=None, batch=None) -> Graph:
    """Trace a live chainer.Chain on example inputs into an IR graph (see converter.api.from_chainer)."""
    from converter.api import from_chainer as _from_chainer
    return _from_chainer(chain, inputs, forward=forward, batch=batch)


def from_onnx(model, input_shapes=None, states=None) -> Graph:
    """Read an ONNX model (path or onnx.ModelProto) into an IR graph (see converter.api.from_onnx)."""
    from converter.api import from_onnx as _from_onnx
    return _from_onnx(model, input_shapes=input_shapes, states=states)
