"""One handler per Chainer FunctionNode class (``type(node).__name__``), mapping it to IR ops.

Chainer conventions met here: ``LinearFunction`` holds W as [out, in]; ``Convolution2DFunction`` W as
[out, in, kh, kw] on NCHW images; ``F.lstm`` takes the pre-activations with the gates interleaved per
unit (a, i, f, o), which the IR's LSTM op accepts as ``gate_layout="aifo_interleaved"``.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from converter.frontends.chainer.builder import CHAINER, NHWC, Call, chainer_function
from converter.ir.graph import Value

UNARY = {"ReLU": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Exp": "exp", "Log": "log",
         "Sqrt": "sqrt", "Absolute": "abs", "Neg": "neg", "Square": "square", "LeakyReLU": "leaky_relu",
         "ELU": "elu", "HardSigmoid": "hard_sigmoid_k2"}
BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Maximum": "max", "Minimum": "min"}
# class -> (IR fn, constant on the left?)
WITH_CONSTANT = {"AddConstant": ("add", False), "MulConstant": ("mul", False),
                 "SubFromConstant": ("sub", True), "DivFromConstant": ("div", True)}


# ---- elementwise ---------------------------------------------------------------------------------

@chainer_function(*UNARY)
def unary(call: Call):
    x, layout = call.entry(0)
    alpha = {"LeakyReLU": "slope", "ELU": "alpha"}.get(call.cls)
    attrs = {"fn": UNARY[call.cls], "alpha": float(getattr(call.fn, alpha)) if alpha else 0.0}
    return [(call.add1("Unary", [x], attrs), layout)]


@chainer_function("Softplus")
def softplus(call: Call):
    # Chainer: log(1 + exp(beta * x)) / beta
    x, layout = call.entry(0)
    beta = float(call.fn.beta)
    if beta != 1.0:
        x = call.add1("Binary", [x, call.const("beta", np.float32(beta))], {"fn": "mul"}, "beta")
    y = call.add1("Unary", [x], {"fn": "softplus"})
    if beta != 1.0:
        inverse = call.const("beta_inv", np.float32(1.0 / beta))
        y = call.add1("Binary", [y, inverse], {"fn": "mul"}, "beta_inv")
    return [(y, layout)]


@chainer_function("Clip")
def clip(call: Call):
    x, layout = call.entry(0)
    for tag, fn, bound in (("x_min", "max", call.fn.x_min), ("x_max", "min", call.fn.x_max)):
        if bound is not None:
            x = call.add1("Binary", [x, call.const(tag, np.float32(bound))], {"fn": fn}, tag)
    return [(x, layout)]


@chainer_function("LocalResponseNormalization")
def local_response_normalization(call: Call):
    """x / (k + alpha * sum of x^2 over the n channels around each)^beta, the sum a zero-padded window
    of n over the channels: an average pool of n (times n) on [B, C, H*W, 1] read as NHWC."""
    fn = call.fn
    x = call.value(0)
    b, c = (int(d) for d in x.shape[:2])
    rest = int(np.prod(x.shape[2:], dtype=np.int64))
    half = int(fn.n) // 2
    sq = call.add1("Reshape", [call.add1("Unary", [x], {"fn": "square"}, "square")],
                   {"shape": (b, c, rest, 1)}, "channels")
    sq = call.add1("Pad", [sq], {"pads": ((0, 0), (half, half), (0, 0), (0, 0))}, "pad")
    window = call.add1("Pool", [sq], {"fn": "avg", "size": (int(fn.n), 1), "strides": (1, 1),
                                      "pads": ((0, 0), (0, 0))}, "window")
    # alpha * n * mean = alpha * sum, then k + ..., then ^-beta as exp(-beta * log(.))
    scale = call.add1("Binary", [window, call.const("alpha_n", np.float32(fn.alpha * fn.n))], {"fn": "mul"})
    scale = call.add1("Binary", [scale, call.const("k", np.float32(fn.k))], {"fn": "add"}, "k")
    scale = call.add1("Unary", [scale], {"fn": "log"}, "log")
    scale = call.add1("Binary", [scale, call.const("neg_beta", np.float32(-fn.beta))], {"fn": "mul"}, "beta")
    scale = call.add1("Unary", [scale], {"fn": "exp"}, "exp")
    scale = call.add1("Reshape", [scale], {"shape": tuple(x.shape)}, "scale")
    return [call.add1("Binary", [x, scale], {"fn": "mul"})]


@chainer_function(*BINARY, "MultiAdd")
def binary(call: Call):
    # Chainer's arithmetic needs equal shapes, so a layout shared by every input can be kept
    layouts = {call.entry(i)[1] for i in range(len(call.nodes))}
    layout = layouts.pop() if len(layouts) == 1 else CHAINER
    values = [call.value(i, layout) for i in range(len(call.nodes))]
    fn = BINARY.get(call.cls, "add")
    y = values[0]
    for other in values[1:]:
        y = call.add1("Binary", [y, other], {"fn": fn})
    return [(y, layout)]


@chainer_function(*WITH_CONSTANT)
def with_constant(call: Call):
    fn, left = WITH_CONSTANT[call.cls]
    constant = np.asarray(call.fn.value, np.float32)
    x, layout = call.entry(0)
    if constant.ndim:           # an array constant is shaped for Chainer's layout
        x, layout = call.value(0), CHAINER
    c = call.const(fn, constant)
    return [(call.add1("Binary", [c, x] if left else [x, c], {"fn": fn}), layout)]


@chainer_function("LinearInterpolate")
def linear_interpolate(call: Call):
    # p * x + (1 - p) * y, written y + p * (x - y) (L.StatefulGRU's update)
    p, x, y = (call.value(i) for i in range(3))
    step = call.add1("Binary", [p, call.add1("Binary", [x, y], {"fn": "sub"}, "diff")], {"fn": "mul"}, "step")
    return [call.add1("Binary", [y, step], {"fn": "add"})]


@chainer_function("Copy", "Identity", "Dropout")
def identity(call: Call):
    # Dropout only appears when traced in train mode; at inference it is the identity
    return [call.entry(i) for i in range(len(call.nodes))]


@chainer_function("Softmax")
def softmax(call: Call):
    return [call.add1("Softmax", [call.value(0)], {"axis": int(call.fn.axis)})]


@chainer_function("LogSoftmax")
def log_softmax(call: Call):
    # x - max - log(sum(exp(x - max))): the stable form Chainer itself computes
    axes = (int(call.fn.axis),)
    x = call.value(0)
    peak = call.add1("Reduce", [x], {"fn": "max", "axes": axes, "keepdims": True}, "max")
    shifted = call.add1("Binary", [x, peak], {"fn": "sub"}, "shifted")
    total = call.add1("Reduce", [call.add1("Unary", [shifted], {"fn": "exp"}, "exp")],
                      {"fn": "sum", "axes": axes, "keepdims": True}, "sum")
    log_total = call.add1("Unary", [total], {"fn": "log"}, "log")
    return [call.add1("Binary", [shifted, log_total], {"fn": "sub"})]


# ---- linear and lookup ---------------------------------------------------------------------------

@chainer_function("LinearFunction")
def linear(call: Call):
    w = call.const_input(1, "W")
    b = call.const_input(2, "b") if len(call.nodes) > 2 else None
    inputs = [call.value(0), call.const("W", w.T)] + ([call.const("b", b)] if b is not None else [])
    return [call.add1("MatMul", inputs)]


@chainer_function("EmbedIDFunction")
def embed_id(call: Call):
    """A Gather; ``ignore_label`` gives zeros: that row of the table is zeroed (an id in [0, V)), or for
    -1 a zero row is put in front and the ids shifted by one (in float32, exact below 2^24)."""
    idx = call.value(0)
    if idx.dtype != "int32":
        raise call.error(f"the ids input is {idx.dtype}; feed int32 ids")
    table = call.const_input(1, "W")
    ignore = call.fn.ignore_label
    if ignore is None:
        return [call.add1("Gather", [call.const("W", table), idx])]
    ignore, vocab = int(ignore), int(table.shape[0])
    if 0 <= ignore < vocab:
        table = table.copy()
        table[ignore] = 0
        return [call.add1("Gather", [call.const("W", table), idx])]
    if ignore != -1:
        raise call.error(f"ignore_label={ignore} is not supported; use -1 or an id in [0, {vocab})")
    shifted = call.add1("Cast", [idx], {"to": "float32"}, "ids")
    shifted = call.add1("Binary", [shifted, call.const("one", np.float32(1))], {"fn": "add"}, "shift")
    shifted = call.add1("Cast", [shifted], {"to": "int32"}, "shift")
    table = np.concatenate([np.zeros((1,) + table.shape[1:], table.dtype), table])
    return [call.add1("Gather", [call.const("W", table), shifted])]


# ---- LSTM ------------------------------------------------------------------------------------------

@chainer_function("LSTM")
def lstm(call: Call):
    """F.lstm(c_prev, x) -> (c, h). Over ``upward(x) + lateral(h)`` (what L.LSTM computes) it becomes
    one IR LSTM op with T=1, so backends use their recurrence kernels; otherwise the cell math."""
    c_shape, x_shape = tuple(call.nodes[0].shape), tuple(call.nodes[1].shape)
    if len(x_shape) != 2 or c_shape[0] != x_shape[0]:
        raise call.error(f"c {c_shape} and x {x_shape}: only 2D inputs with equal batch sizes are "
                         "supported; keep the states' batch size equal to the input's")
    fused = _fused_lstm(call)
    return fused if fused is not None else _lstm_math(call)


def _linear_parts(call: Call, vnode) -> Optional[tuple]:
    """(x node, W, b, W's path) when vnode = LinearFunction(x, constant W, constant b?) on 2D x."""
    f = vnode.creator_node
    if f is None or type(f).__name__ != "LinearFunction" or len(f.inputs[0].shape) != 2:
        return None
    w = call.b.array(f.inputs[1])
    b = call.b.array(f.inputs[2]) if len(f.inputs) > 2 else None
    if w is None or (len(f.inputs) > 2 and b is None):
        return None
    return f.inputs[0], w, b, call.b.trace.params.get(id(f.inputs[1]), "")


def _pick_lateral(pairs: list, hidden: int) -> Optional[tuple]:
    """Which linear term multiplies the previous h: the L.LSTM ``lateral`` link, else one without
    bias whose input is [B, H]. For one step either choice computes the same sum."""
    valid = [(up, lat) for up, lat in pairs if lat[1].shape[1] == hidden and lat[0].shape[1] == hidden]
    for rank in (lambda lat: lat[3].endswith("lateral/W"), lambda lat: lat[2] is None, lambda lat: True):
        for up, lat in valid:
            if rank(lat):
                return up, lat
    return None


def _fused_lstm(call: Call) -> Optional[list]:
    add = call.nodes[1].creator_node
    if add is None or type(add).__name__ != "Add":
        return None
    terms = [_linear_parts(call, n) for n in add.inputs]
    if any(t is None for t in terms):
        return None
    hidden = int(call.nodes[0].shape[1])
    picked = _pick_lateral([(terms[0], terms[1]), (terms[1], terms[0])], hidden)
    if picked is None:
        return None
    (x_node, w, b, path), (h_node, u, rb, _) = picked
    batch, width = (int(d) for d in x_node.shape)
    name = path[:-len("/upward/W")] if path.endswith("/upward/W") else call.name
    bias = None if b is None and rb is None else sum(v for v in (b, rb) if v is not None)
    x3 = call.g.add1("Reshape", [call.b.value(x_node)], {"shape": (batch, 1, width)}, name=f"{name}/x")
    g = call.g
    ws = [g.const(f"{name}/W", w.T), g.const(f"{name}/U", u.T),
          None if bias is None else g.const(f"{name}/b", bias)]
    _, h, c = g.add("LSTM", [x3] + ws + [call.b.value(h_node), call.value(0)],
                    {"gate_layout": "aifo_interleaved"}, name=name)
    return [c, h]


def _lstm_math(call: Call) -> list:
    """The cell on any [B, 4H] pre-activation: a = tanh, i, f, o = sigmoid (interleaved per unit)."""
    batch, width = (int(d) for d in call.nodes[1].shape)
    hidden = width // 4
    per_unit = call.add1("Reshape", [call.value(1)], {"shape": (batch, hidden, 4)}, "gates")
    gates = []
    for k, (tag, fn) in enumerate((("a", "tanh"), ("i", "sigmoid"), ("f", "sigmoid"), ("o", "sigmoid"))):
        part = call.add1("Slice", [per_unit], {"axis": 2, "start": k, "end": k + 1}, tag)
        part = call.add1("Reshape", [part], {"shape": (batch, hidden)}, tag)
        gates.append(call.add1("Unary", [part], {"fn": fn}, tag))
    a, i, f, o = gates
    kept = call.add1("Binary", [f, call.value(0)], {"fn": "mul"}, "forget")
    c = call.add1("Binary", [call.add1("Binary", [a, i], {"fn": "mul"}, "input"), kept], {"fn": "add"}, "c")
    h = call.add1("Binary", [o, call.add1("Unary", [c], {"fn": "tanh"}, "tanh_c")], {"fn": "mul"}, "h")
    return [c, h]


# ---- convolution, pooling, normalization (NHWC inside) -----------------------------------------------

def _pads(pad: tuple, stride: tuple, cover_all: bool) -> tuple:
    # cover_all pads the bottom/right by stride - 1 more so the last partial window is kept (Chainer's im2col)
    return tuple((int(p), int(p) + (int(s) - 1 if cover_all else 0)) for p, s in zip(pad, stride))


@chainer_function("Convolution2DFunction")
def conv2d(call: Call):
    fn = call.fn
    if fn.groups != 1:
        raise call.error(f"groups={fn.groups} is not supported; use groups=1")
    w = call.const_input(1, "W")
    b = call.const_input(2, "b") if len(call.nodes) > 2 else None
    attrs = {"strides": (fn.sy, fn.sx), "dilations": (fn.dy, fn.dx),
             "pads": _pads((fn.ph, fn.pw), (fn.sy, fn.sx), fn.cover_all)}
    inputs = [call.value(0, NHWC), call.const("W", w.transpose(2, 3, 1, 0))]
    inputs += [call.const("b", b)] if b is not None else []
    return [(call.add1("Conv", inputs, attrs), NHWC)]


@chainer_function("MaxPoolingND")
def max_pool(call: Call):
    fn = call.fn
    if fn.ndim != 2:
        raise call.error(f"{fn.ndim}D pooling is not supported; only 2D")
    attrs = {"fn": "max", "size": tuple(fn.ksize), "strides": tuple(fn.stride),
             "pads": _pads(fn.pad, fn.stride, fn.cover_all)}
    return [(call.add1("Pool", [call.value(0, NHWC)], attrs), NHWC)]


@chainer_function("AveragePooling2D", "AveragePoolingND")
def avg_pool(call: Call):
    fn = call.fn
    if call.cls == "AveragePooling2D":
        size, strides, pad, count_pads = (fn.kh, fn.kw), (fn.sy, fn.sx), (fn.ph, fn.pw), True
    else:
        if fn.ndim != 2 or fn.cover_all:
            raise call.error("only 2D average pooling without cover_all is supported")
        size, strides, pad, count_pads = fn.ksize, fn.stride, fn.pad, fn.pad_value is not None
    x = call.value(0, NHWC)
    pads = tuple((int(p), int(p)) for p in pad)
    if count_pads and any(pad):
        # Chainer divides by the full window, zero padding included; the IR counts real elements only
        x = call.add1("Pad", [x], {"pads": ((0, 0),) + pads + ((0, 0),)}, "pad")
        pads = ((0, 0), (0, 0))
    attrs = {"fn": "avg", "size": tuple(size), "strides": tuple(strides), "pads": pads}
    return [(call.add1("Pool", [x], attrs), NHWC)]


@chainer_function("FixedBatchNormalization")
def batch_norm(call: Call):
    gamma, beta, mean, var = (call.const_input(i, w) for i, w in
                              ((1, "gamma"), (2, "beta"), (3, "mean"), (4, "var")))
    x, layout = call.entry(0)
    default_axis = (0,) + tuple(range(gamma.ndim + 1, len(x.shape)))
    if call.fn.axis is not None and tuple(call.fn.axis) != default_axis:
        raise call.error(f"axis={call.fn.axis} is not supported; normalize over the default axes")
    scale = gamma / np.sqrt(var + call.fn.eps)
    shift = beta - mean * scale
    if not (layout == NHWC and gamma.ndim == 1):
        x, layout = call.value(0), CHAINER
        trailing = (1,) * (len(x.shape) - 1 - gamma.ndim)
        scale, shift = scale.reshape(gamma.shape + trailing), shift.reshape(gamma.shape + trailing)
    y = call.add1("Binary", [x, call.const("scale", scale)], {"fn": "mul"}, "scale")
    return [(call.add1("Binary", [y, call.const("shift", shift)], {"fn": "add"}, "shift"), layout)]


# ---- shape ----------------------------------------------------------------------------------------

@chainer_function("Reshape", "ExpandDims", "Squeeze")
def reshape(call: Call):
    return [call.add1("Reshape", [call.value(0)], {"shape": call.out_shape()})]


@chainer_function("Transpose")
def transpose(call: Call):
    x = call.value(0)
    axes = call.fn.axes
    rank = len(x.shape)
    perm = tuple(reversed(range(rank))) if axes is None else tuple(int(a) % rank for a in axes)
    return [call.add1("Transpose", [x], {"perm": perm})]


@chainer_function("Concat")
def concat(call: Call):
    values = [call.value(i) for i in range(len(call.nodes))]
    return [call.add1("Concat", values, {"axis": int(call.fn.axis)})]


@chainer_function("BroadcastTo")
def broadcast_to(call: Call):
    x: Value = call.value(0)
    target = call.out_shape()
    shape = (1,) * (len(target) - len(x.shape)) + tuple(int(d) for d in x.shape)
    if shape != tuple(x.shape):
        x = call.add1("Reshape", [x], {"shape": shape}, "expand")
    repeats = tuple(t // s for t, s in zip(target, shape))
    return [call.add1("Tile", [x], {"repeats": repeats})]
