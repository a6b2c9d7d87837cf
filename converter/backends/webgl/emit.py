"""GLSL ES 3.0 rendering: fragment-shader kernels from kernels/webgl/*.glsl.j2 plus their metadata.

Storage model (the runtime, runtime-js/src/backends/webgl/, implements the other half):
- every tensor lives in a float texture; element ``i`` of a tensor in a texture of width ``w`` is the
  texel ``(i % w, i / w)`` ("linear" layout). Widths are at most ``max_width`` (a converter option,
  4096 by default, checked against MAX_TEXTURE_SIZE at load), so big tensors span several rows.
- textures are R32F (one element per texel) except weights the converter packs as RGBA32F (four
  recurrent gates of one unit in one texel: one fetch per step of the dot product).
- int32 tensors (embedding indices, casts) are stored as floats: exact for |v| <= 2^24, which covers
  every vocabulary a browser model can hold; Gather rounds them back.
- a kernel is one fragment shader drawn over the rows of its output texture(s). The fragment's output
  element is ``idx = (row - u_row0) * u_out_w + col``; fragments with ``idx >= u_out_n`` write zeros.
  ``u_row0``, ``u_out_w``, ``u_out_n`` and ``u_iter`` are set by the runtime for every draw; symbolic
  dims (``batch``, ``time``) are ``uniform int s_<symbol>`` set from the step's params.

Bindings: "read" bindings are ``uniform highp sampler2D`` (texture unit = their order among reads);
"read_write" bindings are outputs (``layout(location = k)``, k = their order among writes, drawn with
multiple render targets). Kernel meta for the runtime:
- ``region``: "whole" (rows 0..cdiv(n, w)-1 of the output) or "block" (the rows of block ``u_iter`` when
  the output holds one equal block of rows per iteration: the recurrence's history textures);
- ``swap``: pairs of binding indices whose tensors trade places on odd iterations (ping-pong);
- ``formats``: per binding, "R32F" or "RGBA32F";
- ``loop`` (docs/design.md section 4, as on WebGPU): ``{index: "u_iter", count: "loop_count", span}``
  on the first kernel of a loop body: the runtime draws it and the span-1 steps after it ``count`` times
  (the step's ``loop_count`` param), with ``u_iter`` = 0, 1, ....

Functions, literals and helpers come from the GLSL dialect (converter/backends/dialect.py).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jinja2

from converter.backends.dialect import GLSL_DIALECT as GLSL
from converter.backends.lowering import SymbolDims
from converter.backends.program import Binding, KernelSpec
from converter.ir import dims

KERNEL_DIR = Path(__file__).resolve().parents[3] / "kernels" / "webgl"
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(KERNEL_DIR)), undefined=jinja2.StrictUndefined,
                          trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)

RUNTIME_UNIFORMS = ("u_iter", "u_row0", "u_out_w", "u_out_n")

class GlKernel(SymbolDims):
    """One fragment-shader kernel under construction.

    ``read``/``write`` declare bindings in step order and return the GLSL name to use; ``dim`` turns an IR
    dim into a GLSL int expression whose symbols become ``s_<symbol>`` uniforms (the kernel's params).
    """

    dialect = GLSL

    def __init__(self, op: str, template: str):
        self.op, self.template = op, template
        self.bindings: list = []      # (glsl name, tensor id, access, format)
        self.symbols: list = []
        self.meta: dict = {"region": "whole", "swap": []}
        self.loop_count: str = ""     # bundle expression: iterations of the loop this kernel starts

    def loop(self, count: str, span: int) -> None:
        """Make this kernel start a loop over itself and the next ``span - 1`` steps, ``count`` times."""
        self.meta["loop"] = {"index": "u_iter", "count": "loop_count", "span": span}
        self.loop_count = count

    def read(self, name: str, tensor: int, fmt: str = "R32F") -> str:
        self.bindings.append((name, tensor, "read", fmt))
        return name

    def write(self, name: str, tensor: int) -> str:
        self.bindings.append((name, tensor, "read_write", "R32F"))
        return name

    def index_of(self, name: str) -> int:
        return [b[0] for b in self.bindings].index(name)

    def size(self, shape) -> str:
        return self.dim(dims.size(tuple(shape)))

    def render(self, **context) -> tuple[KernelSpec, list, list]:
        """(KernelSpec, tensor ids in binding order, param expressions) for a step."""
        outputs = [b[0] for b in self.bindings if b[2] == "read_write"]
        body = _ENV.get_template(self.template).render(outputs=outputs, **context)
        symbols = sorted(self.symbols)
        source = _header(self.bindings, symbols) + GLSL.helpers(body) + body
        self.meta["formats"] = [b[3] for b in self.bindings]
        info = {"template": self.template, **self.meta}
        digest = hashlib.sha256((source + json.dumps(info, sort_keys=True)).encode()).hexdigest()[:16]
        params, values = [f"s_{s}" for s in symbols], list(symbols)
        if "loop" in self.meta:       # u_iter is set by the runtime per iteration; its step value is 0
            params, values = params + ["u_iter", "loop_count"], values + ["0", self.loop_count]
        kernel = KernelSpec(self.op, f"k_{digest}", source, [Binding(b[0], b[2]) for b in self.bindings],
                            params, (1, 1, 1), info)
        return kernel, [b[1] for b in self.bindings], values


def _header(bindings: list, symbols: list) -> str:
    lines = ["#version 300 es", "precision highp float;", "precision highp int;",
             "precision highp sampler2D;"]
    lines += [f"uniform int {u};" for u in RUNTIME_UNIFORMS]
    lines += [f"uniform int s_{s};" for s in symbols]
    location = 0
    for name, _, access, fmt in bindings:
        if access == "read":
            lines.append(f"uniform highp sampler2D {name};")
            lines.append(_fetch(name, fmt))
        else:
            lines.append(f"layout(location = {location}) out vec4 o_{name};")
            location += 1
    return "\n".join(lines) + "\n"


def _fetch(name: str, fmt: str) -> str:
    """``ld_<name>(i)``: element i of a linear-layout texture (texel i for RGBA32F)."""
    kind, pick = ("vec4", "") if fmt == "RGBA32F" else ("float", ".r")
    # the width variable must not shadow a sampler (bindings are named x, w, ...)
    return (f"{kind} ld_{name}(int i) {{ int wl_w = textureSize({name}, 0).x; "
            f"return texelFetch({name}, ivec2(i % wl_w, i / wl_w), 0){pick}; }}")
