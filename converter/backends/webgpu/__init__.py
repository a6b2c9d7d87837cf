"""The WebGPU backend: WGSL kernels specialized per model, written to ``model.webgpu.wlm``.

``compile(graph, out_dir, recurrence="auto")`` lowers the graph with the shared lowering and the
WebGPU legalization table (lower.py) and writes the bundle; ``recurrence`` forces the recurrence mode
("sequence": one dispatch per sequence, "step": one dispatch per time step) for tests and tuning.
"""

from __future__ import annotations

from pathlib import Path

from converter.backends import lowering
from converter.backends.webgpu import lower as webgpu_lower

NAME = "webgpu"


def lower_program(graph, recurrence: str = "auto"):
    """The validated Program for ``graph`` (the graph is optimized in place)."""
    program, _ = lowering.lower(graph, NAME, webgpu_lower.table(recurrence), webgpu_lower.output_copy)
    program.meta["webgpu"] = {"recurrence": recurrence}
    return program.validate()


def compile(graph, out_dir, recurrence: str = "auto", **_opts) -> list[Path]:
    from converter.bundle import write_bundle
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"model.{NAME}.wlm"
    write_bundle(lower_program(graph, recurrence), path)
    return [path]
