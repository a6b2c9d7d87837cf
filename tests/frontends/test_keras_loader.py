"""The Keras loader against real saved models: layer lists, calls and weights vs the live Keras model.

Each model is built once per Keras flavour, given random weights (so any order mix-up shows, including
BatchNormalization's moving statistics), saved in every format that flavour writes, and read back.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from converter.frontends.keras.loader import load_keras  # noqa: E402
from converter.frontends.keras.spec import TensorRef  # noqa: E402

FORMATS = {2: ("h5", "memory"), 3: ("h5", "keras", "memory")}


def _keras(major):
    if major == 2:
        import tf_keras as keras
    else:
        import keras
    return keras


def _recurrent(keras):
    L = keras.layers
    x = keras.Input((5, 3), name="x")
    y = L.LSTM(4, return_sequences=True, name="lstm")(x)
    y = L.Bidirectional(L.GRU(2, return_sequences=True), name="bi")(y)
    cells = L.StackedRNNCells([L.SimpleRNNCell(3), L.LSTMCell(2), L.SimpleRNNCell(2)])
    y = L.RNN(cells, return_sequences=True, name="stack")(y)
    y = L.TimeDistributed(L.Dense(2), name="td")(y)
    return keras.Model(x, y, name="recurrent")


def _conv(keras):
    L = keras.layers
    x = keras.Input((6, 6, 1), name="img")
    y = L.Conv2D(2, 3, name="conv")(x)
    y = L.BatchNormalization(name="bn")(y)
    y = L.Conv2D(1, 1, use_bias=False, name="conv_nobias")(y)
    return keras.Model(x, y, name="conv")


def _embedding(keras):
    L = keras.layers
    model = keras.Sequential([keras.Input((4,), dtype="int32", name="tokens"),
                              L.Embedding(10, 3, mask_zero=True, name="emb"), L.LSTM(2, name="lstm")])
    return model


def _implicit_input(keras):
    model = keras.Sequential([keras.layers.Dense(2, name="dense")])
    model.build((None, 3))
    return model


def _states(keras):
    """Several inputs and outputs, initial_state, a Masking layer and a layer called twice."""
    L = keras.layers
    x, h, c = keras.Input((None, 3), name="x"), keras.Input((4,), name="h"), keras.Input((4,), name="c")
    seq, h_t, c_t = L.LSTM(4, return_sequences=True, return_state=True, name="lstm")(
        L.Masking(name="masking")(x), initial_state=[h, c])
    shared = L.Dense(4, name="shared")
    joined = L.Concatenate(name="cat")([shared(h_t), shared(c_t)])
    return keras.Model([x, h, c], [seq, joined], name="states")


BUILDERS = {"recurrent": _recurrent, "conv": _conv, "embedding": _embedding,
            "implicit_input": _implicit_input, "states": _states}
CASES = [(major, fmt, name) for major, fmts in FORMATS.items() for fmt in fmts for name in BUILDERS]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(major, fmt, name) -> (live model, what load_keras takes); models built lazily, once."""
    cache = {}
    rng = np.random.default_rng(0)

    def get(major, fmt, name):
        if (major, name) not in cache:
            model = BUILDERS[name](_keras(major))
            for layer in model.layers:
                layer.set_weights([rng.uniform(0.1, 1.0, w.shape).astype(w.dtype)
                                   for w in layer.get_weights()])
            cache[(major, name)] = model
        model = cache[(major, name)]
        if fmt == "memory":
            return model, model
        path = tmp_path_factory.mktemp(f"k{major}") / f"{name}.{fmt}"
        if not path.exists():
            model.save(str(path))
        return model, str(path)
    return get


@pytest.mark.parametrize("major,fmt,name", CASES)
def test_weights_match_get_weights(saved, major, fmt, name):
    model, source = saved(major, fmt, name)
    spec = load_keras(source)
    assert spec.major == major
    assert spec.keras_version.split(".")[0] == str(major)
    by_name = {layer.name: layer for layer in spec.layers}
    for live in model.layers:
        got = by_name[live.name]
        assert got.class_name == type(live).__name__
        want = live.get_weights()
        assert len(got.weights) == len(want), live.name
        for i, (a, b) in enumerate(zip(got.weights, want)):
            assert a.shape == b.shape and np.array_equal(a, b), f"{live.name} weight {i}"


@pytest.mark.parametrize("major,fmt", [(m, f) for m, fmts in FORMATS.items() for f in fmts])
def test_functional_calls_and_states(saved, major, fmt):
    _, source = saved(major, fmt, "states")
    spec = load_keras(source)
    assert spec.inputs == [("x", 0, 0), ("h", 0, 0), ("c", 0, 0)]
    assert spec.outputs == [("lstm", 0, 0), ("cat", 0, 0)]
    lstm = spec.layer("lstm")
    assert len(lstm.calls) == 1
    assert lstm.calls[0].inputs == [("masking", 0, 0)]
    # Keras 2 flattens initial states into the inputs; both versions must arrive as a kwarg
    assert lstm.calls[0].kwargs == {"initial_state": [("h", 0, 0), ("c", 0, 0)]}
    shared = spec.layer("shared")
    assert [c.inputs for c in shared.calls] == [[("lstm", 0, 1)], [("lstm", 0, 2)]]
    assert spec.layer("cat").calls[0].inputs == [("shared", 0, 0), ("shared", 1, 0)]
    assert all(isinstance(r, TensorRef) for r in spec.layer("cat").calls[0].inputs)
    assert all(spec.layer(n).class_name == "InputLayer" and spec.layer(n).calls == [] for n in "xhc")
    assert spec.layer("x").config["batch_shape"] == [None, None, 3]


@pytest.mark.parametrize("major,fmt", [(m, f) for m, fmts in FORMATS.items() for f in fmts])
def test_sequential_becomes_functional(saved, major, fmt):
    _, source = saved(major, fmt, "embedding")
    spec = load_keras(source)
    assert [layer.class_name for layer in spec.layers] == ["InputLayer", "Embedding", "LSTM"]
    first = spec.layers[0]
    assert first.config["batch_shape"] == [None, 4] and first.config["dtype"] == "int32"
    assert spec.inputs == [(first.name, 0, 0)]
    assert spec.layer("emb").calls[0].inputs == [(first.name, 0, 0)]
    assert spec.layer("lstm").calls[0].inputs == [("emb", 0, 0)]
    assert spec.outputs == [("lstm", 0, 0)]
    assert spec.layer("emb").config["mask_zero"] is True


@pytest.mark.parametrize("major,fmt", [(m, f) for m, fmts in FORMATS.items() for f in fmts])
def test_sequential_without_explicit_input(saved, major, fmt):
    _, source = saved(major, fmt, "implicit_input")
    spec = load_keras(source)
    first = spec.layers[0]
    assert first.class_name == "InputLayer"
    assert first.config["batch_shape"] == [None, 3] and first.config["dtype"] == "float32"
    assert spec.layer("dense").calls[0].inputs == [(first.name, 0, 0)]


def test_call_order_puts_shared_calls_after_their_inputs():
    from converter.frontends.keras.spec import CallSpec, KerasModelSpec, LayerSpec
    layers = [LayerSpec("InputLayer", "x", {}, [], []),
              LayerSpec("Dense", "d", {}, [CallSpec([TensorRef("x", 0, 0)]),
                                           CallSpec([TensorRef("late", 0, 0)])], []),
              LayerSpec("ReLU", "late", {}, [CallSpec([TensorRef("d", 0, 0)])], [])]
    spec = KerasModelSpec("3", 3, "<test>", layers, [TensorRef("x", 0, 0)], [TensorRef("d", 1, 0)])
    assert [(layer.name, i) for layer, i in spec.call_order()] == [("d", 0), ("late", 0), ("d", 1)]


def test_loading_a_file_imports_no_keras(tmp_path):
    """Files are parsed with h5py/zipfile only; a fresh interpreter proves keras/tensorflow stay out."""
    import subprocess
    import sys
    import zipfile
    import h5py
    path = tmp_path / "tiny.keras"
    config = ('{"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": ['
              '{"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 2],'
              ' "dtype": "float32", "name": "inp"}}, {"module": "keras.layers", "class_name": "Dense",'
              ' "config": {"name": "d", "units": 1, "use_bias": true}}]}}')
    with h5py.File(tmp_path / "w.h5", "w") as f:
        f["layers/dense/vars/0"] = np.ones((2, 1), np.float32)
        f["layers/dense/vars/1"] = np.zeros((1,), np.float32)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", config)
        z.writestr("metadata.json", '{"keras_version": "3.15.1"}')
        z.write(tmp_path / "w.h5", "model.weights.h5")
    code = ("import sys; from converter.frontends.keras.loader import load_keras; "
            f"s = load_keras({str(path)!r}); "
            "assert [w.shape for w in s.layer('d').weights] == [(2, 1), (1,)]; "
            "print(sorted(m for m in ('keras', 'tensorflow', 'tf_keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
