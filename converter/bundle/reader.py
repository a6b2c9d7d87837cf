"""Bundle file -> Program (the inverse of writer.py); every check names what is wrong with the file."""

from __future__ import annotations

import struct
import os
from pathlib import Path
from typing import Union

from converter.backends import program as prog
from converter.bundle import checks
from converter.bundle.expr import ExprError
from converter.bundle import format as fmt
from converter.bundle.vendor.fb import Program as fb_program


def _list(items) -> list:
    return list(items) if items is not None else []


def _texts(items) -> list:
    # the object API decodes string fields but leaves vectors of strings as bytes
    return [t.decode("utf-8") if isinstance(t, bytes) else t for t in _list(items)]


def _dim(text: str):
    return int(text) if text.isascii() and text.isdigit() else text


def _shape(items) -> tuple:
    return tuple(_dim(d) for d in _texts(items))


def _meta(text, what: str = "meta") -> dict:
    return checks.load_json(text, what)


def _io(t) -> prog.IOSpec:
    vr = (t.validRange.lo, t.validRange.hi) if t.validRange is not None else None
    return prog.IOSpec(name=t.name, tensor=t.tensor, dtype=t.dtype, shape=_shape(t.shape), role=t.role,
                       valid_range=vr, state_of=t.stateOf)


def _tensor(t) -> prog.TensorSpec:
    return prog.TensorSpec(id=t.id, name=t.name, dtype=t.dtype, shape=_shape(t.shape), kind=t.kind,
                           slot=t.slot, weight_offset=t.weightOffset, nbytes_expr=t.nbytesExpr or "")


def _kernel(k) -> prog.KernelSpec:
    wg = k.workgroup
    return prog.KernelSpec(
        name=k.name, entry=k.entry, source=k.source or "",
        bindings=[prog.Binding(b.name, b.access) for b in _list(k.bindings)], params=_texts(k.params),
        workgroup=(wg.x, wg.y, wg.z) if wg is not None else (1, 1, 1), meta=_meta(k.meta, "kernel meta"))


def _step(s) -> prog.StepSpec:
    return prog.StepSpec(kernel=s.kernel, tensors=[int(t) for t in _list(s.tensors)], params=_texts(s.params),
                         dispatch=tuple(_texts(s.dispatch)))


def _program(root, weights: bytes) -> prog.Program:
    module, relaxed, threads = root.module, root.moduleRelaxed, root.moduleThreads
    return prog.Program(
        backend=root.backend, graph_name=root.graphName, symbols=_texts(root.symbols),
        inputs=[_io(t) for t in _list(root.inputs)], outputs=[_io(t) for t in _list(root.outputs)],
        tensors=[_tensor(t) for t in _list(root.tensors)],
        slots=[prog.SlotSpec(s.id, _texts(s.sizes)) for s in _list(root.slots)],
        kernels=[_kernel(k) for k in _list(root.kernels)], steps=[_step(s) for s in _list(root.steps)],
        weights=weights, module=bytes(module) if module is not None else b"",
        meta=_meta(root.meta, "program meta"),
        module_relaxed=bytes(relaxed) if relaxed is not None else b"",
        module_threads=bytes(threads) if threads is not None else b"")


def decode_bundle(data) -> prog.Program:
    """The Program in the bundle bytes ``data`` (bytes, bytearray or memoryview)."""
    h = fmt.unpack_header(data)
    payload = bytes(data[fmt.HEADER_SIZE:fmt.HEADER_SIZE + h.payload_length])
    if payload[4:8] != fmt.FILE_IDENTIFIER:
        raise fmt.BundleError("bundle is corrupted (the payload is not a Webloom program)")
    checks.verify_payload(payload)      # the generated accessors do not bounds-check
    weights = bytes(data[h.weights_offset:h.file_size])
    try:
        root = fb_program.ProgramT.InitFromPackedBuf(payload)
        checks.check_raw_shapes(root)
        p = _program(root, weights)
        if root.weightEncodings:       # stored float16/int8: expanded to float32 here (quantize.py)
            from converter.bundle import quantize
            p.weights = quantize.unpack(weights, root.weightEncodings, root.weightsLength, p.tensors)
    except fmt.BundleError:
        raise
    except (IndexError, ValueError, TypeError, AttributeError, UnicodeDecodeError, struct.error) as err:
        # the CRC matched, so the writer itself produced this: a version skew or a writer bug
        raise fmt.BundleError(f"bundle payload is malformed ({type(err).__name__}: {err}): "
                              f"rewrite it with this version of webloom") from None
    try:
        p.validate()
    except prog.ProgramError as err:
        raise fmt.BundleError(f"bundle holds an {err}") from None
    except ExprError as err:       # a weight size that does not evaluate (found by tests/fuzz)
        raise fmt.BundleError(f"bundle holds an invalid program: {err}") from None
    checks.check_limits(p)
    return p


def read_bundle(source: Union[str, os.PathLike, bytes, bytearray, memoryview]) -> prog.Program:
    """The Program stored in a bundle file (a path) or in bundle bytes."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return decode_bundle(source)
    return decode_bundle(Path(source).read_bytes())
