"""The WebGPU backend: WGSL kernels specialized per model (lower.py, emit.py).

Like every backend package (see converter/backends/__init__.py): ``NAME``, ``PASSES`` and
``lower_program(graph, **opts) -> Program``. Option ``recurrence`` forces the recurrence mode ("sequence": one
dispatch per sequence, "step": one dispatch per time step; default "auto") for tests and tuning.
"""

from __future__ import annotations

from converter.backends import lowering
from converter.backends.sampling import generation_feed
from converter.backends.webgpu.emit import Buf, render
from converter.backends.webgpu.lower import TABLE, output_copy
from converter.passes import PIPELINE

NAME = "webgpu"
PASSES = PIPELINE


def lower_program(graph, recurrence: str = "auto"):
    """The validated Program for the optimized ``graph``."""
    program, _ = lowering.lower(graph, NAME, TABLE, output_copy, {"recurrence": recurrence})
    program.meta["webgpu"] = {"recurrence": recurrence}
    feed = generation_feed(graph)
    if feed is not None:          # not run by any step: Runner.generate() dispatches it (docs/design.md 6)
        program.kernels.append(sample_kernel(feed))
    return program.validate()


def sample_kernel(feed):
    """The on-device sampling step of ``feed`` (kernels/webgpu/sample.wgsl.j2)."""
    xtype = "f32" if feed.onehot or not feed.int_ids else "i32"
    bufs = [Buf("s"), Buf("x", xtype, "read_write"), Buf("hist", "i32", "read_write"),
            Buf("order", "i32", "read_write")]
    meta = {"generate": {"input": feed.input, "output": feed.output, "window": feed.window,
                         "vocab": feed.vocab, "onehot": feed.onehot}}
    return render("sample", "sample.wgsl.j2", bufs, ["temp", "top_k", "seed", "logp", "prime"], (64,),
                  meta, vocab=feed.vocab, window=feed.window, onehot=feed.onehot, xtype=xtype)
