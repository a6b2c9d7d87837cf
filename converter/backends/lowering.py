"""Backend-neutral lowering: an IR graph to a Program (docs/design.md section 4), minus the module.

Every backend reuses this part. ``lower(graph, backend, table)`` (the graph already optimized by the
driver, ``converter.backends.lower``) plans memory, builds the tensor table (graph values in their
planned slots; constants as 64-byte aligned weights, created only when a kernel asks for them,
possibly in a backend-chosen packed layout) and the I/O specs, then asks the backend's legalization
table for the steps of every node.

A legalization table maps every catalogue op to either a kernel generator
``fn(node, ctx: LoweringContext) -> None`` (which adds kernels and steps through ``ctx``) or a string:
the written reason why the backend has no kernel for it (e.g. a pass always rewrites it away).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Union

import numpy as np

from converter.backends.dialect import Dialect
from converter.backends.program import (IOSpec, KernelSpec, Program, SlotSpec, StepSpec,
                                        TensorSpec, WEIGHT_ALIGN)
from converter.errors import ConversionError
from converter.ir import dims
from converter.ir.graph import Graph, Node, Value
from converter.ops import registry

Generator = Callable[[Node, "LoweringContext"], None]
Legalization = dict  # op name -> Generator | reason (str)


class SymbolDims:
    """Mixin for kernel builders: ``dim`` renders an IR dim as an integer expression of the builder's
    ``dialect``; each symbol it uses is recorded in ``self.symbols`` and read from the kernel param
    ``s_<symbol>``. ``index`` is the dialect's index math over these dims."""

    dialect: Dialect
    symbols: list

    def dim(self, d) -> str:
        return self.dialect.dim(d, self._symbol)

    @property
    def index(self):
        return self.dialect.index(self.dim)

    def _symbol(self, name: str) -> str:
        if name not in self.symbols:
            self.symbols.append(name)
        return f"s_{name}"


@dataclass(frozen=True)
class Window:
    """A channels-last window op (Conv, Pool) seen as 2D (1D runs with height 1): IR dims and ints."""
    h: object
    w: object
    oh: object
    ow: object
    size: tuple
    strides: tuple
    dilations: tuple
    pads: tuple       # (top, left)


def window(x, y, size, strides, dilations, pads) -> Window:
    """The 2D view of a window op on x[B, (H,) W, C] -> y; 1D attrs get a leading height of 1."""
    size, strides, dilations, pads = tuple(size), tuple(strides), tuple(dilations), tuple(pads)
    if len(x.shape) == 3:
        size, strides, dilations, pads = (1,) + size, (1,) + strides, (1,) + dilations, ((0, 0),) + pads
        hw, ohw = (1, x.shape[1]), (1, y.shape[1])
    else:
        hw, ohw = x.shape[1:3], y.shape[1:3]
    return Window(hw[0], hw[1], ohw[0], ohw[1], size, strides, dilations, (pads[0][0], pads[1][0]))


def recurrence_flags(node: Node) -> dict:
    """What every backend's recurrence templates are told about a *Recurrence node, under one set of
    names: every attr of the node (so a new cell option reaches every template without lowering code),
    ``cell`` (kind), ``G`` (gates), ``H`` (units), ``has_<input>`` for each optional input, and the
    short names ``zero_output`` (zero_output_for_mask), ``reset_after``/``reset_before``."""
    from converter.ops.recurrent import CELLS, cell_of
    cell, a = cell_of(node.op), node.attrs
    flags = {**a, "cell": cell.kind, "G": cell.n_gates, "H": int(node.input("U").shape[0]),
             "zero_output": a["zero_output_for_mask"], "reset_after": a.get("reset_after", True)}
    flags["reset_before"] = cell.kind == "gru" and not flags["reset_after"]
    optional = {n for c in CELLS.values() for n in c.carried}      # the same flags for every cell
    named = node.named_inputs()
    flags.update({f"has_{name}": named.get(name) is not None for name in sorted(optional | set(named))})
    return flags


def cell_functions(node: Node, dialect: Dialect) -> dict:
    """``act``, ``ract`` (recurrent) and ``oact`` (LSTM output) of a *Recurrence node as callables
    ``f(expr) -> text`` in ``dialect``: the function with its params, ``act``/``ract`` after the cell
    clip (ONNX applies it to every gate input, not to the cell state before the output activation)."""
    from converter.ops.activations import unpack_params
    a, clip = node.attrs, float(node.attrs.get("clip", 0.0))

    def fn(name: str, params, bounded: bool):
        alpha, beta = unpack_params(params)
        return lambda x: dialect.unary(name, dialect.bound(x, clip) if bounded else x, alpha, beta)
    out_name = a.get("output_activation") or a["activation"]
    out_params = a["output_activation_params"] if a.get("output_activation") else a["activation_params"]
    rec_name, rec_params = a.get("recurrent_activation", "sigmoid"), a.get("recurrent_activation_params", ())
    return {"act": fn(a["activation"], a["activation_params"], True), "ract": fn(rec_name, rec_params, True),
            "oact": fn(out_name, out_params, False)}


def layer_norm_start(node: Node, ctx: "LoweringContext") -> int:
    """The first normalized axis of a LayerNorm node; the kernels normalize trailing axes only."""
    rank = len(node.inputs[0].shape)
    axes = sorted({a % rank for a in node.attrs["axes"]})
    if axes != list(range(rank - len(axes), rank)):
        ctx.fail(f"LayerNorm over axes {tuple(axes)} of a rank-{rank} tensor: the {ctx.backend} kernel "
                 f"normalizes trailing axes only; transpose them to the end")
    return axes[0]


def window_of(node: Node) -> Window:
    """The Window of a Conv or Pool node (attrs normalized by the op's own rule)."""
    from converter.ops.conv import pool_attrs, spatial_attrs
    x, y = node.inputs[0], node.outputs[0]
    n, a = len(x.shape) - 2, node.attrs
    if node.op == "Conv":
        strides, dilations, pads = spatial_attrs("Conv", n, a["strides"], a["dilations"], a["pads"])
        size = tuple(int(k) for k in node.input("w").shape[:n])
    else:
        size, strides, pads = pool_attrs(n, a["size"], a["strides"], a["pads"])
        dilations = (1,) * n
    return window(x, y, size, strides, dilations, pads)


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
    ``options`` are the backend's lowering options (e.g. WebGPU's recurrence mode); ``state`` holds
    what a backend's generators collect for its Program meta (e.g. WebGL's texture formats).
    """

    def __init__(self, graph: Graph, backend: str, plan, options: Optional[dict] = None):
        self.graph, self.backend, self.plan = graph, backend, plan
        self.options: dict = dict(options or {})
        self.state: dict = {}
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


def lower(graph: Graph, backend: str, table: Legalization, output_copy: Optional[Generator] = None,
          options: Optional[dict] = None) -> tuple[Program, LoweringContext]:
    """Lower an optimized ``graph`` to a Program (``module`` left empty for the backend).

    ``output_copy(node, ctx)`` is the backend's copy kernel, used when a graph output is a graph
    input or a constant (a value no step writes).
    """
    from converter.passes import memory_plan
    _check_legal(graph, backend, table)
    ctx = LoweringContext(graph, backend, memory_plan(graph), options)
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


def _narrow(ranges: dict, value, lo: int, hi: int) -> None:
    if id(value) in ranges:
        lo, hi = max(lo, ranges[id(value)][0]), min(hi, ranges[id(value)][1])
    ranges[id(value)] = (lo, hi)


def _gather_ranges(graph: Graph) -> dict:
    """id(input) -> half-open valid range, for int inputs used directly as Gather indices or as the
    lengths of a LengthMask over a static time axis (a length past T would silently count as T)."""
    ranges: dict = {}
    for node in graph.nodes:
        if node.op == "Gather":
            table, idx = node.inputs
            _narrow(ranges, idx, 0, int(table.shape[0]))
        elif node.op == "LengthMask" and isinstance(node.inputs[1].shape[1], int):
            _narrow(ranges, node.inputs[0], 0, node.inputs[1].shape[1] + 1)
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
