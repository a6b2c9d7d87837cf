"""ONNX frontend: an ONNX file (or ModelProto) read with the onnx package -> IR graph.

``build_graph(load_onnx(path), input_shapes, states)``; handlers per op type in ``ops_*.py``; see
docs/onnx.md for what converts and the conformance table.
"""

from converter.frontends.onnx.builder import build_graph  # noqa: F401
from converter.frontends.onnx.loader import load_onnx  # noqa: F401
