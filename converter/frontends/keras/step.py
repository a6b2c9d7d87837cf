"""The one-step stateful form of a window model (`convert_keras --step`, `from_keras(..., step=True)`).

A *window model* reads T steps (`[batch, T, ...]`: the last T characters or words) through a stack of
recurrent layers and predicts what comes next. Generating with it re-runs all T steps for every new
token. Its *step form* has the same layers and weights but reads one step of one sequence
(`[1, 1, ...]`), and every recurrent layer's state becomes carried state: graph inputs `<layer>_h`
(`_c` for LSTMs) and outputs `<layer>_h_next`, which the JS runner's `step()` feeds back, exactly as for a
Keras model built with `batch_shape=(1, 1, ...)` and `stateful=True` (the twin a user would otherwise
rebuild by hand).

How the outputs relate: stepping x_1 .. x_t one at a time from zero state gives, at step t, the window
model's output on the window [x_1 .. x_t] (for a fixed-T model: at step T, its output on that window).
After more steps than the window holds the two differ: the step form remembers everything since the last
`resetState()`, the window model only its last T inputs.

The rewrite works on the parsed model (KerasModelSpec), before the graph is built, so the step form goes
through the ordinary Keras builder: every model input is pinned to batch 1 and one time step, and every
recurrent layer is marked stateful.
"""

from __future__ import annotations

import copy

from converter.errors import ConversionError
from converter.frontends.keras.spec import KerasModelSpec

RECURRENT = {"LSTM", "GRU", "SimpleRNN", "RNN"}
# Layers that cannot run one step at a time, and why.
REFUSED = {
    "Bidirectional": "its backward direction reads the sequence from the end, which a step cannot see",
    "ConvLSTM1D": "convolutional recurrent layers are not supported",
    "ConvLSTM2D": "convolutional recurrent layers are not supported",
    "ConvLSTM3D": "convolutional recurrent layers are not supported",
}


def step_spec(spec: KerasModelSpec) -> KerasModelSpec:
    """A copy of ``spec`` rewritten to its step form (see the module docstring); raises ConversionError
    naming the layer when the model cannot be stepped."""
    out = copy.deepcopy(spec)
    recurrent = [layer for layer in out.layers if layer.class_name in RECURRENT]
    for layer in out.layers:
        if layer.class_name in REFUSED:
            raise _error(spec, f"layer '{layer.name}' ({layer.class_name}): {REFUSED[layer.class_name]}")
    if not recurrent:
        raise _error(spec, "the model has no recurrent layer (LSTM, GRU, SimpleRNN, RNN) whose state "
                           "could be carried; convert it without --step")
    for layer in recurrent:
        _make_stateful(spec, layer)
    names = {tuple(ref)[0] for ref in out.inputs}
    for layer in out.layers:
        if layer.class_name == "InputLayer" and layer.name in names:
            layer.config = {**layer.config, "batch_shape": _step_shape(spec, layer)}
            layer.config.pop("batch_input_shape", None)
    return out


def _make_stateful(spec: KerasModelSpec, layer) -> None:
    cfg = layer.config
    if cfg.get("go_backwards"):
        raise _error(spec, f"layer '{layer.name}' has go_backwards=True: it reads the window from its "
                           "end, so it cannot run one step at a time")
    for call in layer.calls:
        if call.kwargs.get("initial_state"):
            raise _error(spec, f"layer '{layer.name}' is called with an initial_state; its state cannot "
                               "also be carried (set the state inputs of a model without --step instead)")
    layer.config = {**cfg, "stateful": True}


def _step_shape(spec: KerasModelSpec, layer) -> list:
    shape = layer.config.get("batch_shape") or layer.config.get("batch_input_shape")
    if shape is None and layer.config.get("shape") is not None:
        shape = [None] + list(layer.config["shape"])
    if shape is None or len(shape) < 2:
        raise _error(spec, f"input '{layer.name}' has shape {shape}: a window model's inputs are "
                           "[batch, time, ...]")
    return [1, 1] + list(shape[2:])


def _error(spec: KerasModelSpec, message: str) -> ConversionError:
    return ConversionError(f"{spec.source}: --step: {message}")
