"""Small Keras model files written by hand with h5py and zipfile (no TensorFlow needed), for the fuzzing
suite, the malformed-input corpus (tools/fuzz/make_corpus.py) and the hostile-file tests. They follow the
layouts converter/frontends/keras/loader.py documents: Keras 2 `.h5` and Keras 3 `.keras`."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import h5py
import numpy as np

RNG = np.random.default_rng(15)


def _rand(*shape) -> np.ndarray:
    return RNG.uniform(-1, 1, shape).astype(np.float32)


def dense_model() -> tuple[dict, dict]:
    """Keras 2 Sequential x[?, 3] -> Dense(2): (model config, {layer: [(weight name, array)]})."""
    weights = {"dense": [("dense/kernel:0", _rand(3, 2)), ("dense/bias:0", _rand(2))]}
    return _dense_config("batch_input_shape"), weights


def _dense_config(shape_key: str) -> dict:
    """x[?, 3] -> Dense(2, tanh); Keras 2 names the input's shape `batch_input_shape`, Keras 3
    `batch_shape`."""
    return {"class_name": "Sequential", "config": {"name": "dense_model", "layers": [
        {"class_name": "InputLayer", "config": {shape_key: [None, 3], "dtype": "float32", "name": "x"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 2, "use_bias": True,
                                           "activation": "tanh", "trainable": True}}]}}


def embedding_lstm_model() -> tuple[dict, dict]:
    """Keras 2 Sequential with float ids (Keras 2's default input dtype): Embedding(5, 3) -> LSTM(2)."""
    config = {"class_name": "Sequential", "config": {"name": "emb_lstm", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "dtype": "float32",
                                                "name": "ids"}},
        {"class_name": "Embedding", "config": {"name": "emb", "input_dim": 5, "output_dim": 3,
                                               "mask_zero": False, "trainable": True}},
        {"class_name": "LSTM", "config": {"name": "lstm", "units": 2, "activation": "tanh",
                                          "recurrent_activation": "sigmoid", "use_bias": True,
                                          "return_sequences": False, "return_state": False,
                                          "go_backwards": False, "unit_forget_bias": True,
                                          "trainable": True}}]}}
    weights = {"emb": [("emb/embeddings:0", _rand(5, 3))],
               "lstm": [("lstm/lstm_cell/kernel:0", _rand(3, 8)),
                        ("lstm/lstm_cell/recurrent_kernel:0", _rand(2, 8)),
                        ("lstm/lstm_cell/bias:0", _rand(8))]}
    return config, weights


def write_h5(target, config, weights: dict, keras_version: str = "2.15.0", dataset=None) -> None:
    """A Keras 2 style `.h5` at ``target`` (a path or a file object). ``dataset(group, name, array)``
    creates each weight dataset (default: a plain contiguous one) so callers can write odd storage."""
    make = dataset or (lambda g, name, array: g.create_dataset(name, data=array))
    with h5py.File(target, "w") as f:
        f.attrs["keras_version"] = keras_version
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = config if isinstance(config, str) else json.dumps(config)
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = [n.encode() for n in weights]
        for layer, items in weights.items():
            g = mw.create_group(layer)
            g.attrs["weight_names"] = [n.encode() for n, _ in items]
            for name, array in items:
                make(g, name, array)


def write_keras_zip(path: Path, config, weights: dict, members: dict = None, dataset=None) -> None:
    """A Keras 3 style `.keras` zip of a Sequential ``config`` (layers after the InputLayer numbered by
    class as Keras 3 names the groups of model.weights.h5); ``members`` adds or replaces zip members."""
    buf = io.BytesIO()
    make = dataset or (lambda g, name, array: g.create_dataset(name, data=array))
    with h5py.File(buf, "w") as f:
        top = f.create_group("layers")
        for layer, items in weights.items():
            vars_ = top.create_group(layer).create_group("vars")
            for i, (_, array) in enumerate(items):
                make(vars_, str(i), array)
    parts = {"config.json": json.dumps(config) if not isinstance(config, str) else config,
             "metadata.json": json.dumps({"keras_version": "3.5.0"}), "model.weights.h5": buf.getvalue()}
    parts.update(members or {})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():     # a fixed date: the same inputs give the same file
            z.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data,
                       compress_type=zipfile.ZIP_DEFLATED)


def keras3_dense_model() -> tuple[dict, dict]:
    """The dense model as Keras 3 saves it (weights keyed by group name `dense`)."""
    _, weights = dense_model()
    return _dense_config("batch_shape"), weights
