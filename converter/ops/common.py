"""Helpers shared by the shape rules: dim comparison, broadcasting, axis handling, one-line errors."""

from __future__ import annotations

from converter.ir import dims


class OpError(ValueError):
    """A shape rule or attribute check failed; the message names the op and what to change."""


def fail(op: str, message: str):
    raise OpError(f"{op}: {message}")


def same_dim(a, b) -> bool:
    return dims.normalize(a) == dims.normalize(b)


def fmt(info) -> str:
    return f"{info.dtype}{dims.fmt_shape(info.shape)}"


def need_dtype(op: str, what: str, info, *dtypes) -> None:
    if info.dtype not in dtypes:
        fail(op, f"{what} must be {' or '.join(dtypes)}, got {fmt(info)}")


def need_rank(op: str, what: str, info, *ranks) -> None:
    if len(info.shape) not in ranks:
        fail(op, f"{what} must have rank {' or '.join(map(str, ranks))}, got {fmt(info)}")


def check_dim(op: str, what: str, got, want) -> None:
    """Fail when two dims are known to differ (equal normal forms, or two different static values)."""
    if not same_dim(got, want):
        fail(op, f"{what} is {got}, expected {want}")


def broadcast(op: str, *shapes) -> tuple:
    """numpy broadcasting over symbolic dims: equal dims stay, a static 1 stretches to the other."""
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(rank):
        dim = 1
        for s in shapes:
            d = s[i - rank + len(s)] if i - rank + len(s) >= 0 else 1
            d = dims.normalize(d)
            if d == 1:
                continue
            if dim != 1 and d != dim:
                fail(op, f"cannot broadcast shapes {', '.join(dims.fmt_shape(x) for x in shapes)}")
            dim = d
        out.append(dim)
    return tuple(out)


def norm_axis(op: str, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        fail(op, f"axis {axis} is out of range for rank {rank}")
    return axis % rank


def need_attr(op: str, attrs: dict, name: str):
    value = attrs.get(name)
    if value is None:
        fail(op, f"attribute {name!r} is required")
    return value
