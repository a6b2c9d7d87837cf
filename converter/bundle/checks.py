"""Checks of untrusted bundle bytes, the twins of runtime-js/src/bundle/ (flatbuffer.ts's bounds checks,
reader.ts's readJson and checkProgram), so that what one reader accepts the other accepts too
(tests/fuzz/ mutates bundles and fails on any disagreement).

- ``verify_payload``: every table, vtable, string and vector the readers use lies inside the payload and
  strings are UTF-8. The generated FlatBuffers accessors check none of this: a string running past the
  payload came back silently cut short.
- ``load_json``: meta JSON within MAX_JSON_DEPTH levels, an object, every number finite as a double.
- ``check_raw_shapes``: shape dims as stored (valid, bounded expansion, static ones >= 0, IO element
  counts that match their tensor's byte size), before canonicalization could change what they say.
- ``check_limits``: what ``Program.validate()`` leaves to the runtime but a runtime cannot run: static
  sizes beyond 4 GiB, step params beyond int32, workgroup sizes outside [1, 1024].
"""

from __future__ import annotations

import json
import math
import struct

from converter.bundle import expr as expr_lang
from converter.bundle.format import BundleError

MAX_JSON_DEPTH = 64
MAX_TERMS = 4096             # polynomial terms a shape dim may expand to (converter/ir/dims.py expands them)
MAX_BYTES = 2**32            # a wasm32 memory, and more than any GPU buffer binding
MAX_WORKGROUP = 1024
INT32 = (-2**31, 2**31 - 1)

# Field kinds per table, in webloom.fbs declaration order (the field id is the position).
SCHEMA = {
    "Program": ["str", "str", "strs", "IOSpec*", "IOSpec*", "TensorSpec*", "SlotSpec*", "KernelSpec*",
                "StepSpec*", "bytes", "str", "WeightEncoding*", "i64", "bytes"],
    "IOSpec": ["str", "i32", "str", "strs", "str", "struct2", "str"],
    "TensorSpec": ["i32", "str", "str", "strs", "str", "i32", "i64", "str"],
    "SlotSpec": ["i32", "strs"],
    "Binding": ["str", "str"],
    "KernelSpec": ["str", "str", "str", "Binding*", "strs", "struct3", "str"],
    "StepSpec": ["i32", "i32s", "strs", "strs"],
    "WeightEncoding": ["i32", "str", "i64", "i32", "i64"],
}
_SIZES = {"i32": 4, "i64": 8, "struct2": 8, "struct3": 12}


class _Payload:
    """Bounds-checked reads of the payload, as flatbuffer.ts does them."""

    def __init__(self, data: bytes):
        self.data = data

    def check(self, at: int, size: int) -> None:
        if at < 0 or size < 0 or at + size > len(self.data):
            raise BundleError(f"bundle payload is malformed (offset {at} (+{size} bytes) is outside the "
                              f"{len(self.data)}-byte payload): rewrite it with this version of webloom")

    def u16(self, at: int) -> int:
        self.check(at, 2)
        return struct.unpack_from("<H", self.data, at)[0]

    def u32(self, at: int) -> int:
        self.check(at, 4)
        return struct.unpack_from("<I", self.data, at)[0]

    def i32(self, at: int) -> int:
        self.check(at, 4)
        return struct.unpack_from("<i", self.data, at)[0]

    def target(self, at: int) -> int:
        return at + self.u32(at)

    def string(self, at: int) -> None:
        length = self.u32(at)
        self.check(at + 4, length)
        try:
            self.data[at + 4:at + 4 + length].decode("utf-8")
        except UnicodeDecodeError:
            raise BundleError(f"bundle payload is malformed (the string at offset {at} is not valid UTF-8): "
                              "rewrite it with this version of webloom") from None

    def vector(self, at: int, element: int) -> tuple[int, int]:
        start = self.target(at)
        length = self.u32(start)
        self.check(start + 4, length * element)
        return start + 4, length


def _fields(p: _Payload, pos: int) -> tuple[int, int]:
    """The checked (vtable position, vtable size) of the table at ``pos``."""
    vtable = pos - p.i32(pos)
    p.check(vtable, 4)
    size = p.u16(vtable)
    p.check(vtable, size)
    if size % 2 or size < 4:      # the generated accessors would read a field the JS reader sees absent
        raise BundleError(f"bundle payload is malformed (the vtable at offset {vtable} has size {size}): "
                          "rewrite it with this version of webloom")
    return vtable, size


def _table(p: _Payload, name: str, pos: int) -> None:
    vtable, size = _fields(p, pos)
    for i, kind in enumerate(SCHEMA[name]):
        entry = 4 + 2 * i
        off = p.u16(vtable + entry) if entry + 2 <= size else 0
        if off:
            _field(p, kind, pos + off)


def _field(p: _Payload, kind: str, at: int) -> None:
    if kind in _SIZES:
        p.check(at, _SIZES[kind])
        if kind == "i64" and abs(struct.unpack_from("<q", p.data, at)[0]) > expr_lang.MAX_SAFE:
            raise BundleError("bundle payload is malformed (a 64-bit field is beyond what a JavaScript "
                              "Number holds exactly): rewrite it with this version of webloom")
    elif kind == "str":
        p.string(p.target(at))
    elif kind in ("strs", "i32s", "bytes") or kind.endswith("*"):
        start, length = p.vector(at, 1 if kind == "bytes" else 4)
        for k in range(length if kind == "strs" or kind.endswith("*") else 0):
            item = p.target(start + 4 * k)
            p.string(item) if kind == "strs" else _table(p, kind[:-1], item)


def verify_payload(payload: bytes) -> None:
    """Raise BundleError unless every part of the payload the readers use lies inside it."""
    p = _Payload(bytes(payload))
    p.check(0, 8)
    _table(p, "Program", p.u32(0))


# ---- meta JSON ----------------------------------------------------------------------------------------

def _depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON ``text`` (strings skipped), without parsing."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _finite(text: str):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is not finite as a double")
    return value


def _finite_int(text: str) -> int:
    _finite(text)             # before int(): a 5,000-digit integer is refused, not parsed
    return int(text)


def _no_constant(text: str):
    raise ValueError(f"{text} is not JSON")


def load_json(text, what: str) -> dict:
    """Meta JSON ``text`` as a dict ({} when empty); BundleError when it is not the JSON object we allow."""
    if not text:
        return {}
    if _depth(text) > MAX_JSON_DEPTH:
        raise BundleError(f"bundle payload is malformed ({what} nests deeper than {MAX_JSON_DEPTH} levels): "
                          "rewrite it with this version of webloom")
    try:
        value = json.loads(text, parse_float=_finite, parse_int=_finite_int, parse_constant=_no_constant)
    except ValueError:
        raise BundleError(f"bundle payload is malformed ({what} is not JSON with finite numbers): "
                          "rewrite it with this version of webloom") from None
    if not isinstance(value, dict):
        raise BundleError(f"bundle payload is malformed ({what} is not a JSON object): "
                          "rewrite it with this version of webloom")
    return value


# ---- limits on the decoded, validated program -------------------------------------------------------

def _invalid(message: str) -> BundleError:
    return BundleError(f"bundle holds an invalid program: {message}")


def _static(e: str):
    """The value of a symbol-free expression (None when it uses symbols)."""
    if expr_lang.validate(e):
        return None
    try:
        return expr_lang.evaluate(e, {})
    except expr_lang.ExprError as err:
        raise _invalid(str(err)) from None


def _in(value, lo: int, hi: int, what: str) -> None:
    if value is not None and not lo <= value <= hi:
        raise _invalid(f"{what} is {value}, outside [{lo}, {hi}]")


def _elements(shape) -> int:
    """The element count of a static shape (None when symbolic); beyond 2^53-1 is an error."""
    count = 1
    for d in shape:
        value = _static(str(d))
        if value is None:
            return None
        count *= value
        if count > expr_lang.MAX_SAFE:
            raise _invalid(f"shape {list(shape)} has more than 2^53-1 elements")
    return count


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else (value or "")


def _expansion(d: str, what: str) -> None:
    """Refuse a dim whose canonical form (a sum of monomials) would have more than MAX_TERMS terms."""
    terms: list = []
    for node in expr_lang.nodes(d):
        n = 1
        if node[0] == "neg":
            n = terms.pop()
        elif node[0] not in ("int", "sym"):
            b, a = terms.pop(), terms.pop()
            n = a + b if node[0] in ("+", "-") else a * b if node[0] == "*" else 1
        if n > MAX_TERMS:
            raise _invalid(f"{what} dim '{expr_lang.shown(d)}' expands to more than {MAX_TERMS} terms")
        terms.append(n)


def _check_raw_shape(symbols: list, shape: list, what: str) -> None:
    for d in shape:
        try:
            used = expr_lang.validate(d)
        except expr_lang.ExprError as err:
            raise _invalid(f"{what}: {err}") from None
        unknown = [s for s in used if s not in symbols]
        if unknown:
            raise _invalid(f"{what} '{expr_lang.shown(d)}' uses unknown symbol '{unknown[0]}'")
        _expansion(d, what)
        _in(_static(d), 0, expr_lang.MAX_SAFE, f"{what} dim '{expr_lang.shown(d)}'")


def check_raw_shapes(root) -> None:
    """Shape checks on the dims as stored (before they are canonicalized, which would hide what the
    JS reader sees): valid expressions over the symbols, bounded expansion, static dims >= 0, and an IO's
    static element count matching its tensor's byte size. ``root`` is the decoded fb.ProgramT."""
    symbols = [_text(s) for s in root.symbols or []]
    tensors = root.tensors or []
    for i, t in enumerate(tensors):
        _check_raw_shape(symbols, [_text(d) for d in t.shape or []], f"tensor {i} ('{_text(t.name)}') shape")
    for side in ("inputs", "outputs"):
        for io in getattr(root, side) or []:
            what = f"{side[:-1]} '{_text(io.name)}'"
            shape = [_text(d) for d in io.shape or []]
            _check_raw_shape(symbols, shape, f"{what} shape")
            if not 0 <= io.tensor < len(tensors):
                continue              # validate() names the bad reference
            t = tensors[io.tensor]
            nbytes_expr = _text(t.nbytesExpr) or "*".join(["4"] + [f"({_text(d)})" for d in t.shape or []])
            elements, nbytes = _elements(shape), _static(nbytes_expr)
            if elements is not None and nbytes is not None and 4 * elements != nbytes:
                raise _invalid(f"{what} has {elements} elements but its tensor holds {nbytes} bytes")


def _limits(program):
    """(value, lo, hi, what) for every size and param a runtime must honour (value None: symbolic)."""
    for k in program.kernels:
        for w in k.workgroup:
            yield w, 1, MAX_WORKGROUP, f"kernel '{k.name}' workgroup size"
    for i, s in enumerate(program.slots):
        for e in s.sizes:
            yield _static(e), 0, MAX_BYTES, f"slot {i} size '{expr_lang.shown(e)}'"
    for t in program.tensors:
        yield _static(t.nbytes_expr), 0, MAX_BYTES, f"tensor {t.id} ('{t.name}') byte size"
    for i, s in enumerate(program.steps):
        for e in s.params:
            yield (_static(e), *INT32, f"step {i} param '{expr_lang.shown(e)}'")
        for e in s.dispatch:
            yield _static(e), 0, INT32[1], f"step {i} dispatch '{expr_lang.shown(e)}'"


def limit_error(program):
    """The first size or param no runtime can honour (see the module doc), as a message; None if none."""
    for value, lo, hi, what in _limits(program):
        if value is not None and not lo <= value <= hi:
            return f"{what} is {value}, outside [{lo}, {hi}]"
    return None


def check_limits(program) -> None:
    """Raise BundleError for sizes and params no runtime can honour (the readers' check)."""
    error = limit_error(program)
    if error is not None:
        raise _invalid(error)
