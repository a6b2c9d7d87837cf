"""The WebGL2 backend: GLSL ES 3.0 fragment shaders specialized per model, written to ``model.webgl.wlm``.

``compile(graph, out_dir, max_texture_width=4096)`` lowers the graph with the shared lowering and the
WebGL legalization table (lower.py) and writes the bundle. ``Program.meta["webgl"]`` tells the runtime
how to size textures (see emit.py for the storage model):
- ``max_width``: texture width cap; a tensor of n texels gets width min(n, max_width) and
  cdiv(n, max_width) rows. WebGL2 guarantees MAX_TEXTURE_SIZE >= 2048; the runtime checks the device.
- ``rgba_weights``: weight tensor ids packed as RGBA32F (n/4 texels); every other texture is R32F.
- ``blocked_slots``: slot id -> {blocks, block_elems} expressions: the slot's texture holds ``blocks``
  blocks of ``block_elems`` elements, each starting on a new row (the recurrence histories).
"""

from __future__ import annotations

from pathlib import Path

from converter.backends import lowering
from converter.backends.webgl import lower as webgl_lower

NAME = "webgl"
DEFAULT_MAX_WIDTH = 4096
MIN_MAX_WIDTH = 1


def lower_program(graph, max_texture_width: int = DEFAULT_MAX_WIDTH):
    """The validated Program for ``graph`` (the graph is optimized in place)."""
    if int(max_texture_width) < MIN_MAX_WIDTH:
        raise ValueError(f"webgl: max_texture_width {max_texture_width} must be >= {MIN_MAX_WIDTH}")
    program, ctx = lowering.lower(graph, NAME, webgl_lower.TABLE, webgl_lower.output_copy)
    state = webgl_lower.texture_state(ctx)
    program.meta["webgl"] = {"max_width": int(max_texture_width), "rgba_weights": state["rgba_weights"],
                             "blocked_slots": state["blocked_slots"]}
    return program.validate()


def compile(graph, out_dir, max_texture_width: int = DEFAULT_MAX_WIDTH, **_opts) -> list[Path]:
    from converter.bundle import write_bundle
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"model.{NAME}.wlm"
    write_bundle(lower_program(graph, max_texture_width), path)
    return [path]
