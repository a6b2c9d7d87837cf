"""Turn a recorded Chainer forward pass (``trace.Trace``) into an IR graph.

Values are converted on demand, starting from the outputs: a Variable's value comes from converting its
``creator`` FunctionNode with the handler registered for that function class (``functions.py``). On
demand, so that a handler may consume a whole pattern (``F.lstm`` over ``upward(x) + lateral(h)``
becomes one LSTM op) without leaving the pattern's pieces in the graph.

Layouts: Chainer images are NCHW, the IR's Conv/Pool are channels last. Each converted value carries
its layout ("chainer" or "nhwc"); conv, pooling, batch norm and elementwise ops keep NHWC, and a
transpose back is inserted (once per value) only where an op needs Chainer's own layout.
"""

from __future__ import annotations

import sys
from typing import Callable, Optional

import numpy as np

from converter.errors import ConversionError
from converter.frontends.chainer.trace import Trace
from converter.ir.graph import Graph, Value

CHAINER, NHWC = "chainer", "nhwc"
TO_NHWC, TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)

HANDLERS: dict[str, Callable] = {}
# what to do instead, for unsupported functions that users meet often
HINTS = {name: "NStepLSTM/NStepGRU (F.n_step_*) are not supported; call L.LSTM once per step instead"
         for name in ("TransposeSequence", "Permutate", "Separate", "NStepLSTM", "NStepRNN")}


def chainer_function(*class_names: str):
    """Register a handler ``handler(call) -> [Value | (Value, layout)]`` (one entry per output)."""
    def register(fn):
        for name in class_names:
            HANDLERS[name] = fn
        return fn
    return register


class Call:
    """One FunctionNode being converted: its inputs as IR values and as constants, and error helpers."""

    def __init__(self, builder: "Builder", fnode):
        self.b = builder
        self.g = builder.g
        self.fn = fnode
        self.cls = type(fnode).__name__
        self.nodes = list(fnode.inputs)

    @property
    def name(self) -> str:
        """A readable node name: the link path of the first parameter input, else the function label."""
        for node in self.nodes:
            path = self.b.trace.params.get(id(node))
            if path:
                return path.rsplit("/", 1)[0] if "/" in path else path
        return self.cls.lower()

    def entry(self, i: int) -> tuple[Value, str]:
        return self.b.entry(self.nodes[i])

    def value(self, i: int, layout: str = CHAINER) -> Value:
        return self.b.value(self.nodes[i], layout)

    def array(self, i: int) -> Optional[np.ndarray]:
        return self.b.array(self.nodes[i]) if i < len(self.nodes) else None

    def const_input(self, i: int, what: str) -> np.ndarray:
        data = self.array(i)
        if data is None:
            raise self.error(f"{what} must be a parameter or constant, not a computed tensor")
        return data

    def out_shape(self, k: int = 0) -> tuple:
        """The traced shape of output ``k`` (alive while it is being converted)."""
        node = self.fn.outputs[k]()
        if node is None:
            raise self.error(f"output {k} was freed before conversion")
        return tuple(int(d) for d in node.shape)

    def const(self, tag: str, array) -> Value:
        return self.g.const(f"{self.name}/{tag}", array)

    def add1(self, op: str, inputs, attrs=None, tag: str = "") -> Value:
        return self.g.add1(op, inputs, attrs, name=f"{self.name}{'/' + tag if tag else ''}")

    def error(self, message: str) -> ConversionError:
        return ConversionError(f"Chainer function {self.cls} ({self.name}): {message}")


class Builder:
    def __init__(self, trace: Trace, name: str = "model"):
        self.trace = trace
        self.g = Graph(name)
        self.entries: dict[int, tuple[Value, str]] = {}
        self.transposed: dict[tuple[int, str], Value] = {}
        self.input_ids: set[int] = set()

    # ---- values ---------------------------------------------------------------------------------
    def entry(self, vnode) -> tuple[Value, str]:
        key = id(vnode)
        if key not in self.entries:
            creator = vnode.creator_node
            if creator is None:
                self.entries[key] = (self._leaf(vnode), CHAINER)
            else:
                self._convert(creator)
        if key not in self.entries:
            raise ConversionError(f"Chainer function {type(vnode.creator_node).__name__}: its handler did "
                                  "not produce this output (a bug in Webloom; please report)")
        return self.entries[key]

    def value(self, vnode, layout: str = CHAINER) -> Value:
        v, have = self.entry(vnode)
        if have == layout or len(v.shape) != 4:
            return v
        key = (id(v), layout)
        if key not in self.transposed:
            perm = TO_NHWC if layout == NHWC else TO_NCHW
            self.transposed[key] = self.g.add1("Transpose", [v], {"perm": perm}, name=f"{v.name}/{layout}")
        return self.transposed[key]

    def array(self, vnode) -> Optional[np.ndarray]:
        """The data of a leaf (parameter or constant) Variable; None for computed ones and inputs."""
        if vnode.creator_node is not None or id(vnode) in self.input_ids:
            return None
        data = vnode.data
        if data is None:
            var = vnode.get_variable_or_none()
            data = None if var is None else var.array
        return None if data is None else np.asarray(data)

    def _leaf(self, vnode) -> Value:
        data = self.array(vnode)
        if data is None:
            raise ConversionError(f"a leaf tensor of shape {tuple(vnode.shape)} is neither an input, a "
                                  "parameter nor a constant whose data is still alive; pass it as an input")
        return self.g.const(self.trace.params.get(id(vnode), "const"), data)

    def _convert(self, fnode) -> None:
        cls = type(fnode).__name__
        handler = HANDLERS.get(cls)
        if handler is None:
            hint = HINTS.get(cls, "compute it outside the converted model")
            raise ConversionError(f"Chainer function {cls} is not supported by the Chainer frontend; {hint} "
                                  "(supported functions: docs/chainer.md)")
        results = handler(Call(self, fnode))
        for ref, result in zip(fnode.outputs, results):
            node = ref()
            if node is not None and result is not None:
                self.entries[id(node)] = result if isinstance(result, tuple) else (result, CHAINER)

    # ---- graph signature -------------------------------------------------------------------------
    def build(self) -> Graph:
        import chainer
        t = self.trace
        feeds = [(name, var) for name, var in t.inputs] + [(s.name, s.placeholder) for s in t.states]
        for name, var in feeds:
            self.entries[id(var.node)] = (self.g.input(name, _dtype(var), var.shape), CHAINER)
            self.input_ids.add(id(var.node))
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 20000))   # conversion recurses along the graph's depth
        try:
            for name, var in t.outputs:
                self._output(self.value(var.node), name)
            for slot in t.states:
                out = f"{slot.name}_next"
                self._output(self.value(slot.result.node), out)
                self.g.meta.setdefault("states", []).append({"input": slot.name, "output": out})
        finally:
            sys.setrecursionlimit(limit)
        self.g.meta["source"] = f"chainer {chainer.__version__}"
        self.g.meta["layers"] = t.links
        self.g.verify()
        return self.g

    def _output(self, v: Value, want: str) -> None:
        if v in self.g.outputs or v.is_const or any(v is i for i in self.g.inputs):
            v = self.g.add1("Identity", [v], name=f"{want}/output")
        self.g.rename(v, want)
        self.g.outputs.append(v)


def _dtype(var) -> str:
    return "int32" if np.issubdtype(var.dtype, np.integer) else "float32"


def build_graph(trace: Trace, name: str = "model") -> Graph:
    from converter.frontends.chainer import functions  # noqa: F401  (registers the handlers)
    return Builder(trace, name).build()
