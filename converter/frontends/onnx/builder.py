"""Builds an IR graph from an ONNX graph: one handler per op type, registered as data.

Handlers live in ``ops_*.py`` and register with ``@onnx_op("LSTM", attrs={...})``, naming every
attribute they implement with its ONNX default; any other attribute on a node is refused with a one-line
error before the handler runs. A handler receives a ``NodeCall`` and returns one entry per ONNX output.

An entry is an IR ``Value``, a static numpy array (initializers, Constant, folded shape arithmetic;
int entries may be ``SymDim``s, see symbolic.py) or a ``Fill`` (ConstantOfShape of a symbolic shape,
e.g. the zero initial state the TorchScript exporter builds from ``Shape(x)``). Nodes whose inputs are
all static fold at conversion time: with the handler's own ``fold`` when it has one (shape arithmetic
on symbolic dims), else with the ``onnx`` package's reference implementation of that op.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from converter.errors import ConversionError
from converter.frontends.onnx.loader import SUPPORTED_DOC, OnnxModel
from converter.frontends.onnx.symbolic import SymbolicValueError, is_symbolic
from converter.ir import dims
from converter.ir.graph import Graph, Value
from converter.ops.common import OpError

# Control flow runs a subgraph a data-dependent number of times; the IR has no such construct.
CONTROL_FLOW = {"Loop": "a loop whose trip count is data", "Scan": "a scan over a subgraph",
                "If": "a branch on a run-time condition"}
INT32 = (-2 ** 31, 2 ** 31)
# The largest tensor conversion-time arithmetic may create (64 Mi elements): a model file asking for
# more (ConstantOfShape, Expand, Tile, Range of a huge size) is refused instead of exhausting memory.
MAX_FOLD_ELEMENTS = 1 << 26
IR_DTYPE = {1: "float32", 6: "int32", 7: "int32", 9: "float32"}   # bool becomes float32 0/1


@dataclass(eq=False)
class Fill:
    """Static data broadcast to a (partly symbolic) shape: ConstantOfShape, or torch.zeros(layers, batch,
    hidden) and what exporters compute from it (zeros @ U + b), before anything needs it materialized.
    ``value`` is a numpy array broadcastable to ``shape`` (a scalar for ConstantOfShape)."""
    shape: tuple
    value: object
    dtype: str = "float32"

    def __post_init__(self):
        self.value = np.asarray(self.value, np.float32 if self.dtype == "float32" else np.int32)

    @property
    def scalar(self):
        """The single value when every element is the same, else None."""
        flat = self.value.reshape(-1)
        return flat[0].item() if flat.size and np.all(flat == flat[0]) else None


@dataclass
class OpHandler:
    fn: Callable
    attrs: dict
    fold: Optional[Callable] = None      # static inputs -> static outputs (symbolic-dim aware)


HANDLERS: dict[str, OpHandler] = {}


def onnx_op(*op_types: str, attrs: Optional[dict] = None, fold: Optional[Callable] = None):
    """Register a handler for ONNX op types; ``attrs`` maps every supported attribute to its default."""
    def wrap(fn):
        for op in op_types:
            if op in HANDLERS:
                raise ValueError(f"ONNX handler for {op} registered twice")
            HANDLERS[op] = OpHandler(fn, dict(attrs or {}), fold)
        return fn
    return wrap


def _attr_value(a):
    from onnx import helper
    value = helper.get_attribute_value(a)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode("utf-8", "replace") for v in value]
    return value


@dataclass
class NodeCall:
    """One ONNX node as a handler sees it."""
    g: Graph
    node: object                      # onnx.NodeProto
    opset: int
    inputs: list                      # entries (Value | ndarray | Fill) or None for an omitted input
    attrs: dict = field(default_factory=dict)
    builder: object = None

    @property
    def op(self) -> str:
        return self.node.op_type

    @property
    def label(self) -> str:
        return self.node.name or (self.node.output[0] if self.node.output else self.op)

    def error(self, message: str) -> ConversionError:
        return ConversionError(f"node '{self.label}' ({self.op}): {message}")

    def refuse(self, what: str) -> ConversionError:
        return self.error(f"{what} is not supported; see {SUPPORTED_DOC}")

    def name(self, suffix: str = "") -> str:
        base = self.label
        return f"{base}/{suffix}" if suffix else base

    def has(self, i: int) -> bool:
        return i < len(self.inputs) and self.inputs[i] is not None

    def static(self, i: int):
        """The input as a numpy array when it is known at conversion time, else None."""
        if not self.has(i):
            return None
        x = self.inputs[i]
        if isinstance(x, np.ndarray):
            return x
        if isinstance(x, Value) and x.is_const:
            return x.data
        return None

    def need_static(self, i: int, what: str):
        x = self.static(i)
        if x is None:
            raise self.error(f"{what} (input {i}) must be known at conversion time (a constant or shape "
                             "arithmetic), but it is computed from the model's inputs")
        return x

    def ints(self, i: int, what: str) -> list:
        return [int(v) for v in np.asarray(self.need_static(i, what)).reshape(-1)]

    def value(self, i: int) -> Value:
        """The input as an IR value (static data becomes a constant)."""
        if not self.has(i):
            raise self.error(f"input {i} is required")
        return to_value(self, self.inputs[i], f"in{i}")

    def add(self, op: str, inputs, attrs=None, suffix: str = "") -> list:
        try:
            return list(self.g.add(op, inputs, attrs, name=self.name(suffix)))
        except OpError as e:
            raise self.error(str(e)) from None

    def add1(self, op: str, inputs, attrs=None, suffix: str = "") -> Value:
        return self.add(op, inputs, attrs, suffix)[0]

    def const(self, array, suffix: str = "const", dtype: Optional[str] = None) -> Value:
        return self.g.const(self.name(suffix), array, dtype)


def check_fold_size(call: NodeCall, shape) -> None:
    """Refuse a conversion-time tensor of ``shape`` (ints) that is negative or too large."""
    count = 1
    for d in shape:
        if int(d) < 0:
            raise call.error(f"negative dim in shape {tuple(shape)}")
        count *= int(d)
    if count > MAX_FOLD_ELEMENTS:
        raise call.error(f"would create a constant of shape {tuple(shape)} ({count} elements, more than "
                         f"{MAX_FOLD_ELEMENTS}); the model file is damaged or hostile")


def to_value(call: NodeCall, x, suffix: str) -> Value:
    if isinstance(x, Value):
        return x
    if isinstance(x, Fill):
        if all(dims.is_static(d) for d in x.shape):
            shape = tuple(dims.evaluate(d, {}) for d in x.shape)
            check_fold_size(call, shape)
            return call.const(np.broadcast_to(x.value, shape).copy(), suffix, x.dtype)
        raise call.error(f"a constant tensor of symbolic shape {dims.fmt_shape(x.shape)} is used as data "
                         "here; fix the free dims with --input-shape (input_shapes=)")
    return call.const(ir_array(call, x), suffix)


def ir_array(call: NodeCall, x) -> np.ndarray:
    """Static data as the IR holds it: float32, int32 (range-checked) or bool as float32 0/1."""
    x = np.asarray(x)
    if is_symbolic(x):
        raise call.error(f"the shape values {x.tolist()} hold symbolic dims and are used as data; fix the "
                         "free dims with --input-shape (input_shapes=)")
    if x.dtype == np.bool_:
        return x.astype(np.float32)
    if np.issubdtype(x.dtype, np.integer):
        if x.size and (x.min() < INT32[0] or x.max() >= INT32[1]):
            raise call.error(f"integer constant outside the int32 range ({x.min()}..{x.max()})")
        return x.astype(np.int32)
    if x.dtype in (np.float32, np.float16):
        return x.astype(np.float32)
    raise call.error(f"constant of dtype {x.dtype} is not supported (float32, int32/int64, bool)")


def dtype_name(elem: int) -> str:
    from onnx import TensorProto
    try:
        return TensorProto.DataType.Name(int(elem)).lower()
    except ValueError:
        return f"#{elem}"


def parse_attrs(call: NodeCall, handler: OpHandler) -> dict:
    attrs = dict(handler.attrs)
    for a in call.node.attribute:
        if a.name not in handler.attrs:
            raise call.refuse(f"attribute '{a.name}'")
        attrs[a.name] = _attr_value(a)
    return attrs


def dispatch(call: NodeCall) -> list:
    op = call.op
    if op in CONTROL_FLOW:
        raise call.error(f"control flow ({CONTROL_FLOW[op]}) cannot be compiled; export without {op} "
                         "(e.g. torch.onnx.export of a model whose loop length is fixed, or the nn.LSTM "
                         f"module instead of a Python loop); see {SUPPORTED_DOC}")
    handler = HANDLERS.get(op)
    if handler is None:
        raise call.refuse(f"op type {op}")
    call.attrs = parse_attrs(call, handler)
    try:
        if op in FILL_PASSTHROUGH and any(isinstance(x, Fill) for x in call.inputs):
            return _through_fill(call, handler)
        if _all_static(call):
            folded = _fold(call, handler)
            if folded is not None:
                return folded
        return list(handler.fn(call))
    except OpError as e:
        raise call.error(str(e)) from None
    except SymbolicValueError as e:
        raise call.error(f"{e}; fix the free dims with --input-shape (input_shapes=)") from None
    except (ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError) as e:
        # a parseable but malformed node (attribute of the wrong type, operand of the wrong rank)
        detail = " ".join(f"{type(e).__name__}: {e}".split())[:200]
        raise call.error(f"malformed node: its attributes or inputs do not fit the op ({detail})") from None


# Ops that only move or select elements: applied to a Fill they give a Fill of the output's shape.
FILL_PASSTHROUGH = {"Slice", "Reshape", "Squeeze", "Unsqueeze", "Expand", "Transpose", "Gather", "Identity",
                    "Split", "Flatten", "Concat", "Tile"}


def _through_fill(call: NodeCall, handler: OpHandler) -> list:
    """Run the handler on stand-in inputs of the Fills' shapes in a scratch graph; keep only the shapes."""
    fills = {x.scalar for x in call.inputs if isinstance(x, Fill)}
    if len(fills) != 1 or None in fills or any(isinstance(x, Value) for x in call.inputs):
        raise call.error("mixes a constant tensor of symbolic shape with other data; fix the free dims "
                         "with --input-shape (input_shapes=)")
    value = fills.pop()
    scratch = Graph("fill")
    inputs = [scratch.input(f"fill{k}", x.dtype, x.shape) if isinstance(x, Fill) else x
              for k, x in enumerate(call.inputs)]
    sub = NodeCall(scratch, call.node, call.opset, inputs, dict(call.attrs), call.builder)
    dtype = next(x.dtype for x in call.inputs if isinstance(x, Fill))
    return [None if v is None else Fill(tuple(v.shape), value, dtype) for v in handler.fn(sub)]


def _all_static(call: NodeCall) -> bool:
    present = [x for x in call.inputs if x is not None]
    return bool(present) and all(isinstance(x, np.ndarray) for x in present)


def _fold(call: NodeCall, handler: OpHandler):
    if handler.fold is not None:
        out = handler.fold(call)
        if out is not None:
            return [_static_entry(x) for x in out]
    if any(is_symbolic(x) for x in call.inputs if x is not None):
        return None
    return reference_fold(call)


def _static_entry(x):
    """A fold result as an entry: object arrays whose items all became ints turn back into int64."""
    if x is None or isinstance(x, (Value, Fill)):
        return x
    from converter.frontends.onnx.symbolic import SymDim
    if isinstance(x, SymDim):
        out = np.empty((), dtype=object)
        out[()] = x
        return out
    arr = np.asarray(x)
    if arr.dtype == object and not any(isinstance(v, SymDim) for v in arr.reshape(-1)):
        return arr.astype(np.int64)
    return arr


def _fold_output_shape(call: NodeCall):
    """The output shape of the ops whose folded result can be far larger than their inputs."""
    x = [np.asarray(a) if a is not None else None for a in call.inputs]
    if call.op in ("Expand", "ConstantOfShape") and x[-1] is not None:
        target = [int(d) for d in x[-1].reshape(-1)]
        if call.op == "ConstantOfShape":
            return target
        return [max(a, b) for a, b in zip([1] * (len(target) - x[0].ndim) + list(x[0].shape),
                                          [1] * (x[0].ndim - len(target)) + target)]
    if call.op == "Tile" and len(x) > 1:
        return [a * int(r) for a, r in zip(x[0].shape, x[1].reshape(-1))]
    if call.op == "Range" and len(x) == 3 and all(a is not None and a.size == 1 for a in x):
        start, limit, delta = (float(a.reshape(-1)[0]) for a in x)
        if delta == 0:
            raise call.error("Range with delta 0")
        return [max(int(np.ceil((limit - start) / delta)), 0)]
    return None


def reference_fold(call: NodeCall) -> Optional[list]:
    """Evaluate a node on constants with the onnx package's reference implementation of its op."""
    from onnx import helper
    shape = _fold_output_shape(call)
    if shape is not None:
        check_fold_size(call, shape)
    from onnx.reference import ReferenceEvaluator
    names = [f"i{k}" if x is not None else "" for k, x in enumerate(call.inputs)]
    outs = [f"o{k}" if o else "" for k, o in enumerate(call.node.output)]
    node = helper.make_node(call.op, names, outs, domain="")
    node.attribute.extend(call.node.attribute)
    feeds = {n: x for n, x in zip(names, call.inputs) if n}
    model = helper.make_model(
        helper.make_graph([node], "fold", [helper.make_tensor_value_info(n, 1, None) for n in feeds],
                          [helper.make_tensor_value_info(o, 1, None) for o in outs if o]),
        opset_imports=[helper.make_opsetid("", call.opset)])
    try:
        results = ReferenceEvaluator(model).run(None, feeds)
    except Exception as e:  # the model's constants are invalid for this op
        raise call.error(f"cannot evaluate on its constant inputs ({type(e).__name__}: {e})") from None
    it = iter(results)
    return [np.asarray(next(it)) if o else None for o in outs]


# ---- the graph walk ------------------------------------------------------------------------------

_SYMBOL_OK = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = {"max", "min", "cdiv"}


def symbol_name(dim_param: str) -> str:
    """A dim_param as an IR symbol: an identifier valid in the bundle's expressions and in C, WGSL and
    GLSL (which reserves names with two consecutive underscores, such as tf2onnx's ``unk__74``)."""
    name = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", dim_param)).strip("_")
    if not _SYMBOL_OK.match(name) or name in _RESERVED:
        name = "d_" + name
    return name


class Builder:
    def __init__(self, model: OnnxModel, input_shapes: Optional[dict], states):
        self.model = model
        self.input_shapes = dict(input_shapes or {})
        self.states = list(states or [])
        self.g = Graph(_graph_name(model))
        self.env: dict = {}
        self.fixed: dict = {}            # symbol -> int, from input_shapes
        self.symbols: dict = {}          # dim_param -> IR symbol (distinct params stay distinct)

    def build(self) -> Graph:
        graph = self.model.graph
        self.env.update(self.model.initializers)
        unknown = set(self.input_shapes) - {i.name for i in graph.input}
        if unknown:
            raise ConversionError(f"input_shapes names {sorted(unknown)}, which are not inputs of "
                                  f"{self.model.source} (inputs: {[i.name for i in graph.input]})")
        for index, vi in enumerate(graph.input):
            if vi.name not in self.model.initializers:
                self.env[vi.name] = self.add_input(vi, index)
        for node in graph.node:      # control flow is named even when other nodes would fail first
            if node.op_type in CONTROL_FLOW:
                dispatch(NodeCall(self.g, node, self.model.opset, [], builder=self))
        for node in graph.node:
            self.run_node(node)
        self.finish(graph)
        return self.g

    # inputs -----------------------------------------------------------------------------------
    def add_input(self, vi, index: int) -> Value:
        where = f"{self.model.source}: input '{vi.name}'"
        ttype = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
        if ttype is None:
            raise ConversionError(f"{where} is not a tensor (sequence/map inputs are not supported)")
        elem = int(ttype.elem_type)
        if elem not in IR_DTYPE:
            raise ConversionError(f"{where} has dtype {dtype_name(elem)}; supported input dtypes "
                                  f"are float32, int32, int64 (read as int32) and bool; see {SUPPORTED_DOC}")
        if not ttype.HasField("shape"):
            raise ConversionError(f"{where} has no shape (rank unknown); export with named dims or give "
                                  "--input-shape")
        shape = self._input_dims(vi.name, ttype.shape.dim, index, where)
        v = self.g.input(vi.name, IR_DTYPE[elem], shape)
        if v.name != vi.name:
            raise ConversionError(f"{where}: the name clashes with another value; rename the input")
        return v

    def _input_dims(self, name: str, proto_dims, index: int, where: str) -> list:
        given = self.input_shapes.get(name)
        if given is not None and len(given) != len(proto_dims):
            raise ConversionError(f"{where}: input_shapes gives rank {len(given)}, the model has rank "
                                  f"{len(proto_dims)}")
        out = []
        for axis, d in enumerate(proto_dims):
            fix = None if given is None else given[axis]
            out.append(self._dim(d, fix, axis, index, where))
        return out

    def _dim(self, d, fix, axis: int, index: int, where: str):
        if d.HasField("dim_value"):
            value = int(d.dim_value)
            if fix is not None and int(fix) != value:
                raise ConversionError(f"{where}: dim {axis} is {value} in the model, input_shapes says {fix}")
            return value
        symbol = self._symbol(d.dim_param) if d.dim_param else f"d{axis}_{index}"
        if fix is not None:
            if self.fixed.setdefault(symbol, int(fix)) != int(fix):
                raise ConversionError(f"{where}: dim '{d.dim_param}' is fixed to both {self.fixed[symbol]} "
                                      f"and {fix}")
            return int(fix)
        return self.fixed.get(symbol, symbol)

    def _symbol(self, dim_param: str) -> str:
        if dim_param not in self.symbols:
            base, taken = symbol_name(dim_param), set(self.symbols.values())
            name, k = base, 1
            while name in taken:
                name, k = f"{base}_{k}", k + 1
            self.symbols[dim_param] = name
        return self.symbols[dim_param]

    # nodes -------------------------------------------------------------------------------------
    def run_node(self, node) -> None:
        inputs = [self.env[n] if n else None for n in node.input]
        call = NodeCall(self.g, node, self.model.opset, inputs, builder=self)
        outs = dispatch(call)
        if len(outs) < len([o for o in node.output if o]):
            raise call.error(f"produces {len(outs)} outputs, the node names {len(node.output)}")
        for name, value in zip(node.output, outs):
            if name:
                if value is None:
                    raise call.refuse(f"output '{name}'")
                self.env[name] = value

    # outputs -----------------------------------------------------------------------------------
    def finish(self, graph) -> None:
        for out in graph.output:
            entry = self.env[out.name]
            call = NodeCall(self.g, _fake_node(out.name), self.model.opset, [], builder=self)
            v = to_value(call, entry, "value")
            if v.is_const or v in self.g.outputs or any(v is i for i in self.g.inputs):
                v = self.g.add1("Identity", [v], name=f"{out.name}/output")
            _rename(self.g, v, out.name)
            self.g.outputs.append(v)
        self.g.meta.update({"source": f"onnx opset {self.model.opset}" + (
            f" ({self.model.producer})" if self.model.producer else ""), "layers": len(graph.node)})
        self._states()

    def _states(self) -> None:
        ins = {v.name: v for v in self.g.inputs}
        outs = {v.name: v for v in self.g.outputs}
        pairs = []
        for inp, out in self.states:
            if inp not in ins or out not in outs:
                raise ConversionError(f"--state {inp}={out}: {'input ' + repr(inp) if inp not in ins else ''}"
                                      f"{' output ' + repr(out) if out not in outs else ''} not in the model "
                                      f"(inputs {list(ins)}, outputs {list(outs)})")
            a, b = ins[inp], outs[out]
            if a.dtype != b.dtype or tuple(a.shape) != tuple(b.shape):
                raise ConversionError(f"--state {inp}={out}: input {a.dtype}{dims.fmt_shape(a.shape)} and "
                                      f"output "
                                      f"{b.dtype}{dims.fmt_shape(b.shape)} differ; a state must round-trip")
            pairs.append({"input": inp, "output": out})
        if pairs:
            self.g.meta["states"] = pairs


def _fake_node(name: str):
    from onnx import helper
    return helper.make_node("Identity", [name], [name], name=f"output {name}")


def _graph_name(model: OnnxModel) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", model.graph.name or "model")
    return name or "model"


def _rename(g: Graph, v: Value, want: str) -> None:
    if v.name == want:
        return
    if any(x.name == want for x in g.values() if x is not v):
        raise ConversionError(f"output name '{want}' is also the name of another value; rename the output")
    if hasattr(g, "rename"):
        g.rename(v, want)
    else:
        g._names.add(want)
        v.name = want


def build_graph(model: OnnxModel, input_shapes=None, states=None) -> Graph:
    from converter.frontends.onnx import ops_elementwise, ops_linear, ops_recurrent, ops_shape  # noqa: F401
    from converter.frontends.onnx.simplify import simplify
    graph = Builder(model, input_shapes, states).build()
    simplify(graph)
    return graph
