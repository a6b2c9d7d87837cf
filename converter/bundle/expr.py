"""The tiny integer expression language of bundles (slot sizes, kernel params, dispatch sizes).

Grammar (spaces, tabs and newlines between tokens are ignored)::

    expr  := term (("+" | "-") term)*
    term  := unary (("*" | "/" | "%") unary)*
    unary := "-" unary | atom
    atom  := INT | SYMBOL | FUNC "(" expr "," expr ")" | "(" expr ")"

``/`` and ``%`` floor (Python's ``//`` and ``%``), ``cdiv(a, b)`` is the ceiling of a/b, ``max`` and
``min`` take two arguments. Symbols are bound to ints when the runtime knows the input shapes.
Arithmetic is exact; a result beyond +-(2**53 - 1) is an error because JavaScript could not hold it.
runtime-js/src/bundle/expr.ts implements the same language with the same error messages;
tests/unit/expr_cases.json is the table both are tested against.
"""

from __future__ import annotations

import functools
import operator
import re
from typing import Mapping, Union

MAX_SAFE = 2**53 - 1
FUNCTIONS = ("cdiv", "max", "min")
_TOKEN = re.compile(r"([0-9]+)|([A-Za-z_][A-Za-z0-9_]*)|([-+*/%(),])")
_SPACE = " \t\r\n"


class ExprError(ValueError):
    """A malformed expression or one that cannot be evaluated with the given bindings."""


def _floordiv(a: int, b: int) -> int:
    return a // b


def _cdiv(a: int, b: int) -> int:
    return -((-a) // b)


_BINARY = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": _floordiv, "%": operator.mod,
           "cdiv": _cdiv, "max": max, "min": min}
_DIVIDES = ("/", "%", "cdiv")


def _tokenize(src: str) -> list[tuple[str, str, int]]:
    """Tokens as (kind, text, column) with kind in int, name, op; a final ("end", "", column)."""
    tokens, pos = [], 0
    while True:
        while pos < len(src) and src[pos] in _SPACE:
            pos += 1
        if pos == len(src):
            tokens.append(("end", "", pos + 1))
            return tokens
        m = _TOKEN.match(src, pos)
        if not m:
            raise ExprError(f"bad expression '{src}': unexpected character '{src[pos]}' at column {pos + 1}")
        kind = "int" if m.group(1) else "name" if m.group(2) else "op"
        tokens.append((kind, m.group(), pos + 1))
        pos = m.end()


class _Parser:
    """Recursive descent over the token list; builds tuples ("int", v) ("sym", s) ("neg", a) (op, a, b)."""

    def __init__(self, src: str):
        self.src = src
        self.tokens = _tokenize(src)
        self.i = 0

    def fail(self, what: str, column: int) -> ExprError:
        return ExprError(f"bad expression '{self.src}': {what} at column {column}")

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i]

    def take(self) -> tuple[str, str, int]:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        kind, got, column = self.take()
        if got != text or kind != "op":
            raise self.fail(f"expected '{text}'", column)

    def parse(self) -> tuple:
        tree = self.sum()
        kind, text, column = self.peek()
        if kind != "end":
            raise self.fail(f"unexpected '{text}'", column)
        return tree

    def sum(self) -> tuple:
        tree = self.product()
        while self.peek()[1] in ("+", "-") and self.peek()[0] == "op":
            tree = (self.take()[1], tree, self.product())
        return tree

    def product(self) -> tuple:
        tree = self.unary()
        while self.peek()[1] in ("*", "/", "%") and self.peek()[0] == "op":
            tree = (self.take()[1], tree, self.unary())
        return tree

    def unary(self) -> tuple:
        if self.peek()[:2] == ("op", "-"):
            self.take()
            return ("neg", self.unary())
        return self.atom()

    def atom(self) -> tuple:
        kind, text, column = self.take()
        if kind == "int":
            return ("int", int(text))
        if kind == "op" and text == "(":
            tree = self.sum()
            self.expect(")")
            return tree
        if kind == "name":
            return self.call(text, column) if self.peek()[1] == "(" else self.symbol(text, column)
        raise self.fail("expected a number, symbol or '('", column)

    def call(self, name: str, column: int) -> tuple:
        if name not in FUNCTIONS:
            raise self.fail(f"unknown function '{name}' (functions: {', '.join(FUNCTIONS)})", column)
        self.take()
        a = self.sum()
        self.expect(",")
        b = self.sum()
        self.expect(")")
        return (name, a, b)

    def symbol(self, name: str, column: int) -> tuple:
        if name in FUNCTIONS:
            raise self.fail(f"expected '(' after '{name}'", column + len(name))
        return ("sym", name)


@functools.lru_cache(maxsize=4096)
def parse(expr: str) -> tuple:
    """The syntax tree of ``expr``; raises ExprError on bad syntax."""
    if not isinstance(expr, str):
        raise ExprError(f"bad expression '{expr}': expected a string, got {type(expr).__name__}")
    return _Parser(expr).parse()


def _symbols(tree: tuple, out: set) -> set:
    if tree[0] == "sym":
        out.add(tree[1])
    elif tree[0] != "int":
        for child in tree[1:]:
            _symbols(child, out)
    return out


def validate(expr: str) -> tuple[str, ...]:
    """Check the syntax of ``expr``; return the sorted names of the symbols it uses."""
    return tuple(sorted(_symbols(parse(expr), set())))


def _bound(src: str, name: str, bindings: Mapping[str, int]) -> int:
    if name not in bindings:
        bound = ", ".join(sorted(bindings)) or "none"
        raise ExprError(f"expression '{src}' uses unbound symbol '{name}' (bound: {bound})")
    value = bindings[name]
    try:
        if isinstance(value, bool):
            raise TypeError
        return operator.index(value)
    except TypeError:
        raise ExprError(f"symbol '{name}' is bound to {value!r}, not an integer") from None


def _eval(src: str, tree: tuple, bindings: Mapping[str, int]) -> int:
    head = tree[0]
    if head == "int":
        return tree[1]
    if head == "sym":
        return _bound(src, tree[1], bindings)
    if head == "neg":
        return -_eval(src, tree[1], bindings)
    a, b = _eval(src, tree[1], bindings), _eval(src, tree[2], bindings)
    if b == 0 and head in _DIVIDES:
        raise ExprError(f"expression '{src}' divides by zero")
    return _BINARY[head](a, b)


def evaluate(expr: Union[str, int], bindings: Mapping[str, int]) -> int:
    """The value of ``expr`` with its symbols taken from ``bindings``."""
    if isinstance(expr, int) and not isinstance(expr, bool):
        return expr
    value = _eval(expr, parse(expr), bindings)
    if abs(value) > MAX_SAFE:
        raise ExprError(f"expression '{expr}' overflows: {value} is beyond +-(2^53-1)")
    return value
