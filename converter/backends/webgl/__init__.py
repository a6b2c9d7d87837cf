"""The WebGL2 backend: GLSL ES 3.0 fragment shaders specialized per model (lower.py, emit.py).

Like every backend package (see converter/backends/__init__.py): ``NAME``, ``PASSES`` and
``lower_program(graph, **opts) -> Program``. Option ``max_texture_width`` (default 4096). ``Program.meta
["webgl"]`` tells the runtime how to size textures (see emit.py for the storage model):
- ``max_width``: texture width cap; a tensor of n texels gets width min(n, max_width) and
  cdiv(n, max_width) rows. WebGL2 guarantees MAX_TEXTURE_SIZE >= 2048; the runtime checks the device.
- ``rgba_weights``: weight tensor ids packed as RGBA32F (n/4 texels); every other texture is R32F.
- ``blocked_slots``: slot id -> {blocks, block_elems} expressions: the slot's texture holds ``blocks``
  blocks of ``block_elems`` elements, each starting on a new row (the recurrence histories).
"""

from __future__ import annotations

import numpy as np

from converter.backends import lowering
from converter.backends.sampling import generation_feed
from converter.backends.webgl.emit import GlKernel
from converter.backends.webgl.lower import TABLE, output_copy, texture_state
from converter.errors import ConversionError
from converter.passes import PIPELINE

NAME = "webgl"
PASSES = PIPELINE
DEFAULT_MAX_WIDTH = 4096
MIN_MAX_WIDTH = 1


def lower_program(graph, max_texture_width: int = DEFAULT_MAX_WIDTH):
    """The validated Program for the optimized ``graph``."""
    if int(max_texture_width) < MIN_MAX_WIDTH:
        raise ValueError(f"webgl: max_texture_width {max_texture_width} must be >= {MIN_MAX_WIDTH}")
    _check_int_constants(graph)
    program, ctx = lowering.lower(graph, NAME, TABLE, output_copy)
    state = texture_state(ctx)
    program.meta["webgl"] = {"max_width": int(max_texture_width), "rgba_weights": state["rgba_weights"],
                             "blocked_slots": state["blocked_slots"]}
    feed = generation_feed(graph)
    # not run by any step: Runner.generate() draws it (docs/design.md 6); one fragment walks the ranking in
    # O(V^2), so a larger vocabulary is sampled on the host (a loop of steps) rather than stall the GPU
    if feed is not None and feed.vocab <= MAX_SAMPLE_VOCAB:
        program.kernels.append(sample_kernel(feed))
    return program.validate()


EXACT_INT = 2**24      # int32 tensors live in float textures (emit.py): exact within +-2^24


def _check_int_constants(graph) -> None:
    """An int32 constant beyond +-2^24 would be rounded in its texture: refused (the runtime refuses such
    input values the same way)."""
    for v in (c for c in graph.constants() if c.dtype == "int32" and np.size(c.data)):
        data = np.asarray(v.data, np.int64).ravel()
        worst = int(data[np.argmax(np.abs(data))])
        if abs(worst) > EXACT_INT:
            raise ConversionError(f"webgl backend: constant {v.name} holds {worst}, beyond the +-16777216 "
                                  "(2^24) a WebGL float texture holds exactly; convert for wasm or webgpu")


MAX_SAMPLE_VOCAB = 1024
SAMPLE_PARAMS = ["p_temp", "p_top_k", "p_seed", "p_logp", "p_prime", "p_pos", "p_mode"]


def sample_kernel(feed):
    """The on-device sampling draws of ``feed`` (kernels/webgl/sample.glsl.j2; uint uniforms)."""
    k = GlKernel("sample", "sample.glsl.j2")
    k.read("s", -1), k.read("h", -1), k.write("o", -1)
    k.meta["generate"] = {"input": feed.input, "output": feed.output, "window": feed.window,
                          "vocab": feed.vocab, "onehot": feed.onehot}
    kernel, _, _ = k.render(vocab=feed.vocab, window=feed.window, onehot=feed.onehot)
    kernel.params = SAMPLE_PARAMS
    return kernel
