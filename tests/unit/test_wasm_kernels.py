"""Every wasm kernel against the numpy interpreter: small graphs compiled with zig, run in Node."""

import copy

import numpy as np
import pytest

from converter.backends import lower
from converter.ir.graph import Graph
from converter.ops.activations import ACTIVATIONS
from tests.unit.wasm_run import run_program

RNG = np.random.default_rng(7)


def rand(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def check(g: Graph, feeds: list, rtol=1e-4, atol=1e-5):
    want = copy.deepcopy(g).run(feeds)
    program = lower("wasm", g)
    got = run_program(program, g, feeds)
    for v, a, b in zip(g.outputs, got, want):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True, err_msg=v.name)
    return program


def graph(*inputs):
    g = Graph("t")
    return g, [g.input(name, dt, shape) for name, dt, shape in inputs]


SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, -1e-30, 88.8, -88.8, 1e4, -1e4], np.float32)


def test_unary_every_activation_with_nan_and_inf():
    g, (x,) = graph(("x", "float32", ("batch", 67)))
    g.outputs = [g.add1("Unary", [x], {"fn": fn, "alpha": 0.3}, name=fn) for fn in ACTIVATIONS]
    x0 = np.concatenate([np.linspace(-30, 30, 67 * 2 - len(SPECIAL)), SPECIAL]).astype(np.float32)
    check(g, [x0.reshape(2, 67)], rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("fn", ["add", "sub", "mul", "div", "max", "min"])
def test_binary_broadcast(fn):
    g, (a, b) = graph(("a", "float32", ("batch", 1, 6)), ("b", "float32", (3, 1)))
    c = g.const("c", rand(6))
    g.outputs = [g.add1("Binary", [a, b], {"fn": fn}), g.add1("Binary", [c, a], {"fn": fn}, name="rev")]
    a0 = rand(2, 1, 6)
    a0[0, 0, :3] = [np.nan, np.inf, -np.inf]
    check(g, [a0, rand(3, 1)])


def test_fused_elementwise_program():
    g, (a, b) = graph(("a", "float32", ("batch", "time", 5)), ("b", "float32", ("batch", 1, 1)))
    prog = (("mul", "in0", "in1"), ("leaky_relu", "t0", 0.1), ("add", "t1", "in0"), ("sigmoid", "t2"))
    g.outputs = [g.add1("FusedElementwise", [a, b], {"program": prog})]
    check(g, [rand(2, 3, 5), rand(2, 1, 1)])


@pytest.mark.parametrize("axis", [-1, 1])
def test_softmax(axis):
    g, (x,) = graph(("x", "float32", ("batch", 6, 7)))
    g.outputs = [g.add1("Softmax", [x], {"axis": axis})]
    x0 = rand(2, 6, 7, scale=20)
    x0[1, 2, 3] = np.nan
    check(g, [x0])


def test_cast_both_ways():
    g, (x, i) = graph(("x", "float32", ("batch", 5)), ("i", "int32", ("batch", 5)))
    g.outputs = [g.add1("Cast", [x], {"to": "int32"}), g.add1("Cast", [i], {"to": "float32"})]
    check(g, [np.array([[-2.7, -0.5, 0.0, 0.9, 1e9]] * 2, np.float32), RNG.integers(-9, 9, (2, 5))])


@pytest.mark.parametrize("bias,act", [(True, "relu"), (False, "linear")])
def test_matmul_row_and_column_tails(bias, act):
    g, (x,) = graph(("x", "float32", ("batch", "time", 9)))
    b = g.const("b", rand(7)) if bias else None
    g.outputs = [g.add1("MatMul", [x, g.const("w", rand(9, 7)), b], {"activation": act})]
    check(g, [rand(3, 3, 9)])      # M = 9 rows: two blocks of 4 and a tail row


def test_gather_and_embedding_mask():
    g, (idx,) = graph(("ids", "int32", ("batch", "time")))
    table = g.const("table", rand(11, 6))
    g.outputs = [g.add1("Gather", [table, idx]), g.add1("NotEqualMask", [idx], {"value": 0.0})]
    check(g, [RNG.integers(0, 11, (2, 4)).astype(np.int32)])


def test_not_equal_mask_reduce_last():
    g, (x,) = graph(("x", "float32", ("batch", "time", 3)))
    g.outputs = [g.add1("NotEqualMask", [x], {"value": 0.0, "reduce_last": True})]
    x0 = rand(2, 4, 3)
    x0[0, 1] = 0.0
    x0[1, 2] = [0.0, np.nan, 0.0]
    check(g, [x0])


def _mask(batch, time):
    m = (RNG.random((batch, time)) > 0.35).astype(np.float32)
    m[0, :] = 0.0        # a fully masked row: the output stays zero
    return m


@pytest.mark.parametrize("backwards,seq,zero_out", [(False, True, False), (True, False, False),
                                                    (True, True, True)])
def test_lstm_masked_with_states(backwards, seq, zero_out):
    g, (x, h0, c0, m) = graph(("x", "float32", ("batch", "time", 3)), ("h0", "float32", ("batch", 5)),
                              ("c0", "float32", ("batch", 5)), ("m", "float32", ("batch", "time")))
    attrs = {"return_sequences": seq, "go_backwards": backwards, "zero_output_for_mask": zero_out}
    W, U = g.const("W", rand(3, 20, scale=0.5)), g.const("U", rand(5, 20, scale=0.5))
    ins = [x, W, U, g.const("b", rand(20)), h0, c0, m]
    g.outputs = list(g.add("LSTM", ins, attrs))
    check(g, [rand(3, 4, 3), rand(3, 5), rand(3, 5), _mask(3, 4)])


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru(reset_after):
    g, (x, m) = graph(("x", "float32", ("batch", "time", 4)), ("m", "float32", ("batch", "time")))
    rb = g.const("rb", rand(18)) if reset_after else None
    W, U = g.const("W", rand(4, 18, scale=0.5)), g.const("U", rand(6, 18, scale=0.5))
    ins = [x, W, U, g.const("b", rand(18)), rb, None, m]
    g.outputs = list(g.add("GRU", ins, {"reset_after": reset_after, "return_sequences": True}))
    check(g, [rand(2, 5, 4), _mask(2, 5)])


@pytest.mark.parametrize("op,gates,attrs", [("LSTM", 4, {}), ("GRU", 3, {"reset_after": False}),
                                             ("SimpleRNN", 1, {"return_sequences": True})])
def test_recurrence_batch_rows_in_pairs_and_blocks(op, gates, attrs):
    # batch 5 = two row pairs + a single row; H = 21 spans several U blocks and a partial unit group;
    # no h0, so the first step's U @ h is skipped
    g, (x,) = graph(("x", "float32", ("batch", "time", 3)))
    W, U = g.const("W", rand(3, gates * 21, scale=0.5)), g.const("U", rand(21, gates * 21, scale=0.3))
    g.outputs = list(g.add(op, [x, W, U, g.const("b", rand(gates * 21))], attrs))
    check(g, [rand(5, 4, 3)])


def test_simple_rnn_relu_backwards():
    g, (x, h0) = graph(("x", "float32", ("batch", "time", 2)), ("h0", "float32", ("batch", 17)))
    ins = [x, g.const("W", rand(2, 17, scale=0.5)), g.const("U", rand(17, 17, scale=0.3)), None, h0]
    g.outputs = list(g.add("SimpleRNN", ins, {"activation": "relu", "go_backwards": True}))
    check(g, [rand(2, 6, 2), rand(2, 17)])


@pytest.mark.parametrize("fn", ["mean", "max", "sum"])
def test_reduce_plain_and_masked(fn):
    g, (x, m) = graph(("x", "float32", ("batch", "time", 3)), ("m", "float32", ("batch", "time")))
    g.outputs = [g.add1("Reduce", [x], {"fn": fn, "axes": (1,)}, name="plain"),
                 g.add1("Reduce", [x], {"fn": fn, "axes": (0, 2), "keepdims": True}, name="two_axes"),
                 g.add1("Reduce", [x, m], {"fn": fn}, name="masked")]
    check(g, [rand(3, 5, 3), _mask(3, 5)])


def test_shape_ops():
    g, (x, c) = graph(("x", "float32", ("batch", "time", 4)), ("c", "float32", (1, 3, 4)))
    t = g.add1("Transpose", [x], {"perm": (0, 2, 1)})
    g.outputs = [t, g.add1("Reshape", [x], {"shape": ("batch", "time*4")}),
                 g.add1("Reverse", [x], {"axis": 1}),
                 g.add1("Slice", [x], {"axis": 2, "start": 1, "end": -1}),
                 g.add1("Slice", [x], {"axis": 1, "start": 1, "end": 3}),
                 g.add1("Tile", [x], {"repeats": (1, 2, 3)}),
                 g.add1("Concat", [x, g.add1("Unary", [x], {"fn": "neg"}), x], {"axis": 2}),
                 g.add1("Pad", [c], {"pads": ((0, 0), (2, 1), (1, 0)), "value": -1.5})]
    program = check(g, [rand(2, 3, 4), rand(1, 3, 4)])
    ops = {k.name for k in program.kernels}
    assert {"Transpose", "Reshape", "Reverse", "Slice", "Tile", "Concat", "Pad"} <= ops


def test_output_that_is_an_input_is_copied():
    g, (x,) = graph(("x", "float32", ("batch", 3)))
    g.outputs = [x, g.add1("Unary", [x], {"fn": "relu"})]
    check(g, [rand(2, 3)])


@pytest.mark.parametrize("two_d", [False, True])
def test_conv_and_pool(two_d):
    if two_d:
        g, (x,) = graph(("x", "float32", ("batch", 7, 6, 3)))
        w, conv = rand(3, 2, 3, 5), {"strides": (2, 1), "dilations": (1, 2), "pads": ((1, 1), (0, 1))}
        pool = {"size": (2, 3), "strides": (2, 2), "pads": ((0, 1), (1, 1))}
    else:
        g, (x,) = graph(("x", "float32", ("batch", "time", 3)))
        w, conv = rand(3, 3, 6), {"strides": (1,), "dilations": (1,), "pads": ((1, 1),)}
        pool = {"size": (3,), "strides": (1,), "pads": ((1, 1),)}
    y = g.add1("Conv", [x, g.const("w", w), g.const("b", rand(w.shape[-1]))], {**conv, "activation": "elu",
                                                                               "alpha": 1.0})
    g.outputs = [y, g.add1("Pool", [x], {"fn": "max", **pool}, name="maxp"),
                 g.add1("Pool", [x], {"fn": "avg", **pool}, name="avgp")]
    check(g, [rand(2, 7, 6, 3) if two_d else rand(2, 5, 3)])


def test_layer_norm():
    g, (x,) = graph(("x", "float32", ("batch", "time", 6)))
    g.outputs = [g.add1("LayerNorm", [x, g.const("g", rand(6)), g.const("b", rand(6))], {"epsilon": 1e-3}),
                 g.add1("LayerNorm", [x], {"axes": (1, 2)}, name="two_axes")]
    check(g, [rand(2, 3, 6, scale=3)])
