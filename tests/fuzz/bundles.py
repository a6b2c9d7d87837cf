"""Bundle bytes for the fuzzing suite and the corpus: a tiny valid Program, an encoder that skips
validation (to write what a hostile file would hold), and the header/CRC fix-up that lets a mutated
payload reach the payload parser instead of failing the checksum."""

from __future__ import annotations

import struct
import zlib

import flatbuffers
import numpy as np

from converter.backends.program import (Binding, IOSpec, KernelSpec, Program, SlotSpec, StepSpec,
                                        TensorSpec)
from converter.bundle import format as fmt
from converter.bundle import writer
from converter.bundle.vendor.fb import Program as fb_program
from converter.bundle.vendor.fb import SlotSpec as fb_slot


def tiny_program() -> Program:
    """ids int32[batch, time] in [0, 5) -> emb[batch, time, 3]; h0/h_out a state pair (wasm, no module)."""
    table = np.arange(15, dtype=np.float32).reshape(5, 3) / 4
    tensors = [TensorSpec(0, "ids", "int32", ("batch", "time"), "input", slot=0),
               TensorSpec(1, "table", "float32", (5, 3), "weight", weight_offset=0),
               TensorSpec(2, "emb", "float32", ("batch", "time", 3), "output", slot=1),
               TensorSpec(3, "h0", "float32", ("batch", 2), "input", slot=2),
               TensorSpec(4, "h_out", "float32", ("batch", 2), "output", slot=3)]
    gather = [Binding("table"), Binding("ids"), Binding("out", "read_write")]
    kernels = [KernelSpec("gather", "gather", "", gather, ["n", "e"], meta={"tile": 4}),
               KernelSpec("copy", "copy", "", [Binding("x"), Binding("y", "read_write")], ["n"], (64, 1, 1))]
    return Program(
        backend="wasm", graph_name="tiny", symbols=["batch", "time"],
        inputs=[IOSpec("ids", 0, "int32", ("batch", "time"), valid_range=(0, 5)),
                IOSpec("h0", 3, "float32", ("batch", 2), role="state", state_of="h_out")],
        outputs=[IOSpec("emb", 2, "float32", ("batch", "time", 3)),
                 IOSpec("h_out", 4, "float32", ("batch", 2), role="state", state_of="h0")],
        tensors=tensors,
        slots=[SlotSpec(0, ["4*batch*time"]), SlotSpec(1, ["12*batch*time"]), SlotSpec(2, ["8*batch"]),
               SlotSpec(3, ["8*batch", "max(8*batch, 64)"])],
        kernels=kernels,
        steps=[StepSpec(0, [1, 0, 2], ["batch*time", "3"], ("cdiv(batch*time*3,64)", "1", "1")),
               StepSpec(1, [3, 4], ["batch*2"], ("cdiv(batch*2,64)", "1", "1"))],
        weights=table.tobytes(), module=b"\0asm\1\0\0\0", meta={"source": "tests/fuzz", "layers": 2})


def encode_unchecked(p: Program, meta_text: str = None) -> bytes:
    """The bundle file for ``p`` without Program.validate() (``meta_text``: the raw program meta)."""
    root = fb_program.ProgramT(
        backend=p.backend, graphName=p.graph_name, symbols=list(p.symbols),
        inputs=[writer._io(io) for io in p.inputs], outputs=[writer._io(io) for io in p.outputs],
        tensors=[writer._tensor(t) for t in p.tensors],
        slots=[fb_slot.SlotSpecT(id=s.id, sizes=list(s.sizes)) for s in p.slots],
        kernels=[writer._kernel(k) for k in p.kernels], steps=[writer._step(s) for s in p.steps],
        module=np.frombuffer(p.module, dtype=np.uint8),
        meta=writer._json(p.meta) if meta_text is None else meta_text)
    builder = flatbuffers.Builder(1024)
    builder.Finish(root.Pack(builder), file_identifier=fmt.FILE_IDENTIFIER)
    return assemble(bytes(builder.Output()), p.weights)


def assemble(payload: bytes, weights: bytes) -> bytes:
    """Header + payload + padding + weights, with a correct CRC."""
    w_off = fmt.align(fmt.HEADER_SIZE + len(payload))
    body = payload + bytes(w_off - fmt.HEADER_SIZE - len(payload)) + weights
    header = fmt.Header(fmt.FORMAT_VERSION, 0, fmt.crc32(body), len(payload), w_off, len(weights))
    return fmt.pack_header(header) + body


def fix_crc(data: bytes) -> bytes:
    """``data`` with the header's CRC recomputed over everything after the header."""
    if len(data) < fmt.HEADER_SIZE:
        return data
    return data[:16] + struct.pack("<I", zlib.crc32(data[fmt.HEADER_SIZE:]) & 0xFFFFFFFF) + data[20:]


def string_offsets(data: bytes, text: str) -> list:
    """Byte offsets (in the file) of the length prefixes of FlatBuffers strings equal to ``text``."""
    raw = struct.pack("<I", len(text)) + text.encode() + b"\0"
    out, at = [], data.find(raw, fmt.HEADER_SIZE)
    while at >= 0:
        out.append(at)
        at = data.find(raw, at + 1)
    return out
