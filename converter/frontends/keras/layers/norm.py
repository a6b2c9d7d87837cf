"""Normalization layers: BatchNormalization (folded to mul + add), LayerNormalization."""

from __future__ import annotations

import numpy as np

from converter.frontends.keras.builder import LayerCall, keras_layer


def _axes(lc: LayerCall, rank: int) -> tuple:
    axis = lc.config.get("axis", -1)
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    return tuple(sorted(int(a) % rank for a in axes))


def _static(lc: LayerCall, x, axes: tuple) -> tuple:
    shape = tuple(x.shape[a] for a in axes)
    if not all(isinstance(d, int) for d in shape):
        raise lc.error(f"normalized axes {axes} of input {x.shape} must have fixed sizes")
    return shape


@keras_layer("BatchNormalization", passes_mask=True)
def batch_norm(lc: LayerCall):
    x = lc.inputs[0]
    axes = _axes(lc, len(x.shape))
    shape = _static(lc, x, axes)
    scale, center = lc.config.get("scale", True), lc.config.get("center", True)
    lc.expect_weights(2 + int(scale) + int(center))
    i = 0
    gamma = lc.weight(i, shape, "gamma") if scale else np.ones(shape, np.float32)
    i += int(scale)
    beta = lc.weight(i, shape, "beta") if center else np.zeros(shape, np.float32)
    i += int(center)
    mean, var = lc.weight(i, shape, "moving_mean"), lc.weight(i + 1, shape, "moving_variance")
    eps = np.float32(lc.config.get("epsilon", 1e-3))
    # folded in float32 like Keras' own inference math: (x - mean) * (gamma / sqrt(var + eps)) + beta
    mul = (gamma / np.sqrt(var + eps)).astype(np.float32)
    add = (beta - mean * mul).astype(np.float32)
    bshape = [x.shape[a] if a in axes else 1 for a in range(1, len(x.shape))]
    scaled = lc.g.add1("Binary", [x, lc.const("scale", mul.reshape(bshape))], {"fn": "mul"},
                       name=lc.node("scale"))
    return [lc.g.add1("Binary", [scaled, lc.const("shift", add.reshape(bshape))], {"fn": "add"},
                      name=lc.node())], None


@keras_layer("LayerNormalization", passes_mask=True)
def layer_norm(lc: LayerCall):
    x = lc.inputs[0]
    if lc.config.get("rms_scaling"):
        raise lc.error("rms_scaling=True is not supported")
    axes = _axes(lc, len(x.shape))
    shape = _static(lc, x, axes)
    scale, center = lc.config.get("scale", True), lc.config.get("center", True)
    lc.expect_weights(int(scale) + int(center))
    gamma = lc.const("gamma", lc.weight(0, shape, "gamma")) if scale else None
    beta = lc.const("beta", lc.weight(int(scale), shape, "beta")) if center else None
    attrs = {"axes": axes, "epsilon": float(lc.config.get("epsilon", 1e-3))}
    return [lc.g.add1("LayerNorm", [x, gamma, beta], attrs, name=lc.node())], None
