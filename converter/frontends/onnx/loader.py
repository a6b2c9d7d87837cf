"""Reads an ONNX model with the ``onnx`` package only: protobuf parsing, no custom ops, no code run.

``load_onnx(path_or_proto) -> OnnxModel`` checks what the builder relies on and turns every failure
into a one-line ConversionError naming the file and the cause: not protobuf, truncated, no graph, an
opset outside the supported range, external data whose location escapes the model's folder or is
missing, a node input that nothing produces, a cycle, a second producer of a name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from converter.errors import ConversionError

MIN_OPSET = 7           # the oldest LSTM/GRU/RNN definitions this frontend maps
# The newest opset is the installed onnx package's: every handler checks its op's attributes and refuses
# unknown ones, so an op that changed by growing an attribute is refused by name, not misread.
MAX_OPSET = 28
SUPPORTED_DOC = "docs/onnx.md"
DEFAULT_DOMAINS = ("", "ai.onnx")


@dataclass
class OnnxModel:
    """What the builder needs from a ModelProto."""
    source: str                       # path or "<memory>"
    graph: object                     # onnx.GraphProto, nodes in topological order
    opset: int                        # default-domain opset version
    initializers: dict = field(default_factory=dict)   # name -> numpy array (external data read)
    producer: str = ""                # e.g. "pytorch 2.13.0"


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ConversionError("reading ONNX files needs the 'onnx' package: pip install onnx") from None
    return onnx


def load_onnx(path_or_proto) -> OnnxModel:
    onnx = _onnx()
    if isinstance(path_or_proto, onnx.ModelProto):
        model, source, folder = path_or_proto, "<memory>", None
    else:
        source = str(path_or_proto)
        model, folder = _parse_file(onnx, Path(path_or_proto)), Path(path_or_proto).resolve().parent
    where = f"{source}"
    _check_text(model, where)
    if not model.HasField("graph"):
        raise ConversionError(f"{where}: the file holds no ONNX graph (empty or not an ONNX model); "
                              "export it again with torch.onnx.export or tf2onnx")
    opset = _opset(model, where)
    inits = {t.name: _tensor(onnx, t, folder, where) for t in model.graph.initializer}
    graph = model.graph
    _check_graph(graph, inits, where)
    producer = f"{model.producer_name} {model.producer_version}".strip()
    return OnnxModel(source, graph, opset, inits, producer)


def _check_text(message, where: str) -> None:
    """Refuse string fields that are not UTF-8: protobuf hands them back as bytes, which every later
    step (names, domains, dim_params) would trip over (found by tests/fuzz). Iterative: files nest."""
    stack = [message]
    while stack:
        msg = stack.pop()
        for desc, value in msg.ListFields():
            values = value if desc.is_repeated else [value]
            if desc.type == desc.TYPE_STRING and any(isinstance(v, bytes) for v in values):
                raise ConversionError(f"{where}: field {desc.name} holds text that is not UTF-8; the file is "
                                      "damaged — export the model again")
            if desc.type == desc.TYPE_MESSAGE:
                stack.extend(values)


def _parse_file(onnx, path: Path):
    if not path.is_file():
        raise ConversionError(f"{path}: no such ONNX file")
    data = path.read_bytes()
    if not data:
        raise ConversionError(f"{path}: the file is empty; export the model again")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as e:  # protobuf's DecodeError and friends: the bytes are not a ModelProto
        raise ConversionError(f"{path}: not a valid ONNX protobuf file (truncated or another format: "
                              f"{type(e).__name__}: {e}); export the model again") from None
    return model


def _opset(model, where: str) -> int:
    versions = {o.domain: int(o.version) for o in model.opset_import}
    used = {n.domain for n in model.graph.node} - set(DEFAULT_DOMAINS)
    if used:
        raise ConversionError(f"{where}: nodes of the custom domain(s) {', '.join(sorted(used))} cannot be "
                              f"converted (only standard ONNX ops); see {SUPPORTED_DOC}")
    opset = max([versions.get(d, 0) for d in DEFAULT_DOMAINS] or [0])
    if opset == 0:
        raise ConversionError(f"{where}: the model imports no default-domain opset; the file looks damaged")
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ConversionError(f"{where}: opset {opset} is outside the supported range "
                              f"{MIN_OPSET}..{MAX_OPSET}; "
                              f"re-export with opset_version={min(max(opset, MIN_OPSET), MAX_OPSET)} "
                              f"(see {SUPPORTED_DOC})")
    return opset


def _tensor(onnx, proto, folder: Optional[Path], where: str) -> np.ndarray:
    from onnx import numpy_helper
    what = f"{where}: initializer '{proto.name}'"
    if proto.data_location == onnx.TensorProto.EXTERNAL:
        return _external(onnx, proto, folder, what)
    try:
        return numpy_helper.to_array(proto)
    except Exception as e:  # wrong byte count for its dims, unknown dtype
        raise ConversionError(f"{what} cannot be read ({type(e).__name__}: {e}); the file is "
                              "damaged") from None


def _external(onnx, proto, folder: Optional[Path], what: str) -> np.ndarray:
    """Read external weights ourselves so that the location is checked before any file is opened."""
    from onnx import helper
    info = {e.key: e.value for e in proto.external_data}
    location = info.get("location", "")
    if folder is None:
        raise ConversionError(f"{what} is stored as external data ({location!r}); pass the model's path, "
                              "not an in-memory ModelProto, so the data file can be found")
    target = (folder / location).resolve()
    if not location or os.path.isabs(location) or folder.resolve() not in target.parents:
        raise ConversionError(f"{what}: external data location {location!r} escapes the model's folder "
                              f"{folder}; refusing to read it (keep the data file next to the model)")
    if not target.is_file():
        raise ConversionError(f"{what}: external data file {location!r} is missing next to the model")
    try:
        offset, length = int(info.get("offset", 0)), int(info.get("length", -1))
    except ValueError:
        raise ConversionError(f"{what}: external data offset/length are not integers") from None
    dtype = helper.tensor_dtype_to_np_dtype(proto.data_type)
    count = int(np.prod(proto.dims, dtype=np.int64)) if len(proto.dims) else 1
    want = count * np.dtype(dtype).itemsize
    size = target.stat().st_size
    if length < 0:
        length = size - offset
    if offset < 0 or length != want or offset + length > size:
        raise ConversionError(f"{what}: external data ({location!r} offset {offset} length {length}) does "
                              f"not hold the {want} bytes its dims {tuple(proto.dims)} need; file damaged")
    with open(target, "rb") as f:
        f.seek(offset)
        raw = f.read(length)
    return np.frombuffer(raw, dtype=dtype).reshape(tuple(proto.dims)).copy()


def _check_graph(graph, inits: dict, where: str) -> None:
    """Every node input is produced before use (topological order; also catches cycles)."""
    known = set(inits) | {i.name for i in graph.input} | {""}
    produced_by: dict = {}
    pending = list(graph.node)
    for node in pending:
        for name in node.output:
            if name and (name in produced_by or name in inits):
                raise ConversionError(f"{where}: tensor '{name}' is produced twice (node '{node.name}' and "
                                      f"{produced_by.get(name, 'an initializer')}); the graph is invalid")
            produced_by[name] = f"node '{node.name}'"
    later = set(produced_by)
    for node in pending:
        for name in node.input:
            if name not in known:
                if name in later:
                    raise ConversionError(f"{where}: node '{node.name}' ({node.op_type}) reads '{name}' "
                                          "before "
                                          "it is produced (a cycle or unsorted nodes); the graph is invalid")
                raise ConversionError(f"{where}: node '{node.name}' ({node.op_type}) reads '{name}', "
                                      "which is "
                                      "no input, initializer or node output (missing initializer?)")
        known.update(node.output)
    for out in graph.output:
        if not out.name or out.name not in known:     # "" in known stands for omitted optional inputs
            raise ConversionError(f"{where}: graph output '{out.name}' is produced by no node")
