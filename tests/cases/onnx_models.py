"""Real ONNX exports for the ONNX frontend tests: PyTorch modules through both exporters (TorchScript,
``dynamo=False``, and the dynamo one) and Keras models through tf2onnx.

Each case is exported once into ``tests/.cache/onnx/<case>-<key>/`` (the key hashes the case's source),
with its inputs and the outputs of the source framework and of onnxruntime; later runs read the cache.
Weights are scaled up so that gates saturate, inputs have batch > 1.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

SATURATE = 3.0          # weight scale: pre-activations reach |z| > 5 so sigmoid/tanh saturate


@dataclass
class Case:
    name: str
    build: Callable                   # () -> torch.nn.Module (or keras.Model for tf2onnx)
    inputs: Callable                  # (rng) -> [numpy arrays]
    exporter: str = "torchscript"     # "torchscript", "dynamo" or "tf2onnx"
    input_names: tuple = ("x",)
    output_names: tuple = ("y",)
    dynamic: dict = field(default_factory=dict)   # input name -> {axis: dim name}
    # from_onnx input_shapes: the dynamo exporter writes the GRU's time length into a Reshape constant
    input_shapes: dict = field(default_factory=dict)


def _torch():
    import torch
    torch.manual_seed(0)
    return torch


def _saturate(module):
    torch = _torch()
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(SATURATE)
    return module.eval()


def _seq(batch=3, time=6, width=5):
    return lambda rng: [rng.standard_normal((batch, time, width)).astype(np.float32)]


# ---- PyTorch modules ------------------------------------------------------------------------------

def lstm_2layer_batch_first():
    torch = _torch()

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(5, 7, num_layers=2, batch_first=True)

        def forward(self, x):
            y, (h, c) = self.rnn(x)
            return y, h, c
    return _saturate(M())


def gru_bidirectional():  # two layers: the second reads the first one's [T, B, 2H]
    torch = _torch()

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.GRU(5, 6, num_layers=2, bidirectional=True)     # time-major, layout 0

        def forward(self, x):
            y, h = self.rnn(x)
            return y, h
    return _saturate(M())


def rnn_tanh_relu():
    torch = _torch()

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.RNN(5, 6, nonlinearity="tanh", batch_first=True)
            self.b = torch.nn.RNN(6, 4, nonlinearity="relu", batch_first=True)

        def forward(self, x):
            y, _ = self.a(x)
            y, h = self.b(y)
            return y, h
    m = M()
    _saturate(m.a)
    return m.eval()


def embed_lstm_step():
    torch = _torch()

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(20, 8)
            self.rnn = torch.nn.LSTM(8, 10, batch_first=True)
            self.out = torch.nn.Linear(10, 20)

        def forward(self, ids, h, c):
            y, (h2, c2) = self.rnn(self.emb(ids), (h, c))
            return self.out(y), h2, c2
    return _saturate(M())


def small_cnn():
    torch = _torch()
    nn = torch.nn

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.MaxPool2d(2), nn.Conv2d(8, 6, 3), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1))
            self.head = nn.Linear(6, 4)

        def forward(self, x):
            return self.head(torch.flatten(self.body(x), 1))
    m = M()
    with torch.no_grad():
        bn = m.body[1]
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    return m.eval()


def _ids_state(rng):
    return [rng.integers(0, 20, (3, 5)).astype(np.int64),
            rng.standard_normal((1, 3, 10)).astype(np.float32),
            rng.standard_normal((1, 3, 10)).astype(np.float32)]


def _image(rng):
    return [rng.standard_normal((2, 3, 10, 10)).astype(np.float32)]


BT = {0: "batch", 1: "time"}
TB = {0: "time", 1: "batch"}


def _torch_cases(exporter: str) -> list:
    s = "" if exporter == "torchscript" else "_dynamo"
    return [
        Case(f"lstm2_bf{s}", lstm_2layer_batch_first, _seq(), exporter, ("x",), ("y", "h", "c"), {"x": BT}),
        Case(f"gru_bidir{s}", gru_bidirectional, _seq(6, 3, 5), exporter, ("x",), ("y", "h"), {"x": TB},
             {"x": [6, None, 5]} if s else {}),
        Case(f"rnn_tanh_relu{s}", rnn_tanh_relu, _seq(), exporter, ("x",), ("y", "h"), {"x": BT}),
        Case(f"embed_lstm{s}", embed_lstm_step, _ids_state, exporter, ("ids", "h", "c"),
             ("logits", "h_next", "c_next"), {"ids": BT, "h": {1: "batch"}, "c": {1: "batch"}}),
        Case(f"cnn{s}", small_cnn, _image, exporter, ("x",), ("y",), {"x": {0: "batch"}}),
    ]


# ---- Keras models through tf2onnx ------------------------------------------------------------------

def keras_lstm():
    import tensorflow as tf
    tf.random.set_seed(0)
    inp = tf.keras.Input((6, 5), name="x")
    y = tf.keras.layers.LSTM(7, return_sequences=True, kernel_initializer=_keras_init(),
                             recurrent_initializer=_keras_init())(inp)
    out = tf.keras.layers.Dense(3)(y)
    return tf.keras.Model(inp, out)


def keras_gru(keras=None):
    """A GRU through tf_keras (Keras 2): tf2onnx 1.17 rewrites its while loop into an ONNX GRU, but leaves
    Keras 3's GRU loop as a Loop (which the frontend refuses by name; tested)."""
    import tensorflow as tf
    import tf_keras
    keras = keras or tf_keras
    tf.random.set_seed(0)
    inp = keras.Input((6, 5), name="x")
    y = keras.layers.GRU(6, kernel_initializer=_keras_init(keras),
                         recurrent_initializer=_keras_init(keras))(inp)
    return keras.Model(inp, y)


def keras3_gru():
    import tensorflow as tf
    return keras_gru(tf.keras)


def _keras_init(keras=None):
    import tensorflow as tf
    keras = keras or tf.keras
    return keras.initializers.RandomUniform(-SATURATE / 2, SATURATE / 2, seed=1)


TF2ONNX_CASES = [Case("keras_lstm_tf2onnx", keras_lstm, _seq(), "tf2onnx", ("x",), ("y",)),
                 Case("keras_gru_tf2onnx", keras_gru, _seq(), "tf2onnx", ("x",), ("y",))]
# tf2onnx's export of a Keras 3 GRU keeps TensorFlow's while loop as an ONNX Loop
LOOP_CASE = Case("keras3_gru_tf2onnx", keras3_gru, _seq(), "tf2onnx", ("x",), ("y",))
TORCH_CASES = _torch_cases("torchscript") + _torch_cases("dynamo")
CASES = {c.name: c for c in TORCH_CASES + TF2ONNX_CASES}


# ---- export and cache --------------------------------------------------------------------------------

@dataclass
class Exported:
    case: Case
    path: Path
    inputs: list
    outputs: list            # the source framework's outputs
    ort: list                # onnxruntime's outputs


def case_key(case: Case) -> str:
    parts = [case.exporter, repr(case.dynamic), repr(case.input_names), repr(case.output_names)]
    for fn in (case.build, case.inputs, _export_torch, _export_tf2onnx):
        try:
            parts.append(inspect.getsource(fn))
        except (OSError, TypeError):
            parts.append(getattr(fn, "__qualname__", repr(fn)))
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:10]


def cache_dir() -> Path:
    default = Path(__file__).resolve().parents[1] / ".cache" / "onnx"
    return Path(os.environ.get("WEBLOOM_ONNX_CACHE", default))


def _export_torch(case: Case, path: Path, inputs: list) -> list:
    torch = _torch()
    module = case.build()
    args = tuple(torch.from_numpy(a) for a in inputs)
    with torch.no_grad():
        outs = module(*args)
    outs = outs if isinstance(outs, tuple) else (outs,)
    kwargs = dict(input_names=list(case.input_names), output_names=list(case.output_names))
    if case.exporter == "dynamo":
        dims = {}
        for name, axes in case.dynamic.items():
            dims[name] = {a: torch.export.Dim(d, min=2 if d == "batch" else 1) for a, d in axes.items()}
        kwargs.update(dynamo=True, dynamic_shapes=dims, external_data=False)
    else:
        kwargs.update(dynamo=False, dynamic_axes=case.dynamic)
    torch.onnx.export(module, args, str(path), **kwargs)
    return [o.numpy() for o in outs]


def _export_tf2onnx(case: Case, path: Path, inputs: list) -> list:
    import tensorflow as tf
    import tf2onnx
    model = case.build()
    outs = model(*[tf.constant(a) for a in inputs])
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    spec = [tf.TensorSpec((None,) + a.shape[1:], tf.float32, name=n)
            for n, a in zip(case.input_names, inputs)]
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=17)
    path.write_bytes(proto.SerializeToString())
    return [np.asarray(o) for o in outs]


def export(case: Case) -> Exported:
    folder = cache_dir() / f"{case.name}-{case_key(case)}"
    path, data_path = folder / "model.onnx", folder / "data.npz"
    if not (path.exists() and data_path.exists() and (folder / "meta.json").exists()):
        folder.mkdir(parents=True, exist_ok=True)
        inputs = case.inputs(np.random.default_rng(0))
        run = _export_tf2onnx if case.exporter == "tf2onnx" else _export_torch
        outputs = run(case, path, inputs)
        import onnxruntime as ort
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed_names = [i.name for i in session.get_inputs()]
        ort_outs = session.run(None, dict(zip(feed_names, inputs)))
        arrays = {f"in{i}": a for i, a in enumerate(inputs)}
        arrays.update({f"out{i}": a for i, a in enumerate(outputs)})
        arrays.update({f"ort{i}": a for i, a in enumerate(ort_outs)})
        np.savez(data_path, **arrays)
        (folder / "meta.json").write_text(json.dumps({"inputs": len(inputs), "outputs": len(outputs)}))
    meta = json.loads((folder / "meta.json").read_text())
    data = np.load(data_path)
    return Exported(case, path, [data[f"in{i}"] for i in range(meta["inputs"])],
                    [data[f"out{i}"] for i in range(meta["outputs"])],
                    [data[f"ort{i}"] for i in range(meta["outputs"])])
