"""Symbolic dimensions.

A dimension is either an ``int`` or a ``str``. The common string is a product of factors joined by
``*``; each factor is a symbol name (an identifier such as ``batch`` or ``time``) or a positive integer,
e.g. ``"batch*time"`` or ``"batch*4"``. Symbols are bound to integers when a graph runs (from the input
sizes). Layers that change a free length (a valid convolution, pooling, padding, concatenation) derive
dims that are any expression of the bundle's integer language (``converter/bundle/expr.py``: ``+ - *``,
floor ``/`` and ``%``, ``cdiv``, ``max``, ``min``), e.g. ``"time-2"`` or ``"(time-2)/2"``.

Every dim has one canonical printed form, so dims compare as strings: products print as today
(``"4*batch*time"``); other expressions are expanded into a sum of monomials whose factors are symbols
or opaque atoms (a floor division, remainder or function call of canonical operands).
"""

from __future__ import annotations

import functools
import re
from typing import Callable, Mapping, Sequence, Union

from converter.bundle import expr as expr_lang

Dim = Union[int, str]
Shape = tuple

_SYMBOL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FOLD = {"/": lambda a, b: a // b, "%": lambda a, b: a % b, "cdiv": lambda a, b: -((-a) // b),
         "max": max, "min": min}


def _factors(dim: Dim) -> tuple[int, list[str]]:
    """Split a product dim into its integer coefficient and its sorted symbol factors."""
    if isinstance(dim, (int,)) and not isinstance(dim, bool):
        return int(dim), []
    coef, syms = 1, []
    for part in str(dim).split("*"):
        part = part.strip()
        if part.isdigit():
            coef *= int(part)
        elif _SYMBOL.match(part):
            syms.append(part)
        else:
            raise ValueError(f"bad dimension {dim!r}: factor {part!r} is neither an int nor a symbol")
    return coef, sorted(syms)


def _product(dim: Dim):
    """(coef, symbols) when ``dim`` is an int or a product of symbols, else None."""
    try:
        return _factors(dim)
    except ValueError:
        return None


# ---- general expressions: polynomials over atoms ------------------------------------------------
# A polynomial is {tuple of sorted atom strings: coefficient}; () is the constant term. An atom is a
# symbol or a canonical "(a)/(b)", "(a)%(b)", "cdiv(a,b)", "max(a,b)", "min(a,b)".

def _poly_add(p: dict, q: dict, sign: int = 1) -> dict:
    out = dict(p)
    for k, v in q.items():
        out[k] = out.get(k, 0) + sign * v
    return {k: v for k, v in out.items() if v}


def _poly_mul(p: dict, q: dict) -> dict:
    out: dict = {}
    for k1, v1 in p.items():
        for k2, v2 in q.items():
            k = tuple(sorted(k1 + k2))
            out[k] = out.get(k, 0) + v1 * v2
    return {k: v for k, v in out.items() if v}


def _const(p: dict):
    """The int value of a constant polynomial, else None."""
    if not p:
        return 0
    return p[()] if list(p) == [()] else None


def _poly(tree: tuple) -> dict:
    head = tree[0]
    if head == "int":
        return {(): tree[1]} if tree[1] else {}
    if head == "sym":
        return {(tree[1],): 1}
    if head == "neg":
        return _poly_add({}, _poly(tree[1]), -1)
    a, b = _poly(tree[1]), _poly(tree[2])
    if head in ("+", "-"):
        return _poly_add(a, b, 1 if head == "+" else -1)
    if head == "*":
        return _poly_mul(a, b)
    ca, cb = _const(a), _const(b)
    if ca is not None and cb is not None and not (cb == 0 and head in ("/", "%", "cdiv")):
        value = _FOLD[head](ca, cb)
        return {(): value} if value else {}
    if head in ("/", "cdiv") and cb == 1:
        return a
    if head in ("max", "min"):
        atom = f"{head}({_print(a)},{_print(b)})" if _print(a) <= _print(b) else \
            f"{head}({_print(b)},{_print(a)})"
    elif head == "cdiv":
        atom = f"cdiv({_print(a)},{_print(b)})"
    else:
        atom = f"{_operand(a)}{head}{_operand(b)}"
    return {(atom,): 1}


def _is_name(text: str) -> bool:
    """A symbol or a single function call: needs no parentheses as an operand."""
    if _SYMBOL.match(text):
        return True
    return bool(re.match(r"^(cdiv|max|min)\(.*\)$", text)) and _balanced_call(text)


def _balanced_call(text: str) -> bool:
    """True when ``text`` is one call f(...) whose parenthesis closes at the end."""
    depth = 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and ch == ")" and i != len(text) - 1:
            return False
    return True


def _operand(p: dict) -> str:
    text = _print(p)
    return text if text.isdigit() or _is_name(text) else f"({text})"


def _monomial(atoms: tuple, coef: int) -> str:
    factors = [a if _is_name(a) else f"({a})" for a in atoms] if len(atoms) > 1 or abs(coef) != 1 \
        else list(atoms)
    body = "*".join(([str(abs(coef))] if abs(coef) != 1 or not atoms else []) + factors)
    return ("-" if coef < 0 else "") + body


def _print(p: dict) -> str:
    if not p:
        return "0"
    terms = sorted(k for k in p if k) + ([()] if () in p else [])
    positive = [k for k in terms if p[k] > 0]
    # a leading positive term keeps "time-2" rather than "-2+time"
    order = positive[:1] + [k for k in terms if k not in positive[:1]]
    out = ""
    for i, k in enumerate(order):
        text = _monomial(k, p[k])
        out += text if i == 0 or text.startswith("-") else "+" + text
    return out


@functools.lru_cache(maxsize=8192)
def _normalize_expr(text: str) -> Dim:
    p = _poly(expr_lang.parse(text))
    const = _const(p)
    return const if const is not None else _print(p)


def normalize(dim: Dim) -> Dim:
    """Canonical form: an int when static, a product ``"k*a*b"`` with sorted symbols (k omitted when 1),
    else the canonical printed expression."""
    prod = _product(dim)
    if prod is None:
        try:
            return _normalize_expr(str(dim))
        except expr_lang.ExprError as e:
            raise ValueError(f"bad dimension {dim!r}: {e}") from None
    coef, syms = prod
    if not syms:
        return coef
    if coef == 0:
        return 0
    parts = ([str(coef)] if coef != 1 else []) + syms
    return "*".join(parts)


def _wrap(dim: Dim) -> str:
    return str(dim) if _product(dim) is not None else f"({dim})"


def mul(*dims: Dim) -> Dim:
    if all(_product(d) is not None for d in dims):
        coef, syms = 1, []
        for d in dims:
            c, s = _factors(d)
            coef *= c
            syms += s
        return normalize("*".join([str(coef)] + syms))
    return normalize("*".join(_wrap(d) for d in dims))


def add(*dims: Dim) -> Dim:
    """The sum of dims in canonical form."""
    return normalize("+".join(_wrap(d) for d in dims) or "0")


def is_product(dim: Dim) -> bool:
    """Whether ``dim`` is an int or a product of symbols and ints (what graph inputs may use)."""
    return _product(dim) is not None


def is_static(dim: Dim) -> bool:
    return isinstance(normalize(dim), int)


def symbols(dim: Dim) -> list[str]:
    prod = _product(dim)
    return prod[1] if prod is not None else list(expr_lang.validate(str(dim)))


def evaluate(dim: Dim, bindings: Mapping[str, int]) -> int:
    for s in symbols(dim):
        if s not in bindings:
            raise KeyError(f"symbolic dimension {s!r} is not bound (bound: {sorted(bindings)})")
    prod = _product(dim)
    if prod is None:
        return expr_lang.evaluate(str(dim), {s: int(bindings[s]) for s in symbols(dim)})
    coef, syms = prod
    for s in syms:
        coef *= int(bindings[s])
    return coef


def size(shape: Sequence[Dim]) -> Dim:
    return mul(*shape) if shape else 1


def eval_shape(shape: Sequence[Dim], bindings: Mapping[str, int]) -> tuple[int, ...]:
    return tuple(evaluate(d, bindings) for d in shape)


def fmt_shape(shape: Sequence[Dim]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def bind(shape: Sequence[Dim], actual: Sequence[int], bindings: dict, what: str) -> None:
    """Bind the symbols of ``shape`` from an actual array shape; raise a clear error on mismatch.
    Only products bind symbols (graph inputs); a derived dim must have its symbols bound already."""
    if len(shape) != len(actual):
        raise ValueError(f"{what}: expected rank {len(shape)} {fmt_shape(shape)}, got shape {tuple(actual)}")
    for d, a in zip(shape, actual):
        prod = _product(d)
        if prod is None:
            if any(s not in bindings for s in symbols(d)):
                raise ValueError(f"{what}: dimension {d} is derived from unbound symbols; give inputs "
                                 "plain symbolic dims (products of symbols)")
        else:
            _bind_product(d, prod, a, bindings, what, shape)
        if evaluate(d, bindings) != a:
            raise ValueError(
                f"{what}: expected shape {fmt_shape(shape)} with {dict(bindings)}, got {tuple(actual)}")


def _bind_product(d, prod, a: int, bindings: dict, what: str, shape) -> None:
    coef, syms = prod
    unbound = [s for s in syms if s not in bindings]
    if len(unbound) == 1:
        known = coef
        for s in syms:
            if s != unbound[0]:
                known *= bindings[s]
        if known == 0 or a % known:
            raise ValueError(f"{what}: dimension {d} cannot be {a} (shape {fmt_shape(shape)})")
        bindings[unbound[0]] = a // known
    elif len(unbound) > 1:
        raise ValueError(f"{what}: dimension {d} has several unbound symbols")


_LANGS = ("c", "glsl", "wgsl")


def render(dim: Dim, symbol: "Callable[[str], str]", lang: str = "c") -> str:
    """A dim as an integer expression in C, GLSL or WGSL: ``symbol`` names each symbol's variable.
    Products and expressions are parenthesized so templates can divide by them. ``/`` of the
    non-negative sizes truncates like the language's integer division, which equals floor there."""
    if lang not in _LANGS:
        raise ValueError(f"unknown render language {lang!r}; use one of {_LANGS}")
    prod = _product(dim)
    if prod is None:
        return _render_tree(expr_lang.parse(str(normalize(dim))), symbol, lang)
    coef, syms = prod
    parts = ([str(coef)] if coef != 1 or not syms else []) + [symbol(s) for s in syms]
    return parts[0] if len(parts) == 1 else "(" + "*".join(parts) + ")"


def _render_tree(tree: tuple, symbol, lang: str) -> str:
    head = tree[0]
    if head == "int":
        return str(tree[1])
    if head == "sym":
        return symbol(tree[1])
    if head == "neg":
        return f"(-{_render_tree(tree[1], symbol, lang)})"
    a, b = _render_tree(tree[1], symbol, lang), _render_tree(tree[2], symbol, lang)
    if head == "cdiv":
        return f"(({a}+{b}-1)/{b})"
    if head in ("max", "min"):
        if lang == "c":
            return f"({a}{'>' if head == 'max' else '<'}{b}?{a}:{b})"
        return f"{head}({a},{b})"
    return f"({a}{head}{b})"
