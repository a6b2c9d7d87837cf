"""Static tensors during conversion: numpy arrays whose int entries may be symbolic dims.

``Shape(x)`` of a tensor with a free batch gives ``[SymDim("batch"), 7, 32]``: a numpy object array.
The shape arithmetic exporters build around it (Gather, Concat, Slice, Add, Mul, Unsqueeze, ...) runs
on such arrays with numpy itself, because ``SymDim`` implements the integer operators through
``converter.ir.dims``. A result that becomes static turns back into a plain ``int``.
"""

from __future__ import annotations

import numpy as np

from converter.ir import dims


class SymbolicValueError(ValueError):
    """A comparison or operation whose result depends on the value a symbolic dim takes at run time."""


def sym(d):
    """A dim as the value a shape tensor holds: an int when static, else a SymDim."""
    d = dims.normalize(d)
    return d if isinstance(d, int) else SymDim(d)


def _dim(x):
    if isinstance(x, SymDim):
        return x.dim
    if isinstance(x, (int, np.integer)):
        return int(x)
    raise SymbolicValueError(f"cannot combine the symbolic dim with {x!r}")


class SymDim:
    __slots__ = ("dim",)

    def __init__(self, dim):
        self.dim = dims.normalize(dim)

    def __repr__(self):
        return f"SymDim({self.dim!r})"

    def __str__(self):
        return str(self.dim)

    def __hash__(self):
        return hash(self.dim)

    def __add__(self, o):
        return sym(dims.add(self.dim, _dim(o)))

    __radd__ = __add__

    def __mul__(self, o):
        return sym(dims.mul(self.dim, _dim(o)))

    __rmul__ = __mul__

    def __sub__(self, o):
        return sym(f"({self.dim})-({_dim(o)})")

    def __rsub__(self, o):
        return sym(f"({_dim(o)})-({self.dim})")

    def __neg__(self):
        return sym(f"0-({self.dim})")

    def __floordiv__(self, o):
        return sym(divide(self.dim, _dim(o)))

    def __rfloordiv__(self, o):
        return sym(f"({_dim(o)})/({self.dim})")

    __truediv__ = __floordiv__      # int64 division of non-negative dims truncates = floors

    def __eq__(self, o):
        other = _dim(o) if isinstance(o, (SymDim, int, np.integer)) else None
        if other is None:
            return NotImplemented
        if dims.normalize(other) == self.dim:
            return True
        if isinstance(other, int) and other < 0:
            return False            # a dim is never negative: the `== -1` checks of reshape patterns
        raise SymbolicValueError(f"whether dim {self.dim} equals {other} is known only at run time")

    def __ne__(self, o):
        eq = self.__eq__(o)
        return eq if eq is NotImplemented else not eq

    def __lt__(self, o):
        if isinstance(o, (int, np.integer)) and o <= 0:
            return False
        raise SymbolicValueError(f"whether dim {self.dim} < {o} is known only at run time")

    def __ge__(self, o):
        return not self.__lt__(o)

    def __gt__(self, o):
        if isinstance(o, (int, np.integer)) and o < 0:
            return True
        raise SymbolicValueError(f"whether dim {self.dim} > {o} is known only at run time")

    def __le__(self, o):
        return not self.__gt__(o)

    def __int__(self):
        raise SymbolicValueError(f"dim {self.dim} has no value before run time")

    __index__ = __int__


def divide(total, part):
    """``total / part`` for dims known to divide (Reshape's -1): cancels common product factors."""
    total, part = dims.normalize(total), dims.normalize(part)
    if part == 0:
        raise SymbolicValueError("division by a zero-sized dim")
    if dims.is_product(total) and dims.is_product(part):
        tc, ts = dims._factors(total)
        pc, ps = dims._factors(part)
        rest = list(ts)
        for s in ps:
            if s not in rest:
                break
            rest.remove(s)
        else:
            if tc % pc == 0:
                return dims.normalize("*".join([str(tc // pc)] + rest))
    if dims.is_static(part):
        return dims.normalize(f"({total})/{part}")
    raise SymbolicValueError(f"cannot divide dim {total} by {part} exactly")


def is_symbolic(array) -> bool:
    return isinstance(array, np.ndarray) and array.dtype == object


def as_shape(array) -> tuple:
    """A 1-D static int tensor as a shape tuple of IR dims (ints and symbolic strings)."""
    flat = np.asarray(array).reshape(-1)
    return tuple(x.dim if isinstance(x, SymDim) else int(x) for x in flat)


def shape_array(shape) -> np.ndarray:
    """An IR shape as a static int64 tensor; object dtype when some dim is symbolic."""
    items = [sym(d) for d in shape]
    if all(isinstance(x, int) for x in items):
        return np.array(items, dtype=np.int64)
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out
