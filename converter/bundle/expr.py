"""The tiny integer expression language of bundles (slot sizes, kernel params, dispatch sizes).

Grammar (spaces, tabs and newlines between tokens are ignored)::

    expr  := term (("+" | "-") term)*
    term  := unary (("*" | "/" | "%") unary)*
    unary := "-" unary | atom
    atom  := INT | SYMBOL | FUNC "(" expr "," expr ")" | "(" expr ")"

``/`` and ``%`` floor (Python's ``//`` and ``%``), ``cdiv(a, b)`` is the ceiling of a/b, ``max`` and
``min`` take two arguments. Symbols are bound to ints when the runtime knows the input shapes.
Arithmetic is exact; a result beyond +-(2**53 - 1) is an error because JavaScript could not hold it.

Bundles are untrusted input, so the parser is iterative (an explicit stack, no recursion) and bounded:
at most MAX_LENGTH characters, MAX_OPERATORS operators and calls (so every tree is at most that deep
and recursive walks elsewhere are safe), integer literals of at most MAX_DIGITS digits.
runtime-js/src/bundle/expr.ts implements the same language with the same limits and error messages;
tests/unit/expr_cases.json is the table both are tested against.
"""

from __future__ import annotations

import functools
import operator
import re
from typing import Mapping, Union

MAX_SAFE = 2**53 - 1
MAX_LENGTH = 4096
MAX_OPERATORS = 256
MAX_DIGITS = 20
FUNCTIONS = ("cdiv", "max", "min")
_TOKEN = re.compile(r"([0-9]+)|([A-Za-z_][A-Za-z0-9_]*)|([-+*/%(),])")
_SPACE = " \t\r\n"
# binding strength of the operators on the stack; unary minus ("neg") binds tightest
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "%": 2, "neg": 3}
_SHOWN = 100
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class ExprError(ValueError):
    """A malformed expression or one that cannot be evaluated with the given bindings."""

    def __init__(self, message: str):
        super().__init__(printable(message))


def printable(text: str) -> str:
    """``text`` with control characters and line separators escaped (\\xNN, \\uNNNN): messages quote
    what a file holds and must stay one line."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else
                        f"\\u{ord(m.group()):04x}", text)


def shown(src: str) -> str:
    """``src`` as error messages quote it: cut after _SHOWN characters so a message stays one short line."""
    return src if len(src) <= _SHOWN else src[:_SHOWN] + "..."


def _number(value: int) -> str:
    digits = len(str(abs(value)))
    return str(value) if digits <= 30 else f"a {digits}-digit number"


def _floordiv(a: int, b: int) -> int:
    return a // b


def _cdiv(a: int, b: int) -> int:
    return -((-a) // b)


_BINARY = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": _floordiv, "%": operator.mod,
           "cdiv": _cdiv, "max": max, "min": min}
_DIVIDES = ("/", "%", "cdiv")


def _fail(src: str, what: str, column: int) -> ExprError:
    return ExprError(f"bad expression '{shown(src)}': {what} at column {column}")


def _tokenize(src: str) -> list[tuple[str, str, int]]:
    """Tokens as (kind, text, column) with kind in int, name, op; a final ("end", "", column)."""
    if len(src.encode("utf-16-le", "surrogatepass")) // 2 > MAX_LENGTH:   # counted as JS counts
        raise ExprError(f"bad expression '{shown(src)}': longer than {MAX_LENGTH} characters")
    tokens, pos = [], 0
    while True:
        while pos < len(src) and src[pos] in _SPACE:
            pos += 1
        if pos == len(src):
            tokens.append(("end", "", pos + 1))
            return tokens
        m = _TOKEN.match(src, pos)
        if not m:
            raise _fail(src, f"unexpected character '{src[pos]}'", pos + 1)
        kind = "int" if m.group(1) else "name" if m.group(2) else "op"
        if kind == "int" and len(m.group()) > MAX_DIGITS:
            raise _fail(src, f"an integer of more than {MAX_DIGITS} digits", pos + 1)
        tokens.append((kind, m.group(), pos + 1))
        pos = m.end()


class _Frame:
    """One level of the parse: the whole expression, a parenthesis, or a function call's arguments."""

    def __init__(self, kind: str, name: str = ""):
        self.kind, self.name = kind, name
        self.values: list = []      # operand trees
        self.ops: list = []         # pending operators, weakest at the bottom
        self.args: list = []        # finished arguments of a call


class _Parser:
    """Operator precedence over an explicit stack of frames (no recursion, so no depth limit of the host);
    builds tuples ("int", v) ("sym", s) ("neg", a) (op, a, b) with the errors of a recursive descent."""

    def __init__(self, src: str):
        self.src = src
        self.tokens = _tokenize(src)
        self.i = 0
        self.frames = [_Frame("top")]
        self.operators = 0

    def count(self, column: int) -> None:
        self.operators += 1
        if self.operators > MAX_OPERATORS:
            raise _fail(self.src, f"more than {MAX_OPERATORS} operators", column)

    def parse(self) -> tuple:
        want_operand = True
        while True:
            kind, text, column = self.tokens[self.i]
            self.i += 1
            if want_operand:
                want_operand = self.operand(kind, text, column)
            elif kind == "op" and text in ("+", "-", "*", "/", "%"):
                self.count(column)
                self.reduce(_PRECEDENCE[text])
                self.frames[-1].ops.append(text)
                want_operand = True
            elif self.close(kind, text, column) == "done":
                return self.frames[0].values[0]
            else:
                want_operand = self.tokens[self.i - 1][1] == ","

    def operand(self, kind: str, text: str, column: int) -> bool:
        """Consume one token where an operand must start; return whether an operand is still wanted."""
        frame = self.frames[-1]
        if kind == "op" and text == "-":
            self.count(column)
            frame.ops.append("neg")
            return True
        if kind == "op" and text == "(":
            self.frames.append(_Frame("paren"))
            return True
        if kind == "int":
            frame.values.append(("int", int(text)))
            return False
        if kind == "name" and self.tokens[self.i][1] == "(":
            if text not in FUNCTIONS:
                known = ", ".join(FUNCTIONS)
                raise _fail(self.src, f"unknown function '{text}' (functions: {known})", column)
            self.count(column)
            self.i += 1
            self.frames.append(_Frame("call", text))
            return True
        if kind == "name":
            if text in FUNCTIONS:
                raise _fail(self.src, f"expected '(' after '{text}'", column + len(text))
            frame.values.append(("sym", text))
            return False
        raise _fail(self.src, "expected a number, symbol or '('", column)

    def reduce(self, precedence: int) -> None:
        frame = self.frames[-1]
        while frame.ops and _PRECEDENCE[frame.ops[-1]] >= precedence:
            op = frame.ops.pop()
            if op == "neg":
                frame.values.append(("neg", frame.values.pop()))
            else:
                b = frame.values.pop()
                frame.values.append((op, frame.values.pop(), b))

    def close(self, kind: str, text: str, column: int) -> str:
        """The current frame's expression ended at this token (already consumed): "done" when it was the
        whole expression; a ',' opens a call's second argument, a ')' ends a parenthesis or a call."""
        self.reduce(0)
        frame = self.frames[-1]
        if frame.kind == "top":
            if kind != "end":
                raise _fail(self.src, f"unexpected '{text}'", column)
            return "done"
        want = "," if frame.kind == "call" and not frame.args else ")"
        if kind != "op" or text != want:
            raise _fail(self.src, f"expected '{want}'", column)
        tree = frame.values.pop()
        if want == ",":
            frame.args.append(tree)
            return "next"
        self.frames.pop()
        node = (frame.name, frame.args[0], tree) if frame.kind == "call" else tree
        self.frames[-1].values.append(node)
        return "next"


@functools.lru_cache(maxsize=4096)
def parse(expr: str) -> tuple:
    """The syntax tree of ``expr``; raises ExprError on bad syntax."""
    if not isinstance(expr, str):
        raise ExprError(f"bad expression '{expr}': expected a string, got {type(expr).__name__}")
    return _Parser(expr).parse()


def _walk(tree: tuple):
    """The nodes of ``tree`` children first, left to right (iteratively)."""
    stack = [(tree, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded or node[0] in ("int", "sym"):
            yield node
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node[1:]))


def nodes(expr: str):
    """The nodes of the syntax tree of ``expr``, children first and left to right."""
    return _walk(parse(expr))


def validate(expr: str) -> tuple[str, ...]:
    """Check the syntax of ``expr``; return the sorted names of the symbols it uses."""
    return tuple(sorted({node[1] for node in _walk(parse(expr)) if node[0] == "sym"}))


def _bound(src: str, name: str, bindings: Mapping[str, int]) -> int:
    if name not in bindings:
        bound = ", ".join(sorted(bindings)) or "none"
        raise ExprError(f"expression '{shown(src)}' uses unbound symbol '{name}' (bound: {bound})")
    value = bindings[name]
    try:
        if isinstance(value, bool):
            raise TypeError
        return operator.index(value)
    except TypeError:
        raise ExprError(f"symbol '{name}' is bound to {value!r}, not an integer") from None


def _eval(src: str, tree: tuple, bindings: Mapping[str, int]) -> int:
    values: list = []
    for node in _walk(tree):
        head = node[0]
        if head == "int":
            values.append(node[1])
        elif head == "sym":
            values.append(_bound(src, node[1], bindings))
        elif head == "neg":
            values.append(-values.pop())
        else:
            b, a = values.pop(), values.pop()
            if b == 0 and head in _DIVIDES:
                raise ExprError(f"expression '{shown(src)}' divides by zero")
            values.append(_BINARY[head](a, b))
    return values[0]


def evaluate(expr: Union[str, int], bindings: Mapping[str, int]) -> int:
    """The value of ``expr`` with its symbols taken from ``bindings``."""
    if isinstance(expr, int) and not isinstance(expr, bool):
        return expr
    value = _eval(expr, parse(expr), bindings)
    if abs(value) > MAX_SAFE:
        raise ExprError(f"expression '{shown(expr)}' overflows: {_number(value)} is beyond +-(2^53-1)")
    return value
