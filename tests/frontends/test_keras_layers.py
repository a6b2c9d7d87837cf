"""Every Keras catalogue case: our graph (numpy interpreter) vs Keras' own predict, float32 1e-5."""

from __future__ import annotations

import numpy as np
import pytest

from converter import from_keras
from converter.errors import ConversionError
from tests.cases import keras_models as km

LAYER_CASES = [c for c in km.CASES if not c.name.startswith("seed")]
IN_MEMORY = ["k3_bidi_concat_masked", "k2_stacked_cells_backwards", "k3_lstm_stateful", "k2_merges_masked"]


def check(graph, inputs, expected, what: str) -> None:
    graph.verify()
    got = graph.run(km.feeds(graph, inputs))
    assert len(got) >= len(expected), f"{what}: {len(got)} outputs, Keras has {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g.shape == e.shape, f"{what} output {i}: shape {g.shape}, Keras {e.shape}"
        np.testing.assert_allclose(g, e, atol=1e-5, rtol=1e-5, err_msg=f"{what} output {i}")


@pytest.fixture(scope="module")
def cache_dir():
    return km.default_cache_dir()


@pytest.mark.parametrize("case", LAYER_CASES, ids=lambda c: c.name)
def test_case_from_file(case, cache_dir):
    m = km.materialize(case, cache_dir)
    graph = from_keras(str(m.model_path))
    assert [v.name for v in graph.inputs[:len(m.input_names)]] == m.input_names
    check(graph, m.inputs, m.outputs, case.name)


@pytest.mark.parametrize("name", IN_MEMORY)
def test_case_in_memory(name):
    case = km.get(name)
    model = km.build_model(case)
    inputs = km.case_inputs(case)
    expected = km.predict(model, inputs)
    check(from_keras(model), inputs, expected, name)


def test_output_names_follow_layers(cache_dir):
    m = km.materialize(km.get("k3_bidi_none_state"), cache_dir)
    graph = from_keras(str(m.model_path))
    names = [v.name for v in graph.outputs]
    layer = m.output_names[0]
    assert names == [layer] + [f"{layer}:{i}" for i in range(1, 6)]


def test_stateful_states_carry_like_keras():
    case = km.get("k3_lstm_stateful")
    model = km.build_model(case)
    graph = from_keras(model)
    states = graph.meta["states"]
    assert [s["input"] for s in states] == [v.name for v in graph.inputs[1:]]
    assert [s["output"] for s in states] == [v.name for v in graph.outputs[1:]]
    assert len(states) == 2
    # Keras carries the states between predict calls; we carry them by feeding the state outputs back
    x = km.case_inputs(case)[0]
    first = graph.run(km.feeds(graph, [x]))
    keras_first, keras_second = km.predict(model, [x]), km.predict(model, [x[:, ::-1]])
    second = graph.run([x[:, ::-1]] + first[1:])
    np.testing.assert_allclose(first[0], keras_first[0], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(second[0], keras_second[0], atol=1e-5, rtol=1e-5)


def test_symbolic_dims_and_fixed_input_shapes(cache_dir):
    m = km.materialize(km.get("k3_lstm_masked_embedding"), cache_dir)
    graph = from_keras(str(m.model_path))
    assert graph.inputs[0].shape == ("batch", 6)
    fixed = from_keras(str(m.model_path), input_shapes={"ids": (3, None)})
    assert fixed.inputs[0].shape == (3, 6)
    m2 = km.materialize(km.get("k3_encoder_decoder"), cache_dir)
    td = from_keras(str(m2.model_path))
    reshapes = [n for n in td.nodes if n.op == "Reshape"]
    assert any("batch" in str(d) for n in reshapes for d in n.outputs[0].shape)


def test_unsupported_layer_is_one_line_error():
    keras = km.keras_module(3)
    x = keras.Input((4, 3), name="x")
    y = keras.layers.Conv1DTranspose(2, 2)(x)
    with pytest.raises(ConversionError, match=r"unsupported layer Conv1DTranspose 'conv1d_transpose.*"
                                              r"docs/supported-layers.md"):
        from_keras(keras.Model(x, y))


def test_weight_shape_mismatch_names_layer():
    from converter.frontends.keras.builder import build_graph
    from converter.frontends.keras.loader import load_keras
    case = km.get("k3_lstm_basic")
    spec = load_keras(km.build_model(case))
    lstm = next(layer for layer in spec.layers if layer.class_name == "LSTM")
    lstm.weights[0] = lstm.weights[0][:, :8]
    with pytest.raises(ConversionError, match=r"layer 'lstm.*' \(LSTM\): weight 0 \(kernel\) has shape"):
        build_graph(spec)
