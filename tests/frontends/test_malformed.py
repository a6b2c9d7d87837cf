"""Broken, hostile or unsupported model files: each must end in one clear ConversionError line."""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import shutil  # noqa: E402
import zipfile  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from converter.errors import ConversionError  # noqa: E402
from converter.frontends.keras.loader import load_keras  # noqa: E402


def _error(source, *fragments) -> str:
    with pytest.raises(ConversionError) as info:
        load_keras(source)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small LSTM model saved as Keras 3 .keras, Keras 3 .h5 and Keras 2 .h5."""
    import keras
    import tf_keras
    root = tmp_path_factory.mktemp("good")
    out = {}
    for name, lib, ext in (("k3", keras, "keras"), ("k3h5", keras, "h5"), ("k2", tf_keras, "h5")):
        x = lib.Input((3, 2), name="x")
        model = lib.Model(x, lib.layers.LSTM(2, name="lstm")(x))
        out[name] = root / f"{name}.{ext}"
        model.save(str(out[name]))
    return out


def _copy(src, tmp_path, name=None):
    dst = tmp_path / (name or src.name)
    shutil.copy(src, dst)
    return dst


def test_missing_file(tmp_path):
    _error(str(tmp_path / "nope.h5"), "nope.h5", "file not found")


def test_directory(tmp_path):
    _error(str(tmp_path), str(tmp_path), "directory")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.h5"
    path.write_bytes(b"")
    _error(str(path), "empty.h5", "empty")


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.h5"
    path.write_bytes(np.random.default_rng(1).bytes(4096))
    _error(str(path), "noise.h5", "not a Keras model file")


def test_json_file(tmp_path):
    path = tmp_path / "model.json"
    path.write_text('{"class_name": "Sequential", "config": {"layers": []}}')
    _error(str(path), "model.json", "JSON file", "no weights")


def test_empty_zip(tmp_path):
    path = tmp_path / "empty.keras"
    zipfile.ZipFile(path, "w").close()
    _error(str(path), "empty.keras", "no config.json")


def test_zip_without_config(tmp_path):
    path = tmp_path / "other.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    _error(str(path), "other.keras", "no config.json")


def test_zip_with_unreadable_config(files, tmp_path):
    path = tmp_path / "badcfg.keras"
    with zipfile.ZipFile(files["k3"]) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.namelist():
            dst.writestr(item, b"{not json" if item == "config.json" else src.read(item))
    _error(str(path), "badcfg.keras", "config is not readable JSON")


@pytest.mark.parametrize("which", ["k3h5", "k2"])
def test_truncated_h5(files, tmp_path, which):
    data = files[which].read_bytes()
    path = tmp_path / f"cut_{which}.h5"
    path.write_bytes(data[: len(data) // 2])
    _error(str(path), path.name, "truncated or corrupt")


def test_truncated_keras_zip(files, tmp_path):
    data = files["k3"].read_bytes()
    path = tmp_path / "cut.keras"
    path.write_bytes(data[: len(data) // 2])
    _error(str(path), "cut.keras", "truncated or corrupt")


@pytest.mark.parametrize("which", ["k3h5", "k2"])
def test_nan_weight_in_h5(files, tmp_path, which):
    path = _copy(files[which], tmp_path)
    with h5py.File(path, "r+") as f:
        group = f["model_weights/lstm"]
        name = group.attrs["weight_names"][1]
        name = name.decode() if isinstance(name, bytes) else name
        data = group[name][()]
        data[0, 0] = np.nan
        group[name][...] = data
    _error(str(path), "layer 'lstm'", "weight #1", "recurrent_kernel", "NaN/Inf")


def test_inf_weight_in_keras_zip(files, tmp_path):
    path = tmp_path / "inf.keras"
    with zipfile.ZipFile(files["k3"]) as src:
        weights = tmp_path / "model.weights.h5"
        weights.write_bytes(src.read("model.weights.h5"))
        with h5py.File(weights, "r+") as f:
            f["layers/lstm/cell/vars/2"][0] = np.inf
        with zipfile.ZipFile(path, "w") as dst:
            for item in src.namelist():
                data = weights.read_bytes() if item == "model.weights.h5" else src.read(item)
                dst.writestr(item, data)
    _error(str(path), "inf.keras", "layer 'lstm'", "weight #2", "NaN/Inf")


def test_weight_count_mismatch(files, tmp_path):
    path = _copy(files["k2"], tmp_path)
    with h5py.File(path, "r+") as f:
        group = f["model_weights/lstm"]
        group.attrs["weight_names"] = group.attrs["weight_names"][:2]
    _error(str(path), "layer 'lstm' (LSTM)", "2 weight arrays", "needs 3")


def test_listed_weight_missing(files, tmp_path):
    path = _copy(files["k2"], tmp_path)
    with h5py.File(path, "r+") as f:
        names = f["model_weights/lstm"].attrs["weight_names"]
        last = names[2].decode() if isinstance(names[2], bytes) else names[2]
        del f["model_weights/lstm"][last]
    _error(str(path), "layer 'lstm'", "does not hold it")


def test_weights_only_h5(files, tmp_path):
    import keras
    x = keras.Input((2,), name="x")
    path = tmp_path / "only.weights.h5"
    keras.Model(x, keras.layers.Dense(1)(x)).save_weights(str(path))
    _error(str(path), "only.weights.h5", "holds no model config")


def test_lambda_keras3(tmp_path):
    import keras
    x = keras.Input((2,), name="x")
    path = tmp_path / "lam.keras"
    keras.Model(x, keras.layers.Lambda(lambda t: t * 2, name="double")(x)).save(str(path))
    _error(str(path), "lam.keras", "layer 'double' (Lambda)", "Python code", "docs/supported-layers.md")


def test_lambda_keras2(tmp_path):
    import tf_keras
    x = tf_keras.Input((2,), name="x")
    path = tmp_path / "lam2.h5"
    tf_keras.Model(x, tf_keras.layers.Lambda(lambda t: t * 2, name="double")(x)).save(str(path))
    _error(str(path), "lam2.h5", "layer 'double' (Lambda)", "docs/supported-layers.md")


def test_custom_layer_and_function(tmp_path):
    import keras

    @keras.saving.register_keras_serializable(package="mine")
    class Twice(keras.layers.Layer):
        def call(self, x):
            return x * 2

    def my_activation(x):
        return x

    x = keras.Input((2,), name="x")
    path = tmp_path / "custom.keras"
    keras.Model(x, Twice(name="twice")(x)).save(str(path))
    _error(str(path), "layer 'twice' (Twice)", "custom object mine>Twice", "docs/supported-layers.md")
    path = tmp_path / "custom_fn.keras"
    keras.Model(x, keras.layers.Dense(2, activation=my_activation, name="dense")(x)).save(str(path))
    _error(str(path), "layer 'dense' (Dense)", "custom Python function 'my_activation'")


def test_nested_model(tmp_path):
    import keras
    inner_in = keras.Input((2,))
    inner = keras.Model(inner_in, keras.layers.Dense(2)(inner_in), name="inner")
    x = keras.Input((2,), name="x")
    path = tmp_path / "nested.keras"
    keras.Model(x, inner(x)).save(str(path))
    _error(str(path), "layer 'inner' is a nested model", "flat model")


def test_not_a_model_object():
    _error(42, "expected a path", "int")


def test_unsupported_layer_names_class_layer_and_doc(tmp_path):
    """Goes through from_keras: the builder refuses layer classes it has no handler for."""
    import keras
    from converter.api import from_keras
    q = keras.Input((3, 2), name="q")
    path = tmp_path / "attn.keras"
    keras.Model(q, keras.layers.Attention(name="attend")([q, q])).save(str(path))
    with pytest.raises(ConversionError) as info:
        from_keras(str(path))
    message = str(info.value)
    assert "\n" not in message
    for fragment in ("Attention", "'attend'", "docs/supported-layers.md"):
        assert fragment in message, message
