"""Program -> bundle file (layout in format.py, payload schema in webloom.fbs)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Union

import flatbuffers
import numpy as np

from converter.backends import program as prog
from converter.bundle import format as fmt
from converter.bundle.vendor.fb import Binding as fb_binding
from converter.bundle.vendor.fb import IOSpec as fb_io
from converter.bundle.vendor.fb import KernelSpec as fb_kernel
from converter.bundle.vendor.fb import Program as fb_program
from converter.bundle.vendor.fb import SlotSpec as fb_slot
from converter.bundle.vendor.fb import StepSpec as fb_step
from converter.bundle.vendor.fb import TensorSpec as fb_tensor
from converter.bundle.vendor.fb import ValueRange as fb_range
from converter.bundle.vendor.fb import Workgroup as fb_workgroup


def _json(meta: dict) -> str:
    # Program.validate() checked it is JSON data; sort_keys: the same Program gives the same bytes
    return json.dumps(meta, sort_keys=True, separators=(",", ":"))


def _shape(shape) -> list:
    return [str(d) for d in shape]


def _io(io: prog.IOSpec) -> fb_io.IOSpecT:
    t = fb_io.IOSpecT(name=io.name, tensor=io.tensor, dtype=io.dtype, shape=_shape(io.shape), role=io.role,
                      stateOf=io.state_of)
    if io.valid_range is not None:
        t.validRange = fb_range.ValueRangeT(lo=io.valid_range[0], hi=io.valid_range[1])
    return t


def _tensor(t: prog.TensorSpec) -> fb_tensor.TensorSpecT:
    return fb_tensor.TensorSpecT(id=t.id, name=t.name, dtype=t.dtype, shape=_shape(t.shape), kind=t.kind,
                                 slot=t.slot, weightOffset=t.weight_offset, nbytesExpr=t.nbytes_expr)


def _kernel(k: prog.KernelSpec) -> fb_kernel.KernelSpecT:
    x, y, z = k.workgroup
    return fb_kernel.KernelSpecT(
        name=k.name, entry=k.entry, source=k.source,
        bindings=[fb_binding.BindingT(name=b.name, access=b.access) for b in k.bindings],
        params=list(k.params), workgroup=fb_workgroup.WorkgroupT(x=x, y=y, z=z),
        meta=_json(k.meta))


def _step(s: prog.StepSpec) -> fb_step.StepSpecT:
    return fb_step.StepSpecT(kernel=s.kernel, tensors=np.asarray(s.tensors, dtype=np.int32),
                             params=list(s.params), dispatch=list(s.dispatch))


def _bytes(data: bytes):
    """An optional byte vector: absent (None) when empty, so older readers see no field."""
    return np.frombuffer(data, dtype=np.uint8) if data else None


def encode_payload(p: prog.Program, weight_encodings=None) -> bytes:
    """The FlatBuffers payload (everything but the header and the weights); ``weight_encodings`` from
    converter/bundle/quantize.py when the weights are stored encoded."""
    root = fb_program.ProgramT(
        backend=p.backend, graphName=p.graph_name, symbols=list(p.symbols),
        inputs=[_io(io) for io in p.inputs], outputs=[_io(io) for io in p.outputs],
        tensors=[_tensor(t) for t in p.tensors],
        slots=[fb_slot.SlotSpecT(id=s.id, sizes=list(s.sizes)) for s in p.slots],
        kernels=[_kernel(k) for k in p.kernels], steps=[_step(s) for s in p.steps],
        module=np.frombuffer(p.module, dtype=np.uint8), meta=_json(p.meta),
        moduleRelaxed=_bytes(p.module_relaxed), moduleThreads=_bytes(p.module_threads))
    if weight_encodings is not None:
        root.weightEncodings, root.weightsLength = weight_encodings, len(p.weights)
    size = len(p.module) + len(p.module_relaxed) + len(p.module_threads) + sum(len(k.source) for k in p.kernels)
    builder = flatbuffers.Builder(1024 + size)
    builder.Finish(root.Pack(builder), file_identifier=fmt.FILE_IDENTIFIER)
    return bytes(builder.Output())


def _check_limits(p: prog.Program) -> None:
    """The readers refuse sizes past 4 GiB and params past int32 (checks.check_limits): never write them."""
    from converter.bundle import checks
    error = checks.limit_error(p)
    if error is not None:
        raise prog.ProgramError(f"{error}, beyond what a runtime can run; use smaller static input shapes "
                                "(--input-shape) or leave the dims symbolic")


def encode_bundle(p: prog.Program, weights: str = "float32") -> bytes:
    """The whole bundle file for ``p`` (validated first), its weights stored as ``weights`` ("float32",
    "float16", "int8": see quantize.py)."""
    from converter.bundle import quantize
    try:
        p.validate()
        _check_limits(p)
        blob, encodings = (p.weights, None) if weights == "float32" else quantize.pack(p, weights)
        payload = encode_payload(p, encodings)
    except prog.ProgramError as err:
        raise fmt.BundleError(f"cannot write bundle: {err}") from None
    w_off = fmt.align(fmt.HEADER_SIZE + len(payload))
    body = payload + bytes(w_off - fmt.HEADER_SIZE - len(payload)) + blob
    header = fmt.Header(fmt.FORMAT_VERSION, 0, fmt.crc32(body), len(payload), w_off, len(blob))
    return fmt.pack_header(header) + body


def write_bundle(p: prog.Program, path: Union[str, os.PathLike], weights: str = "float32") -> int:
    """Write ``p`` to ``path`` (conventionally ``model.<backend>.wlm``); return the bytes written."""
    from converter.safefile import write_bytes
    # a fresh temp file renamed over the target: never half a bundle, never a write through a link
    return write_bytes(path, encode_bundle(p, weights))


def bundle_name(backend: str) -> str:
    """The file name of a backend's bundle in an output folder."""
    return f"model.{backend}.wlm"


def save_bundle(p: prog.Program, path: Union[str, os.PathLike], weights: str = "float32") -> Path:
    """The one way bundles reach disk: ``path`` is a file, or a folder (existing, or without a suffix)
    that gets ``model.<backend>.wlm``; parent folders are made. Returns the written path."""
    path = Path(path)
    if path.is_dir() or not path.suffix:
        path = path / bundle_name(p.backend)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bundle(p, path, weights)
    return path
