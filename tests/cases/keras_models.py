"""The shared catalogue of Keras test models: every frontend and backend test reuses these cases.

A ``Case`` names a model builder (called with the Keras module: ``keras`` for Keras 3, ``tf_keras`` for
Keras 2), a seeded input generator and the file format. ``materialize(case, cache_dir)`` builds the model
once, gives it random weights large enough that gates saturate sometimes, saves it, runs Keras'
``predict`` and caches (model file, inputs, expected outputs) under ``cache_dir/<name>-<hash>/`` so later
runs (browser tests) never import TensorFlow. The hash covers the case's source, so editing a case
rebuilds it.

Graph inputs beyond the model's (stateful layers' states) are fed zeros, which is what a fresh Keras
model starts from.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

B, T, D = 3, 6, 4
LENGTHS = (6, 3, 1)        # per batch row; padded (zero) after, so masks matter


@dataclass(frozen=True)
class Case:
    name: str
    keras: int                        # 2 (tf_keras, saved as .h5) or 3 (keras)
    build: Callable                   # build(K) -> keras.Model, K the keras module
    inputs: Callable                  # inputs(rng) -> [np.ndarray], one per model input
    fmt: str = "keras"                # "keras" or "h5"
    small: bool = True                # fit for slow emulated GPUs
    seed: int = 0
    scale: float = 1.5                # weights ~ uniform(-a, a), a = min(scale, 3 / sqrt(fan_in))

    @property
    def ext(self) -> str:
        return "h5" if self.keras == 2 or self.fmt == "h5" else "keras"


@dataclass
class Materialized:
    case: Case
    model_path: Path
    input_names: list
    inputs: list
    outputs: list
    output_names: list


# ---- input generators ----------------------------------------------------------------------------

def seq(rng, b=B, t=T, d=D):
    return rng.uniform(-1, 1, (b, t, d)).astype(np.float32)


def padded_ids(rng, lengths=LENGTHS, t=T, vocab=10, dtype=np.int32):
    ids = np.zeros((len(lengths), t), dtype)
    for row, n in enumerate(lengths):
        ids[row, :n] = rng.integers(1, vocab, n)
    return ids


def padded_seq(rng, lengths=LENGTHS, t=T, d=D):
    x = rng.uniform(-1, 1, (len(lengths), t, d)).astype(np.float32)
    for row, n in enumerate(lengths):
        x[row, n:] = 0.0
    return x


def _one_seq(rng):
    return [seq(rng)]


def _one_padded_ids(rng):
    return [padded_ids(rng)]


def _one_padded_seq(rng):
    return [padded_seq(rng)]


# ---- builders (K is the keras module; K2 and K3 differ in a few argument names) -----------------

def is_k2(K) -> bool:
    return K.__version__.startswith("2")


def _seq_model(K, layer, masking=False, t=T, d=D):
    x = K.Input((t, d), name="x")
    h = K.layers.Masking(0.0)(x) if masking else x
    return K.Model(x, layer(h))


def _ids_model(K, *layers, t=T, vocab=10, dim=D, dtype="int32"):
    x = K.Input((t,), dtype=dtype, name="ids")
    h = K.layers.Embedding(vocab, dim, mask_zero=True)(x)
    for layer in layers:
        h = layer(h)
    return K.Model(x, h)


def lstm_basic(K):
    return _seq_model(K, K.layers.LSTM(5))


def lstm_seq_state(K):
    x = K.Input((T, D), name="x")
    y, h, c = K.layers.LSTM(5, return_sequences=True, return_state=True)(x)
    return K.Model(x, [y, h, c])


def lstm_masked_embedding(K):
    return _ids_model(K, K.layers.LSTM(6, return_sequences=True), K.layers.Dense(3))


def lstm_backwards_masking(K):
    return _seq_model(K, K.layers.LSTM(5, go_backwards=True, return_sequences=True), masking=True)


def lstm_options(K):
    return _seq_model(K, K.layers.LSTM(5, use_bias=False, activation="relu",
                                       recurrent_activation="hard_sigmoid", unit_forget_bias=False))


def lstm_softsign_backwards_last(K):
    return _seq_model(K, K.layers.LSTM(4, activation="softsign", go_backwards=True), masking=True)


def gru_reset_after(K):
    return _seq_model(K, K.layers.GRU(5, return_sequences=True), masking=True)


def gru_reset_before(K):
    return _seq_model(K, K.layers.GRU(5, reset_after=False, go_backwards=True,
                                      recurrent_activation="hard_sigmoid"), masking=True)


def gru_state_no_bias(K):
    x = K.Input((T, D), name="x")
    y, h = K.layers.GRU(4, use_bias=False, return_state=True)(x)
    return K.Model(x, [y, h])


def simple_rnn_state(K):
    x = K.Input((T, D), name="x")
    y, h = K.layers.SimpleRNN(5, activation="elu", return_sequences=True, return_state=True)(x)
    return K.Model(x, [y, h])


def rnn_cells(K):
    x = K.Input((T,), dtype="int32", name="ids")
    e = K.layers.Embedding(10, D, mask_zero=True)(x)
    a = K.layers.RNN(K.layers.LSTMCell(4), return_sequences=True)(e)
    b = K.layers.RNN(K.layers.GRUCell(4), return_sequences=True)(e)
    c = K.layers.RNN(K.layers.SimpleRNNCell(4))(e)
    return K.Model(x, [K.layers.Concatenate()([a, b]), c])


def stacked_cells_backwards(K):
    cells = [K.layers.GRUCell(4), K.layers.LSTMCell(5)]
    layer = K.layers.RNN(K.layers.StackedRNNCells(cells), go_backwards=True, return_sequences=True)
    return _seq_model(K, layer, masking=True)


def _bidi(K, merge_mode, **kw):
    return K.layers.Bidirectional(K.layers.LSTM(4, **kw), merge_mode=merge_mode)


def bidi_concat_masked(K):
    return _ids_model(K, _bidi(K, "concat", return_sequences=True), K.layers.Dense(2))


def bidi_sum_mul_ave(K):
    x = K.Input((T,), dtype="int32", name="ids")
    e = K.layers.Embedding(10, D, mask_zero=True)(x)
    s = _bidi(K, "sum", return_sequences=True)(e)
    m = _bidi(K, "mul")(e)
    a = K.layers.Bidirectional(K.layers.GRU(3, return_sequences=True), merge_mode="ave")(e)
    return K.Model(x, [s, m, a])


def bidi_none_state(K):
    x = K.Input((T, D), name="x")
    outs = K.layers.Bidirectional(K.layers.LSTM(3, return_sequences=True, return_state=True),
                                  merge_mode=None)(x)
    return K.Model(x, list(outs))


def lstm_initial_state(K):
    x = K.Input((T, D), name="x")
    h0, c0 = K.Input((5,), name="h0"), K.Input((5,), name="c0")
    y = K.layers.LSTM(5, return_sequences=True)(x, initial_state=[h0, c0])
    return K.Model([x, h0, c0], y)


def _three(rng):
    return [seq(rng), rng.uniform(-1, 1, (B, 5)).astype(np.float32),
            rng.uniform(-1, 1, (B, 5)).astype(np.float32)]


def lstm_stateful(K):
    x = K.Input(batch_shape=(B, T, D), name="x")
    return K.Model(x, K.layers.LSTM(5, stateful=True, return_sequences=True)(x))


def encoder_decoder(K):
    x = K.Input((T, D), name="x")
    h = K.layers.LSTM(6)(x)
    h = K.layers.RepeatVector(4)(h)
    h = K.layers.LSTM(5, return_sequences=True)(h)
    return K.Model(x, K.layers.TimeDistributed(K.layers.Dense(3, activation="softmax"))(h))


def dense_activations(K):
    x = K.Input((T, D), name="x")
    outs = [K.layers.Dense(3, activation=a)(x) for a in
            ("relu", "sigmoid", "tanh", "softplus", "selu", "swish", "hard_sigmoid", "elu", "gelu")]
    leaky = K.layers.LeakyReLU(0.1)(x)
    outs += [K.layers.Activation("softmax")(x), K.layers.ReLU(max_value=6.0)(x),
             K.layers.ReLU(negative_slope=0.2, max_value=0.5)(x), leaky, K.layers.ELU(0.7)(x),
             K.layers.Softmax(axis=1)(x), K.layers.PReLU()(x)]
    return K.Model(x, outs)


def noise_identity(K):
    x = K.Input((T, D), name="x")
    h = K.layers.Dropout(0.5)(x)
    h = K.layers.SpatialDropout1D(0.3)(h)
    h = K.layers.GaussianNoise(0.2)(h)
    h = K.layers.GaussianDropout(0.2)(h)
    h = K.layers.AlphaDropout(0.2)(h)
    return K.Model(x, K.layers.Dense(2)(h))


def shape_layers(K):
    x = K.Input((T, D), name="x")
    f = K.layers.Flatten()(x)
    r = K.layers.Reshape((D, -1))(x)
    p = K.layers.Permute((2, 1))(x)
    return K.Model(x, [K.layers.Dense(2)(f), r, p])


def merges_masked(K):
    x = K.Input((T,), dtype="int32", name="ids")
    e = K.layers.Embedding(10, D, mask_zero=True)(x)
    a = K.layers.LSTM(4, return_sequences=True)(e)
    b = K.layers.Dense(4)(e)
    merged = [K.layers.Add()([a, b]), K.layers.Subtract()([a, b]), K.layers.Multiply()([a, b, a]),
              K.layers.Average()([a, b]), K.layers.Maximum()([a, b]), K.layers.Minimum()([a, b]),
              K.layers.Concatenate()([a, b])]
    outs = [K.layers.LSTM(3)(m) for m in merged]
    return K.Model(x, outs)


def conv1d_stack(K):
    x = K.Input((12, D), name="x")
    a = K.layers.Conv1D(5, 3, padding="causal", dilation_rate=2, activation="relu")(x)
    a = K.layers.MaxPooling1D(2)(a)
    b = K.layers.Conv1D(3, 2, padding="same", strides=2)(x)
    b = K.layers.AveragePooling1D(2, padding="same")(b)
    c = K.layers.ZeroPadding1D((1, 2))(x)
    c = K.layers.Conv1D(4, 4, padding="valid", use_bias=False)(c)
    return K.Model(x, [K.layers.GlobalMaxPooling1D()(a), K.layers.GlobalAveragePooling1D()(b),
                       K.layers.LSTM(3)(c)])


def text_cnn(K):
    # a free length through valid Conv1D, padding, concatenation along time and pooling: derived
    # dims time-2, time, 2*time-2, (2*time-4)/2+1. The batch is fixed so the runtime infers the
    # length from the flat input (browser tests pass no dims). The pooled sequence is an output too,
    # so the runtime sizes an output of derived length
    x = K.Input(batch_shape=(2, None), dtype="int32", name="ids")
    e = K.layers.Embedding(20, 8)(x)
    h = K.layers.Conv1D(4, 3, activation="relu")(e)
    wide = K.layers.ZeroPadding1D((2, 1))(K.layers.Conv1D(4, 4)(e))
    h = K.layers.Concatenate(axis=1)([h, wide])
    pooled = K.layers.MaxPooling1D(2)(h)
    score = K.layers.Dense(1)(K.layers.GlobalMaxPooling1D()(pooled))
    return K.Model(x, [score, pooled])


def _ids_of_length(t: int) -> Callable:
    def inputs(rng):
        return [rng.integers(0, 20, (2, t)).astype(np.int32)]
    return inputs


def _img(rng):
    return [rng.uniform(-1, 1, (2, 9, 8, 3)).astype(np.float32)]


def conv2d_stack(K):
    x = K.Input((9, 8, 3), name="img")
    a = K.layers.Conv2D(4, (3, 2), padding="same", activation="tanh")(x)
    a = K.layers.BatchNormalization()(a)
    a = K.layers.MaxPooling2D((2, 2), padding="same")(a)
    b = K.layers.ZeroPadding2D(((1, 0), (2, 1)))(x)
    b = K.layers.Conv2D(3, 3, strides=2, dilation_rate=1)(b)
    b = K.layers.AveragePooling2D((2, 2), strides=1)(b)
    c = K.layers.Conv2D(2, 2, dilation_rate=2, padding="same")(x)
    return K.Model(x, [K.layers.Flatten()(a), K.layers.GlobalAveragePooling2D()(b),
                       K.layers.GlobalMaxPooling2D()(c)])


def norms(K):
    x = K.Input((T, D), name="x")
    a = K.layers.LayerNormalization()(x)
    b = K.layers.BatchNormalization(epsilon=1e-2)(x)
    return K.Model(x, [K.layers.LSTM(3)(a), b])


def masked_average(K):
    return _ids_model(K, K.layers.GlobalAveragePooling1D(), K.layers.Dense(2, activation="sigmoid"))


def float_ids_embedding(K):
    # Keras 2 models often feed float ids to Embedding: Keras casts them to int32
    return _ids_model(K, K.layers.LSTM(4), dtype="float32")


def _float_ids(rng):
    return [padded_ids(rng, dtype=np.float32)]


# ---- the seed models ----------------------------------------------------------------------------

def seed000(K, mask_zero=True):
    x = K.Input((10,), dtype="int32", name="ids")
    h = K.layers.Embedding(50, 16, mask_zero=mask_zero)(x)
    h = K.layers.LSTM(32)(h)
    return K.Model(x, K.layers.Dense(1, activation="sigmoid")(h))


def seed000_nomask(K):
    return seed000(K, mask_zero=False)


def seed000_stacked(K):
    x = K.Input((10,), dtype="int32", name="ids")
    h = K.layers.Embedding(50, 16, mask_zero=True)(x)
    h = K.layers.LSTM(64, return_sequences=True)(h)
    h = K.layers.LSTM(32)(h)
    return K.Model(x, K.layers.Dense(1, activation="sigmoid")(h))


def _seed000_inputs(rng):
    return [padded_ids(rng, lengths=(10, 4, 7), t=10, vocab=50)]


def seed001(K, return_sequences=False):
    x = K.Input((16, 36), name="chars")
    h = K.layers.LSTM(128, return_sequences=return_sequences)(x)
    return K.Model(x, K.layers.Dense(36, activation="softmax")(h))


def seed001_seq(K):
    return seed001(K, return_sequences=True)


def _seed001_inputs(rng):
    one_hot = np.eye(36, dtype=np.float32)[rng.integers(0, 36, (2, 16))]
    return [one_hot]


def seed002(K):
    x = K.Input((10,), dtype="int32", name="ids")
    h = K.layers.Embedding(20, 5, mask_zero=True)(x)
    cells = K.layers.StackedRNNCells([K.layers.LSTMCell(7), K.layers.LSTMCell(7)])
    return K.Model(x, K.layers.RNN(cells, return_sequences=True)(h))


def _seed002_inputs(rng):
    return [padded_ids(rng, lengths=(4, 9, 10, 5, 10), t=10, vocab=20)]


def seed003(K):
    x = K.Input((3, 1), name="x")
    h = K.layers.LSTM(512, return_sequences=True)(x)
    h = K.layers.LSTM(512)(h)
    return K.Model(x, K.layers.Dense(112, activation="softmax")(h))


def _seed003_inputs(rng):
    return [rng.uniform(-1, 1, (2, 3, 1)).astype(np.float32)]


# ---- the catalogue --------------------------------------------------------------------------------

_BOTH = [
    (lstm_basic, _one_seq), (lstm_seq_state, _one_seq), (lstm_masked_embedding, _one_padded_ids),
    (lstm_backwards_masking, _one_padded_seq), (lstm_options, _one_seq),
    (lstm_softsign_backwards_last, _one_padded_seq), (gru_reset_after, _one_padded_seq),
    (gru_reset_before, _one_padded_seq), (gru_state_no_bias, _one_seq), (simple_rnn_state, _one_seq),
    (rnn_cells, _one_padded_ids), (stacked_cells_backwards, _one_padded_seq),
    (bidi_concat_masked, _one_padded_ids), (bidi_sum_mul_ave, _one_padded_ids),
    (bidi_none_state, _one_seq), (lstm_initial_state, _three), (lstm_stateful, _one_seq),
    (encoder_decoder, _one_seq), (dense_activations, _one_seq), (noise_identity, _one_seq),
    (shape_layers, _one_seq), (merges_masked, _one_padded_ids), (conv1d_stack, lambda r: [seq(r, t=12)]),
    (conv2d_stack, _img), (norms, _one_seq), (masked_average, _one_padded_ids),
]
_K2_ONLY = [(float_ids_embedding, _float_ids)]
# a few Keras 3 models saved in the legacy .h5 format too
_K3_H5 = {"lstm_masked_embedding", "bidi_concat_masked", "gru_reset_before", "conv1d_stack"}


def _cases() -> list[Case]:
    out = []
    for build, inputs in _BOTH:
        out.append(Case(f"k3_{build.__name__}", 3, build, inputs))
        out.append(Case(f"k2_{build.__name__}", 2, build, inputs))
        if build.__name__ in _K3_H5:
            out.append(Case(f"k3h5_{build.__name__}", 3, build, inputs, fmt="h5"))
    out += [Case(f"k2_{b.__name__}", 2, b, i) for b, i in _K2_ONLY]
    return out


# one model, converted without a fixed length, checked at several lengths
TEXT_CNN_CASES = [
    Case("k3_text_cnn_t7", 3, text_cnn, _ids_of_length(7)),
    Case("k3_text_cnn_t12", 3, text_cnn, _ids_of_length(12)),
    Case("k2_text_cnn_t9", 2, text_cnn, _ids_of_length(9)),
]

SEED_CASES = [
    Case("seed000", 3, seed000, _seed000_inputs),
    Case("seed000_nomask", 3, seed000_nomask, _seed000_inputs),
    Case("seed000_stacked", 3, seed000_stacked, _seed000_inputs),
    Case("seed000_k2", 2, seed000, _seed000_inputs),
    Case("seed001", 3, seed001, _seed001_inputs, small=False),
    Case("seed001_seq", 3, seed001_seq, _seed001_inputs, small=False),
    Case("seed001_k2", 2, seed001, _seed001_inputs, small=False),
    Case("seed002", 3, seed002, _seed002_inputs),
    Case("seed002_k2", 2, seed002, _seed002_inputs),
    Case("seed003", 3, seed003, _seed003_inputs, small=False),
]

CASES: list[Case] = _cases() + TEXT_CNN_CASES + SEED_CASES
SMALL_CASES = [c for c in CASES if c.small]
BY_NAME = {c.name: c for c in CASES}


def get(name: str) -> Case:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no Keras test case {name!r}; known: {', '.join(sorted(BY_NAME))}") from None


# ---- building, saving, predicting ------------------------------------------------------------------

def keras_module(major: int):
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import logging
    import warnings
    # the legacy-format advice and retracing notes are expected here; keep test logs readable
    warnings.filterwarnings("ignore", message=".*HDF5 file.*")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    if major == 2:
        import tf_keras
        return tf_keras
    import keras
    return keras


def _fan_in(shape) -> int:
    return int(np.prod(shape[:-1])) if len(shape) >= 2 else 1


def randomize(model, rng, scale: float) -> None:
    """Uniform random weights: big enough that gates saturate sometimes, small enough to stay accurate."""
    for layer in model.layers:
        names = [w.name for w in layer.weights]
        values = []
        for name, w in zip(names, layer.get_weights()):
            if "variance" in name or "gamma" in name:
                values.append(rng.uniform(0.5, 1.5, w.shape))
            elif "embeddings" in name or w.ndim < 2:
                values.append(rng.uniform(-1, 1, w.shape))
            else:
                a = min(scale, 3.0 / np.sqrt(_fan_in(w.shape)))
                values.append(rng.uniform(-a, a, w.shape))
        if values:
            layer.set_weights([v.astype(np.float32) for v in values])


def build_model(case: Case):
    """A fresh Keras model of ``case`` with its seeded random weights (in memory, nothing saved)."""
    K = keras_module(case.keras)
    model = case.build(K)
    randomize(model, np.random.default_rng(case.seed + 1), case.scale)
    return model


def case_inputs(case: Case) -> list:
    return [np.asarray(a) for a in case.inputs(np.random.default_rng(case.seed))]


def predict(model, inputs: list) -> list:
    out = model.predict(inputs if len(inputs) > 1 else inputs[0], batch_size=len(inputs[0]), verbose=0)
    return [np.asarray(o, np.float32) for o in (out if isinstance(out, (list, tuple)) else [out])]


def _names(model) -> tuple[list, list]:
    inputs = [t._keras_history[0].name for t in model.inputs]
    outputs = [t._keras_history[0].name for t in model.outputs]
    return inputs, outputs


def case_key(case: Case) -> str:
    """Changes whenever the case's definition (builder or input generator source) changes."""
    parts = [repr((case.name, case.keras, case.fmt, case.seed, case.scale))]
    for fn in (case.build, case.inputs):
        try:
            parts.append(inspect.getsource(fn))
        except (OSError, TypeError):
            parts.append(fn.__qualname__)
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:10]


def materialize(case: Case, cache_dir) -> Materialized:
    """Save the model file and Keras' predictions once; later calls read the cache only."""
    folder = Path(cache_dir) / f"{case.name}-{case_key(case)}"
    model_path = folder / f"model.{case.ext}"
    data_path, meta_path = folder / "data.npz", folder / "meta.json"
    if not (model_path.exists() and data_path.exists() and meta_path.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        model = build_model(case)
        inputs = case_inputs(case)
        outputs = predict(model, inputs)
        model.save(str(model_path))
        in_names, out_names = _names(model)
        arrays = {f"input_{i}": a for i, a in enumerate(inputs)}
        arrays.update({f"output_{i}": a for i, a in enumerate(outputs)})
        np.savez(data_path, **arrays)
        meta_path.write_text(json.dumps({"inputs": in_names, "outputs": out_names}))
    data = np.load(data_path)
    meta = json.loads(meta_path.read_text())
    inputs = [data[f"input_{i}"] for i in range(len(meta["inputs"]))]
    outputs = [data[f"output_{i}"] for i in range(len(meta["outputs"]))]
    return Materialized(case, model_path, meta["inputs"], inputs, outputs, meta["outputs"])


def default_cache_dir() -> Path:
    default = Path(__file__).resolve().parents[1] / ".cache" / "keras"
    return Path(os.environ.get("WEBLOOM_CASE_CACHE", default))


def feeds(graph, inputs: list, extra: Optional[dict] = None) -> list:
    """Graph feeds: the model's inputs in order, then zeros for stateful layers' state inputs."""
    out = list(inputs)
    for v in graph.inputs[len(inputs):]:
        shape = tuple(d if isinstance(d, int) else len(inputs[0]) for d in v.shape)
        out.append((extra or {}).get(v.name, np.zeros(shape, np.float32)))
    return out
