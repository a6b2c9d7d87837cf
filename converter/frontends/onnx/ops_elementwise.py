"""Elementwise ONNX ops: activations, arithmetic, Softmax/LogSoftmax, Cast, Clip, BatchNormalization,
Where, Identity/Dropout and Constant."""

from __future__ import annotations

import numpy as np

from converter.frontends.onnx.builder import Fill, NodeCall, dtype_name, ir_array, onnx_op
from converter.ir import dims
from converter.ir.graph import Value
from converter.ops.common import broadcast
from converter.frontends.onnx.ops_shape import fold_where
from converter.ops import registry
from converter.ops.activations import ACTIVATIONS

# ONNX op -> (IR Unary fn, {ONNX attr: (default, whether a non-default value is an IR alpha)})
UNARY = {
    "Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softplus": "softplus", "Softsign": "softsign",
    "Exp": "exp", "Log": "log", "Sqrt": "sqrt", "Abs": "abs", "Neg": "neg", "Reciprocal": "reciprocal",
}
BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Max": "max", "Min": "min"}


@onnx_op(*UNARY)
def unary(n: NodeCall):
    return [n.add1("Unary", [n.value(0)], {"fn": UNARY[n.op]})]


@onnx_op("LeakyRelu", attrs={"alpha": 0.01})
def leaky_relu(n: NodeCall):
    return [n.add1("Unary", [n.value(0)], {"fn": "leaky_relu", "alpha": float(n.attrs["alpha"])})]


@onnx_op("Elu", attrs={"alpha": 1.0})
def elu(n: NodeCall):
    return [n.add1("Unary", [n.value(0)], {"fn": "elu", "alpha": float(n.attrs["alpha"])})]


SELU_DEFAULTS = (1.67326319217681884765625, 1.05070102214813232421875)


@onnx_op("Selu", attrs={"alpha": SELU_DEFAULTS[0], "gamma": SELU_DEFAULTS[1]})
def selu(n: NodeCall):
    x = n.value(0)
    alpha, gamma = float(n.attrs["alpha"]), float(n.attrs["gamma"])
    if (np.float32(alpha), np.float32(gamma)) == tuple(np.float32(SELU_DEFAULTS)):
        return [n.add1("Unary", [x], {"fn": "selu"})]
    # gamma * elu(x, alpha): the same float32 steps as the op's definition
    e = n.add1("Unary", [x], {"fn": "elu", "alpha": alpha}, "elu")
    return [n.add1("Binary", [e, n.const(np.float32(gamma), "gamma")], {"fn": "mul"})]


@onnx_op("HardSigmoid", attrs={"alpha": 0.2, "beta": 0.5})
def hard_sigmoid(n: NodeCall):
    x = n.value(0)
    alpha, beta = np.float32(n.attrs["alpha"]), np.float32(n.attrs["beta"])
    if alpha == np.float32(0.2) and beta == np.float32(0.5):
        return [n.add1("Unary", [x], {"fn": "hard_sigmoid_k2"})]
    if "hard_sigmoid_ab" in ACTIVATIONS and "beta" in registry.get("Unary").attrs:
        return [n.add1("Unary", [x], {"fn": "hard_sigmoid_ab", "alpha": float(alpha), "beta": float(beta)})]
    y = n.add1("Binary", [x, n.const(alpha, "alpha")], {"fn": "mul"}, "scale")
    y = n.add1("Binary", [y, n.const(beta, "beta")], {"fn": "add"}, "shift")
    return [clip(n, y, np.float32(0), np.float32(1))]


def clip(n: NodeCall, x, lo, hi):
    if lo is not None and hi is not None and lo == 0 and hi == 6 and x.dtype == "float32":
        return n.add1("Unary", [x], {"fn": "relu6"})
    if lo is not None:
        x = n.add1("Binary", [x, n.const(np.asarray(lo, _np(x)), "min")], {"fn": "max"}, "lo")
    if hi is not None:
        x = n.add1("Binary", [x, n.const(np.asarray(hi, _np(x)), "max")], {"fn": "min"}, "hi")
    return x


def _np(v):
    return np.float32 if v.dtype == "float32" else np.int32


@onnx_op("Clip", attrs={"min": None, "max": None})
def clip_op(n: NodeCall):
    x = n.value(0)
    if n.opset < 11:
        lo, hi = n.attrs["min"], n.attrs["max"]
    else:
        lo = n.need_static(1, "min").item() if n.has(1) else None
        hi = n.need_static(2, "max").item() if n.has(2) else None
    return [clip(n, x, lo, hi)]


@onnx_op("Gelu", attrs={"approximate": "none"})
def gelu(n: NodeCall):
    fn = {"none": "gelu", "tanh": "gelu_tanh"}.get(n.attrs["approximate"])
    if fn is None:
        raise n.refuse(f"attribute approximate={n.attrs['approximate']!r}")
    return [n.add1("Unary", [n.value(0)], {"fn": fn})]


def symbolic_arith(n: NodeCall):
    """Add/Sub/Mul/Div/Max/Min of shape values (numpy object arrays of ints and SymDims)."""
    xs = [np.asarray(n.static(i)) for i in range(len(n.inputs))]
    if not any(x.dtype == object for x in xs):
        return None
    ops = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.floor_divide,
           "max": np.maximum, "min": np.minimum}
    y = xs[0]
    for x in xs[1:]:
        y = ops[BINARY[n.op]](y, x)
    return [y]


@onnx_op(*BINARY, fold=symbolic_arith)
def binary(n: NodeCall):
    fn = BINARY[n.op]
    with_fill = _with_fill(n, fn)
    if with_fill is not None:
        return [with_fill]
    values = [n.value(i) for i in range(len(n.inputs))]
    if fn in ("max", "min"):
        if not values:
            raise n.error("needs at least one input")
    elif len(values) != 2:
        raise n.error(f"expects 2 inputs, got {len(values)}")
    if fn == "div" and values[0].dtype == "int32":
        raise n.refuse("integer Div on computed tensors")
    y = values[0]
    for k, v in enumerate(values[1:]):
        y = n.add1("Binary", [y, v], {"fn": fn}, "" if k == len(values) - 2 else f"step{k}")
    return [y]


NUMPY_BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "max": np.maximum,
                "min": np.minimum}


def _with_fill(n: NodeCall, fn: str):
    """Binary ops meeting static data of symbolic shape (Fill): with other static data the result is
    still a Fill; with a computed x whose shape the Fill does not widen, the Fill's data is a constant
    operand (numpy broadcasting is the same on both sides)."""
    if len(n.inputs) != 2 or not any(isinstance(x, Fill) for x in n.inputs):
        return None
    a, b = n.inputs
    if not any(isinstance(x, Value) for x in n.inputs):
        data = [x.value if isinstance(x, Fill) else np.asarray(x) for x in (a, b)]
        shape = broadcast(n.op, *(tuple(x.shape) for x in (a, b)))
        with np.errstate(all="ignore"):
            return Fill(shape, NUMPY_BINARY[fn](*data).astype(np.float32 if fn == "div" else data[0].dtype))
    fill_pos = 0 if isinstance(a, Fill) else 1
    fill, x = n.inputs[fill_pos], n.value(1 - fill_pos)
    target = broadcast(n.op, tuple(x.shape), fill.shape)
    data = n.const(ir_array(n, fill.value), "fill")
    if broadcast(n.op, tuple(x.shape), tuple(data.shape)) != target:
        # the Fill widens x beyond leading unit dims: only a materialized constant could say how
        if dims.size(target) != dims.size(broadcast(n.op, tuple(x.shape), tuple(data.shape))):
            return None
    y = n.add1("Binary", [data, x] if fill_pos == 0 else [x, data], {"fn": fn}, "fill_op")
    return y if tuple(y.shape) == target else n.add1("Reshape", [y], {"shape": target})


@onnx_op("Sum")
def sum_op(n: NodeCall):
    y = n.value(0)
    for k in range(1, len(n.inputs)):
        y = n.add1("Binary", [y, n.value(k)], {"fn": "add"}, "" if k == len(n.inputs) - 1 else f"step{k}")
    return [y]


@onnx_op("Pow")
def pow_op(n: NodeCall):
    exponent = n.static(1)
    if exponent is None or np.asarray(exponent).size != 1:
        raise n.refuse("Pow with a computed or non-scalar exponent")
    e = float(np.asarray(exponent).reshape(-1)[0])
    fn = {1.0: "linear", 2.0: "square", 0.5: "sqrt", -1.0: "reciprocal"}.get(e)
    if fn is None:
        raise n.refuse(f"Pow with exponent {e} (only 1, 2, 0.5, -1)")
    return [n.add1("Unary", [n.value(0)], {"fn": fn})]


def _softmax_axis(n: NodeCall, x) -> int:
    default = -1 if n.opset >= 13 else 1
    axis = int(n.attrs["axis"] if n.attrs["axis"] is not None else default)
    return axis % len(x.shape) if x.shape else 0


def _coerced(n: NodeCall, x, axis: int, body):
    """Opsets < 13 apply (Log)Softmax to x flattened to 2-D at ``axis``; the last axis needs no reshape."""
    if n.opset >= 13 or axis == len(x.shape) - 1:
        return body(x, axis)
    from converter.ir import dims
    flat = n.add1("Reshape", [x], {"shape": (dims.size(x.shape[:axis]), dims.size(x.shape[axis:]))}, "flat")
    y = body(flat, 1)
    return n.add1("Reshape", [y], {"shape": x.shape}, "unflat")


@onnx_op("Softmax", attrs={"axis": None})
def softmax(n: NodeCall):
    x = n.value(0)
    return [_coerced(n, x, _softmax_axis(n, x), lambda v, a: n.add1("Softmax", [v], {"axis": a}))]


@onnx_op("LogSoftmax", attrs={"axis": None})
def log_softmax(n: NodeCall):
    x = n.value(0)

    def body(v, axis):
        # x - max - log(sum(exp(x - max))): exact where log(softmax(x)) would underflow to -inf
        m = n.add1("Reduce", [v], {"fn": "max", "axes": (axis,), "keepdims": True}, "max")
        shifted = n.add1("Binary", [v, m], {"fn": "sub"}, "shifted")
        e = n.add1("Unary", [shifted], {"fn": "exp"}, "exp")
        s = n.add1("Reduce", [e], {"fn": "sum", "axes": (axis,), "keepdims": True}, "sum")
        return n.add1("Binary", [shifted, n.add1("Unary", [s], {"fn": "log"}, "log")], {"fn": "sub"})
    return [_coerced(n, x, _softmax_axis(n, x), body)]


CAST_TO = {1: "float32", 6: "int32", 7: "int32", 9: "bool"}


def _cast_fold(n: NodeCall):
    x = n.static(0)
    to = int(n.attrs["to"])
    if x.dtype == object and to in (6, 7):
        return [x]          # shape values stay shape values
    return None


@onnx_op("Cast", attrs={"to": None, "saturate": 1, "round_mode": "up"}, fold=_cast_fold)
def cast(n: NodeCall):
    to = CAST_TO.get(int(n.attrs["to"]))
    if to is None:
        raise n.refuse(f"Cast to dtype {dtype_name(n.attrs['to'])}")
    x = n.value(0)
    if to == "bool":
        return [n.add1("NotEqualMask", [x], {"value": 0.0})]
    return [n.add1("Cast", [x], {"to": to})]


@onnx_op("Identity")
def identity(n: NodeCall):
    return [n.inputs[0] if not _is_value(n.inputs[0]) else n.add1("Identity", [n.inputs[0]])]


def _is_value(x) -> bool:
    from converter.ir.graph import Value
    return isinstance(x, Value)


@onnx_op("Dropout", attrs={"ratio": 0.5, "is_test": 0, "seed": None})
def dropout(n: NodeCall):
    # inference: the identity (training_mode, input 2, must be absent or false)
    if n.has(2) and bool(np.asarray(n.need_static(2, "training_mode")).reshape(-1)[0]):
        raise n.refuse("Dropout with training_mode=true")
    y = n.add1("Identity", [n.value(0)])
    mask = Fill(tuple(y.shape), 1.0) if len(n.node.output) > 1 and n.node.output[1] else None
    return [y, mask]


@onnx_op("Constant", attrs={"value": None, "value_float": None, "value_floats": None, "value_int": None,
                            "value_ints": None, "sparse_value": None, "value_string": None,
                            "value_strings": None})
def constant(n: NodeCall):
    from onnx import numpy_helper
    a = n.attrs
    if a["value"] is not None:
        return [numpy_helper.to_array(a["value"])]
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64),
                       ("value_ints", np.int64)):
        if a[key] is not None:
            return [np.asarray(a[key], dtype=dtype)]
    raise n.refuse("a Constant without a numeric value (sparse or string)")


@onnx_op("BatchNormalization", attrs={"epsilon": 1e-5, "momentum": 0.9, "training_mode": 0, "spatial": 1,
                                      "is_test": 0, "consumed_inputs": None})
def batch_norm(n: NodeCall):
    if n.attrs["training_mode"]:
        raise n.refuse("BatchNormalization with training_mode=1")
    if not n.attrs["spatial"]:
        raise n.refuse("BatchNormalization with spatial=0")
    x = n.value(0)
    scale, bias, mean, var = (np.asarray(n.need_static(i, w), np.float32)
                              for i, w in ((1, "scale"), (2, "B"), (3, "mean"), (4, "var")))
    channels = x.shape[1] if len(x.shape) > 1 else 1
    if any(p.shape != (channels,) for p in (scale, bias, mean, var)):
        raise n.error(f"scale/B/mean/var shapes {[p.shape for p in (scale, bias, mean, var)]} do not match "
                      f"the {channels} channels of x")
    # folded: y = x * k + (B - mean * k), k = scale / sqrt(var + eps), per channel (axis 1)
    k = (scale / np.sqrt(var + np.float32(n.attrs["epsilon"]))).astype(np.float32)
    shift = (bias - mean * k).astype(np.float32)
    shape = (channels,) + (1,) * (len(x.shape) - 2)
    y = n.add1("Binary", [x, n.const(k.reshape(shape), "scale")], {"fn": "mul"}, "scale")
    outs = [n.add1("Binary", [y, n.const(shift.reshape(shape), "shift")], {"fn": "add"})]
    return outs + [None] * (len(n.node.output) - 1)


@onnx_op("Where", fold=fold_where)
def where(n: NodeCall):
    if "Where" not in registry.all_ops():
        raise n.refuse("Where on computed tensors (this build's IR has no Where op)")
    cond = n.value(0)
    if cond.dtype != "float32":
        cond = n.add1("Cast", [cond], {"to": "float32"}, "cond")
    return [n.add1("Where", [cond, n.value(1), n.value(2)])]
