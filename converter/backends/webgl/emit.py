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
- ``formats``: per binding, "R32F" or "RGBA32F".
"""

from __future__ import annotations

import hashlib
import json
import math

import jinja2
import numpy as np

from converter.backends.lowering import SymbolDims
from converter.backends.program import Binding, KernelSpec
from converter.ir import dims
from converter.ops.activations import DEFAULT_ALPHA, SELU_ALPHA, SELU_SCALE
from converter.resources import kernel_dir

KERNEL_DIR = kernel_dir("webgl")  # the package data when installed (converter/resources.py)
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(KERNEL_DIR)), undefined=jinja2.StrictUndefined,
                          trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)

RUNTIME_UNIFORMS = ("u_iter", "u_row0", "u_out_w", "u_out_n")

HELPERS = {
    # exp of -|x| never overflows: saturates to exactly 0/1 like the numpy reference
    "wl_sigmoid": "float wl_sigmoid(float x) {\n  float e = exp(-abs(x));\n"
                  "  return x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);\n}\n",
    # tanh via exp(-2|x|): drivers' tanh may return NaN for large |x|
    "wl_tanh": "float wl_tanh(float x) {\n  float e = exp(-2.0 * abs(x));\n"
               "  float t = (1.0 - e) / (1.0 + e);\n"
               "  return x >= 0.0 ? t : -t;\n}\n",
    # Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7): GLSL has no erf
    "wl_erf": "float wl_erf(float x) {\n  float z = abs(x);\n  float t = 1.0 / (1.0 + 0.3275911 * z);\n"
              "  float p = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027"
              " + t * 1.061405429))));\n  float r = 1.0 - p * exp(-z * z);\n  return x >= 0.0 ? r : -r;\n}\n",
    # GLSL has no inf/NaN literals; bit patterns are exact
    "wl_inf": "float wl_inf() { return uintBitsToFloat(0x7F800000u); }\n",
    "wl_nan": "float wl_nan() { return uintBitsToFloat(0x7FC00000u); }\n",
    # GLSL ES 3.00 (4.5.1) lets drivers drop NaN (SwiftShader's relu/clamp/max of NaN is finite, exp of
    # NaN is inf): NaN is tested on the bit pattern, which no float optimization can fold away
    "wl_keepnan": "float wl_keepnan(float x, float fx) {\n"
                  "  return (floatBitsToUint(x) & 0x7FFFFFFFu) > 0x7F800000u ? x : fx;\n}\n",
    "wl_max": "float wl_max(float a, float b) {\n"
              "  if ((floatBitsToUint(a) & 0x7FFFFFFFu) > 0x7F800000u) return a;\n"
              "  if ((floatBitsToUint(b) & 0x7FFFFFFFu) > 0x7F800000u) return b;\n  return max(a, b);\n}\n",
    "wl_min": "float wl_min(float a, float b) {\n"
              "  if ((floatBitsToUint(a) & 0x7FFFFFFFu) > 0x7F800000u) return a;\n"
              "  if ((floatBitsToUint(b) & 0x7FFFFFFFu) > 0x7F800000u) return b;\n  return min(a, b);\n}\n",
    # log outside (0, inf] is undefined in GLSL (SwiftShader: log|x|): -inf at +-0, NaN below 0 and NaN
    "wl_log": "float wl_log(float x) {\n  uint bits = floatBitsToUint(x);\n"
              "  if ((bits & 0x7FFFFFFFu) == 0u) return uintBitsToFloat(0xFF800000u);\n"
              "  if (bits > 0x7F800000u) return uintBitsToFloat(0x7FC00000u);\n"
              "  if (bits == 0x7F800000u) return x;\n  return log(x);\n}\n",
}


def lit(value: float) -> str:
    """A GLSL float literal (rounded to float32 first, as the reference computes); ±inf/NaN via helpers."""
    v = float(np.float32(value))
    if math.isnan(v):
        return "wl_nan()"
    if math.isinf(v):
        return "wl_inf()" if v > 0 else "(-wl_inf())"
    text = repr(v)
    return text if ("." in text or "e" in text) else text + ".0"


UNARY = {
    "linear": "{x}", "relu": "max({x}, 0.0)", "relu6": "clamp({x}, 0.0, 6.0)",
    "sigmoid": "wl_sigmoid({x})", "hard_sigmoid": "clamp({x} / 6.0 + 0.5, 0.0, 1.0)",
    "hard_sigmoid_k2": "clamp(0.2 * {x} + 0.5, 0.0, 1.0)", "tanh": "wl_tanh({x})",
    "softsign": "({x} / (1.0 + abs({x})))",
    "softplus": "(max({x}, 0.0) + log(1.0 + exp(-abs({x}))))",
    "elu": "({x} >= 0.0 ? {x} : {a} * (exp(min({x}, 0.0)) - 1.0))",
    "selu": f"({lit(SELU_SCALE)} * ({{x}} >= 0.0 ? {{x}} : "
            f"{lit(SELU_ALPHA)} * (exp(min({{x}}, 0.0)) - 1.0)))",
    "exponential": "exp({x})", "exp": "exp({x})",
    "swish": "({x} * wl_sigmoid({x}))", "leaky_relu": "({x} >= 0.0 ? {x} : {a} * {x})",
    "gelu_tanh": "({x} * (0.5 * (1.0 + wl_tanh(0.7978845608 * ({x} + 0.044715 * {x} * {x} * {x})))))",
    "gelu": "({x} * (1.0 + wl_erf({x} * 0.70710678118)) * 0.5)",
    "neg": "(-{x})", "log": "wl_log({x})", "sqrt": "sqrt({x})", "rsqrt": "(1.0 / sqrt({x}))",
    "abs": "abs({x})", "square": "({x} * {x})", "reciprocal": "(1.0 / {x})",
}
BINARY = {"add": "({a} + {b})", "sub": "({a} - {b})", "mul": "({a} * {b})", "div": "({a} / {b})",
          "max": "wl_max({a}, {b})", "min": "wl_min({a}, {b})"}
# Activations that map NaN to NaN by their arithmetic alone, whatever the driver assumes about NaN.
NAN_SAFE = ("linear", "neg", "square")


def unary(fn: str, x: str, alpha: float | None = None) -> str:
    """GLSL for activation ``fn`` of expression ``x``; ``alpha=None`` means Keras' default for fn."""
    if fn not in UNARY:
        raise ValueError(f"webgl: no GLSL for activation {fn!r}; add it to UNARY in {__file__}")
    a = DEFAULT_ALPHA.get(fn, 0.0) if alpha is None else alpha
    expr = UNARY[fn].format(x=f"({x})", a=lit(a))
    return expr if fn in NAN_SAFE else f"wl_keepnan(({x}), {expr})"


def binary(fn: str, a: str, b: str) -> str:
    if fn not in BINARY:
        raise ValueError(f"webgl: no GLSL for binary fn {fn!r}; add it to BINARY in {__file__}")
    return BINARY[fn].format(a=f"({a})", b=f"({b})")


class GlKernel(SymbolDims):
    """One fragment-shader kernel under construction.

    ``read``/``write`` declare bindings in step order and return the GLSL name to use; ``dim`` turns an IR
    dim into a GLSL int expression whose symbols become ``s_<symbol>`` uniforms (the kernel's params).
    """

    dim_lang = "glsl"

    def __init__(self, op: str, template: str):
        self.op, self.template = op, template
        self.bindings: list = []      # (glsl name, tensor id, access, format)
        self.symbols: list = []
        self.meta: dict = {"region": "whole", "swap": []}

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
        source = _header(self.bindings, symbols) + _helpers(body) + body
        self.meta["formats"] = [b[3] for b in self.bindings]
        info = {"template": self.template, **self.meta}
        digest = hashlib.sha256((source + json.dumps(info, sort_keys=True)).encode()).hexdigest()[:16]
        kernel = KernelSpec(self.op, f"k_{digest}", source, [Binding(b[0], b[2]) for b in self.bindings],
                            [f"s_{s}" for s in symbols], (1, 1, 1), info)
        return kernel, [b[1] for b in self.bindings], symbols


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


def _helpers(body: str) -> str:
    text = body
    used = []
    # helpers may call each other (none do today), so scan the body only
    for fn, src in HELPERS.items():
        if f"{fn}(" in text:
            used.append(src)
    return "".join(used)


def coords(shape, k: GlKernel, var: str = "idx", prefix: str = "c") -> list:
    """GLSL lines splitting the linear index ``var`` into ``int <prefix><axis>`` for every axis."""
    shape = list(shape)
    if not shape:
        return []
    lines = [f"int {prefix}_r = {var};"]
    for axis in range(len(shape) - 1, 0, -1):
        d = k.dim(shape[axis])
        lines.append(f"int {prefix}{axis} = {prefix}_r % {d}; {prefix}_r = {prefix}_r / {d};")
    lines.append(f"int {prefix}0 = {prefix}_r;")
    return lines


def linear(coord_exprs: list, shape, k: GlKernel) -> str:
    """The linear index of coordinates (GLSL int expressions) in a row-major tensor of ``shape``."""
    if not coord_exprs:
        return "0"
    expr = coord_exprs[0]
    for c, d in zip(coord_exprs[1:], list(shape)[1:]):
        expr = f"({expr}) * {k.dim(d)} + {c}"
    return expr
