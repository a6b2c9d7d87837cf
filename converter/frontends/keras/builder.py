"""Builds an IR graph from a ``KerasModelSpec``: one handler per layer class, one Keras mask per tensor.

Handlers live in ``layers/*.py`` and register with ``@keras_layer("LSTM", ...)``. A handler receives a
``LayerCall`` (the graph, the layer's config and weights, the call's input values, their Keras masks and
its keyword arguments) and returns ``(outputs, masks)``: one IR value and one mask (a float32 0/1 value
or ``None``) per Keras output tensor. Masks follow Keras: a layer that does not support masking drops the
mask; layers that create, merge or consume masks do so in their handlers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from converter.errors import ConversionError
from converter.ir import dims
from converter.ir.graph import Graph, Value
from converter.ops.common import OpError

SUPPORTED_DOC = "docs/supported-layers.md"

Handler = Callable[["LayerCall"], tuple]
HANDLERS: dict[str, Handler] = {}
# Classes whose masks pass through unchanged (Keras `supports_masking = True` with the default
# compute_mask). Every other class without its own mask logic drops the incoming mask.
MASK_PASSTHROUGH: set[str] = set()
REFUSED = {"Lambda", "TFOpLambda", "SlicingOpLambda"}


def keras_layer(*class_names: str, passes_mask: bool = False):
    """Register a handler for Keras layer classes; ``passes_mask`` marks Keras' default mask pass-through."""
    def wrap(fn: Handler) -> Handler:
        for name in class_names:
            if name in HANDLERS:
                raise ValueError(f"Keras layer handler for {name} registered twice")
            HANDLERS[name] = fn
            if passes_mask:
                MASK_PASSTHROUGH.add(name)
        return fn
    return wrap


def unsupported(class_name: str, name: str, why: str = "") -> ConversionError:
    if class_name in REFUSED:
        why = why or "Lambda layers hold arbitrary Python code that cannot be compiled; replace it"
    elif not why:
        why = "this layer class has no converter"
    return ConversionError(f"unsupported layer {class_name} '{name}': {why}; see {SUPPORTED_DOC}")


@dataclass
class LayerCall:
    """One call of one Keras layer, as a handler sees it."""
    g: Graph
    major: int                       # Keras major version of the file (2 or 3)
    class_name: str
    name: str
    config: dict
    weights: list
    inputs: list                     # IR values of the positional inputs
    masks: list                      # their Keras masks (float32 [B,T] values or None)
    kwargs: dict = field(default_factory=dict)   # keyword args, tensors resolved to values
    state_prefix: Optional[str] = None

    def error(self, message: str) -> ConversionError:
        return ConversionError(f"layer '{self.name}' ({self.class_name}): {message}")

    def node(self, suffix: str = "") -> str:
        """A node name derived from the layer name, so graph dumps point back at the Keras layer."""
        return f"{self.name}/{suffix}" if suffix else self.name

    def weight(self, index: int, shape: Sequence[int], what: str) -> np.ndarray:
        """The ``index``-th weight, checked against the shape the layer config implies."""
        if index >= len(self.weights):
            raise self.error(f"expected weight {index} ({what}) but the file holds {len(self.weights)} "
                             "weights; re-save the model with its weights")
        w = np.asarray(self.weights[index])
        if tuple(w.shape) != tuple(shape):
            raise self.error(f"weight {index} ({what}) has shape {tuple(w.shape)}, the config implies "
                             f"{tuple(shape)}; the file's weights do not match its config")
        return w.astype(np.float32)

    def expect_weights(self, count: int) -> None:
        if len(self.weights) != count:
            raise self.error(f"expected {count} weights from the config, the file holds "
                             f"{len(self.weights)}; the file's weights do not match its config")

    def const(self, suffix: str, array) -> Value:
        return self.g.const(self.node(suffix), np.asarray(array, dtype=np.float32))

    def sub(self, class_name: str, name: str, config: dict, weights: list, inputs: list, masks: list,
            kwargs: Optional[dict] = None) -> "LayerCall":
        """A call of an inner layer (TimeDistributed, Bidirectional) sharing this call's graph."""
        return LayerCall(self.g, self.major, class_name, name, config, weights, inputs, masks,
                         kwargs or {}, self.state_prefix)


def inner_layer(config: dict, what: str) -> tuple[str, dict]:
    """(class_name, config) of a nested layer config (Keras 2 and 3 both use class_name/config keys)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ConversionError(f"{what}: nested layer config is missing; the file looks damaged")
    return config["class_name"], dict(config.get("config") or {})


MAX_DIM = 2**31          # a dim the kernels' int32 indices can address
MAX_ELEMENTS = 2**30     # elements of one static tensor: 4 GiB of float32, the most a bundle slot holds


def _check_sizes(g: Graph, source: str) -> None:
    """Refuse a graph whose static sizes no bundle can hold (a config asking for 2^63 units or steps)."""
    for node in g.nodes:
        for v in node.outputs:
            static = [d for d in v.shape if isinstance(d, int)]
            count = 1
            for d in static:
                count *= d
            if any(d >= MAX_DIM for d in static) or count > MAX_ELEMENTS:
                raise ConversionError(f"{source}: {node.name} would make a tensor of shape {list(v.shape)}, "
                                      "beyond what a bundle can hold; the config is damaged or the model is "
                                      "too large — re-save it or fix its sizes")


# What reading a damaged config raises inside a layer handler (int("abc"), cfg[3] of a short list, ...).
DAMAGED_CONFIG = (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError)


def dispatch(call: LayerCall) -> tuple[list, list]:
    """Run the handler of ``call.class_name`` and apply Keras' default mask rule."""
    handler = HANDLERS.get(call.class_name)
    if handler is None:
        raise unsupported(call.class_name, call.name)
    try:
        outputs, masks = handler(call)
    except OpError as e:     # a shape rule refused what the layer asked for: name the layer
        raise call.error(str(e)) from None
    except DAMAGED_CONFIG as e:
        # Handlers read the config Keras wrote (ints, lists, nested layer configs); a value of the wrong
        # type or size means the file was damaged or edited, which is the user's to fix, not a Webloom bug.
        detail = " ".join(f"{type(e).__name__}: {e}".split())[:160]
        raise call.error(f"its config holds a value Webloom cannot use ({detail}); the file is damaged or "
                         "was edited — re-save the model (--debug shows where)") from e
    if masks is None:
        passes = call.class_name in MASK_PASSTHROUGH and call.masks
        masks = [call.masks[0] if passes else None for _ in outputs]
    return list(outputs), list(masks)


def _is_ref(x: Any) -> bool:
    return (isinstance(x, tuple) and len(x) == 3 and isinstance(x[0], str)
            and isinstance(x[1], int) and isinstance(x[2], int))


class _Builder:
    def __init__(self, spec, input_shapes: Optional[dict]):
        self.spec = spec
        self.major = int(spec.major)
        self.input_shapes = dict(input_shapes or {})
        self.g = Graph(_graph_name(spec))
        self.tensors: dict[tuple, Value] = {}
        self.masks: dict[tuple, Optional[Value]] = {}
        self.free_time_taken = False

    def value(self, ref) -> Value:
        key = tuple(ref)
        if key not in self.tensors:
            raise ConversionError(f"tensor {key[0]}[{key[1]}][{key[2]}] is used before it is produced; "
                                  "the model file's layer graph is damaged")
        return self.tensors[key]

    def resolve(self, x):
        if _is_ref(x):
            return self.value(x)
        if isinstance(x, (list, tuple)):
            return [self.resolve(r) for r in x]
        return x

    def build(self):
        by_name = {layer.name: layer for layer in self.spec.layers}
        # model inputs first, in Keras' model.inputs order; stateful layers append theirs later
        for ref in self.spec.inputs:
            self.add_input(by_name[tuple(ref)[0]])
        for layer, index in _call_order(self.spec):
            if layer.class_name != "InputLayer":
                self.run_call(layer, index, layer.calls[index])
        self.finish()
        _check_sizes(self.g, self.spec.source)
        return self.g

    def add_input(self, layer) -> None:
        index = len(self.g.inputs)
        shape = _input_shape(layer, self.input_shapes.get(layer.name), index, self)
        dtype = _input_dtype(layer)
        v = self.g.input(layer.name, dtype, shape)
        if v.name != layer.name:
            raise ConversionError(f"input name '{layer.name}' clashes with another input; rename it")
        self.tensors[(layer.name, 0, 0)] = v
        self.masks[(layer.name, 0, 0)] = None

    def free_dim(self, axis: int, index: int) -> str:
        if axis == 1 and not self.free_time_taken:
            self.free_time_taken = True
            return "time"
        return f"d{axis}_{index}"

    def run_call(self, layer, index: int, call) -> None:
        refs = [tuple(r) for r in call.inputs]
        inputs = [self.value(r) for r in refs]
        masks = [self.masks.get(r) for r in refs]
        kwargs = {k: self.resolve(v) for k, v in dict(call.kwargs or {}).items()}
        explicit = kwargs.pop("mask", None)
        if explicit is not None:
            masks = _explicit_masks(explicit, len(inputs))
        lc = LayerCall(self.g, self.major, layer.class_name, layer.name, dict(layer.config or {}),
                       list(layer.weights or []), inputs, masks, kwargs)
        outputs, out_masks = dispatch(lc)
        for i, (v, m) in enumerate(zip(outputs, out_masks)):
            self.tensors[(layer.name, index, i)] = v
            self.masks[(layer.name, index, i)] = m

    def finish(self) -> None:
        for ref in self.spec.outputs:
            layer_name, _, out_index = tuple(ref)
            v = self.value(ref)
            if v in self.g.outputs or v.is_const or any(v is i for i in self.g.inputs):
                v = self.g.add1("Identity", [v], name=f"{layer_name}/output")
            want = layer_name if out_index == 0 else f"{layer_name}:{out_index}"
            self.g.rename(v, want)
            self.g.outputs.append(v)
        for st in self.g.meta.get("states", []):
            v = self.g_value(st["output_value"])
            self.g.rename(v, st["output"])
            self.g.outputs.append(v)
            del st["output_value"]
        self.g.meta["source"] = f"keras {getattr(self.spec, 'keras_version', self.major)}"
        self.g.meta["layers"] = len(self.spec.layers)

    def g_value(self, v: Value) -> Value:
        if v in self.g.outputs or any(v is i for i in self.g.inputs):
            return self.g.add1("Identity", [v], name=f"{v.name}/state")
        return v


def _call_order(spec) -> list:
    try:
        return spec.call_order()
    except ValueError as e:
        raise ConversionError(str(e)) from None


def _explicit_masks(mask, count: int) -> list:
    if isinstance(mask, list):
        return list(mask) + [None] * (count - len(mask))
    return [mask] + [None] * (count - 1)


def _graph_name(spec) -> str:
    name = getattr(spec, "name", None)
    if name:
        return str(name)
    src = str(getattr(spec, "source", "model"))
    base = src.replace("\\", "/").rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] or "model"


def _input_dtype(layer) -> str:
    dtype = layer.config.get("dtype") or "float32"
    if isinstance(dtype, dict):       # Keras 3 may store a DTypePolicy
        dtype = (dtype.get("config") or {}).get("name", "float32")
    dtype = str(dtype)
    if dtype.startswith("float") or dtype.startswith("bfloat") or dtype.startswith("mixed"):
        return "float32"
    if dtype.startswith("int") or dtype.startswith("uint"):
        return "int32"
    raise ConversionError(f"input '{layer.name}': dtype {dtype} is not supported (float or int inputs only)")


def _input_shape(layer, fixed, index: int, builder: _Builder) -> tuple:
    cfg = layer.config
    shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
    if shape is None and cfg.get("shape") is not None:
        shape = [None] + list(cfg["shape"])
    if shape is None:
        raise ConversionError(f"input '{layer.name}': the file gives no input shape; re-save the model "
                              "with an Input(shape=...) layer")
    shape = list(shape)
    if fixed is not None:
        fixed = list(fixed)
        if len(fixed) != len(shape):
            raise ConversionError(f"input_shapes['{layer.name}'] has rank {len(fixed)}, the model's input "
                                  f"has rank {len(shape)} {tuple(shape)}")
        for axis, (d, f) in enumerate(zip(shape, fixed)):
            if d is not None and f is not None and int(f) != int(d):
                raise ConversionError(f"input_shapes['{layer.name}'] fixes axis {axis} to {f}, the model "
                                      f"says {d}")
            if f is not None and not 0 <= int(f) < 2**31:
                raise ConversionError(f"input_shapes['{layer.name}'] fixes axis {axis} to {f}, beyond the "
                                      "2147483647 a dimension can be")
            if f is not None:
                shape[axis] = int(f)
    out = []
    for axis, d in enumerate(shape):
        if d is not None and (isinstance(d, bool) or not isinstance(d, int) or not 0 <= d < MAX_DIM):
            raise ConversionError(f"{builder.spec.source}: input '{layer.name}': batch_shape {shape} has "
                                  f"dim {d!r} on axis {axis}, not a whole number in [0, 2^31) or None; the file "
                                  "is damaged — re-save the model")
        if d is not None:
            out.append(int(d))
        elif axis == 0:
            out.append("batch")
        else:
            out.append(builder.free_dim(axis, index))
    return tuple(out)


def build_graph(spec, input_shapes: Optional[dict] = None) -> Graph:
    """The IR graph of a Keras model spec; ``input_shapes`` {input name: shape} fixes symbolic dims."""
    from converter.frontends.keras import layers  # noqa: F401  (registers every handler)
    unknown = set(input_shapes or {}) - {tuple(r)[0] for r in spec.inputs}
    if unknown:
        raise ConversionError(f"input_shapes names {sorted(unknown)}, the model's inputs are "
                              f"{[tuple(r)[0] for r in spec.inputs]}")
    for layer in spec.layers:
        if layer.class_name not in HANDLERS and layer.class_name != "InputLayer":
            raise unsupported(layer.class_name, layer.name)
    try:
        return _Builder(spec, input_shapes).build()
    except DAMAGED_CONFIG as e:   # wiring the layers read a config value of the wrong type or size
        detail = " ".join(f"{type(e).__name__}: {e}".split())[:160]
        raise ConversionError(f"{spec.source}: the model config is damaged ({detail}); re-save the model "
                              "(--debug shows where)") from e


def divide_dim(dim: dims.Dim, n: int) -> Optional[dims.Dim]:
    """``dim / n`` when ``dim`` is a product whose coefficient ``n`` divides, else None."""
    if n == 1:
        return dim
    if not dims.is_product(dim):
        return None
    syms = dims.symbols(dim)
    coef = dims.evaluate(dim, {s: 1 for s in syms})
    if n == 0 or coef % n:
        return None
    return dims.mul(coef // n, *syms)
