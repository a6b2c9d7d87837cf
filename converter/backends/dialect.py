"""Kernel dialects: what each target language (C for wasm, WGSL, GLSL ES) writes for the same thing.

One class per language owns, for every kernel of its backend:
- ``lit(x)``: a float literal that reads back as the float32 the reference computes with;
- ``unary(fn, x, alpha, beta)`` / ``binary(fn, a, b)``: the text of every activation and binary function
  of ``converter/ops/activations.py``, written once per language in the tables ``UNARY`` / ``BINARY``
  (format fields ``{x}``, ``{a}`` = alpha, ``{b}`` = beta, or ``{a}``/``{b}`` the operands), with the
  language's NaN rule next to them (``keep_nan``: drivers may assume NaN away, so the GPU dialects test
  it on the bit pattern);
- ``helpers(source)``: the definitions of the helper functions a source calls (and those they call), only
  those, in table order;
- ``dim(d, symbol)``: an IR dim as an integer expression, each symbol rendered by ``symbol(name)``;
- ``index``: one typed index-math helper (``coords`` splits a linear index into per-axis coordinates,
  ``linear`` joins coordinates into a row-major index) in the language's declaration syntax.

The tables follow tinygrad's renderers: a base table and per-language ``{**base, **overrides}``. A
coverage test (tests/unit/test_dialects.py) fails when a table misses a function of the op set.
"""

from __future__ import annotations

import math
import re
from typing import Callable, Optional

import numpy as np

from converter.ir import dims
from converter.ops.activations import (ACTIVATIONS, BINARY_FNS, DEFAULT_PARAMS, SELU_ALPHA,
                                       SELU_SCALE, param_defaults)

_CALL = re.compile(r"\b([A-Za-z_][A-Za-z_0-9]*)\s*\(")


def _repr_f32(value: float) -> str:
    text = repr(float(np.float32(value)))
    return text if ("." in text or "e" in text) else text + ".0"


class Dialect:
    """The common part; subclasses set the tables and the language's spelling."""

    name = ""
    lang = ""                 # dims.render language
    int_type = "int"
    UNARY: dict = {}
    BINARY: dict = {}
    BINARY_INT: dict = {}     # int32 overrides of BINARY (no NaN to keep; the language's own max/min)
    HELPERS: dict = {}        # helper name -> definition (emitted only when called)
    # activations that map NaN to NaN by their arithmetic alone, whatever the driver assumes about NaN
    NAN_SAFE = frozenset(("linear", "neg", "square", "affine"))
    keep_nan = True

    # ---- literals and functions ------------------------------------------------------------------
    def lit(self, value: float) -> str:
        return _repr_f32(value)

    def unary(self, fn: str, x: str, alpha: Optional[float] = None, beta: Optional[float] = None) -> str:
        """``fn(x)``; ``alpha``/``beta`` None take the function's defaults (activations named by string)."""
        if fn not in self.UNARY:
            raise ValueError(f"{self.name}: no {self.name} text for activation {fn!r}; add it to "
                             f"{type(self).__name__}.UNARY in {__file__}")
        a, b = param_defaults(fn, alpha, beta)
        expr = self.UNARY[fn].format(x=f"({x})", a=self.lit(a), b=self.lit(b))
        if not self.keep_nan or fn in self.NAN_SAFE:
            return expr
        return f"wl_keepnan(({x}), {expr})"

    def binary(self, fn: str, a: str, b: str, dtype: str = "float32") -> str:
        if fn not in self.BINARY:
            raise ValueError(f"{self.name}: no {self.name} text for binary fn {fn!r}; add it to "
                             f"{type(self).__name__}.BINARY in {__file__}")
        table = {**self.BINARY, **self.BINARY_INT} if dtype == "int32" else self.BINARY
        return table[fn].format(a=f"({a})", b=f"({b})")

    BOUND = "wl_keepnan({x}, clamp({x}, -{c}, {c}))"      # NaN survives clamp on every driver

    def bound(self, x: str, clip: float) -> str:
        """``x`` clipped to [-clip, clip] (ONNX's cell clip); ``x`` itself when clip is 0 (off)."""
        if not clip:
            return x
        return self.BOUND.format(x=f"({x})", c=self.lit(clip))

    def where(self, cond: str, x: str, y: str, cond_dtype: str) -> str:
        """``x if cond != 0 else y`` as a select (no arithmetic on x, y). A float cond is tested on its bits
        (NaN counts as true, -0 as false) so that no driver assumption about NaN can change it."""
        return self.select(self.nonzero(cond, cond_dtype), f"({x})", f"({y})")

    def step(self, step: tuple, arg: Callable[[str], str]) -> str:
        """The expression of one FusedElementwise step (``parse_step`` form); ``arg`` names an operand."""
        fn, args, params = step
        names = [arg(a) for a in args]
        if len(names) == 2:
            return self.binary(fn, *names)
        return self.unary(fn, names[0], *params)

    def helpers(self, source: str) -> str:
        """Definitions of the helpers ``source`` calls, transitively, in table order."""
        used: set = set()
        pending = [source]
        while pending:
            for name in _CALL.findall(pending.pop()):
                if name in self.HELPERS and name not in used:
                    used.add(name)
                    pending.append(self.HELPERS[name])
        return "".join(src for name, src in self.HELPERS.items() if name in used)

    # ---- dims and index math ---------------------------------------------------------------------
    def dim(self, d, symbol: Callable[[str], str]) -> str:
        return dims.render(d, symbol, self.lang)

    def declare(self, name: str, expr: str, mutable: bool = False) -> str:
        return f"{self.int_type} {name} = {expr};"

    def index(self, dim: Callable) -> "IndexMath":
        return IndexMath(self, dim)


class IndexMath:
    """Row-major index math in one dialect; ``dim`` renders an IR dim (a kernel's ``dim`` method)."""

    def __init__(self, dialect: Dialect, dim: Callable):
        self.dialect, self.dim = dialect, dim

    def coords(self, shape, var: str = "idx", prefix: str = "c") -> list:
        """Lines declaring ``<prefix><axis>`` for every axis of ``shape`` from the linear index ``var``."""
        shape, decl = list(shape), self.dialect.declare
        if not shape:
            return []
        lines = [decl(f"{prefix}_r", var, mutable=True)]
        for axis in range(len(shape) - 1, 0, -1):
            d = self.dim(shape[axis])
            lines.append(f"{decl(f'{prefix}{axis}', f'{prefix}_r % {d}')} {prefix}_r = {prefix}_r / {d};")
        lines.append(decl(f"{prefix}0", f"{prefix}_r"))
        return lines

    def linear(self, coord_exprs: list, shape) -> str:
        """The linear index of coordinates (integer expressions) in a row-major tensor of ``shape``."""
        if not coord_exprs:
            return "0"
        expr = coord_exprs[0]
        for c, d in zip(coord_exprs[1:], list(shape)[1:]):
            expr = f"({expr}) * {self.dim(d)} + {c}"
        return expr


# ---- GPU languages (WGSL, GLSL ES): one base table --------------------------------------------------

_GPU_UNARY = {
    "linear": "{x}", "relu": "max({x}, 0.0)", "relu6": "clamp({x}, 0.0, 6.0)",
    "sigmoid": "wl_sigmoid({x})", "hard_sigmoid": "clamp({x} / 6.0 + 0.5, 0.0, 1.0)",
    "hard_sigmoid_k2": "clamp(0.2 * {x} + 0.5, 0.0, 1.0)", "tanh": "wl_tanh({x})",
    "softsign": "({x} / (1.0 + abs({x})))",
    "softplus": "(max({x}, 0.0) + log(1.0 + exp(-abs({x}))))",
    "exponential": "exp({x})", "exp": "exp({x})",
    "swish": "({x} * wl_sigmoid({x}))",
    "gelu_tanh": "({x} * (0.5 * (1.0 + wl_tanh(0.7978845608 * ({x} + 0.044715 * {x} * {x} * {x})))))",
    "gelu": "({x} * (1.0 + wl_erf({x} * 0.70710678118)) * 0.5)",
    "neg": "(-{x})", "log": "wl_log({x})", "sqrt": "sqrt({x})", "rsqrt": "(1.0 / sqrt({x}))",
    "abs": "abs({x})", "square": "({x} * {x})", "reciprocal": "(1.0 / {x})",
    "hard_sigmoid_ab": "clamp({a} * {x} + {b}, 0.0, 1.0)",
    "scaled_tanh": "({a} * wl_tanh({b} * {x}))", "affine": "({a} * {x} + {b})",
}
_GPU_BINARY = {"add": "({a} + {b})", "sub": "({a} - {b})", "mul": "({a} * {b})", "div": "({a} / {b})",
               "max": "wl_max({a}, {b})", "min": "wl_min({a}, {b})"}


def _selu(select: Callable[[str, str, str], str]) -> str:
    neg = f"{_repr_f32(SELU_ALPHA)} * (exp(min({{x}}, 0.0)) - 1.0)"
    return f"({_repr_f32(SELU_SCALE)} * {select('{x} >= 0.0', '{x}', neg)})"


def _gpu_selects(select: Callable[[str, str, str], str]) -> dict:
    """The piecewise functions, written with the language's select."""
    return {
        "elu": select("{x} >= 0.0", "{x}", "{a} * (exp(min({x}, 0.0)) - 1.0)"),
        "selu": _selu(select),
        "leaky_relu": select("{x} >= 0.0", "{x}", "{a} * {x}"),
        "thresholded_relu": select("{x} > {a}", "{x}", "0.0"),
    }


def _wgsl_select(cond: str, yes: str, no: str) -> str:
    return f"select({no}, {yes}, {cond})"


def _glsl_select(cond: str, yes: str, no: str) -> str:
    return f"({cond} ? {yes} : {no})"


class _GPU(Dialect):
    """WGSL and GLSL share the base tables; each writes the piecewise functions with its ``select``."""

    BINARY = _GPU_BINARY

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.UNARY = {**_GPU_UNARY, **_gpu_selects(cls.select)}


class WGSL(_GPU):
    name, lang, int_type = "wgsl", "wgsl", "u32"
    # i32 tensors are i32 in WGSL: the f32 NaN-keeping wl_max/wl_min would not compile for them
    BINARY_INT = {"max": "max({a}, {b})", "min": "min({a}, {b})"}
    select = staticmethod(_wgsl_select)

    @staticmethod
    def nonzero(x: str, dtype: str) -> str:
        return f"((bitcast<u32>({x}) & 0x7fffffffu) != 0u)" if dtype == "float32" else f"({x} != 0)"

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
        # WGSL lets drivers assume there is no NaN (comparisons, min/max, exp may drop it; SwiftShader's
        # relu of NaN is 0): NaN is tested on the bit pattern, which no float optimization can fold away
        "wl_keepnan": "fn wl_keepnan(x: f32, fx: f32) -> f32 {\n"
                      "  return select(fx, x, (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u);\n}\n",
        # numpy's maximum/minimum propagate NaN (a + b is NaN when either is)
        **{f"wl_{fn}": f"fn wl_{fn}(a: f32, b: f32) -> f32 {{\n"
                       "  let nan = (bitcast<u32>(a) & 0x7fffffffu) > 0x7f800000u"
                       " || (bitcast<u32>(b) & 0x7fffffffu) > 0x7f800000u;\n"
                       f"  return select({fn}(a, b), a + b, nan);\n}}\n" for fn in ("max", "min")},
        "wl_isnan": "fn wl_isnan(x: f32) -> bool {\n"
                    "  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;\n}\n",
        # log outside (0, inf] is indeterminate in WGSL (SwiftShader: log|x|): -inf at +-0, NaN below 0
        # and for NaN. Results are built from x's bits because a NaN/inf constant is a creation error.
        "wl_log": "fn wl_log(x: f32) -> f32 {\n  let bits = bitcast<u32>(x);\n  let zero = bits & 0u;\n"
                  "  if ((bits & 0x7fffffffu) == 0u) { return bitcast<f32>(0xff800000u | zero); }\n"
                  "  if (bits > 0x7f800000u) { return bitcast<f32>(0x7fc00000u | zero); }\n"
                  "  if (bits == 0x7f800000u) { return x; }\n  return log(x);\n}\n",
    }

    def lit(self, value: float) -> str:
        """A WGSL f32 literal for a finite float (WGSL has no inf/NaN literals)."""
        if not math.isfinite(float(np.float32(value))):
            raise ValueError(f"webgpu: constant {value} is not finite; WGSL has no inf/NaN literals")
        return _repr_f32(value)

    def not_equal(self, x: str, value: str, dtype: str) -> str:
        """numpy's ``x != value``: NaN differs from everything (WGSL's != may say otherwise)."""
        return f"({x} != {value} || wl_isnan({x}))" if dtype == "float32" else f"({x} != {value})"

    def declare(self, name: str, expr: str, mutable: bool = False) -> str:
        return f"{'var' if mutable else 'let'} {name} = {expr};"


class GLSL(_GPU):
    name, lang, int_type = "glsl", "glsl", "int"
    select = staticmethod(_glsl_select)

    @staticmethod
    def nonzero(x: str, dtype: str) -> str:
        # int32 tensors are stored as exact floats in WebGL textures: the same bit test holds
        return f"((floatBitsToUint({x}) & 0x7FFFFFFFu) != 0u)"

    HELPERS = {
        # GLSL has no inf/NaN literals; bit patterns are exact
        "wl_inf": "float wl_inf() { return uintBitsToFloat(0x7F800000u); }\n",
        "wl_nan": "float wl_nan() { return uintBitsToFloat(0x7FC00000u); }\n",
        "wl_sigmoid": "float wl_sigmoid(float x) {\n  float e = exp(-abs(x));\n"
                      "  return x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);\n}\n",
        # tanh via exp(-2|x|): drivers' tanh may return NaN for large |x|
        "wl_tanh": "float wl_tanh(float x) {\n  float e = exp(-2.0 * abs(x));\n"
                   "  float t = (1.0 - e) / (1.0 + e);\n"
                   "  return x >= 0.0 ? t : -t;\n}\n",
        "wl_erf": "float wl_erf(float x) {\n  float z = abs(x);\n  float t = 1.0 / (1.0 + 0.3275911 * z);\n"
                  "  float p = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027"
                  " + t * 1.061405429))));\n  float r = 1.0 - p * exp(-z * z);\n"
                  "  return x >= 0.0 ? r : -r;\n}\n",
        # GLSL ES 3.00 (4.5.1) lets drivers drop NaN (SwiftShader's relu/clamp/max of NaN is finite, exp
        # of NaN is inf): NaN is tested on the bit pattern, which no float optimization can fold away
        "wl_keepnan": "float wl_keepnan(float x, float fx) {\n"
                      "  return (floatBitsToUint(x) & 0x7FFFFFFFu) > 0x7F800000u ? x : fx;\n}\n",
        # numpy's maximum/minimum propagate NaN
        **{f"wl_{fn}": f"float wl_{fn}(float a, float b) {{\n"
                       "  if ((floatBitsToUint(a) & 0x7FFFFFFFu) > 0x7F800000u) return a;\n"
                       "  if ((floatBitsToUint(b) & 0x7FFFFFFFu) > 0x7F800000u) return b;\n"
                       f"  return {fn}(a, b);\n}}\n" for fn in ("max", "min")},
        # log outside (0, inf] is undefined in GLSL (SwiftShader: log|x|): -inf at +-0, NaN below 0, NaN
        "wl_log": "float wl_log(float x) {\n  uint bits = floatBitsToUint(x);\n"
                  "  if ((bits & 0x7FFFFFFFu) == 0u) return uintBitsToFloat(0xFF800000u);\n"
                  "  if (bits > 0x7F800000u) return uintBitsToFloat(0x7FC00000u);\n"
                  "  if (bits == 0x7F800000u) return x;\n  return log(x);\n}\n",
    }

    def lit(self, value: float) -> str:
        """A GLSL float literal; ±inf/NaN through helpers (GLSL has no literal for them)."""
        v = float(np.float32(value))
        if math.isnan(v):
            return "wl_nan()"
        if math.isinf(v):
            return "wl_inf()" if v > 0 else "(-wl_inf())"
        return _repr_f32(v)


# ---- C (wasm SIMD, f4 = 4 float lanes) ---------------------------------------------------------------

class C(Dialect):
    """Functions are ``static inline f4 act_<fn>(f4 x, float a, float b)`` (``bin_<fn>`` for binary):
    the recurrence and matmul templates call them by name; wasm's min/max propagate NaN like numpy, so
    no NaN guard is needed."""

    name, lang, int_type = "c", "c", "int32_t"
    keep_nan = False
    BOUND = "vclip({x}, {c})"
    UNARY = {
        "linear": "x", "relu": "vmax(x, splat(0.0f))", "relu6": "vmin(vmax(x, splat(0.0f)), splat(6.0f))",
        "sigmoid": "v_sigmoid(x)", "hard_sigmoid": "vmin(vmax(x / 6.0f + 0.5f, splat(0.0f)), splat(1.0f))",
        "hard_sigmoid_k2": "vmin(vmax(0.2f * x + 0.5f, splat(0.0f)), splat(1.0f))",
        "tanh": "v_tanh(x)", "softsign": "x / (1.0f + vabs(x))",
        "softplus": "vmax(x, splat(0.0f)) + v_log1p(v_exp(-vabs(x)))",
        "elu": "vsel(x >= 0.0f, x, a * v_expm1(vmin(x, splat(0.0f))))",
        "selu": "1.0507009873554804934f * act_elu(x, 1.6732632423543772848f, 0.0f)",
        "exponential": "v_exp(x)", "swish": "x * v_sigmoid(x)", "leaky_relu": "vsel(x >= 0.0f, x, a * x)",
        "gelu_tanh": "x * (0.5f * (1.0f + v_tanh(0.7978845608028654f * (x + 0.044715f * x * x * x))))",
        "gelu": "0.5f * x * v_erfc(x * -0.70710678118654752f)",
        "neg": "-x", "exp": "v_exp(x)", "log": "v_log(x)", "sqrt": "vsqrt(x)", "rsqrt": "1.0f / vsqrt(x)",
        "abs": "vabs(x)", "square": "x * x", "reciprocal": "1.0f / x",
        "hard_sigmoid_ab": "vmin(vmax(a * x + b, splat(0.0f)), splat(1.0f))",
        "thresholded_relu": "vsel((x > a) | (x != x), x, splat(0.0f))",
        "scaled_tanh": "a * v_tanh(b * x)", "affine": "a * x + b",
    }
    BINARY = {"add": "a + b", "sub": "a - b", "mul": "a * b", "div": "a / b",
              "max": "vmax(a, b)", "min": "vmin(a, b)"}
    # int32 lanes travel as f4 bit patterns: the casts reinterpret them; + - * wrap like numpy's int32.
    # No "div": integer Div is refused by the frontends (numpy's true division then truncation).
    BINARY_INT = {"add": "(f4)((i4)a + (i4)b)", "sub": "(f4)((i4)a - (i4)b)", "mul": "(f4)((i4)a * (i4)b)",
                  "max": "(f4)wasm_i32x4_max(V(a), V(b))", "min": "(f4)wasm_i32x4_min(V(a), V(b))"}

    def __init__(self):
        unary = {f"act_{fn}": f"static inline f4 act_{fn}(f4 x, float a, float b) {{ return {body}; }}\n"
                 for fn, body in self.UNARY.items()}
        binary = {f"{prefix}_{fn}": f"static inline f4 {prefix}_{fn}(f4 a, f4 b) {{ return {body}; }}\n"
                  for prefix, table in (("bin", self.BINARY), ("ibin", self.BINARY_INT))
                  for fn, body in table.items()}
        # wasm min/max propagate NaN, so a clipped NaN stays NaN
        clip = {"vclip": "static inline f4 vclip(f4 x, float c) "
                         "{ return vmin(vmax(x, splat(-c)), splat(c)); }\n"}
        self.HELPERS = {**clip, **unary, **binary}

    def lit(self, value: float) -> str:
        """A C float literal that reads back as the same float32."""
        text = repr(float(value))
        if text in ("inf", "-inf", "nan"):
            return {"inf": "__builtin_inff()", "-inf": "(-__builtin_inff())",
                    "nan": "__builtin_nanf(\"\")"}[text]
        return text + ("f" if ("." in text or "e" in text) else ".0f")

    def unary(self, fn: str, x: str, alpha: Optional[float] = None, beta: Optional[float] = None) -> str:
        return f"act_{fn}({x}, {self.params(fn, alpha, beta)})"

    def params(self, fn: str, alpha: Optional[float] = None, beta: Optional[float] = None) -> str:
        """The parameter arguments of ``act_<fn>`` (templates write ``act_{{ fn }}(x, {{ params }})``)."""
        if fn not in self.UNARY:
            raise ValueError(f"c: no C text for activation {fn!r}; add it to C.UNARY in {__file__}")
        a, b = param_defaults(fn, alpha, beta)
        return f"{self.lit(a)}, {self.lit(b)}"

    def binary(self, fn: str, a: str, b: str, dtype: str = "float32") -> str:
        table, prefix = (self.BINARY_INT, "ibin") if dtype == "int32" else (self.BINARY, "bin")
        if fn not in table:
            raise ValueError(f"c: no C text for {dtype} binary fn {fn!r}; add it to C.BINARY in {__file__}")
        return f"{prefix}_{fn}({a}, {b})"

    @staticmethod
    def select(cond: str, yes: str, no: str) -> str:
        return f"vsel({cond}, {yes}, {no})"

    @staticmethod
    def nonzero(x: str, dtype: str) -> str:
        """An i4 lane mask; lanes hold raw bits (int32 tensors are loaded as float bit patterns)."""
        return f"((((i4){x}) & 0x7fffffff) != 0)" if dtype == "float32" else f"(((i4){x}) != 0)"


CDIALECT, WGSL_DIALECT, GLSL_DIALECT = C(), WGSL(), GLSL()
DIALECTS = {"c": CDIALECT, "wgsl": WGSL_DIALECT, "glsl": GLSL_DIALECT}


def missing(dialect: Dialect) -> list[str]:
    """Functions of the op set the dialect cannot write (the coverage test wants none)."""
    return sorted((set(ACTIVATIONS) - set(dialect.UNARY)) | (set(BINARY_FNS) - set(dialect.BINARY)))


__all__ = ["C", "GLSL", "WGSL", "Dialect", "IndexMath", "DIALECTS", "DEFAULT_PARAMS", "missing"]
