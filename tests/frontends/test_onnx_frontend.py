"""The ONNX frontend on hand-built models (onnx.helper): recurrent ops with every direction, layout and
option against onnxruntime, the gate order, symbolic dims, int64 inputs, states, external data, the CLI and
one-line errors for malformed files and what is not supported."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx is a dependency of the converter (pyproject.toml)")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from converter.api import from_onnx  # noqa: E402
from converter.errors import ConversionError  # noqa: E402
from converter.frontends.onnx import ops_recurrent  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-5
F = TensorProto.FLOAT


def _model(nodes, inputs, outputs, inits=(), opset=17):
    graph = helper.make_graph(nodes, "t", inputs, outputs, [numpy_helper.from_array(a, n) for n, a in inits])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _ort(model, feeds):
    """onnxruntime's outputs; for what it does not implement (batch-major recurrent ops, layout=1) the
    onnx package's reference evaluator's."""
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in requirements-dev.txt")
    try:
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 (onnxruntime raises its own Fail type)
        assert "not supported" in str(e), e
        from onnx.reference import ReferenceEvaluator
        return ReferenceEvaluator(model).run(None, feeds)
    return session.run(None, feeds)


def _check(model, feeds, **kw):
    want = _ort(model, feeds)
    got = from_onnx(model, **kw).run(feeds)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=TOL, atol=TOL)


# ---- recurrent ops ---------------------------------------------------------------------------------

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
B, T, D, H = 3, 5, 4, 6


def _rnn_model(op, direction="forward", layout=0, seq_lens=False, states=False, peep=False, **attrs):
    rng = np.random.default_rng(1)
    dirs = 2 if direction == "bidirectional" else 1
    g = GATES[op]
    inits = [("W", (rng.standard_normal((dirs, g * H, D)) * 2).astype(np.float32)),
             ("R", (rng.standard_normal((dirs, g * H, H)) * 2).astype(np.float32)),
             ("B", rng.standard_normal((dirs, 2 * g * H)).astype(np.float32))]
    x_shape = ["batch", "time", D] if layout else ["time", "batch", D]
    inputs = [helper.make_tensor_value_info("x", F, x_shape)]
    names = ["x", "W", "R", "B", "", "", ""]
    if seq_lens:
        inputs.append(helper.make_tensor_value_info("lens", TensorProto.INT32, ["batch"]))
        names[4] = "lens"
    state_shape = ["batch", dirs, H] if layout else [dirs, "batch", H]
    if states:
        inputs.append(helper.make_tensor_value_info("h0", F, state_shape))
        names[5] = "h0"
        if op == "LSTM":
            inputs.append(helper.make_tensor_value_info("c0", F, state_shape))
            names[6] = "c0"
    if peep:
        inits.append(("P", rng.standard_normal((dirs, 3 * H)).astype(np.float32)))
        names += ["P"]
    names = names[:{"LSTM": 8, "GRU": 6, "RNN": 6}[op]]
    while names and not names[-1]:
        names.pop()
    outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    node = helper.make_node(op, names, outs, hidden_size=H, direction=direction, layout=layout, **attrs)
    outputs = [helper.make_tensor_value_info(o, F, None) for o in outs]
    return _model([node], inputs, outputs, inits, opset=14)


def _rnn_feeds(model, layout=0):
    rng = np.random.default_rng(2)
    feeds = {"x": rng.standard_normal((B, T, D) if layout else (T, B, D)).astype(np.float32)}
    names = {i.name for i in model.graph.input}
    if "lens" in names:
        feeds["lens"] = np.array([5, 2, 0], np.int32)
    for s in ("h0", "c0"):
        if s in names:
            dirs = 2 if any(a.s == b"bidirectional" for a in model.graph.node[0].attribute) else 1
            feeds[s] = rng.standard_normal((B, dirs, H) if layout else (dirs, B, H)).astype(np.float32)
    return feeds


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("layout", [0, 1])
def test_recurrent_directions_and_layouts(op, direction, layout):
    model = _rnn_model(op, direction, layout, states=True)
    _check(model, _rnn_feeds(model, layout))


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_opset_7_recurrent(op):
    """The oldest definitions (no layout attribute): time-major, both directions."""
    model = _rnn_model(op, "bidirectional", states=True)
    for a in list(model.graph.node[0].attribute):
        if a.name == "layout":
            model.graph.node[0].attribute.remove(a)
    del model.opset_import[:]
    model.opset_import.append(helper.make_opsetid("", 7))
    model.ir_version = 3
    _check(model, _rnn_feeds(model))


@pytest.mark.parametrize("lbr", [0, 1])
def test_gru_linear_before_reset(lbr):
    model = _rnn_model("GRU", "bidirectional", linear_before_reset=lbr)
    _check(model, _rnn_feeds(model))


def test_gate_order_is_mapped_once():
    """ONNX iofc -> IR ifco: a model whose only non-zero gate block is ONNX's block k must drive the IR's
    block GATE_ORDER[k]'s gate; checked through the output against onnxruntime for each block alone."""
    assert ops_recurrent.GATE_ORDER["LSTM"] == (0, 2, 3, 1)
    assert ops_recurrent.GATE_ORDER["GRU"] == (0, 1, 2)
    assert ops_recurrent.PEEPHOLE_ORDER == (0, 2, 1)
    base = _rnn_model("LSTM", "forward", 1)
    for block in range(4):
        model = type(base)()
        model.CopyFrom(base)
        for init in model.graph.initializer:
            a = numpy_helper.to_array(init).copy()
            if init.name in ("W", "R"):
                keep = np.zeros_like(a)
                keep[:, block * H:(block + 1) * H] = a[:, block * H:(block + 1) * H]
                init.CopyFrom(numpy_helper.from_array(keep + 0.5 * (block != 1), init.name))
        _check(model, _rnn_feeds(model, 1))


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_sequence_lens_constant(direction):
    """Constant sequence_lens: outputs past a row's length are zero, Y_h its last valid state."""
    model = _rnn_model("LSTM", direction, seq_lens=True)
    model.graph.initializer.append(numpy_helper.from_array(np.array([5, 2, 1], np.int32), "lens"))
    keep = [i for i in model.graph.input if i.name != "lens"]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    fixed = {"x": [T, B, D]}
    feeds = _rnn_feeds(model)
    want = _ort(model, feeds)
    got = from_onnx(model, input_shapes=fixed).run(feeds)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=TOL, atol=TOL)


def test_lstm_peepholes():
    model = _rnn_model("LSTM", "bidirectional", peep=True, states=True)
    _check(model, _rnn_feeds(model))


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_clip(op):
    model = _rnn_model(op, "bidirectional", clip=0.7)
    _check(model, _rnn_feeds(model))


def test_input_forget():
    model = _rnn_model("LSTM", "reverse", input_forget=1)
    _check(model, _rnn_feeds(model))


@pytest.mark.parametrize("acts,alpha,beta", [
    (["HardSigmoid", "Tanh", "Softsign"], [0.3], [0.4]),
    (["Sigmoid", "Elu", "Relu"], [0.7], []),
    (["Sigmoid", "LeakyRelu", "Softplus"], [0.05], []),
])
def test_lstm_activations_with_parameters(acts, alpha, beta):
    params = {k: v for k, v in (("activation_alpha", alpha), ("activation_beta", beta)) if v}
    model = _rnn_model("LSTM", "forward", activations=acts, **params)
    _check(model, _rnn_feeds(model))


def test_default_parameter_activations_need_no_new_ir():
    """HardSigmoid(0.2, 0.5) and Elu(1) are the IR's hard_sigmoid_k2 and elu; Softsign as the cell fn."""
    model = _rnn_model("GRU", "forward", activations=["HardSigmoid", "Softsign"])
    _check(model, _rnn_feeds(model))
    model = _rnn_model("RNN", "forward", activations=["Elu"])
    _check(model, _rnn_feeds(model))


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_sequence_lens_input(direction):
    model = _rnn_model("GRU", direction, seq_lens=True, states=True)
    _check(model, _rnn_feeds(model))


# ---- shapes, dtypes, states ----------------------------------------------------------------------

def _embed_model():
    rng = np.random.default_rng(3)
    table = rng.standard_normal((10, 4)).astype(np.float32)
    nodes = [helper.make_node("Gather", ["table", "ids"], ["e"]),
             helper.make_node("ReduceSum", ["e", "axes"], ["y"], keepdims=0)]
    inputs = [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "time"])]
    return _model(nodes, inputs, [helper.make_tensor_value_info("y", F, None)],
                  [("table", table), ("axes", np.array([1], np.int64))])


def test_int64_ids_become_int32_with_valid_range():
    model = _embed_model()
    graph = from_onnx(model)
    assert graph.inputs[0].dtype == "int32" and graph.inputs[0].shape == ("batch", "time")
    ids = np.array([[1, 9, 0], [3, 3, 2]], np.int64)
    np.testing.assert_allclose(graph.run([ids])[0], _ort(model, {"ids": ids})[0], rtol=TOL, atol=TOL)
    from converter.api import compile as compile_graph
    spec = compile_graph(graph, "wasm").program.inputs[0]
    assert spec.dtype == "int32" and spec.valid_range == (0, 10)


def test_input_shapes_fix_symbolic_dims():
    graph = from_onnx(_embed_model(), input_shapes={"ids": [None, 7]})
    assert graph.inputs[0].shape == ("batch", 7)
    with pytest.raises(ConversionError, match="rank"):
        from_onnx(_embed_model(), input_shapes={"ids": [7]})
    with pytest.raises(ConversionError, match="not inputs"):
        from_onnx(_embed_model(), input_shapes={"nope": [1]})


def _step_model():
    rng = np.random.default_rng(4)
    W = rng.standard_normal((1, 4 * H, D)).astype(np.float32)
    R = rng.standard_normal((1, 4 * H, H)).astype(np.float32)
    node = helper.make_node("LSTM", ["x", "W", "R", "", "", "h", "c"], ["", "h_next", "c_next"],
                            hidden_size=H)
    st = [1, "batch", H]
    inputs = [helper.make_tensor_value_info("x", F, [1, "batch", D]),
              helper.make_tensor_value_info("h", F, st),
              helper.make_tensor_value_info("c", F, st)]
    outputs = [helper.make_tensor_value_info("h_next", F, st), helper.make_tensor_value_info("c_next", F, st)]
    return _model([node], inputs, outputs, [("W", W), ("R", R)])


def test_states_pair_inputs_with_outputs():
    graph = from_onnx(_step_model(), states=[("h", "h_next"), ("c", "c_next")])
    assert graph.meta["states"] == [{"input": "h", "output": "h_next"}, {"input": "c", "output": "c_next"}]
    with pytest.raises(ConversionError, match="--state x=h_next: input .* differ"):
        from_onnx(_step_model(), states=[("x", "h_next")])
    with pytest.raises(ConversionError, match="not in the model"):
        from_onnx(_step_model(), states=[("h", "nope")])


def test_torchscript_style_zero_state_keeps_batch_free():
    """Shape(x) -> Gather -> Unsqueeze -> Concat -> ConstantOfShape as initial_h: batch stays free and the
    zero state is no input at all."""
    rng = np.random.default_rng(5)
    W = rng.standard_normal((1, 3 * H, D)).astype(np.float32)
    R = rng.standard_normal((1, 3 * H, H)).astype(np.float32)
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "one"], ["b"], axis=0),
             helper.make_node("Unsqueeze", ["b", "zero"], ["b1"]),
             helper.make_node("Concat", ["ones", "b1", "hid"], ["shape"], axis=0),
             helper.make_node("ConstantOfShape", ["shape"], ["h0"]),
             helper.make_node("GRU", ["x", "W", "R", "", "", "h0"], ["Y", "Y_h"], hidden_size=H,
                              linear_before_reset=1)]
    inits = [("W", W), ("R", R), ("one", np.array(1, np.int64)), ("zero", np.array([0], np.int64)),
             ("ones", np.array([1], np.int64)), ("hid", np.array([H], np.int64))]
    model = _model(nodes, [helper.make_tensor_value_info("x", F, ["time", "batch", D])],
                   [helper.make_tensor_value_info("Y_h", F, None)], inits)
    graph = from_onnx(model)
    assert [v.name for v in graph.inputs] == ["x"] and graph.outputs[0].shape == (1, "batch", H)
    x = rng.standard_normal((T, 2, D)).astype(np.float32)
    _check(model, {"x": x})


# ---- external data -------------------------------------------------------------------------------

def _save_external(model, folder: Path, location="weights.bin"):
    from onnx.external_data_helper import convert_model_to_external_data
    convert_model_to_external_data(model, all_tensors_to_one_file=True, location=location, size_threshold=0)
    path = folder / "m.onnx"
    onnx.save_model(model, str(path))
    return path


def test_external_data_is_read(tmp_path):
    model = _rnn_model("LSTM", "forward", 1)
    feeds = _rnn_feeds(model, 1)
    want = _ort(model, feeds)
    path = _save_external(model, tmp_path)
    assert (tmp_path / "weights.bin").exists()
    got = from_onnx(path).run(feeds)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/passwd", "sub/../../x.bin"])
def test_external_data_escaping_the_folder_is_refused(tmp_path, location):
    model = _rnn_model("RNN")
    for init in model.graph.initializer:
        init.ClearField("raw_data")
        init.ClearField("float_data")
        init.data_location = TensorProto.EXTERNAL
        init.external_data.add(key="location", value=location)
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ConversionError, match="escapes the model's folder"):
        from_onnx(path)


def test_external_data_missing_or_short(tmp_path):
    path = _save_external(_rnn_model("RNN"), tmp_path)
    (tmp_path / "weights.bin").write_bytes(b"\0" * 8)
    with pytest.raises(ConversionError, match="does not hold the"):
        from_onnx(path)
    (tmp_path / "weights.bin").unlink()
    with pytest.raises(ConversionError, match="is missing next to the model"):
        from_onnx(path)


# ---- malformed files and unsupported content: one line each -------------------------------------

def _one_line(exc) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_not_protobuf_and_truncated(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x89PNG this is not an onnx file at all \xff\xff\xff")
    with pytest.raises(ConversionError, match="not a valid ONNX protobuf file") as e:
        from_onnx(bad)
    _one_line(e)
    data = _rnn_model("LSTM").SerializeToString()
    bad.write_bytes(data[:len(data) // 2])
    with pytest.raises(ConversionError, match="not a valid ONNX protobuf|no ONNX graph|initializer") as e:
        from_onnx(bad)
    _one_line(e)
    bad.write_bytes(b"")
    with pytest.raises(ConversionError, match="empty"):
        from_onnx(bad)
    with pytest.raises(ConversionError, match="no such ONNX file"):
        from_onnx(tmp_path / "missing.onnx")


def test_missing_initializer():
    model = _rnn_model("GRU")
    del model.graph.initializer[1]
    with pytest.raises(ConversionError,
                       match="reads 'R', which is no input, initializer or node output") as e:
        from_onnx(model)
    _one_line(e)


def test_cyclic_graph():
    nodes = [helper.make_node("Relu", ["b"], ["a"], name="first"), helper.make_node("Relu", ["a"], ["b"])]
    model = _model(nodes, [helper.make_tensor_value_info("x", F, [2])],
                   [helper.make_tensor_value_info("b", F, [2])])
    with pytest.raises(ConversionError, match="node 'first' .* reads 'b' before it is produced"):
        from_onnx(model)


def test_wrong_weight_shapes():
    model = _rnn_model("LSTM")
    model.graph.initializer[1].CopyFrom(numpy_helper.from_array(np.zeros((1, 4 * H, H + 1), np.float32), "R"))
    with pytest.raises(ConversionError, match=r"R has shape \(1, 24, 7\), expected \(1, 24, 6\)") as e:
        from_onnx(model)
    _one_line(e)


def test_unsupported_op_attr_opset_and_control_flow():
    x = helper.make_tensor_value_info("x", F, [2, 3])
    y = helper.make_tensor_value_info("y", F, None)
    with pytest.raises(ConversionError, match=r"node 'n' \(Hardmax\): op type Hardmax is not supported; "
                                              r"see docs/onnx.md"):
        from_onnx(_model([helper.make_node("Hardmax", ["x"], ["y"], name="n")], [x], [y]))
    with pytest.raises(ConversionError, match=r"\(LeakyRelu\): attribute 'beta' is not supported"):
        from_onnx(_model([helper.make_node("LeakyRelu", ["x"], ["y"], beta=1.0)], [x], [y]))
    with pytest.raises(ConversionError, match="opset 6 is outside the supported range"):
        from_onnx(_model([helper.make_node("Relu", ["x"], ["y"])], [x], [y], opset=6))
    body = helper.make_graph([], "body", [], [])
    loop = helper.make_node("Loop", ["", ""], [], body=body, name="L")
    with pytest.raises(ConversionError, match=r"node 'L' \(Loop\): control flow"):
        from_onnx(_model([helper.make_node("Relu", ["x"], ["y"]), loop], [x], [y]))
    custom = helper.make_node("Foo", ["x"], ["y"], domain="com.example")
    with pytest.raises(ConversionError, match="custom domain"):
        from_onnx(_model([custom], [x], [y]))


# ---- the command line ------------------------------------------------------------------------------

def _cli(*args):
    return subprocess.run([sys.executable, "-m", "converter", "onnx", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_convert_onnx_cli(tmp_path):
    path = tmp_path / "step.onnx"
    onnx.save_model(_step_model(), str(path))
    out = tmp_path / "web"
    r = _cli(path, "--backend", "wasm", "--out", out, "--state", "h=h_next", "--state", "c=c_next",
             "--input-shape", "x=1,2,4")
    assert r.returncode == 0, r.stderr
    for name in ("model.wasm.wlm", "webloom.js", "index.html"):
        assert (out / name).exists(), name
    assert "layers ->" in r.stdout
    from converter.bundle import read_bundle
    program = read_bundle(out / "model.wasm.wlm")
    roles = {io.name: (io.role, io.state_of) for io in program.inputs}
    assert roles["h"] == ("state", "h_next") and roles["x"][0] == "data"
    bad = _cli(path, "--backend", "wasm", "--out", out, "--state", "h")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "expected INPUT=OUTPUT" in bad.stderr
    bad = _cli(tmp_path / "none.onnx", "--backend", "wasm", "--out", out)
    assert bad.returncode == 2 and "no such ONNX file" in bad.stderr and "Traceback" not in bad.stderr


def test_malformed_attribute_is_one_line():
    x = helper.make_tensor_value_info("x", F, [2, 3, 4])
    node = helper.make_node("Transpose", ["x"], ["y"], perm=[5, 1], name="t")
    with pytest.raises(ConversionError, match=r"node 't' \(Transpose\)") as e:
        from_onnx(_model([node], [x], [helper.make_tensor_value_info("y", F, None)]))
    _one_line(e)
    node = helper.make_node("Softmax", ["x"], ["y"], axis="oops", name="s")
    with pytest.raises(ConversionError, match=r"node 's' \(Softmax\)"):
        from_onnx(_model([node], [x], [helper.make_tensor_value_info("y", F, None)]))


@pytest.mark.parametrize("op,inits", [
    ("ConstantOfShape", [("s", np.array([100000, 100000, 1000], np.int64))]),
    ("Range", [("a", np.array(0, np.int64)), ("b", np.array(10 ** 12, np.int64)),
               ("c", np.array(1, np.int64))]),
    ("Expand", [("a", np.ones((1, 1), np.float32)), ("s", np.array([10 ** 6, 10 ** 6], np.int64))]),
])
def test_huge_conversion_time_tensors_are_refused(op, inits):
    node = helper.make_node(op, [n for n, _ in inits], ["y"], name="big")
    model = _model([node], [], [helper.make_tensor_value_info("y", F, None)], inits)
    with pytest.raises(ConversionError, match=r"node 'big' .*would create a constant of shape") as e:
        from_onnx(model)
    _one_line(e)


# ---- --verify against onnxruntime --------------------------------------------------------------------

def _ids_step_model():
    """int64 ids -> embedding -> one LSTM step carrying (h, c): int64 feeds, states and a renamed output."""
    rng = np.random.default_rng(8)
    E = rng.standard_normal((7, D)).astype(np.float32) * 2
    W = rng.standard_normal((1, 4 * H, D)).astype(np.float32)
    R = rng.standard_normal((1, 4 * H, H)).astype(np.float32)
    nodes = [helper.make_node("Gather", ["E", "ids"], ["emb"]),
             helper.make_node("Unsqueeze", ["emb", "zero"], ["x"]),
             helper.make_node("LSTM", ["x", "W", "R", "", "", "h", "c"], ["", "h_next", "c_next"],
                              hidden_size=H),
             helper.make_node("Tanh", ["emb"], ["feat"])]
    st = [1, "batch", H]
    inputs = [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch"]),
              helper.make_tensor_value_info("h", F, st), helper.make_tensor_value_info("c", F, st)]
    outputs = [helper.make_tensor_value_info("feat", F, ["batch", D]),
               helper.make_tensor_value_info("h_next", F, st), helper.make_tensor_value_info("c_next", F, st)]
    return _model(nodes, inputs, outputs, [("E", E), ("W", W), ("R", R), ("zero", np.array([0], np.int64))])


@pytest.fixture
def onnx_verify(tmp_path, monkeypatch):
    """convert_onnx --verify on the ids model (wasm in Node only: no second Playwright inside pytest)."""
    pytest.importorskip("onnxruntime", reason="--verify compares with onnxruntime (requirements-dev.txt)")
    if not shutil.which("node"):
        pytest.skip("--verify runs the wasm bundle in Node, which is not installed")
    from converter import cli, verify
    monkeypatch.setattr(verify, "chromium_path", lambda: None)
    path = tmp_path / "ids.onnx"
    onnx.save_model(_ids_step_model(), str(path))
    rng = np.random.default_rng(9)      # states unlike each other and unlike zeros: a mix-up shows
    h, c = rng.uniform(-1, 1, (1, 2, H)), rng.uniform(-2, 2, (1, 2, H))
    inputs = {"tokens": [[2], [6, 0]], "h": [list(h.shape), h.ravel().tolist()],
              "c": [list(c.shape), c.ravel().tolist()]}
    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps({"inputs": {k: {"shape": s, "data": d} for k, (s, d) in inputs.items()}}))
    return lambda: cli.onnx_cli([str(path), "--backend", "wasm", "--out", str(tmp_path / "web"), "--verify",
                                 "--sample", str(sample),
                                 "--state", "h=h_next", "--state", "c=c_next", "--rename", "ids=tokens",
                                 "--rename", "feat=features", "--rename", "h_next=h_out"])


def test_verify_compares_with_onnxruntime(onnx_verify, capsys):
    assert onnx_verify() == 0
    out = capsys.readouterr().out
    assert "verify against onnxruntime " in out and "wasm (node): max abs" in out and " ok" in out, out
    assert "note: source framework not used" not in out and "+ the numpy interpreter" not in out


def test_verify_fails_when_onnxruntime_disagrees(onnx_verify, monkeypatch, capsys):
    import onnxruntime
    real = onnxruntime.InferenceSession.run

    def off(self, names, feeds, *args):
        assert feeds["ids"].dtype == np.int64 and set(feeds) == {"ids", "h", "c"}
        outs = real(self, names, feeds, *args)
        return [o + 1e-2 if n == "h_next" else o for n, o in zip(names, outs)]
    monkeypatch.setattr(onnxruntime.InferenceSession, "run", off)
    assert onnx_verify() == 3
    out = capsys.readouterr().out
    assert "verify against onnxruntime " in out and "verify FAILED for wasm (node)" in out, out


def test_onnxruntime_is_imported_only_for_verify(tmp_path):
    path = tmp_path / "ids.onnx"
    onnx.save_model(_ids_step_model(), str(path))
    code = ("import sys; from converter import cli; "
            "status = cli.onnx_cli([sys.argv[1], '--backend', 'wasm', '--out', sys.argv[2]]); "
            "print(status, 'onnxruntime' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "web")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.stdout.strip().splitlines()[-1] == "0 False", done.stdout + done.stderr
