"""The op catalogue: shape rules (symbolic dims), hand-computed cases, edge cases, and the recurrent ops
against independent per-sample, per-step implementations written here in float64."""

import itertools
import math

import numpy as np
import pytest

from converter.ir import Graph, dims
from converter.ops import registry
from converter.ops.activations import ACTIVATIONS, ELEMENTWISE_FNS
from converter.ops.common import OpError
from converter.ops.recurrent import LSTM_CELL
from converter.ops.registry import ValueInfo

RNG = np.random.default_rng(7)

# The catalogue of docs/design.md section 1: op -> (inputs, attrs with defaults; None = required).
_RNN = {"activation": "tanh", "return_sequences": False, "go_backwards": False, "zero_output_for_mask": False,
        "clip": 0.0, "activation_params": ()}
_GATED = {**_RNN, "recurrent_activation": "sigmoid", "recurrent_activation_params": ()}
_LSTM = {**_GATED, "input_forget": False, "output_activation": "", "output_activation_params": ()}
CATALOGUE = {
    "Unary": (("x",), {"fn": None, "alpha": 0.0, "beta": 0.0}),
    "Binary": (("a", "b"), {"fn": None}),
    "FusedElementwise": (("xs*",), {"program": None}),
    "Softmax": (("x",), {"axis": -1}),
    "Cast": (("x",), {"to": None}),
    "Identity": (("x",), {}),
    "MatMul": (("x", "w", "b?"), {"activation": "linear", "alpha": 0.0}),
    "Gather": (("table", "idx"), {}),
    "LSTM": (("x", "W", "U", "b?", "h0?", "c0?", "mask?", "p?"), {**_LSTM, "gate_layout": "ifco"}),
    "GRU": (("x", "W", "U", "b?", "rb?", "h0?", "mask?"), {**_GATED, "gate_layout": "zrh", "reset_after": True}),
    "SimpleRNN": (("x", "W", "U", "b?", "h0?", "mask?"), _RNN),
    "LSTMRecurrence": (("xw", "U", "h0?", "c0?", "mask?", "p?"), _LSTM),
    "GRURecurrence": (("xw", "U", "rb?", "h0?", "mask?"), {**_GATED, "reset_after": True}),
    "SimpleRNNRecurrence": (("xw", "U", "h0?", "mask?"), _RNN),
    "Where": (("cond", "x", "y"), {}),
    "LengthMask": (("lengths", "like"), {}),
    "NotEqualMask": (("x",), {"value": 0.0, "reduce_last": False}),
    "Reduce": (("x", "mask?"), {"fn": "mean", "axes": (1,), "keepdims": False}),
    "Reshape": (("x",), {"shape": None}),
    "Transpose": (("x",), {"perm": None}),
    "Concat": (("xs*",), {"axis": None}),
    "Reverse": (("x",), {"axis": 1}),
    "Tile": (("x",), {"repeats": None}),
    "Slice": (("x",), {"axis": None, "start": None, "end": None}),
    "Pad": (("x",), {"pads": None, "value": 0.0}),
    "Conv": (("x", "w", "b?"), {"strides": None, "dilations": None, "pads": None,
                                "activation": "linear", "alpha": 0.0}),
    "Pool": (("x",), {"fn": None, "size": None, "strides": None, "pads": None}),
    "LayerNorm": (("x", "gamma?", "beta?"), {"axes": (-1,), "epsilon": 1e-3}),
}


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def info(shape, dtype="float32"):
    return ValueInfo(dtype, tuple(shape))


def infer(op, *infos, **attrs):
    opdef = registry.get(op)
    full = {**opdef.attrs, **attrs}
    if not opdef.variadic:
        infos = infos + (None,) * (len(opdef.inputs) - len(infos))
    return opdef.infer(*infos, attrs=full)


def ref(op, *arrays, **attrs):
    opdef = registry.get(op)
    if not opdef.variadic:
        arrays = arrays + (None,) * (len(opdef.inputs) - len(arrays))
    return opdef.reference(*arrays, **{**opdef.attrs, **attrs})


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=tol, atol=tol)


# ---- catalogue ---------------------------------------------------------------------------------------

def test_every_catalogue_op_is_registered_with_the_contract_signature():
    ops = registry.all_ops()
    assert set(ops) == set(CATALOGUE)
    for name, (inputs, attrs) in CATALOGUE.items():
        assert ops[name].inputs == inputs, name
        assert ops[name].attrs == attrs, name


def test_elementwise_table_covers_activations_and_binaries():
    assert {n for n, (k, _) in ELEMENTWISE_FNS.items() if k == 1} == set(ACTIVATIONS)
    assert {n for n, (k, _) in ELEMENTWISE_FNS.items() if k == 2} == \
        {"add", "sub", "mul", "div", "max", "min"}


# ---- activations -------------------------------------------------------------------------------------

X = np.array([-3.0, -1.0, 0.0, 0.5, 2.0, 7.0], np.float32)
SIG = 1 / (1 + np.exp(-X.astype(np.float64)))
EXPECTED = {
    "linear": X,
    "relu": [0, 0, 0, 0.5, 2, 7],
    "relu6": [0, 0, 0, 0.5, 2, 6],
    "sigmoid": SIG,
    "hard_sigmoid": [0, 1 / 3, 0.5, 0.5 + 0.5 / 6, 0.5 + 2 / 6, 1],
    "hard_sigmoid_k2": [0, 0.3, 0.5, 0.6, 0.9, 1],
    "tanh": np.tanh(X.astype(np.float64)),
    "softsign": [-0.75, -0.5, 0, 1 / 3, 2 / 3, 7 / 8],
    "softplus": np.log1p(np.exp(X.astype(np.float64))),
    "selu": [1.0507009873554805 * 1.6732632423543772 * (math.exp(v) - 1) if v < 0 else 1.0507009873554805 * v
             for v in X.tolist()],
    "exponential": np.exp(X.astype(np.float64)),
    "swish": X * SIG,
    "gelu_tanh": [0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))
                  for v in X.tolist()],
    "gelu": [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in X.tolist()],
    "neg": -X,
    "abs": np.abs(X),
    "square": X * X,
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_activation_values(name):
    close(ACTIVATIONS[name](X, 0.0), EXPECTED[name])


def test_parameterized_activations_use_alpha():
    close(ACTIVATIONS["elu"](X, 1.0), [math.expm1(-3), math.expm1(-1), 0, 0.5, 2, 7])
    close(ACTIVATIONS["elu"](X, 0.5), [0.5 * math.expm1(-3), 0.5 * math.expm1(-1), 0, 0.5, 2, 7])
    close(ACTIVATIONS["leaky_relu"](X, 0.2), [-0.6, -0.2, 0, 0.5, 2, 7])


def test_positive_domain_functions():
    p = np.array([0.25, 1.0, 4.0], np.float32)
    close(ACTIVATIONS["log"](p, 0), np.log(p))
    close(ACTIVATIONS["sqrt"](p, 0), [0.5, 1, 2])
    close(ACTIVATIONS["rsqrt"](p, 0), [2, 1, 0.5])
    close(ACTIVATIONS["reciprocal"](p, 0), [4, 1, 0.25])


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_nan_propagates_and_no_warnings(name):
    edge = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30], np.float32)
    y = ACTIVATIONS[name](edge, 0.1)
    assert y.dtype == np.float32 and y.shape == edge.shape
    assert np.isnan(y[0]), f"{name}(NaN) must be NaN"


def test_saturating_activations_at_infinity():
    edge = np.array([np.inf, -np.inf, 1e30, -1e30], np.float32)
    close(ACTIVATIONS["sigmoid"](edge, 0), [1, 0, 1, 0])
    close(ACTIVATIONS["tanh"](edge, 0), [1, -1, 1, -1])
    close(ACTIVATIONS["hard_sigmoid"](edge, 0), [1, 0, 1, 0])
    close(ACTIVATIONS["softplus"](edge[2:], 0), [1e30, 0], tol=1e-6)
    assert ACTIVATIONS["softplus"](edge, 0)[0] == np.inf
    close(ACTIVATIONS["relu"](edge, 0), [np.inf, 0, 1e30, 0])
    close(ACTIVATIONS["elu"](edge, 1.0), [np.inf, -1, 1e30, -1])


# ---- elementwise ops ---------------------------------------------------------------------------------

def test_unary_shape_rule_and_errors():
    assert infer("Unary", info(["batch", "time", 3]), fn="relu") == [("float32", ("batch", "time", 3))]
    with pytest.raises(OpError, match="unknown fn"):
        infer("Unary", info([2]), fn="nope")
    with pytest.raises(OpError, match="float32"):
        infer("Unary", info([2], "int32"), fn="relu")
    with pytest.raises(OpError, match="required"):
        infer("Unary", info([2]))


def test_unary_empty_batch():
    (y,) = ref("Unary", np.zeros((0, 3), np.float32), fn="gelu")
    assert y.shape == (0, 3)


def test_binary_broadcast_with_symbols():
    assert infer("Binary", info(["batch", "time", 4]), info([4]), fn="add")[0][1] == ("batch", "time", 4)
    assert infer("Binary", info(["batch", 1, 4]), info([1, "time", 1]), fn="mul")[0][1] == \
        ("batch", "time", 4)
    with pytest.raises(OpError, match="broadcast"):
        infer("Binary", info(["batch", 3]), info([4]), fn="add")
    with pytest.raises(OpError, match="dtypes differ"):
        infer("Binary", info([3]), info([3], "int32"), fn="add")


def test_binary_values_and_nan():
    a = np.array([[1.0, np.nan, 3.0]], np.float32)
    b = np.array([[2.0], [0.5]], np.float32)
    (y,) = ref("Binary", a, b, fn="max")
    np.testing.assert_array_equal(y, [[2, np.nan, 3], [1, np.nan, 3]])
    close(ref("Binary", a[:, ::2], b, fn="div")[0], [[0.5, 1.5], [2, 6]])
    close(ref("Binary", a[:, ::2], b, fn="sub")[0], [[-1, 1], [0.5, 2.5]])
    close(ref("Binary", a[:, ::2], b, fn="min")[0], [[1, 2], [0.5, 0.5]])


def test_fused_elementwise_equals_the_chain():
    x, y = f32(2, 3), f32(3)
    program = (("mul", "in0", "in1"), ("elu", "t0", 0.5), ("add", "t1", "in0"), ("sigmoid", "t2"))
    (got,) = ref("FusedElementwise", x, y, program=program)
    want = ACTIVATIONS["sigmoid"](ACTIVATIONS["elu"](x * y, 0.5) + x, 0)
    close(got, want)
    assert infer("FusedElementwise", info(["batch", 3]), info([3]), program=program) == \
        [("float32", ("batch", 3))]


def test_fused_elementwise_output_has_the_broadcast_shape_of_all_inputs():
    (y,) = ref("FusedElementwise", f32(3), f32(2, 3), program=(("relu", "in0"),))
    assert y.shape == (2, 3)


@pytest.mark.parametrize("program", [(("add", "in0", "t0"),), (("relu", "in2"),), (("nope", "in0"),),
                                     (("add", "in0"),)])
def test_fused_elementwise_rejects_bad_programs(program):
    with pytest.raises(OpError):
        infer("FusedElementwise", info([3]), info([3]), program=program)


def test_softmax():
    x = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, -np.inf]], np.float32)
    (y,) = ref("Softmax", x)
    e = np.exp([1.0, 2.0, 3.0])
    close(y, [e / e.sum(), [0.5, 0.5, 0.0]])
    close(ref("Softmax", x[:1].T, axis=0)[0], (e / e.sum())[:, None])
    assert ref("Softmax", np.zeros((0, 3), np.float32))[0].shape == (0, 3)
    with pytest.raises(OpError, match="axis"):
        infer("Softmax", info([2, 3]), axis=2)


def test_cast_truncates_toward_zero():
    (y,) = ref("Cast", np.array([-1.7, -0.2, 0.9, 2.5], np.float32), to="int32")
    assert y.dtype == np.int32 and y.tolist() == [-1, 0, 0, 2]
    assert ref("Cast", np.array([3], np.int32), to="float32")[0].dtype == np.float32
    assert infer("Cast", info(["batch"]), to="int32") == [("int32", ("batch",))]


def test_identity():
    x = f32(2, 2)
    assert ref("Identity", x)[0] is x
    assert infer("Identity", info(["batch", 2], "int32")) == [("int32", ("batch", 2))]


# ---- linear / lookup ---------------------------------------------------------------------------------

def test_matmul_shape_rule_keeps_leading_dims():
    assert infer("MatMul", info(["batch", "time", 3]), info([3, 5]), info([5])) == \
        [("float32", ("batch", "time", 5))]
    with pytest.raises(OpError, match="last dim"):
        infer("MatMul", info(["batch", 4]), info([3, 5]))
    with pytest.raises(OpError, match="b's length"):
        infer("MatMul", info(["batch", 3]), info([3, 5]), info([4]))
    with pytest.raises(OpError, match="activation"):
        infer("MatMul", info([2, 3]), info([3, 5]), activation="bogus")


def test_matmul_values():
    x = np.array([[1.0, 2.0], [-1.0, 0.0]], np.float32)
    w = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]], np.float32)
    b = np.array([0.0, -3.0, 0.5], np.float32)
    close(ref("MatMul", x, w, b)[0], [[1, -1, 0.5], [-1, -3, -1.5]])
    close(ref("MatMul", x, w, b, activation="relu")[0], [[1, 0, 0.5], [0, 0, 0]])
    close(ref("MatMul", x, w, b, activation="leaky_relu", alpha=0.5)[0],
          [[1, -0.5, 0.5], [-0.5, -1.5, -0.75]])
    assert ref("MatMul", np.zeros((0, 4, 2), np.float32), w)[0].shape == (0, 4, 3)


def test_gather():
    table = np.arange(12, dtype=np.float32).reshape(4, 3)
    idx = np.array([[3, 0], [1, 1]], np.int32)
    close(ref("Gather", table, idx)[0], [[[9, 10, 11], [0, 1, 2]], [[3, 4, 5], [3, 4, 5]]])
    assert infer("Gather", info([4, 3]), info(["batch", "time"], "int32")) == \
        [("float32", ("batch", "time", 3))]
    with pytest.raises(OpError, match="int32"):
        infer("Gather", info([4, 3]), info(["batch"]))
    for bad in (4, -1):
        with pytest.raises(IndexError, match="outside"):
            ref("Gather", table, np.array([0, bad], np.int32))


# ---- recurrent: independent per-sample, per-step implementations (float64) ---------------------------

def sig(v):
    return 1 / (1 + np.exp(-v))


def per_step(cell, x, states, mask, go_backwards, return_sequences, zero_output):
    """Loop sample by sample, step by step; ``cell(n, t, states) -> states`` with states[0] = output."""
    batch, time = x.shape[:2]
    ys, finals = [], []
    for n in range(batch):
        st = [s[n].astype(np.float64) for s in states]
        prev, outs = np.zeros_like(st[0]), []
        for t in (reversed(range(time)) if go_backwards else range(time)):
            if mask is None or mask[n, t]:
                st = cell(n, t, st)
                out = st[0]
            else:
                out = np.zeros_like(prev) if zero_output else prev
            prev = out
            outs.append(out)
        ys.append(np.array(outs) if return_sequences else prev)
        finals.append(st)
    return [np.array(ys)] + [np.array([f[k] for f in finals]) for k in range(len(states))]


def lstm_cell(x, W, U, b):
    H = U.shape[0]

    def cell(n, t, st):
        h, c = st
        z = x[n, t] @ W + b + h @ U
        i, f, g, o = sig(z[:H]), sig(z[H:2 * H]), np.tanh(z[2 * H:3 * H]), sig(z[3 * H:])
        c = f * c + i * g
        return [o * np.tanh(c), c]
    return cell


def gru_cell(x, W, U, b, rb, reset_after):
    H = U.shape[0]

    def cell(n, t, st):
        (h,) = st
        xz, xr, xh = np.split(x[n, t] @ W + b, 3)
        if reset_after:
            rz, rr, rh = np.split(h @ U + rb, 3)
            z, r = sig(xz + rz), sig(xr + rr)
            hh = np.tanh(xh + r * rh)
        else:
            z, r = sig(xz + h @ U[:, :H]), sig(xr + h @ U[:, H:2 * H])
            hh = np.tanh(xh + (r * h) @ U[:, 2 * H:])
        return [z * h + (1 - z) * hh]
    return cell


def rnn_cell(x, W, U, b):
    return lambda n, t, st: [np.tanh(x[n, t] @ W + b + st[0] @ U)]


B, T, D, H = 3, 5, 4, 3
MASK = np.array([[1, 1, 1, 0, 0], [0, 0, 1, 1, 1], [1, 0, 1, 0, 1]], np.float32)
LOOPS = [dict(mask=m, go_backwards=g, return_sequences=r, zero_output=z)
         for m, g, r, z in itertools.product([None, MASK], [False, True], [False, True], [False, True])
         if m is not None or not z]


def loop_attrs(case):
    return dict(go_backwards=case["go_backwards"], return_sequences=case["return_sequences"],
                zero_output_for_mask=case["zero_output"])


@pytest.mark.parametrize("with_states", [False, True])
@pytest.mark.parametrize("case", LOOPS)
def test_lstm_against_per_step(case, with_states):
    x, W, U, b = f32(B, T, D), f32(D, 4 * H), f32(H, 4 * H), f32(4 * H)
    h0, c0 = (f32(B, H), f32(B, H)) if with_states else (None, None)
    got = ref("LSTM", x, W, U, b, h0, c0, case["mask"], **loop_attrs(case))
    zeros = np.zeros((B, H), np.float32)
    want = per_step(lstm_cell(x, W, U, b), x, [zeros if h0 is None else h0, zeros if c0 is None else c0],
                    case["mask"], case["go_backwards"], case["return_sequences"], case["zero_output"])
    for g, w in zip(got, want):
        close(g, w)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("case", LOOPS)
def test_gru_against_per_step(case, reset_after):
    x, W, U, b, h0 = f32(B, T, D), f32(D, 3 * H), f32(H, 3 * H), f32(3 * H), f32(B, H)
    rb = f32(3 * H) if reset_after else None
    got = ref("GRU", x, W, U, b, rb, h0, case["mask"], reset_after=reset_after, **loop_attrs(case))
    cell = gru_cell(x, W, U, b, rb, reset_after)
    want = per_step(cell, x, [h0], case["mask"], case["go_backwards"], case["return_sequences"],
                    case["zero_output"])
    for g, w in zip(got, want):
        close(g, w)


@pytest.mark.parametrize("case", LOOPS)
def test_simple_rnn_against_per_step(case):
    x, W, U, b = f32(B, T, D), f32(D, H), f32(H, H), f32(H)
    got = ref("SimpleRNN", x, W, U, b, None, case["mask"], **loop_attrs(case))
    want = per_step(rnn_cell(x, W, U, b), x, [np.zeros((B, H), np.float32)], case["mask"],
                    case["go_backwards"], case["return_sequences"], case["zero_output"])
    for g, w in zip(got, want):
        close(g, w)


def test_recurrent_activations_are_configurable():
    x, W, U = f32(2, 3, D), f32(D, 4 * H), f32(H, 4 * H)
    y_k2 = ref("LSTM", x, W, U, recurrent_activation="hard_sigmoid_k2", activation="relu")[0]
    y_default = ref("LSTM", x, W, U)[0]
    assert not np.allclose(y_k2, y_default)
    hs = lambda v: np.clip(0.2 * v + 0.5, 0, 1)  # noqa: E731
    z = x[:, 0] @ W
    c = hs(z[:, :H]) * np.maximum(z[:, 2 * H:3 * H], 0)
    close(ref("LSTM", x[:, :1], W, U, recurrent_activation="hard_sigmoid_k2", activation="relu")[0],
          hs(z[:, 3 * H:]) * np.maximum(c, 0))


def test_recurrence_ops_equal_full_ops_with_hoisted_projection():
    x, mask = f32(B, T, D), MASK
    attrs = dict(return_sequences=True, go_backwards=True)
    W, U, b, h0, c0 = f32(D, 4 * H), f32(H, 4 * H), f32(4 * H), f32(B, H), f32(B, H)
    full = ref("LSTM", x, W, U, b, h0, c0, mask, **attrs)
    hoisted = ref("LSTMRecurrence", ref("MatMul", x, W, b)[0], U, h0, c0, mask, **attrs)
    for a, c in zip(full, hoisted):
        close(a, c)
    W, U, b, rb = f32(D, 3 * H), f32(H, 3 * H), f32(3 * H), f32(3 * H)
    full = ref("GRU", x, W, U, b, rb, h0, mask, **attrs)
    hoisted = ref("GRURecurrence", ref("MatMul", x, W, b)[0], U, rb, h0, mask, **attrs)
    for a, c in zip(full, hoisted):
        close(a, c)
    W, U, b = f32(D, H), f32(H, H), f32(H)
    full = ref("SimpleRNN", x, W, U, b, h0, mask, **attrs)
    hoisted = ref("SimpleRNNRecurrence", ref("MatMul", x, W, b)[0], U, h0, mask, **attrs)
    for a, c in zip(full, hoisted):
        close(a, c)


def to_interleaved(a):
    """ifco [.., 4H] -> Chainer's per-unit [a_j, i_j, f_j, o_j] (a = the cell candidate, ifco's c)."""
    i, f, c, o = np.split(a, 4, axis=-1)
    return np.stack([c, i, f, o], axis=-1).reshape(a.shape)


def test_interleaved_gate_layout_equals_ifco_after_permutation():
    x, W, U, b = f32(B, T, D), f32(D, 4 * H), f32(H, 4 * H), f32(4 * H)
    want = ref("LSTM", x, W, U, b, return_sequences=True)
    got = ref("LSTM", x, to_interleaved(W), to_interleaved(U), to_interleaved(b), return_sequences=True,
              gate_layout="aifo_interleaved")
    for g, w in zip(got, want):
        close(g, w)
    np.testing.assert_array_equal(LSTM_CELL.to_canonical(to_interleaved(U), "aifo_interleaved"), U)
    # unit 0's four columns are [a_0, i_0, f_0, o_0]
    np.testing.assert_array_equal(to_interleaved(b)[:4], [b[2 * H], b[0], b[H], b[3 * H]])


def test_recurrent_shape_rules_with_symbols():
    x, W, U = info(["batch", "time", D]), info([D, 4 * H]), info([H, 4 * H])
    h0, mask = info(["batch", H]), info(["batch", "time"])
    assert infer("LSTM", x, W, U, info([4 * H]), h0, h0, mask) == [("float32", ("batch", H))] * 3
    assert infer("LSTM", x, W, U, return_sequences=True)[0] == ("float32", ("batch", "time", H))
    assert infer("LSTMRecurrence", info(["batch", "time", 4 * H]), U, None, None, mask) == \
        [("float32", ("batch", H))] * 3
    assert len(infer("GRU", x, info([D, 3 * H]), info([H, 3 * H]), None, info([3 * H]))) == 2
    assert infer("SimpleRNNRecurrence", info(["batch", "time", H]), info([H, H]), return_sequences=True) \
        == [("float32", ("batch", "time", H)), ("float32", ("batch", H))]


@pytest.mark.parametrize("op, args, attrs, match", [
    ("LSTM", ([2, "time", D], [D + 1, 4 * H], [H, 4 * H]), {}, "W's rows"),
    ("LSTM", (["batch", "time", D], [D, 4 * H], [H, 3 * H]), {}, "width"),
    ("LSTM", (["batch", "time", D], [D, 4 * H], [H, 4 * H], None, [2, H]), {}, "batch dim"),
    ("LSTM", (["batch", "time", D], [D, 4 * H], [H, 4 * H]), {"gate_layout": "ifxo"}, "gate_layout"),
    ("GRU", (["batch", "time", D], [D, 3 * H], [H, 3 * H], None, [3 * H]), {"reset_after": False}, "rb"),
    ("GRU", (["batch", "time", D], [D, 3 * H], [H, 3 * H]), {"gate_layout": "rzx"}, "zrh"),
    ("GRURecurrence", (["batch", "time", 3 * H], [H, 3 * H], None, None, ["batch", 4]), {}, "mask"),
    ("SimpleRNN", (["batch", D], [D, H], [H, H]), {}, "rank 3"),
    ("SimpleRNN", (["batch", "time", D], [D, H], [H, H]), {"activation": "nope"}, "activation"),
])
def test_recurrent_shape_rule_errors(op, args, attrs, match):
    with pytest.raises(OpError, match=match):
        infer(op, *(None if a is None else info(a) for a in args), **attrs)


def test_recurrent_empty_batch_and_single_step():
    empty = np.zeros((0, 4, D), np.float32)
    y, h, c = ref("LSTM", empty, f32(D, 4 * H), f32(H, 4 * H), return_sequences=True)
    assert y.shape == (0, 4, H) and h.shape == (0, H) and c.shape == (0, H)
    x, W, U = f32(1, 1, D), f32(D, H), f32(H, H)
    close(ref("SimpleRNN", x, W, U)[0], np.tanh(x[:, 0] @ W))


# ---- masks and reductions ----------------------------------------------------------------------------

def test_not_equal_mask():
    idx = np.array([[3, 0, 1]], np.int32)
    (m,) = ref("NotEqualMask", idx)
    assert m.dtype == np.float32 and m.tolist() == [[1, 0, 1]]
    x = np.array([[[0, 0], [1, 0], [np.nan, 0]]], np.float32)
    assert ref("NotEqualMask", x, reduce_last=True)[0].tolist() == [[0, 1, 1]]
    assert ref("NotEqualMask", x, value=1.0, reduce_last=True)[0].tolist() == [[1, 1, 1]]
    assert infer("NotEqualMask", info(["batch", "time", 4]), reduce_last=True) == \
        [("float32", ("batch", "time"))]
    assert infer("NotEqualMask", info(["batch", "time"], "int32")) == [("float32", ("batch", "time"))]


def test_reduce_plain_and_masked():
    x = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    close(ref("Reduce", x)[0], x.mean(axis=1))
    close(ref("Reduce", x, fn="max", axes=(1, 2), keepdims=True)[0], [[[5]], [[11]]])
    close(ref("Reduce", x, fn="sum", axes=(-1,))[0], x.sum(axis=-1))
    mask = np.array([[1, 0, 1], [0, 1, 0]], np.float32)
    close(ref("Reduce", x, mask)[0], [[2, 3], [8, 9]])
    close(ref("Reduce", x, mask, fn="sum")[0], [[4, 6], [8, 9]])
    close(ref("Reduce", x, mask, fn="max")[0], [[4, 5], [8, 9]])
    assert np.isnan(ref("Reduce", x, np.zeros((2, 3), np.float32))[0]).all()
    assert infer("Reduce", info(["batch", "time", 2]), info(["batch", "time"])) == [("float32", ("batch", 2))]
    assert infer("Reduce", info(["batch", "time", 2]), axes=(1,), keepdims=True) == \
        [("float32", ("batch", 1, 2))]
    with pytest.raises(OpError, match="axes"):
        infer("Reduce", info(["batch", "time", 2]), info(["batch", "time"]), axes=(2,))
    with pytest.raises(OpError, match="fn"):
        infer("Reduce", info([2, 3]), fn="prod")


# ---- shape ops ---------------------------------------------------------------------------------------

def test_reshape_symbolic_and_static_checks():
    assert infer("Reshape", info(["batch", "time", 4]), shape=["batch*time", 2, 2]) == \
        [("float32", ("batch*time", 2, 2))]
    assert infer("Reshape", info([2, 6]), shape=[3, 4]) == [("float32", (3, 4))]
    with pytest.raises(OpError, match="cannot reshape"):
        infer("Reshape", info([2, 6]), shape=[5, 2])
    with pytest.raises(OpError, match="cannot reshape"):
        infer("Reshape", info(["batch", 6]), shape=["time", 6])
    x = f32(2, 3, 4)
    close(ref("Reshape", x, shape=["batch*time", 4])[0], x.reshape(6, 4))
    close(ref("Reshape", x.reshape(6, 4), shape=["batch", "time", 4], bindings={"batch": 2, "time": 3})[0], x)
    with pytest.raises(OpError, match="bindings"):
        ref("Reshape", x.reshape(6, 4), shape=["batch", "time", 4])


def test_transpose_concat_reverse_tile():
    x = f32(2, 3, 4)
    assert infer("Transpose", info(["batch", "time", 4]), perm=(1, 0, 2))[0][1] == ("time", "batch", 4)
    close(ref("Transpose", x, perm=(2, 0, 1))[0], x.transpose(2, 0, 1))
    with pytest.raises(OpError, match="permutation"):
        infer("Transpose", info([2, 3]), perm=(0, 0))
    assert infer("Concat", info(["batch", "time", 4]), info(["batch", "time", 2]), axis=-1)[0][1] == \
        ("batch", "time", 6)
    close(ref("Concat", x, x[..., :1], axis=2)[0], np.concatenate([x, x[..., :1]], axis=2))
    assert infer("Concat", info(["batch", "time"]), info(["batch", "time"]), axis=1)[0][1] == \
        ("batch", "2*time")
    assert infer("Concat", info(["batch", "time"]), info(["batch", 3]), axis=1)[0][1] == ("batch", "time+3")
    with pytest.raises(OpError, match="differ"):
        infer("Concat", info(["batch", 2]), info([3, 2]), axis=1)
    close(ref("Reverse", x)[0], x[:, ::-1])
    assert infer("Tile", info(["batch", 1, 3]), repeats=(1, 4, 2))[0][1] == ("batch", 4, 6)
    close(ref("Tile", x, repeats=(1, 2, 1))[0], np.tile(x, (1, 2, 1)))


def test_slice_and_pad():
    x = f32(2, 5, 3)
    close(ref("Slice", x, axis=1, start=1, end=-1)[0], x[:, 1:-1])
    assert infer("Slice", info([2, 5, 3]), axis=1, start=1, end=-1)[0][1] == (2, 3, 3)
    assert infer("Slice", info(["batch", "time", 3]), axis=1, start=0, end=2)[0][1] == ("batch", 2, 3)
    assert infer("Slice", info(["batch", "time", 3]), axis=-1, start=1, end=None)[0][1] == \
        ("batch", "time", 2)
    assert infer("Slice", info(["batch", "time", 3]), axis=1, start=1, end=-1)[0][1] == \
        ("batch", "max(0,time-2)", 3)
    with pytest.raises(OpError, match="negative start.*--input-shape"):
        infer("Slice", info(["batch", "time", 3]), axis=1, start=-2, end=None)
    y = ref("Pad", x[:1, :2, :1], pads=((0, 0), (1, 2), (0, 0)), value=-1.0)[0]
    close(y[0, :, 0], [-1, x[0, 0, 0], x[0, 1, 0], -1, -1])
    assert infer("Pad", info(["batch", 5, 3]), pads=((0, 0), (2, 1), (0, 0)))[0][1] == ("batch", 8, 3)
    assert infer("Pad", info(["batch", "time", 3]), pads=((0, 0), (2, 1), (0, 0)))[0][1] == \
        ("batch", "time+3", 3)


@pytest.mark.parametrize("op, attrs", [
    ("Slice", dict(axis=1, start=1, end=-2)),
    ("Slice", dict(axis=1, start=2, end=None)),
    ("Pad", dict(pads=((0, 0), (2, 1), (0, 0)))),
    ("Pool", dict(fn="max", size=(3,), strides=(2,), pads=((1, 0),))),
    ("Pool", dict(fn="avg", size=(2,), strides=None, pads=None)),
])
def test_derived_dims_match_reference_for_several_lengths(op, attrs):
    (_, shape), = infer(op, info(["batch", "time", 3]), **attrs)
    for t in (1, 3, 4, 7) if op != "Pool" else (3, 4, 7):
        x = f32(2, t, 3)
        assert dims.eval_shape(shape, {"batch": 2, "time": t}) == ref(op, x, **attrs)[0].shape, t


def test_concat_along_a_derived_dim():
    conv = infer("Conv", info(["batch", "time", 2]), info([3, 2, 4]))[0][1]
    (_, shape), = infer("Concat", info(conv), info(["batch", "time", 4]), axis=1)
    assert shape == ("batch", "2*time-2", 4)
    assert dims.eval_shape(shape, {"batch": 1, "time": 5}) == (1, 8, 4)


# ---- conv / pool / norm ------------------------------------------------------------------------------

def naive_conv(x, w, b, strides, dilations, pads):
    """Direct sum over output positions (2D; 1D is tested as a 1-row 2D conv)."""
    xp = np.pad(x.astype(np.float64), ((0, 0), *pads, (0, 0)))
    kh, kw, _, f = w.shape
    oh = (xp.shape[1] - dilations[0] * (kh - 1) - 1) // strides[0] + 1
    ow = (xp.shape[2] - dilations[1] * (kw - 1) - 1) // strides[1] + 1
    y = np.zeros((x.shape[0], oh, ow, f))
    for n, i, j, a, c in itertools.product(range(x.shape[0]), range(oh), range(ow), range(kh), range(kw)):
        y[n, i, j] += xp[n, i * strides[0] + a * dilations[0], j * strides[1] + c * dilations[1]] @ w[a, c]
    return y + b


@pytest.mark.parametrize("strides, dilations, pads", [
    ((1, 1), (1, 1), ((0, 0), (0, 0))),
    ((2, 1), (1, 2), ((1, 1), (2, 2))),
    ((1, 3), (2, 1), ((2, 0), (0, 1))),
])
def test_conv2d_against_direct_sum(strides, dilations, pads):
    x, w, b = f32(2, 6, 7, 3), f32(3, 2, 3, 4), f32(4)
    (y,) = ref("Conv", x, w, b, strides=strides, dilations=dilations, pads=pads)
    close(y, naive_conv(x, w, b, strides, dilations, pads))
    assert infer("Conv", info([2, 6, 7, 3]), info([3, 2, 3, 4]), strides=strides, dilations=dilations,
                 pads=pads) == [("float32", y.shape)]


def test_conv1d_and_symbolic_same_padding():
    x, w, b = f32(2, 7, 3), f32(3, 3, 5), f32(5)
    attrs = dict(strides=(2,), dilations=(2,), pads=((1, 2),), activation="relu")
    (y,) = ref("Conv", x, w, b, **attrs)
    want = np.maximum(naive_conv(x[:, None], w[None], b, (1, 2), (1, 2), ((0, 0), (1, 2)))[:, 0], 0)
    close(y, want)
    assert infer("Conv", info([2, 7, 3]), info([3, 3, 5]), **attrs) == [("float32", y.shape)]
    same = infer("Conv", info(["batch", "time", 3]), info([3, 3, 5]), pads=((1, 1),))
    assert same == [("float32", ("batch", "time", 5))]
    assert infer("Conv", info(["batch", "time", 3]), info([3, 3, 5]))[0][1] == ("batch", "time-2", 5)
    (_, shape), = infer("Conv", info(["batch", "time", 3]), info([3, 3, 5]), **attrs)
    assert shape == ("batch", "(time-2)/2+1", 5)
    for t in (5, 6, 7, 8):
        want = ref("Conv", f32(2, t, 3), w, b, **attrs)[0].shape
        assert dims.eval_shape(shape, {"batch": 2, "time": t}) == want
    with pytest.raises(OpError, match="input channels"):
        infer("Conv", info([2, 7, 4]), info([3, 3, 5]))
    assert ref("Conv", np.zeros((0, 7, 3), np.float32), w)[0].shape == (0, 5, 5)


def test_pool_max_and_avg_exclude_padding():
    x = np.array([1, 5, 2, 8, 3], np.float32).reshape(1, 5, 1)
    close(ref("Pool", x, fn="max", size=(2,))[0].ravel(), [5, 8])
    close(ref("Pool", x, fn="avg", size=(2,))[0].ravel(), [3, 5])
    close(ref("Pool", x, fn="avg", size=(3,), strides=(2,), pads=((1, 1),))[0].ravel(), [3, 5, 5.5])
    close(ref("Pool", -x, fn="max", size=(2,), pads=((1, 0),))[0].ravel(), [-1, -2, -3])
    x2 = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    close(ref("Pool", x2, fn="max", size=(2, 2))[0][0, :, :, 0], [[5, 7], [13, 15]])
    close(ref("Pool", x2, fn="avg", size=(2, 2), strides=(1, 1), pads=((0, 1), (0, 1)))[0][0, 3, 3, 0], 15)
    assert infer("Pool", info(["batch", 5, 2]), fn="max", size=(2,)) == [("float32", ("batch", 2, 2))]
    assert infer("Pool", info(["batch", "time", 2]), fn="max", size=(2,)) == \
        [("float32", ("batch", "(time-2)/2+1", 2))]


def test_layer_norm():
    x = np.array([[1.0, 2.0, 3.0, 6.0]], np.float32)
    gamma, beta = np.array([1, 2, 1, 1], np.float32), np.array([0, 0, 1, 0], np.float32)
    normed = (x - 3.0) / np.sqrt(3.5 + 1e-3)
    close(ref("LayerNorm", x, gamma, beta)[0], normed * gamma + beta)
    x3 = f32(2, 3, 4)
    g2 = f32(3, 4)
    m = x3.mean(axis=(1, 2), keepdims=True)
    v = x3.var(axis=(1, 2), keepdims=True)
    close(ref("LayerNorm", x3, g2, None, axes=(1, 2), epsilon=1e-5)[0], (x3 - m) / np.sqrt(v + 1e-5) * g2,
          tol=1e-4)
    assert infer("LayerNorm", info(["batch", "time", 4]), info([4]), info([4])) == \
        [("float32", ("batch", "time", 4))]
    with pytest.raises(OpError, match="gamma"):
        infer("LayerNorm", info(["batch", 4]), info([5]))


# ---- graph level -------------------------------------------------------------------------------------

def test_small_graph_runs_through_the_interpreter():
    vocab, emb, hidden, classes = 6, 4, 3, 2
    table, W, U, b = f32(vocab, emb), f32(emb, 4 * hidden), f32(hidden, 4 * hidden), f32(4 * hidden)
    dw, db = f32(hidden, classes), f32(classes)
    g = Graph("tiny")
    ids = g.input("ids", "int32", ["batch", "time"])
    e = g.add1("Gather", [g.const("table", table), ids])
    m = g.add1("NotEqualMask", [ids])
    y, h, c = g.add("LSTM", [e, g.const("W", W), g.const("U", U), g.const("b", b), None, None, m],
                    {"return_sequences": True})
    flat = g.add1("Reshape", [y], {"shape": ["batch*time", hidden]})
    logits = g.add1("MatMul", [flat, g.const("dw", dw), g.const("db", db)])
    probs = g.add1("Softmax", [g.add1("Reshape", [logits], {"shape": ["batch", "time", classes]})])
    g.outputs = [probs, h]
    g.verify()
    assert probs.shape == ("batch", "time", classes)
    idx = np.array([[1, 2, 0, 0], [3, 0, 5, 4]], np.int32)
    got_probs, got_h = g.run({"ids": idx})
    mask = (idx != 0).astype(np.float32)
    ys, hs, _ = ref("LSTM", table[idx], W, U, b, None, None, mask, return_sequences=True)
    close(got_probs, ref("Softmax", ys @ dw + db)[0])
    close(got_h, hs)
    assert got_probs.shape == (2, 4, classes)


def test_free_length_through_derived_dims_in_a_graph():
    # one graph, several lengths: Conv, Slice, Pad, Concat and Pool derive dims from time
    w = f32(3, 2, 2)
    g = Graph("derived")
    x = g.input("x", "float32", ["batch", "time", 2])
    conv = g.add1("Conv", [x, g.const("w", w)])
    cut = g.add1("Slice", [conv], {"axis": 1, "start": 0, "end": -1})
    padded = g.add1("Pad", [x], {"pads": ((0, 0), (1, 0), (0, 0))})
    joined = g.add1("Concat", [cut, padded], {"axis": 1})
    y = g.add1("Pool", [joined], {"fn": "max", "size": (2,), "strides": None, "pads": None})
    g.outputs = [y]
    g.verify()
    assert [v.shape[1] for v in (conv, cut, padded, joined, y)] == \
        ["time-2", "max(0,time-3)", "time+1", "max(0,time-3)+time+1", "(max(0,time-3)+time-1)/2+1"]
    for t in (3, 4, 8):
        xs = f32(2, t, 2)
        joined_np = np.concatenate([ref("Conv", xs, w)[0][:, :-1], np.pad(xs, ((0, 0), (1, 0), (0, 0)))], 1)
        (got,) = g.run({"x": xs})
        close(got, ref("Pool", joined_np, fn="max", size=(2,))[0])
        assert got.shape == dims.eval_shape(y.shape, {"batch": 2, "time": t})
