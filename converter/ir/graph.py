"""The IR graph: typed values (dtype + shape with symbolic dims) and nodes (op + attrs)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from converter.ir import dims
from converter.ops import registry

DTYPES = ("float32", "int32")


@dataclass(eq=False)
class Value:
    name: str
    dtype: str
    shape: tuple
    data: Optional[np.ndarray] = None          # set for constants (weights)
    producer: Optional["Node"] = field(default=None, repr=False)

    @property
    def is_const(self) -> bool:
        return self.data is not None

    def info(self) -> registry.ValueInfo:
        return registry.ValueInfo(self.dtype, self.shape, self.data)

    def __repr__(self):
        kind = "const " if self.is_const else ""
        return f"%{self.name}: {kind}{self.dtype}{dims.fmt_shape(self.shape)}"


@dataclass(eq=False)
class Node:
    op: str
    inputs: list
    outputs: list
    attrs: dict
    name: str

    @property
    def opdef(self) -> registry.OpDef:
        return registry.get(self.op)

    def named_inputs(self) -> dict:
        """Input name (as the op declares it, without ``?``) -> value or None; variadic ops by position."""
        names = self.opdef.inputs
        if self.opdef.variadic:
            return {f"{names[-1].rstrip('*')}{i}": v for i, v in enumerate(self.inputs)}
        return dict(zip((n.rstrip("?") for n in names), self.inputs))

    def input(self, name: str) -> Optional["Value"]:
        """The input the op declares as ``name`` (None when an optional input is absent)."""
        named = self.named_inputs()
        if name not in named:
            raise KeyError(f"op {self.op} has no input {name!r}; inputs: {', '.join(named)}")
        return named[name]


class Graph:
    """A DAG of nodes kept in topological order. ``inputs``/``outputs`` are the model's signature.

    ``meta`` carries facts from the frontend: ``source`` (e.g. "keras 3.15"), ``states`` (a list of
    ``{"input": name, "output": name}`` pairs for stateful recurrent layers), ``layers`` (count).
    """

    def __init__(self, name: str = "model"):
        self.name = name
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self.nodes: list[Node] = []
        self.meta: dict[str, Any] = {}
        self._names: set[str] = set()
        self._counter = itertools.count()

    # ---- construction -------------------------------------------------------------------------
    def unique(self, base: str) -> str:
        base = base or "v"
        name = base
        while name in self._names:
            name = f"{base}_{next(self._counter)}"
        self._names.add(name)
        return name

    def rename(self, value: Value, want: str) -> bool:
        """Give ``value`` the user-facing name ``want`` unless another value already carries it (then it
        keeps its name); the name is reserved so that later ``unique`` calls never reuse it."""
        if value.name == want:
            return True
        if want in {x.name for x in self.values() if x is not value}:
            return False
        self._names.add(want)
        value.name = want
        return True

    def input(self, name: str, dtype: str, shape: Sequence[dims.Dim]) -> Value:
        v = Value(self.unique(name), dtype, tuple(dims.normalize(d) for d in shape))
        self.inputs.append(v)
        return v

    def const(self, name: str, array, dtype: Optional[str] = None) -> Value:
        arr = np.asarray(array)
        dtype = dtype or ("int32" if np.issubdtype(arr.dtype, np.integer) else "float32")
        arr = np.ascontiguousarray(arr.astype(dtype))
        return Value(self.unique(name), dtype, tuple(arr.shape), arr)

    def add(self, op: str, inputs: Sequence[Optional[Value]], attrs: Optional[dict] = None,
            name: str = "", index: Optional[int] = None) -> list[Value]:
        """Append (or insert at ``index``) a node; output types come from the op's shape rule."""
        opdef = registry.get(op)
        full = dict(opdef.attrs)
        unknown = set(attrs or {}) - set(full)
        if unknown:
            raise ValueError(f"op {op}: unknown attributes {sorted(unknown)}")
        full.update(attrs or {})
        inputs = list(inputs)
        if not opdef.variadic:
            inputs += [None] * (len(opdef.inputs) - len(inputs))
        infos = [v.info() if v is not None else None for v in inputs]
        types = opdef.infer(*infos, attrs=full)
        name = self.unique(name or op.lower())
        outs = [Value(self.unique(f"{name}:{i}" if len(types) > 1 else name), dt,
                      tuple(dims.normalize(d) for d in shape))
                for i, (dt, shape) in enumerate(types)]
        node = Node(op, inputs, outs, full, name)
        for o in outs:
            o.producer = node
        if index is None:
            self.nodes.append(node)
        else:
            self.nodes.insert(index, node)
        return outs

    def add1(self, op: str, inputs, attrs=None, name: str = "", index=None) -> Value:
        return self.add(op, inputs, attrs, name, index)[0]

    # ---- queries --------------------------------------------------------------------------------
    def values(self) -> list[Value]:
        seen, out = set(), []
        for v in itertools.chain(self.inputs, *(n.inputs for n in self.nodes),
                                 *(n.outputs for n in self.nodes)):
            if v is not None and id(v) not in seen:
                seen.add(id(v))
                out.append(v)
        return out

    def constants(self) -> list[Value]:
        return [v for v in self.values() if v.is_const]

    def consumers(self) -> dict:
        """id(value) -> list of (node, input index)."""
        users: dict = {}
        for n in self.nodes:
            for i, v in enumerate(n.inputs):
                if v is not None:
                    users.setdefault(id(v), []).append((n, i))
        return users

    def replace_uses(self, old: Value, new: Value) -> None:
        for n in self.nodes:
            n.inputs = [new if v is old else v for v in n.inputs]
        self.outputs = [new if v is old else v for v in self.outputs]

    def weight_bytes(self) -> int:
        return sum(v.data.nbytes for v in self.constants())

    # ---- evaluation and checks -------------------------------------------------------------------
    def run(self, inputs, return_all: bool = False):
        from converter.interpreter import run
        return run(self, inputs, return_all=return_all)

    def verify(self) -> None:
        from converter.ir.verify import verify
        verify(self)

    def dump(self) -> str:
        from converter.ir.printer import dump
        return dump(self)

    def __str__(self):
        return self.dump()
