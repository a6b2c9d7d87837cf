"""Each pass on small hand-built graphs: IR before/after, verify(), and numeric equality (interpreter)."""

from collections import Counter

import numpy as np
import pytest

from converter.ir import dims
from converter.ir.graph import Graph
from converter.passes import optimize
from converter.passes.fold_constants import fold_constants
from converter.passes.fuse_elementwise import MAX_FUSED_INPUTS, fuse_elementwise
from converter.ops.recurrent import LSTM_CELL
from converter.passes.fuse_gates import fuse_gates
from converter.passes.hoist import hoist_input_projection
from converter.passes.remove_identity import remove_identity
from converter.passes.rewrite import Rule, apply_rules, eliminate_dead_code

BINDINGS = ({"batch": 2, "time": 5}, {"batch": 1, "time": 1}, {"batch": 3, "time": 7})


def rng():
    return np.random.default_rng(1234)


def random_feeds(graph, bindings, gen):
    feeds = []
    for v in graph.inputs:
        shape = dims.eval_shape(v.shape, bindings)
        if v.name.startswith("mask"):
            feeds.append((gen.random(shape) > 0.3).astype(np.float32))
        elif v.dtype == "int32":
            feeds.append(gen.integers(0, 10, shape).astype(np.int32))
        else:
            feeds.append(gen.standard_normal(shape).astype(np.float32))
    return feeds


def check(graph, pass_fn, expect_change=True):
    """Apply ``pass_fn``; the graph must verify and compute the same outputs for several bindings."""
    graph.verify()
    gen = rng()
    cases = [random_feeds(graph, b, gen) for b in BINDINGS]
    before = [graph.run(f) for f in cases]
    names = [v.name for v in graph.outputs]
    assert pass_fn(graph) == expect_change
    graph.verify()
    assert [v.name for v in graph.outputs] == names, "graph outputs must keep their names"
    for feeds, want in zip(cases, before):
        for got, ref in zip(graph.run(feeds), want):
            np.testing.assert_allclose(got, ref, atol=1e-5, rtol=1e-5)
    return graph


def op_counts(graph) -> Counter:
    return Counter(n.op for n in graph.nodes)


def weights(gen, *shape, scale=0.5):
    return (gen.standard_normal(shape) * scale).astype(np.float32)


# ---- remove_identity -------------------------------------------------------------------------------

def test_remove_identity_drops_every_no_op():
    g = Graph("noops")
    x = g.input("x", "float32", ["batch", "time", 4])
    v = g.add1("Identity", [x])
    v = g.add1("Unary", [v], {"fn": "linear"})
    v = g.add1("Reshape", [v], {"shape": ("batch", "time", 4)})
    v = g.add1("Cast", [v], {"to": "float32"})
    v = g.add1("Transpose", [v], {"perm": (0, 1, 2)})
    v = g.add1("Tile", [v], {"repeats": (1, 1, 1)})
    v = g.add1("Pad", [v], {"pads": ((0, 0),) * 3, "value": 1.0})
    v = g.add1("Concat", [v], {"axis": 2})
    v = g.add1("Binary", [v, g.const("one", np.ones(4))], {"fn": "mul"})
    v = g.add1("Binary", [g.const("zero", np.zeros((1, 4))), v], {"fn": "add"})
    v = g.add1("Binary", [v, g.const("one_b", np.ones(()))], {"fn": "div"})
    g.outputs = [g.add1("Unary", [v], {"fn": "relu"}, "out")]
    check(g, remove_identity)
    assert op_counts(g) == Counter({"Unary": 1})
    assert g.nodes[0].inputs[0] is x


def test_remove_identity_keeps_real_work():
    g = Graph("real")
    x = g.input("x", "float32", ["batch", 4])
    a = g.add1("Reshape", [x], {"shape": (4, "batch")})
    b = g.add1("Transpose", [a], {"perm": (1, 0)})
    c = g.add1("Binary", [g.const("zero", np.zeros(4)), b], {"fn": "sub"})          # 0 - x negates
    d = g.add1("Binary", [c, g.const("one", np.ones((3, 1, 1)))], {"fn": "mul"})   # broadcasts x
    e = g.add1("Binary", [d, g.const("two", np.full(4, 2.0))], {"fn": "mul"})
    g.outputs = [e]
    check(g, remove_identity, expect_change=False)
    assert op_counts(g) == Counter({"Binary": 3, "Reshape": 1, "Transpose": 1})


def test_remove_identity_preserves_output_names():
    g = Graph("names")
    x = g.input("x", "float32", ["batch", 3])
    passthrough = g.add1("Identity", [x], name="same")    # input -> output: the node must stay
    r = g.add1("Unary", [x], {"fn": "relu"}, "r")
    out = g.add1("Identity", [r], name="probs")
    g.outputs = [passthrough, out]
    names = [passthrough.name, out.name]
    check(g, remove_identity)
    assert op_counts(g) == Counter({"Identity": 1, "Unary": 1})
    assert [v.name for v in g.outputs] == names
    assert g.outputs[1].producer.op == "Unary"


# ---- fold_constants --------------------------------------------------------------------------------

def test_fold_constants_evaluates_constant_subgraphs():
    gen = rng()
    g = Graph("fold")
    x = g.input("x", "float32", ["batch", 3])
    w = g.add1("Binary", [g.const("w0", weights(gen, 3, 2)), g.const("s", np.full((), 2.0))], {"fn": "mul"})
    w = g.add1("Unary", [w], {"fn": "tanh"})
    b = g.add1("MatMul", [g.const("ones", np.ones((1, 2))), g.const("bw", weights(gen, 2, 2))])
    b = g.add1("Reshape", [b], {"shape": (2,)})
    g.outputs = [g.add1("MatMul", [x, w, b], name="out")]
    check(g, fold_constants)
    assert op_counts(g) == Counter({"MatMul": 1})
    assert all(v.is_const for v in g.nodes[0].inputs[1:])


def test_fold_constants_is_bounded_and_keeps_outputs():
    g = Graph("bounded")
    x = g.input("x", "float32", ["batch", 1, 1])
    big = g.add1("Binary", [g.const("col", np.ones((100, 1))), g.const("row", np.ones((1, 100)))],
                 {"fn": "add"})
    const_out = g.add1("Unary", [g.const("c", np.ones(3))], {"fn": "exp"}, "const_out")
    g.outputs = [g.add1("Binary", [x, big], {"fn": "mul"}), const_out]
    check(g, fold_constants, expect_change=False)
    assert op_counts(g) == Counter({"Binary": 2, "Unary": 1})


# ---- fuse_gates ------------------------------------------------------------------------------------

def lstm_graph(layout, gen, hidden=3, features=4, with_mask=True, **attrs):
    g = Graph("lstm")
    x = g.input("x", "float32", ["batch", "time", features])
    mask = g.input("mask", "float32", ["batch", "time"]) if with_mask else None
    W = g.const("W", weights(gen, features, 4 * hidden))
    U = g.const("U", weights(gen, hidden, 4 * hidden))
    b = g.const("b", weights(gen, 4 * hidden))
    outs = g.add("LSTM", [x, W, U, b, None, None, mask], {"gate_layout": layout, **attrs}, "lstm")
    g.outputs = outs
    return g


def test_column_permutation_matches_chainer_interleaving():
    # Chainer: per unit u the columns (a_u, i_u, f_u, o_u); ifco wants gate-major blocks
    perm = LSTM_CELL.permutation("aifo_interleaved", 2)
    assert perm.tolist() == [1, 5, 2, 6, 0, 4, 3, 7]
    assert LSTM_CELL.parse_layout("ifco") == ("ifco", False)
    with pytest.raises(ValueError, match="gate_layout 'ifxo'"):
        LSTM_CELL.parse_layout("ifxo")


def test_fuse_gates_permutes_interleaved_weights():
    g = lstm_graph("aifo_interleaved", rng(), return_sequences=True)
    check(g, fuse_gates)
    (node,) = g.nodes
    assert node.attrs["gate_layout"] == "ifco"
    assert all(v.is_const for v in node.inputs[1:4])


def test_fuse_gates_joins_per_gate_constants():
    gen = rng()
    g = Graph("per_gate")
    x = g.input("x", "float32", ["batch", "time", 2])
    Ws = [g.const(f"W_{k}", weights(gen, 2, 3)) for k in "ifco"]
    bs = [g.const(f"b_{k}", weights(gen, 3)) for k in "ifco"]
    W = g.add1("Concat", Ws, {"axis": 1})
    b = g.add1("Concat", bs, {"axis": 0})
    g.outputs = g.add("LSTM", [x, W, g.const("U", weights(gen, 3, 12)), b], {}, "lstm")[:2]
    check(g, fuse_gates)
    assert op_counts(g) == Counter({"LSTM": 1})
    np.testing.assert_array_equal(g.nodes[0].inputs[1].data, np.concatenate([w.data for w in Ws], 1))


def test_fuse_gates_leaves_canonical_and_computed_weights():
    g = lstm_graph("ifco", rng())
    check(g, fuse_gates, expect_change=False)
    g2 = Graph("computed")
    x = g2.input("x", "float32", ["batch", "time", 2])
    W = g2.input("W", "float32", [2, 8])
    U = g2.const("U", weights(rng(), 2, 8))
    g2.outputs = g2.add("LSTM", [x, W, U], {"gate_layout": "aifo_interleaved"})[:1]
    assert not fuse_gates(g2)


# ---- hoist_input_projection ------------------------------------------------------------------------

@pytest.mark.parametrize("attrs", [
    {},
    {"return_sequences": True, "go_backwards": True},
    {"return_sequences": True, "zero_output_for_mask": True, "activation": "relu"},
])
def test_hoist_lstm(attrs):
    gen = rng()
    g = lstm_graph("ifco", gen, **attrs)
    h0 = g.input("h0", "float32", ["batch", 3])
    g.nodes[0].inputs[4] = h0
    check(g, hoist_input_projection)
    assert [n.op for n in g.nodes] == ["MatMul", "LSTMRecurrence"]
    matmul, rec = g.nodes
    assert rec.inputs[0] is matmul.outputs[0] and rec.inputs[2] is h0 and rec.inputs[4] is g.inputs[1]
    assert matmul.inputs[2].name == "b" and "gate_layout" not in rec.attrs
    assert {k: rec.attrs[k] for k in attrs} == attrs


@pytest.mark.parametrize("reset_after", [True, False])
def test_hoist_gru_keeps_recurrent_bias(reset_after):
    gen = rng()
    g = Graph("gru")
    x = g.input("x", "float32", ["batch", "time", 4])
    rb = g.const("rb", weights(gen, 9)) if reset_after else None
    args = [x, g.const("W", weights(gen, 4, 9)), g.const("U", weights(gen, 3, 9)),
            g.const("b", weights(gen, 9)), rb]
    g.outputs = g.add("GRU", args, {"reset_after": reset_after, "return_sequences": True}, "gru")
    check(g, hoist_input_projection)
    assert [n.op for n in g.nodes] == ["MatMul", "GRURecurrence"]
    assert g.nodes[1].inputs[2] is rb and g.nodes[1].attrs["reset_after"] == reset_after


def test_hoist_simple_rnn_and_skips_non_canonical_lstm():
    gen = rng()
    g = Graph("rnn")
    x = g.input("x", "float32", ["batch", "time", 4])
    y, _ = g.add("SimpleRNN", [x, g.const("W", weights(gen, 4, 8)), g.const("U", weights(gen, 8, 8))],
                 {"return_sequences": True}, "rnn")
    lstm = g.add("LSTM", [y, g.const("W2", weights(gen, 8, 8)), g.const("U2", weights(gen, 2, 8))],
                 {"gate_layout": "aifo_interleaved"}, "lstm")
    g.outputs = [lstm[0]]
    check(g, hoist_input_projection)
    assert [n.op for n in g.nodes] == ["MatMul", "SimpleRNNRecurrence", "LSTM"]
    assert g.nodes[0].inputs[2] is None


# ---- fuse_elementwise ------------------------------------------------------------------------------

def test_fuse_chain_into_one_program():
    g = Graph("chain")
    x = g.input("x", "float32", ["batch", "time", 4])
    y = g.input("y", "float32", ["batch", 1, 4])
    c = g.const("c", np.linspace(-1, 1, 4))
    t = g.add1("Binary", [x, c], {"fn": "add"})
    t = g.add1("Unary", [t], {"fn": "elu", "alpha": 0.5})
    t = g.add1("Binary", [t, y], {"fn": "mul"})
    g.outputs = [g.add1("Unary", [t], {"fn": "sigmoid"}, "out")]
    check(g, fuse_elementwise)
    (node,) = g.nodes
    assert node.op == "FusedElementwise" and len(node.attrs["program"]) == 4
    assert node.attrs["program"][1] == ("elu", "t0", 0.5)
    assert {id(v) for v in node.inputs} == {id(x), id(y), id(c)}


def test_fuse_respects_shared_producers_and_outputs():
    g = Graph("shared")
    x = g.input("x", "float32", ["batch", 4])
    t = g.add1("Unary", [x], {"fn": "tanh"}, "t")                 # two users: fused only once both merge
    a = g.add1("Unary", [t], {"fn": "relu"})
    b = g.add1("Unary", [t], {"fn": "neg"})
    s = g.add1("Binary", [a, b], {"fn": "add"}, "s")              # a graph output: stays a tensor
    g.outputs = [s, g.add1("Unary", [s], {"fn": "exp"}, "e")]
    check(g, fuse_elementwise)
    assert [n.op for n in g.nodes] == ["FusedElementwise", "Unary"]
    fused = g.nodes[0]
    assert fused.inputs == [x]
    assert [step[0] for step in fused.attrs["program"]] == ["tanh", "neg", "relu", "add"]


def test_fuse_never_duplicates_shared_work():
    g = Graph("shared_outputs")
    x = g.input("x", "float32", ["batch", 4])
    t = g.add1("Unary", [x], {"fn": "tanh"}, "t")
    g.outputs = [g.add1("Unary", [t], {"fn": "relu"}), g.add1("Unary", [t], {"fn": "neg"})]
    check(g, fuse_elementwise, expect_change=False)


def test_fuse_bounds_inputs():
    g = Graph("wide")
    xs = [g.input(f"x{i}", "float32", ["batch", 2]) for i in range(10)]
    v = xs[0]
    for x in xs[1:]:
        v = g.add1("Binary", [v, x], {"fn": "max"})
    g.outputs = [v]
    check(g, fuse_elementwise)
    assert all(len(n.inputs) <= MAX_FUSED_INPUTS for n in g.nodes)
    assert len(g.nodes) == 2


def test_activation_moves_into_matmul():
    gen = rng()
    g = Graph("dense")
    x = g.input("x", "float32", ["batch", 4])
    d1 = g.add1("MatMul", [x, g.const("w1", weights(gen, 4, 4)), g.const("b1", weights(gen, 4))])
    a1 = g.add1("Unary", [d1], {"fn": "leaky_relu", "alpha": 0.1})
    d2 = g.add1("MatMul", [a1, g.const("w2", weights(gen, 4, 3))])
    shared = g.add1("Unary", [d2], {"fn": "tanh"})
    g.outputs = [g.add1("Unary", [d2], {"fn": "relu"}, "relu_out"), shared]
    check(g, fuse_elementwise)
    assert op_counts(g) == Counter({"MatMul": 2, "Unary": 2})
    assert (g.nodes[0].attrs["activation"], g.nodes[0].attrs["alpha"]) == ("leaky_relu", 0.1)
    assert g.nodes[1].attrs["activation"] == "linear"


def test_activation_moves_into_conv():
    gen = rng()
    g = Graph("conv")
    x = g.input("x", "float32", ["batch", "time", 3])
    conv = g.add1("Conv", [x, g.const("k", weights(gen, 3, 3, 2))], {"pads": ((1, 1),)})
    g.outputs = [g.add1("Unary", [conv], {"fn": "elu", "alpha": 0.3}, "out")]
    check(g, fuse_elementwise)
    assert [n.op for n in g.nodes] == ["Conv"]
    assert (g.nodes[0].attrs["activation"], g.nodes[0].attrs["alpha"]) == ("elu", 0.3)


# ---- the framework and the pipeline ----------------------------------------------------------------

def test_dead_code_elimination():
    g = Graph("dead")
    x = g.input("x", "float32", ["batch", 2])
    g.add1("Unary", [x], {"fn": "exp"}, "unused")
    _, h, _ = g.add("LSTM", [g.input("s", "float32", ["batch", "time", 2]), g.const("W", np.ones((2, 4))),
                             g.const("U", np.ones((1, 4)))])
    g.outputs = [g.add1("Unary", [x], {"fn": "relu"}), h]
    check(g, eliminate_dead_code)
    assert op_counts(g) == Counter({"Unary": 1, "LSTM": 1})


def test_rules_that_never_settle_are_reported():
    def any_unary(ctx, node):
        return True if node.op == "Unary" else None

    def flip(ctx, node, _):
        node.attrs["fn"] = "tanh" if node.attrs["fn"] == "relu" else "relu"

    g = Graph("flip")
    g.outputs = [g.add1("Unary", [g.input("x", "float32", [2])], {"fn": "relu"})]
    with pytest.raises(RuntimeError, match="any_unary"):
        apply_rules(g, [Rule(any_unary, flip)])


def test_verify_names_the_pass_that_broke_the_graph():
    def breaks_graph(graph):
        graph.nodes.reverse()
        return True

    g = Graph("broken")
    v = g.add1("Unary", [g.input("x", "float32", [2])], {"fn": "relu"})
    g.outputs = [g.add1("Unary", [v], {"fn": "exp"})]
    with pytest.raises(AssertionError, match="after pass breaks_graph"):
        optimize(g, verify=True, passes=(breaks_graph,))


def lstm_stack(gen):
    """Embedding -> dropout -> LSTM (Chainer layout) -> LSTM -> Dense(sigmoid), masked by id != 0."""
    g = Graph("stack")
    ids = g.input("ids", "int32", ["batch", "time"])
    emb = g.add1("Gather", [g.const("table", weights(gen, 10, 4)), ids], name="embedding")
    mask = g.add1("NotEqualMask", [ids], {"value": 0.0})
    emb = g.add1("Identity", [emb], name="dropout")
    layers = (("aifo_interleaved", 4, 5, True), ("ifco", 5, 3, False))
    v = emb
    for i, (layout, d, h, seq) in enumerate(layers):
        W, U, b = g.const(f"W{i}", weights(gen, d, 4 * h)), g.const(f"U{i}", weights(gen, h, 4 * h)), \
            g.const(f"b{i}", weights(gen, 4 * h))
        v = g.add("LSTM", [v, W, U, b, None, None, mask],
                  {"gate_layout": layout, "return_sequences": seq}, f"lstm{i}")[0]
    dense = g.add1("MatMul", [v, g.const("wd", weights(gen, 3, 2)), g.const("bd", weights(gen, 2))])
    g.outputs = [g.add1("Unary", [dense], {"fn": "sigmoid"}, "probs")]
    return g


def test_pipeline_on_lstm_stack():
    g = lstm_stack(rng())
    check(g, lambda graph: optimize(graph, verify=True) is graph)
    assert op_counts(g) == Counter({"Gather": 1, "NotEqualMask": 1, "MatMul": 3, "LSTMRecurrence": 2})
    assert g.outputs[0].producer.attrs["activation"] == "sigmoid"
    counts = op_counts(g)
    optimize(g, verify=True)
    assert op_counts(g) == counts
