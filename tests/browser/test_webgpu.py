"""The WebGPU backend in headless Chromium (SwiftShader) against Keras and the numpy interpreter.

SwiftShader emulates the GPU on the CPU; the whole Keras catalogue still runs, the large seed models
(LSTM 128 over 16 steps, 2 x LSTM 512) included, in about 30 s together. Each run logs the adapter.
"""

from __future__ import annotations

import pytest

from tests.browser.fixtures import gru_feeds, gru_graph, length_mask, lstm_feeds, lstm_graph, seq_dims
from tests.cases import keras_models


@pytest.mark.parametrize("recurrence", ["sequence", "step"])
@pytest.mark.parametrize("masked,backwards", [(False, False), (True, True)])
def test_lstm_modes_match_interpreter(page, bundles, recurrence, masked, backwards):
    feeds = lstm_feeds(5, batch=3, time=7)
    if masked:
        feeds["mask"] = length_mask([7, 3, 0], 7)
    name = f"lstm-{recurrence}-{masked}-{backwards}"
    bundles.check_graph(page, lstm_graph(masked, backwards), feeds, "webgpu", name, seq_dims(feeds["x"]),
                        recurrence=recurrence)


@pytest.mark.parametrize("recurrence", ["sequence", "step"])
@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_modes_match_interpreter(page, bundles, recurrence, reset_after):
    feeds = gru_feeds()
    bundles.check_graph(page, gru_graph(reset_after), feeds, "webgpu", f"gru-{recurrence}-{reset_after}",
                        seq_dims(feeds["x"]), recurrence=recurrence)


@pytest.mark.parametrize("recurrence", ["sequence", "step"])
def test_lstm_onnx_options_in_both_modes(page, bundles, recurrence):
    """Peepholes (packed into U's buffer), clip, input_forget and an output activation with params."""
    import numpy as np
    g = lstm_graph(masked=True)
    node = g.nodes[0]
    p = g.const("p", np.random.default_rng(4).uniform(-1.5, 1.5, 24).astype(np.float32))
    attrs = {**node.attrs, "clip": 0.8, "input_forget": True, "output_activation": "scaled_tanh",
             "output_activation_params": (1.2, 0.9)}
    g.nodes, g.outputs = [], []
    g.outputs = g.add("LSTM", node.inputs[:7] + [p], attrs)
    feeds = {**lstm_feeds(6, batch=3, time=5), "mask": length_mask([5, 2, 0], 5)}
    bundles.check_graph(page, g, feeds, "webgpu", f"lstm-options-{recurrence}", seq_dims(feeds["x"]),
                        recurrence=recurrence)


def test_repeated_runs_identical_without_buffer_growth(page, bundles):
    feeds = lstm_feeds(7, batch=2, time=4)
    run = bundles.check_graph(page, lstm_graph(), feeds, "webgpu", "lstm-repeat", seq_dims(feeds["x"]),
                              repeat=1000, recurrence="step")
    assert run.after_all["gpuBuffers"] == run.after_first["gpuBuffers"], "GPU buffers grew across runs"


@pytest.mark.parametrize("case", keras_models.CASES, ids=lambda c: c.name)
def test_keras_catalogue(page, bundles, case):
    bundles.check_keras_case(page, case, "webgpu")

