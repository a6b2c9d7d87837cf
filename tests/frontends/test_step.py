"""`from_keras(..., step=True)` / `convert_keras --step`: the one-step stateful form of a window model.

Stepping a window's inputs one at a time from zero state through the step form (numpy interpreter,
states fed back by hand as the JS runner's step() does) must reproduce Keras' window model on that window
(1e-5); the window models are the seed cases of the catalogue, with random weights, batch > 1 and padded
rows. The browser side is tests/browser/test_step_bundle.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from converter import from_keras
from converter.errors import ConversionError
from tests.cases import keras_models as km

# window models: stacked LSTMs over masked ids, one-hot characters, stacked cells with
# return_sequences over masked ids (post-padded rows), and two LSTM(512) over 3 floats
CASES = ["seed000_stacked", "seed001", "seed002", "seed003"]


def step_through(graph, window: np.ndarray) -> list:
    """Feeds one row's window step by step from zero state; returns each step's first output."""
    states = {v.name: np.zeros(v.shape, np.float32)
              for v in graph.inputs[1:]}
    pairs = {s["input"]: s["output"] for s in graph.meta["states"]}
    out_names = [v.name for v in graph.outputs]
    outputs = []
    for t in range(window.shape[0]):
        got = dict(zip(out_names, graph.run([window[None, t:t + 1]] + list(states.values()))))
        states = {name: got[pairs[name]] for name in states}
        outputs.append(got[out_names[0]])
    return outputs


@pytest.mark.parametrize("name", CASES)
def test_stepping_a_window_reproduces_the_window_model(name):
    case = km.get(name)
    model = km.build_model(case)
    (x,) = km.case_inputs(case)
    want = km.predict(model, [x])[0]
    graph = from_keras(model, step=True)
    graph.verify()
    assert graph.inputs[0].shape[:2] == (1, 1)
    assert len(graph.meta["states"]) == len(graph.inputs) - 1 >= 1
    for row in range(x.shape[0]):
        steps = step_through(graph, x[row])
        # rows of ids are post-padded with 0 (masked): a padded step leaves the state alone, so the
        # window model's result is the step form's output at the last real step
        length = int(np.count_nonzero(x[row])) if x.dtype.kind == "i" else x.shape[1]
        if want.ndim == 3:      # return_sequences: every real step
            for t in range(length):
                np.testing.assert_allclose(steps[t].reshape(-1), want[row, t], atol=1e-5, rtol=1e-5,
                                           err_msg=f"{name} row {row} step {t}")
        else:
            np.testing.assert_allclose(steps[length - 1].reshape(-1), want[row], atol=1e-5, rtol=1e-5,
                                       err_msg=f"{name} row {row}")


def test_step_state_names_and_shapes():
    graph = from_keras(km.build_model(km.get("seed000_stacked")), step=True)
    names = [v.name for v in graph.inputs]
    assert names[0] == "ids" and graph.inputs[0].shape == (1, 1)
    assert len(names) == 5 and all(n.endswith(("_h", "_c")) for n in names[1:])
    assert {v.shape for v in graph.inputs[1:]} == {(1, 64), (1, 32)}
    assert [s["output"] for s in graph.meta["states"]] == [f"{n}_next" for n in names[1:]]


def _refuse(model, pattern: str) -> None:
    with pytest.raises(ConversionError, match=pattern):
        from_keras(model, step=True)


def test_models_that_cannot_be_stepped_are_refused_by_name():
    keras = km.keras_module(3)
    x = keras.Input((5, 3), name="x")
    _refuse(keras.Model(x, keras.layers.Bidirectional(keras.layers.LSTM(4), name="bi")(x)),
            r"--step: layer 'bi' \(Bidirectional\): its backward direction")
    _refuse(keras.Model(x, keras.layers.LSTM(4, go_backwards=True, name="back")(x)),
            r"layer 'back' has go_backwards=True")
    _refuse(keras.Model(x, keras.layers.Dense(2)(keras.layers.Flatten()(x))), r"no recurrent layer")
    h0 = keras.Input((4,), name="h0")
    c0 = keras.Input((4,), name="c0")
    y = keras.layers.LSTM(4, name="seeded")(x, initial_state=[h0, c0])
    _refuse(keras.Model([x, h0, c0], y), r"layer 'seeded' is called with an initial_state")


def test_cli_step_flag(tmp_path):
    from converter.cli import main
    keras = km.keras_module(3)
    model = km.build_model(km.get("seed001"))
    path = tmp_path / "window.keras"
    model.save(path)
    assert main([str(path), "--step", "--backend", "wasm", "--out", str(tmp_path / "web")]) == 0
    assert (tmp_path / "web" / "model.wasm.wlm").is_file()
    x = keras.Input((5, 3), name="x")
    bad = tmp_path / "bi.keras"
    keras.Model(x, keras.layers.Bidirectional(keras.layers.LSTM(4), name="bi")(x)).save(bad)
    assert main([str(bad), "--step", "--backend", "wasm", "--out", str(tmp_path / "bad")]) == 2
