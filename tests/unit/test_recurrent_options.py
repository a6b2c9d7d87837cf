"""The ONNX recurrent options of the IR (peepholes, clip, input_forget, output_activation, activation
params) against onnxruntime itself: tiny ONNX LSTM/GRU/RNN nodes built with onnx.helper, run by
onnxruntime, and the IR's numpy reference on the same weights (re-laid out: ONNX LSTM gates i o f c ->
ifco, peepholes i o f -> i f o). Weights are large enough to saturate gates; batch 3 with per-row
lengths (as a mask). Tolerance 1e-5 abs + rel.

What onnxruntime showed and the reference follows: ``clip`` bounds the input of every gate and candidate
activation after the peephole term is added (not the cell state before the output activation);
``input_forget`` is f = 1 - i; the output activation h applies to c unclipped. A sequence length of 0
gives onnxruntime Y_h = 0 rather than the initial state: the ONNX frontend handles that case.
"""

from __future__ import annotations

import itertools

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from converter.ir.graph import Graph

ONNX_ACT = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Relu": "relu", "HardSigmoid": "hard_sigmoid_ab",
            "LeakyRelu": "leaky_relu", "Elu": "elu", "ThresholdedRelu": "thresholded_relu",
            "ScaledTanh": "scaled_tanh", "Affine": "affine", "Softsign": "softsign", "Softplus": "softplus"}
PARAMS = {"HardSigmoid": (0.3, 0.4), "LeakyRelu": (0.05,), "Elu": (0.7,), "ThresholdedRelu": (0.2,),
          "ScaledTanh": (1.3, 0.7), "Affine": (0.8, 0.1)}
T, B, D, H = 4, 3, 2, 5
LENGTHS = (4, 2, 1)
TOL = 1e-5


def _onnx(op: str, inputs: dict, attrs: dict, outputs: int) -> list:
    order = ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"]
    names = [n if n in inputs else "" for n in order]
    while names and not names[-1]:
        names.pop()
    outs = ["Y", "Y_h", "Y_c"][:outputs]
    node = helper.make_node(op, names, outs, **attrs)
    dtype = {np.dtype(np.int32): TensorProto.INT32, np.dtype(np.float32): TensorProto.FLOAT}
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, dtype[a.dtype], a.shape)
                                            for n, a in inputs.items()],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, inputs)


def _activation_attrs(acts) -> dict:
    """ONNX consumes activation_alpha / activation_beta in order, by the functions that take them."""
    alphas = [PARAMS[a][0] for a in acts if PARAMS.get(a)]
    betas = [PARAMS[a][1] for a in acts if len(PARAMS.get(a, ())) > 1]
    attrs = {"activations": list(acts)}
    if alphas:
        attrs["activation_alpha"] = alphas
    if betas:
        attrs["activation_beta"] = betas
    return attrs


def _ir(op: str, feeds: dict, attrs: dict) -> list:
    """Run the IR op (hoisted form, xw given) in the interpreter."""
    g = Graph("options")
    values = {k: (g.input(k, "float32", v.shape) if k in ("xw", "h0", "c0", "mask") else g.const(k, v))
              for k, v in feeds.items() if v is not None}
    order = {"LSTMRecurrence": ("xw", "U", "h0", "c0", "mask", "p"),
             "GRURecurrence": ("xw", "U", "rb", "h0", "mask"),
             "SimpleRNNRecurrence": ("xw", "U", "h0", "mask")}[op]
    g.outputs = g.add(op, [values.get(k) for k in order], {**attrs, "return_sequences": True,
                                                         "zero_output_for_mask": True})
    return g.run({k: v for k, v in feeds.items() if k in ("xw", "h0", "c0", "mask") and v is not None})


def _common(rng, gates: int, lengths):
    x = rng.uniform(-3, 3, (T, B, D)).astype(np.float32)
    w = rng.uniform(-2, 2, (1, gates * H, D)).astype(np.float32)
    r = rng.uniform(-2, 2, (1, gates * H, H)).astype(np.float32)
    b = rng.uniform(-1, 1, (1, 2 * gates * H)).astype(np.float32)
    h0 = rng.uniform(-1, 1, (1, B, H)).astype(np.float32)
    inputs = {"X": x, "W": w, "R": r, "B": b, "initial_h": h0}
    mask = None
    if lengths:
        inputs["sequence_lens"] = np.array(lengths, np.int32)
        mask = (np.arange(T)[None] < np.array(lengths)[:, None]).astype(np.float32)
    return inputs, mask


def _close(got, want, what):
    got, want = np.asarray(got), np.asarray(want)
    bad = np.abs(got - want) > TOL + TOL * np.abs(want)
    assert not bad.any(), f"{what}: max diff {np.abs(got - want).max()}"


def _params(a):
    return PARAMS.get(a, ())


def _ifco(m):
    i, o, f, c = np.split(m, 4, axis=0)
    return np.concatenate([i, f, c, o], axis=0)


LSTM_ACTS = (("Sigmoid", "Tanh", "Tanh"), ("HardSigmoid", "Elu", "ScaledTanh"), ("Sigmoid", "Relu", "Affine"))


@pytest.mark.parametrize("clip,input_forget,peepholes",
                         list(itertools.product([0.0, 0.7], [False, True], [False, True])))
def test_lstm_options_match_onnxruntime(clip, input_forget, peepholes):
    rng = np.random.default_rng(int(clip * 10) + 2 * input_forget + 4 * peepholes)
    for acts, lengths in itertools.product(LSTM_ACTS, (None, LENGTHS)):
        inputs, mask = _common(rng, 4, lengths)
        inputs["initial_c"] = rng.uniform(-1, 1, (1, B, H)).astype(np.float32)
        attrs = {"hidden_size": H, **_activation_attrs(acts)}
        if clip:
            attrs["clip"] = clip
        if input_forget:
            attrs["input_forget"] = 1
        p = None
        if peepholes:
            inputs["P"] = rng.uniform(-1, 1, (1, 3 * H)).astype(np.float32)
            pi, po, pf = np.split(inputs["P"][0], 3)
            p = np.concatenate([pi, pf, po])
        y, yh, yc = _onnx("LSTM", inputs, attrs, 3)
        b = inputs["B"][0]
        xw = np.einsum("tbd,gd->btg", inputs["X"], _ifco(inputs["W"][0]))
        xw = xw + _ifco(b[:4 * H]) + _ifco(b[4 * H:])
        f, g, h = acts
        got = _ir("LSTMRecurrence", {"xw": xw.astype(np.float32), "U": _ifco(inputs["R"][0]).T.copy(),
                                     "h0": inputs["initial_h"][0], "c0": inputs["initial_c"][0],
                                     "mask": mask, "p": p},
                  {"activation": ONNX_ACT[g], "recurrent_activation": ONNX_ACT[f], "clip": clip,
                   "activation_params": _params(g), "recurrent_activation_params": _params(f),
                   "input_forget": input_forget, "output_activation": ONNX_ACT[h],
                   "output_activation_params": _params(h)})
        what = f"LSTM {acts} clip={clip} input_forget={input_forget} peepholes={peepholes} lengths={lengths}"
        for ours, theirs, name in zip(got, (y[:, 0].transpose(1, 0, 2), yh[0], yc[0]), ("Y", "Y_h", "Y_c")):
            _close(ours, theirs, f"{what} {name}")


@pytest.mark.parametrize("clip,linear_before_reset", list(itertools.product([0.0, 0.7], [False, True])))
def test_gru_options_match_onnxruntime(clip, linear_before_reset):
    rng = np.random.default_rng(int(clip * 10) + linear_before_reset)
    for acts, lengths in itertools.product((("Sigmoid", "Tanh"), ("HardSigmoid", "LeakyRelu"),
                                            ("Sigmoid", "ThresholdedRelu")), (None, LENGTHS)):
        inputs, mask = _common(rng, 3, lengths)
        attrs = {"hidden_size": H, "linear_before_reset": int(linear_before_reset), **_activation_attrs(acts)}
        if clip:
            attrs["clip"] = clip
        y, yh = _onnx("GRU", inputs, attrs, 2)
        wb, rb = inputs["B"][0, :3 * H], inputs["B"][0, 3 * H:]
        xw = np.einsum("tbd,gd->btg", inputs["X"], inputs["W"][0]) + wb + (0 if linear_before_reset else rb)
        f, g = acts
        got = _ir("GRURecurrence", {"xw": xw.astype(np.float32), "U": inputs["R"][0].T.copy(),
                                    "rb": rb if linear_before_reset else None,
                                    "h0": inputs["initial_h"][0], "mask": mask},
                  {"activation": ONNX_ACT[g], "recurrent_activation": ONNX_ACT[f], "clip": clip,
                   "reset_after": linear_before_reset, "activation_params": _params(g),
                   "recurrent_activation_params": _params(f)})
        what = f"GRU {acts} clip={clip} linear_before_reset={linear_before_reset} lengths={lengths}"
        _close(got[0], y[:, 0].transpose(1, 0, 2), f"{what} Y")
        _close(got[1], yh[0], f"{what} Y_h")


@pytest.mark.parametrize("clip", [0.0, 0.7])
def test_rnn_options_match_onnxruntime(clip):
    rng = np.random.default_rng(int(clip * 10))
    for act, lengths in itertools.product(("Tanh", "Relu", "Softsign", "Softplus", "Affine", "ScaledTanh"),
                                          (None, LENGTHS)):
        inputs, mask = _common(rng, 1, lengths)
        attrs = {"hidden_size": H, **_activation_attrs([act])}
        if clip:
            attrs["clip"] = clip
        y, yh = _onnx("RNN", inputs, attrs, 2)
        xw = np.einsum("tbd,gd->btg", inputs["X"], inputs["W"][0]) + inputs["B"][0, :H] + inputs["B"][0, H:]
        got = _ir("SimpleRNNRecurrence", {"xw": xw.astype(np.float32), "U": inputs["R"][0].T.copy(),
                                          "h0": inputs["initial_h"][0], "mask": mask},
                  {"activation": ONNX_ACT[act], "clip": clip, "activation_params": _params(act)})
        _close(got[0], y[:, 0].transpose(1, 0, 2), f"RNN {act} clip={clip} lengths={lengths} Y")
        _close(got[1], yh[0], f"RNN {act} clip={clip} lengths={lengths} Y_h")


def test_full_lstm_with_peepholes_equals_its_hoisted_form():
    """LSTM(x, W, U, b, .., p) == LSTMRecurrence(x @ W + b, U, .., p) (what hoisting relies on)."""
    from converter.passes import optimize
    rng = np.random.default_rng(5)
    g = Graph("peep")
    x = g.input("x", "float32", ("batch", T, D))
    consts = [g.const(n, rng.uniform(-2, 2, s).astype(np.float32))
              for n, s in (("W", (D, 4 * H)), ("U", (H, 4 * H)), ("b", (4 * H,)))]
    p = g.const("p", rng.uniform(-1, 1, 3 * H).astype(np.float32))
    g.outputs = g.add("LSTM", [x, *consts, None, None, None, p],
                      {"return_sequences": True, "clip": 0.9, "input_forget": True})
    feeds = {"x": rng.uniform(-3, 3, (B, T, D)).astype(np.float32)}
    want = g.run(feeds)
    optimize(g, verify=True)
    assert [n.op for n in g.nodes] == ["MatMul", "LSTMRecurrence"]
    assert g.nodes[1].input("p") is not None
    for got, expected in zip(g.run(feeds), want):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
