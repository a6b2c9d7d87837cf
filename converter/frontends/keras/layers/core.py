"""Core layers: Dense, Embedding, Masking, dropout/noise (identity at inference), shape layers,
TimeDistributed."""

from __future__ import annotations

import numpy as np

from converter.frontends.keras.builder import (LayerCall, dispatch, divide_dim, inner_layer,
                                               keras_layer)
from converter.frontends.keras.layers import activation
from converter.ir import dims


@keras_layer("Dense", passes_mask=True)
def dense(lc: LayerCall):
    x = lc.inputs[0]
    units, k = int(lc.config["units"]), x.shape[-1]
    if not isinstance(k, int):
        raise lc.error(f"input's last dimension {k} is symbolic; Dense needs a fixed feature size")
    use_bias = lc.config.get("use_bias", True)
    lc.expect_weights(2 if use_bias else 1)
    w = lc.const("kernel", lc.weight(0, (k, units), "kernel"))
    b = lc.const("bias", lc.weight(1, (units,), "bias")) if use_bias else None
    act = activation.activation_name(lc.config.get("activation"))
    if act == "softmax":
        y = lc.g.add1("MatMul", [x, w, b], name=lc.node("matmul"))
        return [lc.g.add1("Softmax", [y], {"axis": -1}, name=lc.node())], None
    fn, alpha = activation.unary_fn(lc, act)
    return [lc.g.add1("MatMul", [x, w, b], {"activation": fn, "alpha": alpha}, name=lc.node())], None


@keras_layer("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
             "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity", passes_mask=True)
def identity(lc: LayerCall):
    # training-only noise: the identity at inference
    return [lc.g.add1("Identity", [lc.inputs[0]], name=lc.node())], None


@keras_layer("Embedding")
def embedding(lc: LayerCall):
    idx = lc.inputs[0]
    vocab, dim = int(lc.config["input_dim"]), int(lc.config["output_dim"])
    if vocab < 1 or dim < 1:
        raise lc.error(f"input_dim {vocab} and output_dim {dim} must be >= 1; the config is damaged — "
                       "re-save the model")
    table = lc.const("embeddings", lc.weight(0, (vocab, dim), "embeddings"))
    mask = None
    if lc.config.get("mask_zero"):
        # Keras computes the mask on the raw input (before any cast to int)
        mask = lc.g.add1("NotEqualMask", [idx], {"value": 0.0}, name=lc.node("mask"))
    if idx.dtype != "int32":
        if any(idx is v for v in lc.g.inputs):
            # Keras 2 feeds float ids (cast, i.e. truncated, to int) and refuses ids outside the table; the
            # runtime checks this input's values against the range (NaN, inf and 1e10 are outside it)
            lc.g.meta.setdefault("id_ranges", {})[idx.name] = (0, vocab)
        idx = lc.g.add1("Cast", [idx], {"to": "int32"}, name=lc.node("cast"))
    y = lc.g.add1("Gather", [table, idx], name=lc.node())
    return [y], [mask]


@keras_layer("Masking")
def masking(lc: LayerCall):
    x = lc.inputs[0]
    value = float(lc.config.get("mask_value", 0.0))
    mask = lc.g.add1("NotEqualMask", [x], {"value": value, "reduce_last": True}, name=lc.node("mask"))
    # Keras also zeroes the masked steps: x * mask[..., None]
    m3 = lc.g.add1("Reshape", [mask], {"shape": tuple(mask.shape) + (1,)}, name=lc.node("mask3"))
    y = lc.g.add1("Binary", [x, m3], {"fn": "mul"}, name=lc.node())
    return [y], [mask]


@keras_layer("Flatten")
def flatten(lc: LayerCall):
    x = lc.inputs[0]
    if len(x.shape) == 2:
        return [lc.g.add1("Identity", [x], name=lc.node())], None
    shape = (x.shape[0], dims.size(x.shape[1:]))
    return [lc.g.add1("Reshape", [x], {"shape": shape}, name=lc.node())], None


@keras_layer("Reshape")
def reshape(lc: LayerCall):
    x = lc.inputs[0]
    target = [int(d) for d in lc.config["target_shape"]]
    total = dims.size(x.shape[1:])
    if target.count(-1) > 1:
        raise lc.error(f"target_shape {tuple(target)} has more than one -1")
    if -1 in target:
        known = int(np.prod([d for d in target if d != -1]))
        free = divide_dim(total, known)
        if free is None:
            raise lc.error(f"cannot infer -1 in target_shape {tuple(target)} from input size {total}; "
                           "fix the input dims with input_shapes")
        target = [free if d == -1 else d for d in target]
    elif dims.normalize(dims.size(target)) != dims.normalize(total):
        raise lc.error(f"target_shape {tuple(target)} does not hold the input's {total} elements")
    return [lc.g.add1("Reshape", [x], {"shape": (x.shape[0],) + tuple(target)}, name=lc.node())], None


@keras_layer("Permute")
def permute(lc: LayerCall):
    perm = (0,) + tuple(int(d) for d in lc.config["dims"])
    return [lc.g.add1("Transpose", [lc.inputs[0]], {"perm": perm}, name=lc.node())], None


@keras_layer("RepeatVector")
def repeat_vector(lc: LayerCall):
    x, n = lc.inputs[0], int(lc.config["n"])
    x3 = lc.g.add1("Reshape", [x], {"shape": (x.shape[0], 1, x.shape[1])}, name=lc.node("expand"))
    return [lc.g.add1("Tile", [x3], {"repeats": (1, n, 1)}, name=lc.node())], None


@keras_layer("TimeDistributed")
def time_distributed(lc: LayerCall):
    """[B, T, ...] -> [B*T, ...] -> inner layer -> [B, T, ...]; the mask passes through as in Keras."""
    x, mask = lc.inputs[0], lc.masks[0] if lc.masks else None
    cls, cfg = inner_layer(lc.config.get("layer"), f"layer '{lc.name}' (TimeDistributed)")
    if len(x.shape) < 3:
        raise lc.error(f"input {dims.fmt_shape(x.shape)} has no time axis")
    b, t = x.shape[0], x.shape[1]
    flat = lc.g.add1("Reshape", [x], {"shape": (dims.mul(b, t),) + tuple(x.shape[2:])},
                     name=lc.node("flatten_time"))
    inner = lc.sub(cls, lc.name, cfg, lc.weights, [flat], [None])
    outs, _ = dispatch(inner)
    if len(outs) != 1:
        raise lc.error(f"inner layer {cls} has {len(outs)} outputs; TimeDistributed needs one")
    y = outs[0]
    y = lc.g.add1("Reshape", [y], {"shape": (b, t) + tuple(y.shape[1:])}, name=lc.node("restore_time"))
    if mask is not None and len(mask.shape) > 2:
        mask = lc.g.add1("Reduce", [mask], {"fn": "max", "axes": tuple(range(2, len(mask.shape)))},
                         name=lc.node("mask"))
    return [y], [mask]
