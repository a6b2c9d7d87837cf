"""The WebGPU backend: WGSL kernels specialized per model (lower.py, emit.py).

Like every backend package (see converter/backends/__init__.py): ``NAME``, ``PASSES`` and
``lower_program(graph, **opts) -> Program``. Option ``recurrence`` forces the recurrence mode ("sequence": one
dispatch per sequence, "step": one dispatch per time step; default "auto") for tests and tuning.
"""

from __future__ import annotations

from converter.backends import lowering
from converter.backends.webgpu.lower import TABLE, output_copy
from converter.passes import PIPELINE

NAME = "webgpu"
PASSES = PIPELINE


def lower_program(graph, recurrence: str = "auto"):
    """The validated Program for the optimized ``graph``."""
    program, _ = lowering.lower(graph, NAME, TABLE, output_copy, {"recurrence": recurrence})
    program.meta["webgpu"] = {"recurrence": recurrence}
    return program.validate()
