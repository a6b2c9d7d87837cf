"""Symbolic dimensions.

A dimension is either an ``int`` or a ``str``. A string is a product of factors joined by ``*``; each
factor is a symbol name (an identifier such as ``batch`` or ``time``) or a positive integer, e.g.
``"batch*time"`` or ``"batch*4"``. Symbols are bound to integers when a graph runs (from the input
sizes); a product is all the algebra the IR needs (flattening, TimeDistributed, reshapes).
"""

from __future__ import annotations

import re
from typing import Callable, Mapping, Sequence, Union

Dim = Union[int, str]
Shape = tuple

_SYMBOL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _factors(dim: Dim) -> tuple[int, list[str]]:
    """Split a dim into its integer coefficient and its sorted symbol factors."""
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


def normalize(dim: Dim) -> Dim:
    """Canonical form: an int when static, else ``"k*a*b"`` with sorted symbols (k omitted when 1)."""
    coef, syms = _factors(dim)
    if not syms:
        return coef
    if coef == 0:
        return 0
    parts = ([str(coef)] if coef != 1 else []) + syms
    return "*".join(parts)


def mul(*dims: Dim) -> Dim:
    coef, syms = 1, []
    for d in dims:
        c, s = _factors(d)
        coef *= c
        syms += s
    return normalize("*".join([str(coef)] + syms))


def is_static(dim: Dim) -> bool:
    return not _factors(dim)[1]


def symbols(dim: Dim) -> list[str]:
    return _factors(dim)[1]


def evaluate(dim: Dim, bindings: Mapping[str, int]) -> int:
    coef, syms = _factors(dim)
    for s in syms:
        if s not in bindings:
            raise KeyError(f"symbolic dimension {s!r} is not bound (bound: {sorted(bindings)})")
        coef *= int(bindings[s])
    return coef


def size(shape: Sequence[Dim]) -> Dim:
    return mul(*shape) if shape else 1


def eval_shape(shape: Sequence[Dim], bindings: Mapping[str, int]) -> tuple[int, ...]:
    return tuple(evaluate(d, bindings) for d in shape)


def fmt_shape(shape: Sequence[Dim]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def bind(shape: Sequence[Dim], actual: Sequence[int], bindings: dict, what: str) -> None:
    """Bind the symbols of ``shape`` from an actual array shape; raise a clear error on mismatch."""
    if len(shape) != len(actual):
        raise ValueError(f"{what}: expected rank {len(shape)} {fmt_shape(shape)}, got shape {tuple(actual)}")
    for d, a in zip(shape, actual):
        coef, syms = _factors(d)
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
        if evaluate(d, bindings) != a:
            raise ValueError(
                f"{what}: expected shape {fmt_shape(shape)} with {dict(bindings)}, got {tuple(actual)}")


def render(dim: Dim, symbol: "Callable[[str], str]") -> str:
    """A dim as a C-like integer expression (C, WGSL, GLSL): ``symbol`` names each symbol's variable.
    Products are parenthesized so templates can divide by them."""
    coef, syms = _factors(dim)
    parts = ([str(coef)] if coef != 1 or not syms else []) + [symbol(s) for s in syms]
    return parts[0] if len(parts) == 1 else "(" + "*".join(parts) + ")"
