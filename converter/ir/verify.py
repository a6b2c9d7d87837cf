"""Graph invariants, checked after every pass in tests."""

from __future__ import annotations

from converter.ir import dims
from converter.ir.graph import DTYPES
from converter.ops import registry


class GraphError(AssertionError):
    pass


def verify(graph) -> None:
    defined = {id(v) for v in graph.inputs}
    names = set()

    def check_value(v, where):
        if v.dtype not in DTYPES:
            raise GraphError(f"{where}: value {v.name} has dtype {v.dtype}")
        for d in v.shape:
            dims.normalize(d)
        if v.is_const and tuple(v.data.shape) != tuple(v.shape):
            raise GraphError(f"{where}: constant {v.name} data shape {v.data.shape} != {v.shape}")

    for v in graph.inputs:
        check_value(v, "input")
    for n in graph.nodes:
        opdef = registry.get(n.op)
        if n.name in names:
            raise GraphError(f"duplicate node name {n.name}")
        names.add(n.name)
        if set(n.attrs) != set(opdef.attrs):
            raise GraphError(f"node {n.name} ({n.op}): attrs {sorted(n.attrs)} != {sorted(opdef.attrs)}")
        for i, v in enumerate(n.inputs):
            if v is None:
                if not opdef.variadic and not opdef.inputs[i].endswith("?"):
                    raise GraphError(f"node {n.name} ({n.op}): required input {opdef.inputs[i]} missing")
                continue
            check_value(v, f"node {n.name}")
            if not v.is_const and id(v) not in defined:
                raise GraphError(f"node {n.name} ({n.op}) uses {v.name} before it is defined")
        infos = [v.info() if v is not None else None for v in n.inputs]
        types = opdef.infer(*infos, attrs=n.attrs)
        if len(types) != len(n.outputs):
            raise GraphError(f"node {n.name}: {len(n.outputs)} outputs, shape rule gives {len(types)}")
        for out, (dt, shape) in zip(n.outputs, types):
            shape = tuple(dims.normalize(d) for d in shape)
            if out.dtype != dt or tuple(out.shape) != shape:
                raise GraphError(f"node {n.name} ({n.op}): output {out.name} is {out.dtype}{out.shape}, "
                                 f"shape rule says {dt}{shape}")
            if out.producer is not n:
                raise GraphError(f"output {out.name} of {n.name} has a wrong producer link")
            if id(out) in defined:
                raise GraphError(f"value {out.name} defined twice")
            defined.add(id(out))
    for v in graph.outputs:
        if not v.is_const and id(v) not in defined:
            raise GraphError(f"graph output {v.name} is never produced")
