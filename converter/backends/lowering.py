"""Backend-neutral lowering: an IR graph to a Program (docs/design.md section 4), minus the module.

Every backend reuses this part. ``lower(graph, backend, table)`` optimizes the graph, plans memory,
builds the tensor table (graph values in their planned slots; constants as 64-byte aligned weights,
created only when a kernel asks for them, possibly in a backend-chosen packed layout) and the I/O
specs, then asks the backend's legalization table for the steps of every node.

A legalization table maps every catalogue op to either a kernel generator
``fn(node, ctx: LoweringContext) -> None`` (which adds kernels and steps through ``ctx``) or a string:
the written reason why the backend has no kernel for it (e.g. a pass always rewrites it away).
"""

from __future__ import annotations

from typing import Callable, Optional, Union

import numpy as np

from converter.backends.program import (IOSpec, KernelSpec, Program, SlotSpec, StepSpec,
                                        TensorSpec, WEIGHT_ALIGN)
from converter.errors import ConversionError
from converter.ir import dims
from converter.ir.graph import Graph, Node, Value
from converter.ops import registry

Generator = Callable[[Node, "LoweringContext"], None]
Legalization = dict  # op name -> Generator | reason (str)


class SymbolDims:
    """Mixin for kernel builders: ``dim`` renders an IR dim as an integer expression of ``dim_lang``
    ("c", "glsl", "wgsl"); each symbol it uses is recorded in ``self.symbols`` and read from the kernel
    param ``s_<symbol>``."""

    dim_lang = "c"
    symbols: list

    def dim(self, d) -> str:
        return dims.render(d, self._symbol, self.dim_lang)

    def _symbol(self, name: str) -> str:
        if name not in self.symbols:
            self.symbols.append(name)
        return f"s_{name}"


def check_table(table: Legalization, backend: str) -> list[str]:
    """Catalogue ops that the table neither lowers nor explains (the coverage test wants none)."""
    missing = []
    for op in registry.all_ops():
        entry = table.get(op)
        if not (callable(entry) or (isinstance(entry, str) and entry.strip())):
            missing.append(op)
    return missing


class LoweringContext:
    """The Program under construction; kernel generators talk to it.

    ``tensor(value)`` gives the tensor id of a graph value (constants become weights on first use);
    ``weight(value, array, tag)`` registers a backend-specific layout of a constant as its own weight;
    ``add_step(kernel, tensors, params, dispatch)`` appends a step, sharing identical kernels.
    """

    def __init__(self, graph: Graph, backend: str, plan):
        self.graph, self.backend, self.plan = graph, backend, plan
        self.tensors: list[TensorSpec] = []
        self.kernels: list[KernelSpec] = []
        self.steps: list[StepSpec] = []
        self.weights = bytearray()
        self.slots = [SlotSpec(k, [str(s) for s in plan.slot_sizes(k)]) for k in range(len(plan.slots))]
        self._ids: dict = {}
        self._kernel_ids: dict = {}
        self.node: Optional[Node] = None      # the node being lowered (for error messages)

    # ---- tensors ---------------------------------------------------------------------------------
    def _new_tensor(self, name, dtype, shape, kind, slot=-1, offset=-1) -> int:
        tid = len(self.tensors)
        self.tensors.append(TensorSpec(tid, name, dtype, shape, kind, slot, offset))
        return tid

    def add_value(self, value: Value, kind: str) -> int:
        tid = self._new_tensor(value.name, value.dtype, value.shape, kind, self.plan.slot_of[id(value)])
        self._ids[id(value)] = tid
        return tid

    def add_temp(self, name: str, dtype: str, shape) -> int:
        """A tensor in a slot of its own (copies the plan does not know about, e.g. output copies)."""
        size = dims.mul(dims.size(shape), 4)
        self.slots.append(SlotSpec(len(self.slots), [str(size)]))
        return self._new_tensor(name, dtype, shape, "temp", len(self.slots) - 1)

    def tensor(self, value: Value) -> int:
        if value.is_const:
            return self.weight(value)
        return self._ids[id(value)]

    def weight(self, value: Value, array: Optional[np.ndarray] = None, tag: str = "") -> int:
        """The weight tensor for ``value`` in the layout ``array`` (default: as is), added once per tag."""
        key = ("w", id(value), tag)
        if key not in self._ids:
            data = np.ascontiguousarray(value.data if array is None else array)
            dtype = "int32" if np.issubdtype(data.dtype, np.integer) else "float32"
            data = data.astype(dtype)
            pad = -len(self.weights) % WEIGHT_ALIGN
            self.weights += b"\0" * pad
            offset = len(self.weights)
            self.weights += data.tobytes()
            name = value.name + (f"#{tag}" if tag else "")
            self._ids[key] = self._new_tensor(name, dtype, data.shape, "weight", -1, offset)
        return self._ids[key]

    # ---- kernels and steps -----------------------------------------------------------------------
    def add_kernel(self, kernel: KernelSpec) -> int:
        """The index of ``kernel``; a kernel with the same entry is shared (entries name their source)."""
        if kernel.entry not in self._kernel_ids:
            self._kernel_ids[kernel.entry] = len(self.kernels)
            self.kernels.append(kernel)
        return self._kernel_ids[kernel.entry]

    def add_step(self, kernel: KernelSpec, tensors: list, params: list = (), dispatch=("1", "1", "1")):
        self.steps.append(StepSpec(self.add_kernel(kernel), list(tensors), list(params), tuple(dispatch)))

    def fail(self, message: str):
        where = f"node {self.node.name} ({self.node.op})" if self.node else "lowering"
        raise ConversionError(f"{self.backend} backend: {where}: {message}")


def lower(graph: Graph, backend: str, table: Legalization,
          output_copy: Optional[Generator] = None) -> tuple[Program, LoweringContext]:
    """Optimize ``graph`` in place and lower it to a Program (``module`` left empty for the backend).

    ``output_copy(node, ctx)`` is the backend's copy kernel, used when a graph output is a graph
    input or a constant (a value no step writes).
    """
    from converter.passes import memory_plan, optimize
    optimize(graph)
    _check_legal(graph, backend, table)
    ctx = LoweringContext(graph, backend, memory_plan(graph))
    outputs = {id(v) for v in graph.outputs}
    for v in graph.inputs:
        ctx.add_value(v, "input")
    for node in graph.nodes:
        for v in node.outputs:
            ctx.add_value(v, "output" if id(v) in outputs else "temp")
    for node in graph.nodes:
        ctx.node = node
        table[node.op](node, ctx)
    ctx.node = None
    out_tensors = [_output_tensor(ctx, v, output_copy) for v in graph.outputs]
    program = Program(backend, graph.name, _symbols(graph), _input_specs(graph, ctx),
                      _output_specs(graph, ctx, out_tensors), ctx.tensors, ctx.slots, ctx.kernels,
                      ctx.steps, bytes(ctx.weights), b"", {"source": str(graph.meta.get("source", ""))})
    return program, ctx


def _check_legal(graph: Graph, backend: str, table: Legalization) -> None:
    for node in graph.nodes:
        entry = table.get(node.op)
        if not callable(entry):
            why = entry if isinstance(entry, str) else "no kernel is registered for it"
            raise ConversionError(f"{backend} backend cannot run node {node.name} ({node.op}): {why}")


def _output_tensor(ctx: LoweringContext, value: Value, output_copy) -> int:
    """Outputs no step writes (graph inputs, constants) get a copy so the runtime reads a slot."""
    if not value.is_const and value.producer is not None:
        return ctx.tensor(value)
    if output_copy is None:
        ctx.fail(f"graph output {value.name} is not computed by any node and no copy kernel exists")
    tid = ctx.add_temp(value.name, value.dtype, value.shape)
    ctx.tensors[tid].kind = "output"
    output_copy(Node("Identity", [value], [], {}, f"copy_{value.name}"), ctx, tid)
    return tid


def _symbols(graph: Graph) -> list[str]:
    out = []
    for v in graph.inputs:
        for d in v.shape:
            out += [s for s in dims.symbols(d) if s not in out]
    return out


def _gather_ranges(graph: Graph) -> dict:
    """id(input) -> half-open valid range, for int inputs used directly as Gather indices."""
    ranges: dict = {}
    for node in graph.nodes:
        if node.op == "Gather":
            table, idx = node.inputs
            lo, hi = 0, int(table.shape[0])
            if id(idx) in ranges:
                lo, hi = max(lo, ranges[id(idx)][0]), min(hi, ranges[id(idx)][1])
            ranges[id(idx)] = (lo, hi)
    return ranges


def _state_pairs(graph: Graph) -> tuple[dict, dict]:
    ins, outs = {}, {}
    for pair in graph.meta.get("states", []):
        ins[pair["input"]] = pair["output"]
        outs[pair["output"]] = pair["input"]
    return ins, outs


def _input_specs(graph: Graph, ctx: LoweringContext) -> list[IOSpec]:
    ranges = _gather_ranges(graph)
    states, _ = _state_pairs(graph)
    specs = []
    float_ids = graph.meta.get("id_ranges", {})    # float inputs truncated to Gather indices (frontends)
    for v in graph.inputs:
        role = "state" if v.name in states else "data"
        vr = ranges.get(id(v)) if v.dtype == "int32" else float_ids.get(v.name)
        specs.append(IOSpec(v.name, ctx.tensor(v), v.dtype, v.shape, role, vr, states.get(v.name)))
    return specs


def _output_specs(graph: Graph, ctx: LoweringContext, tensors: list) -> list[IOSpec]:
    _, states = _state_pairs(graph)
    return [IOSpec(v.name, t, v.dtype, v.shape, "state" if v.name in states else "data", None,
                   states.get(v.name)) for v, t in zip(graph.outputs, tensors)]


def evaluate(expr: Union[str, int], bindings: dict) -> int:
    """An expression of the bundle language evaluated with symbol bindings (tests, harnesses)."""
    from converter.bundle import expr as expr_lang
    return expr_lang.evaluate(str(expr), bindings)
