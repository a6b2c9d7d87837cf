"""WGSL rendering: kernel templates (kernels/webgpu/*.wgsl.j2) plus the metadata that travels with them.

A kernel is rendered from one template and a small context. The binding declarations, the uniform
``Params`` struct and the workgroup size are generated here from the same lists that become the
KernelSpec's metadata, so a number never lives in two places: the runtime builds its bind group layout
from ``KernelSpec.bindings`` (storage buffers at bindings 0..n-1, in order) and, when ``params`` is not
empty, one uniform buffer at binding n holding the params as consecutive u32 (``meta.params_binding``).

Activation and binary functions are WGSL expressions over ``{x}`` (and ``{a}``/``{b}``); helper
functions (stable sigmoid/tanh, erf) are emitted only when an expression uses them.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import jinja2
import numpy as np

from converter.backends.program import Binding, KernelSpec
from converter.ops.activations import DEFAULT_ALPHA, SELU_ALPHA, SELU_SCALE
from converter.resources import kernel_dir

KERNEL_DIR = kernel_dir("webgpu")  # the package data when installed (converter/resources.py)
WGSL_TYPES = {"float32": "f32", "int32": "i32"}

_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(KERNEL_DIR)),
                          undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                          keep_trailing_newline=True)

HELPERS = {
    # exp of -|x| never overflows: saturates to exactly 0/1 like the numpy reference
    "wl_sigmoid": "fn wl_sigmoid(x: f32) -> f32 {\n  let e = exp(-abs(x));\n"
                  "  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);\n}\n",
    # tanh via exp(-2|x|): finite for every finite x (some drivers' tanh return NaN beyond |x| ~ 44)
    "wl_tanh": "fn wl_tanh(x: f32) -> f32 {\n  let e = exp(-2.0 * abs(x));\n"
               "  let t = (1.0 - e) / (1.0 + e);\n  return select(-t, t, x >= 0.0);\n}\n",
    # Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7): WGSL has no erf
    "wl_erf": "fn wl_erf(x: f32) -> f32 {\n  let z = abs(x);\n  let t = 1.0 / (1.0 + 0.3275911 * z);\n"
              "  let p = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027"
              " + t * 1.061405429))));\n  let r = 1.0 - p * exp(-z * z);\n"
              "  return select(-r, r, x >= 0.0);\n}\n",
    # WGSL lets drivers assume there is no NaN (comparisons, min/max, exp may drop it; SwiftShader's relu
    # of NaN is 0): NaN is tested on the bit pattern, which no float optimization can fold away
    "wl_keepnan": "fn wl_keepnan(x: f32, fx: f32) -> f32 {\n"
                  "  return select(fx, x, (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u);\n}\n",
    "wl_max": "fn wl_max(a: f32, b: f32) -> f32 {\n"
              "  let nan = (bitcast<u32>(a) & 0x7fffffffu) > 0x7f800000u"
              " || (bitcast<u32>(b) & 0x7fffffffu) > 0x7f800000u;\n"
              "  return select(max(a, b), a + b, nan);\n}\n",
    "wl_min": "fn wl_min(a: f32, b: f32) -> f32 {\n"
              "  let nan = (bitcast<u32>(a) & 0x7fffffffu) > 0x7f800000u"
              " || (bitcast<u32>(b) & 0x7fffffffu) > 0x7f800000u;\n"
              "  return select(min(a, b), a + b, nan);\n}\n",
    "wl_isnan": "fn wl_isnan(x: f32) -> bool {\n  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;\n}\n",
    # log outside (0, inf] is indeterminate in WGSL (SwiftShader: log|x|): -inf at +-0, NaN below 0 and
    # for NaN. The results are built from x's bits because a NaN/inf constant is a shader-creation error.
    "wl_log": "fn wl_log(x: f32) -> f32 {\n  let bits = bitcast<u32>(x);\n  let zero = bits & 0u;\n"
              "  if ((bits & 0x7fffffffu) == 0u) { return bitcast<f32>(0xff800000u | zero); }\n"
              "  if (bits > 0x7f800000u) { return bitcast<f32>(0x7fc00000u | zero); }\n"
              "  if (bits == 0x7f800000u) { return x; }\n  return log(x);\n}\n",
}


def lit(value: float) -> str:
    """A WGSL f32 literal for a finite float (rounded to float32 first, as the reference computes)."""
    v = float(np.float32(value))
    if not math.isfinite(v):
        raise ValueError(f"webgpu: constant {value} is not finite; WGSL has no inf/NaN literals")
    text = repr(v)
    return text if ("." in text or "e" in text) else text + ".0"


UNARY = {
    "linear": "{x}", "relu": "max({x}, 0.0)", "relu6": "clamp({x}, 0.0, 6.0)",
    "sigmoid": "wl_sigmoid({x})", "hard_sigmoid": "clamp({x} / 6.0 + 0.5, 0.0, 1.0)",
    "hard_sigmoid_k2": "clamp(0.2 * {x} + 0.5, 0.0, 1.0)", "tanh": "wl_tanh({x})",
    "softsign": "({x} / (1.0 + abs({x})))",
    "softplus": "(max({x}, 0.0) + log(1.0 + exp(-abs({x}))))",
    "elu": "select({a} * (exp(min({x}, 0.0)) - 1.0), {x}, {x} >= 0.0)",
    "selu": f"({lit(SELU_SCALE)} * select({lit(SELU_ALPHA)} * (exp(min({{x}}, 0.0)) - 1.0), {{x}},"
            " {x} >= 0.0))",
    "exponential": "exp({x})", "exp": "exp({x})",
    "swish": "({x} * wl_sigmoid({x}))", "leaky_relu": "select({a} * {x}, {x}, {x} >= 0.0)",
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
    """WGSL for activation ``fn`` of expression ``x``; ``alpha=None`` means Keras' default for fn."""
    if fn not in UNARY:
        raise ValueError(f"webgpu: no WGSL for activation {fn!r}; add it to UNARY in {__file__}")
    a = DEFAULT_ALPHA.get(fn, 0.0) if alpha is None else alpha
    expr = UNARY[fn].format(x=f"({x})", a=lit(a))
    return expr if fn in NAN_SAFE else f"wl_keepnan(({x}), {expr})"


def not_equal(x: str, value: str, dtype: str) -> str:
    """WGSL bool for numpy's ``x != value``: NaN differs from everything (WGSL's != may say otherwise)."""
    return f"({x} != {value} || wl_isnan({x}))" if dtype == "float32" else f"({x} != {value})"


def binary(fn: str, a: str, b: str) -> str:
    if fn not in BINARY:
        raise ValueError(f"webgpu: no WGSL for binary fn {fn!r}; add it to BINARY in {__file__}")
    return BINARY[fn].format(a=f"({a})", b=f"({b})")


@dataclass
class Buf:
    """One storage binding: its name in WGSL, element type (f32/i32) and access."""
    name: str
    type: str = "f32"
    access: str = "read"


def _header(bufs: list, params: list) -> str:
    lines = []
    for i, b in enumerate(bufs):
        mode = "read" if b.access == "read" else "read_write"
        lines.append(f"@group(0) @binding({i}) var<storage, {mode}> {b.name}: array<{b.type}>;")
    if params:
        fields = " ".join(f"{p}: u32," for p in params)
        lines.append(f"struct Params {{ {fields} }}")
        lines.append(f"@group(0) @binding({len(bufs)}) var<uniform> P: Params;")
    return "\n".join(lines) + "\n"


def render(name: str, template: str, bufs: list, params: list, workgroup: tuple, meta=None,
           **context) -> KernelSpec:
    """Render ``template`` into a KernelSpec named ``name``.

    The entry point is ``k_<hash>`` of the source and metadata: the lowering shares kernels by entry and
    the runtime caches pipelines by it, so equal entries must mean equal kernels.
    """
    workgroup = tuple(workgroup) + (1,) * (3 - len(workgroup))
    body = _ENV.get_template(template).render(wg=workgroup, **context)
    helpers = "".join(src for fn, src in HELPERS.items() if f"{fn}(" in body)
    source = f"// webloom {name} ({template})\n" + _header(bufs, params) + helpers + body
    info = {"template": template, "params_binding": len(bufs) if params else None, **(meta or {})}
    digest = hashlib.sha256((source + json.dumps(info, sort_keys=True)).encode()).hexdigest()[:16]
    entry = f"k_{digest}"
    if source.count("fn main(") != 1:
        raise ValueError(f"webgpu: template {template} must define exactly one `fn main(`")
    return KernelSpec(name=name, entry=entry, source=source.replace("fn main(", f"fn {entry}("),
                      bindings=[Binding(b.name, b.access) for b in bufs],
                      params=list(params), workgroup=workgroup, meta=info)
