"""A readable dump of a graph, one node per line."""

from __future__ import annotations

from converter.ir import dims


def _attr(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return repr(v)


def dump(graph) -> str:
    lines = [f"graph {graph.name}("]
    lines += [f"    {v!r}," for v in graph.inputs]
    lines.append(") {")
    for n in graph.nodes:
        outs = ", ".join(f"%{o.name}: {o.dtype}{dims.fmt_shape(o.shape)}" for o in n.outputs)
        args = ", ".join("_" if v is None else (f"#{v.name}{dims.fmt_shape(v.shape)}" if v.is_const
                                                 else f"%{v.name}") for v in n.inputs)
        attrs = ", ".join(f"{k}={_attr(v)}" for k, v in sorted(n.attrs.items()))
        lines.append(f"  {outs} = {n.op}({args})" + (f" {{{attrs}}}" if attrs else ""))
    lines.append("  return " + ", ".join(f"%{v.name}" for v in graph.outputs))
    lines.append("}")
    return "\n".join(lines)
