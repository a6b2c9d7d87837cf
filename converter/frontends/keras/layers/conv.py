"""Convolution, pooling and padding layers (channels last, 1D and 2D)."""

from __future__ import annotations

from converter.frontends.keras.builder import LayerCall, keras_layer
from converter.frontends.keras.layers import activation
from converter.ir import dims


def _tuple(lc: LayerCall, key: str, n: int, default=1) -> tuple:
    value = lc.config.get(key, default)
    value = [value] * n if isinstance(value, int) else list(value)
    if len(value) != n:
        raise lc.error(f"{key} {value} must have {n} entries")
    return tuple(int(v) for v in value)


def _channels_last(lc: LayerCall) -> None:
    fmt = lc.config.get("data_format") or "channels_last"
    if fmt != "channels_last":
        raise lc.error(f"data_format={fmt} is not supported; use channels_last")


def _same_pads(lc: LayerCall, size, kernel: int, stride: int, dilation: int) -> tuple:
    """TensorFlow's "same" padding: the extra element goes after."""
    reach = dilation * (kernel - 1) + 1
    if stride == 1:
        total = reach - 1
    elif dims.is_static(size):
        n = dims.evaluate(size, {})
        total = max((-(-n // stride) - 1) * stride + reach - n, 0)
    else:
        # the pads would depend on the length at run time; the Conv/Pool kernels take static pads
        raise lc.error(f"padding='same' with stride {stride} over the symbolic dim {size} needs a fixed "
                       "size; give the model a static size for that dim "
                       "(convert_keras --input-shape NAME=?,LENGTH,...)")
    return (total // 2, total - total // 2)


def _pads(lc: LayerCall, x, kernel: tuple, strides: tuple, dilations: tuple) -> tuple:
    padding = str(lc.config.get("padding", "valid")).lower()
    n = len(kernel)
    if padding == "valid":
        return ((0, 0),) * n
    if padding == "same":
        return tuple(_same_pads(lc, x.shape[1 + i], kernel[i], strides[i], dilations[i]) for i in range(n))
    if padding == "causal" and n == 1:
        return (((kernel[0] - 1) * dilations[0], 0),)
    raise lc.error(f"padding={padding!r} is not supported")


def _conv(lc: LayerCall, n: int):
    _channels_last(lc)
    if int(lc.config.get("groups", 1) or 1) != 1:
        raise lc.error("grouped convolution (groups > 1) is not supported")
    x = lc.inputs[0]
    if len(x.shape) != n + 2:
        raise lc.error(f"expects a rank-{n + 2} input, got {dims.fmt_shape(x.shape)}")
    kernel = _tuple(lc, "kernel_size", n)
    strides, dilations = _tuple(lc, "strides", n), _tuple(lc, "dilation_rate", n)
    c, f = x.shape[-1], int(lc.config["filters"])
    use_bias = lc.config.get("use_bias", True)
    lc.expect_weights(2 if use_bias else 1)
    w = lc.const("kernel", lc.weight(0, kernel + (c, f), "kernel"))
    b = lc.const("bias", lc.weight(1, (f,), "bias")) if use_bias else None
    attrs = {"strides": strides, "dilations": dilations, "pads": _pads(lc, x, kernel, strides, dilations)}
    act = activation.activation_name(lc.config.get("activation"))
    if act == "softmax":
        y = lc.g.add1("Conv", [x, w, b], attrs, name=lc.node("conv"))
        return [lc.g.add1("Softmax", [y], {"axis": -1}, name=lc.node())], None
    fn, alpha = activation.unary_fn(lc, act)
    return [lc.g.add1("Conv", [x, w, b], {**attrs, "activation": fn, "alpha": alpha}, name=lc.node())], None


def _pool(lc: LayerCall, fn: str, n: int):
    _channels_last(lc)
    x = lc.inputs[0]
    size = _tuple(lc, "pool_size", n, 2)
    strides = lc.config.get("strides")
    strides = size if strides is None else _tuple(lc, "strides", n)
    pads = _pads(lc, x, size, strides, (1,) * n)
    attrs = {"fn": fn, "size": size, "strides": strides, "pads": pads}
    return [lc.g.add1("Pool", [x], attrs, name=lc.node())], None


def _global(lc: LayerCall, fn: str, n: int, masked: bool):
    _channels_last(lc)
    x = lc.inputs[0]
    mask = lc.masks[0] if masked and lc.masks else None
    attrs = {"fn": fn, "axes": tuple(range(1, n + 1)), "keepdims": bool(lc.config.get("keepdims", False))}
    return [lc.g.add1("Reduce", [x, mask], attrs, name=lc.node())], [None]


def _padding_pairs(lc: LayerCall, n: int) -> tuple:
    pad = lc.config.get("padding", 1)
    if isinstance(pad, int):
        return ((pad, pad),) * n
    pad = list(pad)
    if n == 1 and len(pad) == 2 and all(isinstance(p, int) for p in pad):
        return ((int(pad[0]), int(pad[1])),)
    pairs = tuple((p, p) if isinstance(p, int) else (int(p[0]), int(p[1])) for p in pad)
    if len(pairs) != n:
        raise lc.error(f"padding {pad} must have {n} entries")
    return pairs


def _zero_pad(lc: LayerCall, n: int):
    _channels_last(lc)
    x = lc.inputs[0]
    pads = ((0, 0),) + _padding_pairs(lc, n) + ((0, 0),)
    return [lc.g.add1("Pad", [x], {"pads": pads, "value": 0.0}, name=lc.node())], None


# Keras class names -> (handler, args): the layer families that differ only by rank and reduce fn.
# Keras' masked 1D global average is sum(x * m) / sum(m) over time.
RULES = {
    ("Conv1D",): (_conv, 1), ("Conv2D",): (_conv, 2),
    ("MaxPooling1D", "MaxPool1D"): (_pool, "max", 1), ("MaxPooling2D", "MaxPool2D"): (_pool, "max", 2),
    ("AveragePooling1D", "AvgPool1D"): (_pool, "avg", 1),
    ("AveragePooling2D", "AvgPool2D"): (_pool, "avg", 2),
    ("GlobalAveragePooling1D", "GlobalAvgPool1D"): (_global, "mean", 1, True),
    ("GlobalMaxPooling1D", "GlobalMaxPool1D"): (_global, "max", 1, False),
    ("GlobalAveragePooling2D", "GlobalAvgPool2D"): (_global, "mean", 2, False),
    ("GlobalMaxPooling2D", "GlobalMaxPool2D"): (_global, "max", 2, False),
    ("ZeroPadding1D",): (_zero_pad, 1), ("ZeroPadding2D",): (_zero_pad, 2),
}
for _names, (_handler, *_args) in RULES.items():
    keras_layer(*_names)(lambda lc, handler=_handler, args=tuple(_args): handler(lc, *args))

