"""Structured mutation of model files for the converter fuzz targets: Keras configs (and weights),
Chainer npz parameters and ONNX graphs. Each ``*_case(seed, iteration, workdir)`` returns a thunk that
converts one mutant through the frontend, the optimizer and the WebGPU lowering (pure Python, so the
whole pipeline runs without a compiler), raising ConversionError for what it refuses."""

from __future__ import annotations

import copy
import io
import json
import random
from pathlib import Path

import numpy as np

import converter
from tests.fuzz import model_files

ODD_VALUES = [None, 0, -1, 1, 2, 3.7, -0.5, 1e10, 2**31, 2**63, float("nan"), "", "x", "tanh", "relu", [],
              [1], [None, 3], {}, {"class_name": "Dense", "config": {}}, True, False, [[1, 2]],
              "channels_first"]


def _compile(graph) -> None:
    converter.compile(graph, "webgpu")


# ---- Keras --------------------------------------------------------------------------------------------

def _keras_models() -> list:
    """(config, weights) bases: the hand-made Keras 2 models plus a functional GRU/Bidirectional one."""
    bases = [model_files.dense_model(), model_files.embedding_lstm_model()]
    config, weights = model_files.embedding_lstm_model()
    layers = config["config"]["layers"]
    gru = {"class_name": "GRU", "config": {"name": "lstm", "units": 2, "activation": "tanh",
                                           "recurrent_activation": "sigmoid", "use_bias": True,
                                           "reset_after": True, "return_sequences": True, "trainable": True}}
    layers[2] = gru
    dense = {"class_name": "Dense", "config": {"name": "head", "units": 1, "activation": "sigmoid",
                                               "use_bias": True, "trainable": True}}
    layers.append(dense)
    rng = np.random.default_rng(3)
    weights = {"emb": weights["emb"],
               "lstm": [("lstm/gru_cell/kernel:0", rng.standard_normal((3, 6)).astype(np.float32)),
                        ("lstm/gru_cell/recurrent_kernel:0", rng.standard_normal((2, 6)).astype(np.float32)),
                        ("lstm/gru_cell/bias:0", rng.standard_normal((2, 6)).astype(np.float32))],
               "head": [("head/kernel:0", rng.standard_normal((2, 1)).astype(np.float32)),
                        ("head/bias:0", np.zeros(1, np.float32))]}
    bases.append((config, weights))
    return bases


KERAS_BASES = None


def _nodes(value, path=()):
    """Every (path, value) in a JSON tree."""
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _nodes(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _nodes(v, path + (i,))


def _set(tree, path, value):
    for key in path[:-1]:
        tree = tree[key]
    tree[path[-1]] = value


def _delete(tree, path):
    for key in path[:-1]:
        tree = tree[key]
    del tree[path[-1]]


def mutate_config(rng: random.Random, config: dict) -> dict:
    config = copy.deepcopy(config)
    for _ in range(rng.choice([1, 1, 2, 3])):
        nodes = [n for n in _nodes(config) if n[0]]
        if not nodes:
            break
        path, value = rng.choice(nodes)
        kind = rng.randrange(5)
        if kind == 0:
            _set(config, path, copy.deepcopy(rng.choice(ODD_VALUES)))
        elif kind == 1:
            _delete(config, path)
        elif kind == 2 and isinstance(value, (int, float)) and not isinstance(value, bool):
            _set(config, path, rng.choice([value * 2, value + 1, -value, 0, value * 1000]))
        elif kind == 3 and isinstance(value, list) and value:
            value.insert(rng.randrange(len(value) + 1), copy.deepcopy(rng.choice(value)))
        else:
            _set(config, path, copy.deepcopy(rng.choice(nodes)[1]))   # another part of the config
    return config


def mutate_weights(rng: random.Random, weights: dict) -> dict:
    weights = {k: list(v) for k, v in weights.items()}
    layer = rng.choice(list(weights))
    items = weights[layer]
    if not items:
        return weights
    i = rng.randrange(len(items))
    name, array = items[i]
    kind = rng.randrange(5)
    if kind == 0:
        items[i] = (name, array.reshape(-1)[: max(1, array.size - 1)])
    elif kind == 1:
        items[i] = (name, array.astype(rng.choice([np.float64, np.int32, np.float16, np.int8])))
    elif kind == 2:
        bad = array.copy().astype(np.float32)
        bad.flat[rng.randrange(bad.size)] = rng.choice([np.nan, np.inf, 1e38])
        items[i] = (name, bad)
    elif kind == 3:
        del items[i]
    else:
        items[i] = (name, np.zeros((0,) + array.shape[1:], array.dtype))
    return weights


def keras_case(seed: int, iteration: int, workdir: Path):
    global KERAS_BASES
    KERAS_BASES = KERAS_BASES or _keras_models()
    rng = random.Random(seed * 1_000_003 + iteration)
    config, weights = KERAS_BASES[rng.randrange(len(KERAS_BASES))]
    config = mutate_config(rng, config) if rng.random() < 0.85 else config
    weights = mutate_weights(rng, weights) if rng.random() < 0.25 else weights
    path = workdir / f"keras_{iteration % 4}.h5"

    def run():
        model_files.write_h5(path, json.dumps(config, allow_nan=True), weights)
        _compile(converter.from_keras(path))
    return run


# ---- Chainer ------------------------------------------------------------------------------------------

CHAINER_SCRIPT = '''import chainer
import chainer.functions as F
import chainer.links as L


class Net(chainer.Chain):
    def __init__(self):
        super().__init__()
        with self.init_scope():
            self.embed = L.EmbedID(7, 4)
            self.rnn = L.LSTM(4, 3)
            self.out = L.Linear(3, 2)

    def __call__(self, ids):
        return F.softmax(self.out(self.rnn(self.embed(ids))))


def build():
    return Net()
'''


def _script(workdir: Path) -> Path:
    script = workdir / "chainer_net.py"
    if not script.exists():        # each run (each long-run chunk) has its own workdir
        script.write_text(CHAINER_SCRIPT)
    return script


def _npz_arrays(workdir: Path) -> dict:
    import chainer
    from converter.frontends.chainer.cli import load_factory
    chain = load_factory(f"{_script(workdir)}:build")()
    rng = np.random.default_rng(11)      # fixed parameters: the same seed and iteration, the same mutant
    for _, param in sorted(chain.namedparams()):
        param.array[...] = rng.uniform(-1, 1, param.array.shape)
    buf = io.BytesIO()
    chainer.serializers.save_npz(buf, chain)
    buf.seek(0)
    with np.load(buf) as npz:
        return {k: npz[k] for k in npz.files}


CHAINER_BASE = None


def mutate_npz(rng: random.Random, arrays: dict) -> bytes:
    arrays = dict(arrays)
    key = rng.choice(list(arrays))
    kind = rng.randrange(7)
    if kind == 0:
        arrays[key] = arrays[key].reshape(-1)[:-1] if arrays[key].size > 1 else np.zeros(3, np.float32)
    elif kind == 1:
        dtype = rng.choice([np.float64, np.int32, np.complex64, np.bool_, np.float16])
        arrays[key] = arrays[key].astype(dtype)
    elif kind == 2:
        bad = arrays[key].astype(np.float32).copy()
        bad.flat[rng.randrange(max(bad.size, 1))] = rng.choice([np.nan, np.inf, -np.inf])
        arrays[key] = bad
    elif kind == 3:
        del arrays[key]
    elif kind == 4:
        arrays["extra/" + key] = arrays[key]
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data = buf.getvalue()
    if kind == 5:
        data = data[: rng.randrange(len(data))]
    elif kind == 6:
        raw = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
        data = bytes(raw)
    return data


def chainer_case(seed: int, iteration: int, workdir: Path):
    global CHAINER_BASE
    from converter.frontends.chainer.cli import load_factory, load_weights
    CHAINER_BASE = CHAINER_BASE or _npz_arrays(workdir)
    rng = random.Random(seed * 1_000_003 + iteration)
    data = mutate_npz(rng, CHAINER_BASE)
    path = workdir / f"chainer_{iteration % 4}.npz"

    def run():
        path.write_bytes(data)
        chain = load_factory(f"{_script(workdir)}:build")()
        load_weights(path, chain)
        _compile(converter.from_chainer(chain, {"ids": np.zeros(3, np.int32)}))
    return run


# ---- ONNX ---------------------------------------------------------------------------------------------

def onnx_available() -> str:
    """'' when the ONNX frontend and the onnx package are importable, else why not."""
    try:
        import onnx  # noqa: F401
        from converter.frontends import onnx as frontend  # noqa: F401
    except ImportError as e:
        return f"the ONNX target needs converter.frontends.onnx and the onnx package ({e})"
    return ""


def _onnx_bases() -> list:
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(5)

    def model(nodes, inputs, outputs, inits):
        graph = helper.make_graph(nodes, "fuzz", inputs, outputs,
                                  [numpy_helper.from_array(a.astype(np.float32), n) for n, a in inits])
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    mlp = model([helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1),
                 helper.make_node("Tanh", ["h"], ["y"])], [x], [y],
                [("w", rng.standard_normal((3, 4))), ("b", rng.standard_normal(3))])
    xs = helper.make_tensor_value_info("xs", TensorProto.FLOAT, ["time", "batch", 2])
    ys = helper.make_tensor_value_info("ys", TensorProto.FLOAT, ["time", 1, "batch", 3])
    lstm = model([helper.make_node("LSTM", ["xs", "W", "R", "B"], ["ys"], hidden_size=3)], [xs], [ys],
                 [("W", rng.standard_normal((1, 12, 2))), ("R", rng.standard_normal((1, 12, 3))),
                  ("B", rng.standard_normal((1, 24)))])
    return [mlp, lstm]


ONNX_BASES = None
ONNX_OPS = ["Gemm", "Tanh", "Relu", "Add", "MatMul", "LSTM", "GRU", "RNN", "Reshape", "Transpose", "Softmax",
            "Concat", "Gather", "Unknown", "Loop", "If", "Identity"]


def mutate_onnx(rng: random.Random, model):
    from onnx import AttributeProto, helper, numpy_helper
    m = copy.deepcopy(model)
    g = m.graph
    kind = rng.randrange(8)
    if kind == 0 and g.node:
        g.node[rng.randrange(len(g.node))].op_type = rng.choice(ONNX_OPS)
    elif kind == 1 and g.node:
        node = g.node[rng.randrange(len(g.node))]
        node.attribute.append(helper.make_attribute(rng.choice(["hidden_size", "direction", "transB", "axis",
                                                                 "layout", "clip", "activations"]),
                                                    rng.choice([0, 1, -1, 7, 2**40, 2.5, "reverse", "x"])))
    elif kind == 2 and g.node:
        node = g.node[rng.randrange(len(g.node))]
        if node.input:
            node.input[rng.randrange(len(node.input))] = rng.choice(["", "x", "nope", "w", node.output[0]])
    elif kind == 3 and g.initializer:
        t = g.initializer[rng.randrange(len(g.initializer))]
        a = numpy_helper.to_array(t)
        a = rng.choice([a.reshape(-1), a[..., :-1] if a.shape and a.shape[-1] > 1 else a, a * np.nan,
                        a.astype(np.float64), a.astype(np.int64)])
        t.CopyFrom(numpy_helper.from_array(np.asarray(a), t.name))
    elif kind == 4:
        io_ = rng.choice(list(g.input) + list(g.output))
        dims = io_.type.tensor_type.shape.dim
        if dims:
            d = dims[rng.randrange(len(dims))]
            if rng.random() < 0.5:
                d.dim_value = rng.choice([0, 1, 5, 2**31, 2**40])
            else:
                d.dim_param = rng.choice(["batch", "time", "", "n-1", "x y"])
        else:
            io_.type.tensor_type.elem_type = rng.choice([0, 2, 7, 9, 11, 99])
    elif kind == 5:
        m.opset_import[0].version = rng.choice([1, 6, 7, 13, 21, 28, 29, 99])
    elif kind == 6 and g.node:
        del g.node[rng.randrange(len(g.node))]
    elif g.node:
        g.node.append(copy.deepcopy(g.node[rng.randrange(len(g.node))]))
        if rng.random() < 0.5:
            g.node[-1].attribute.append(AttributeProto(name="weird", type=AttributeProto.FLOAT, f=1.0))
    if rng.random() < 0.15:
        raw = bytearray(m.SerializeToString())
        for _ in range(rng.randint(1, 6)):
            raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
        return bytes(raw)
    return m.SerializeToString()


def onnx_case(seed: int, iteration: int, workdir: Path):
    global ONNX_BASES
    ONNX_BASES = ONNX_BASES or _onnx_bases()
    rng = random.Random(seed * 1_000_003 + iteration)
    data = mutate_onnx(rng, ONNX_BASES[rng.randrange(len(ONNX_BASES))])
    path = workdir / f"onnx_{iteration % 4}.onnx"

    def run():
        path.write_bytes(data)
        _compile(converter.from_onnx(path))
    return run


