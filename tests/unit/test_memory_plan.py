"""The memory plan: slot sharing is safe (checked by running the graph out of the slots) and effective."""

import numpy as np
import pytest

from converter.interpreter import bind_inputs
from converter.ir import dims
from converter.ir.graph import Graph
from converter.passes import memory_plan, optimize, peak_bytes

RNG = np.random.default_rng(7)


def run_in_slots(graph, plan, feeds):
    """Execute ``graph`` with every value stored in its planned slot (one byte buffer per slot).

    If two simultaneously live values shared a slot, the later write would corrupt the earlier value
    and the results would differ from the plain interpreter.
    """
    env, bindings = bind_inputs(graph, feeds)
    nbytes = [max(dims.evaluate(s, bindings) for s in plan.slot_sizes(k)) for k in range(len(plan.slots))]
    memory = [np.zeros(n, np.uint8) for n in nbytes]

    def view(v):
        shape = dims.eval_shape(v.shape, bindings)
        count = int(np.prod(shape, dtype=np.int64))
        return memory[plan.slot_of[id(v)]][:count * 4].view(v.dtype).reshape(shape)

    def read(v):
        return None if v is None else (v.data if v.is_const else view(v).copy())

    for v in graph.inputs:
        view(v)[...] = env[id(v)]
    for node in graph.nodes:
        results = node.opdef.reference(*(read(v) for v in node.inputs), **node.attrs)
        for out, r in zip(node.outputs, results):
            view(out)[...] = r
    return [read(v) for v in graph.outputs]


def assert_disjoint_lifetimes(graph, plan):
    """No two values in one slot are live at the same step (a node never writes over its inputs)."""
    for k, values in enumerate(plan.slots):
        ranges = sorted(plan.live[id(v)] for v in values)
        for (_, last), (first, _) in zip(ranges, ranges[1:]):
            assert last < first, f"slot {k}: overlapping live ranges {ranges}"


def check_plan(graph, feeds):
    plan = memory_plan(graph)
    assert_disjoint_lifetimes(graph, plan)
    planned = {id(v) for v in graph.values() if not v.is_const} | {id(v) for v in graph.inputs}
    assert set(plan.slot_of) == planned
    for want, got in zip(graph.run(feeds), run_in_slots(graph, plan, feeds)):
        np.testing.assert_array_equal(got, want)
    return plan


def unary_chain(length):
    g = Graph("chain")
    v = g.input("x", "float32", ["batch", 8])
    for i in range(length):
        v = g.add1("Unary", [v], {"fn": ("tanh", "neg", "square")[i % 3]}, f"u{i}")
    g.outputs = [v]
    return g


def test_chain_reuses_two_slots():
    g = unary_chain(6)
    plan = check_plan(g, [RNG.standard_normal((3, 8))])
    # x, u0..u5: alternating between two buffers is the best any non-in-place plan can do
    assert len(plan.slots) == 2
    assert max(len(s) for s in plan.slots) >= 3
    assert peak_bytes(plan, {"batch": 3}) == 2 * 3 * 8 * 4
    assert plan.slot_sizes(0) == ["32*batch"]


def test_node_never_shares_a_slot_with_its_inputs():
    g = unary_chain(1)
    plan = memory_plan(g)
    x, y = g.inputs[0], g.outputs[0]
    assert plan.slot_of[id(x)] != plan.slot_of[id(y)]


def test_outputs_are_never_overwritten():
    g = Graph("early_output")
    x = g.input("x", "float32", ["batch", "time", 4])
    early = g.add1("Unary", [x], {"fn": "relu"}, "early")
    v = early
    for i in range(4):
        v = g.add1("Unary", [v], {"fn": "tanh"}, f"late{i}")
    g.outputs = [early, v]
    plan = check_plan(g, [RNG.standard_normal((2, 5, 4))])
    first = plan.live[id(early)][0]
    for other in plan.slots[plan.slot_of[id(early)]]:
        if other is not early:
            assert plan.live[id(other)][1] < first, "a value written after an output shares its slot"
    assert plan.live[id(early)][1] == len(g.nodes)


def test_state_inputs_keep_their_slot_to_the_end():
    # the GPU backends hold the carried state in its input's slot between step()s: a run() in between
    # must not overwrite it with a later value (review of issue 14: logits landed in h's slot)
    g = unary_chain(4)
    h = g.inputs[0]
    g.meta["states"] = [{"input": "x", "output": g.outputs[0].name}]
    plan = check_plan(g, [RNG.standard_normal((3, 8))])
    assert plan.slots[plan.slot_of[id(h)]] == [h]
    assert plan.live[id(h)][1] == len(g.nodes)


def test_mixed_sizes_and_unused_outputs_after_optimize():
    g = Graph("lstm_stack")
    x = g.input("x", "float32", ["batch", "time", 3])
    h0 = g.input("h0", "float32", ["batch", 5])
    W, U, b = (g.const(n, RNG.standard_normal(s) * 0.5) for n, s in
               (("W", (3, 20)), ("U", (5, 20)), ("b", (20,))))
    y, _, _ = g.add("LSTM", [x, W, U, b, h0], {"return_sequences": True}, "lstm1")
    W2, U2 = g.const("W2", RNG.standard_normal((5, 8))), g.const("U2", RNG.standard_normal((2, 8)))
    y2, h2, _ = g.add("LSTM", [y, W2, U2], {}, "lstm2")
    out = g.add1("Binary", [y2, g.add1("Unary", [h2], {"fn": "sigmoid"})], {"fn": "mul"}, "out")
    g.outputs = [out]
    optimize(g, verify=True)
    feeds = [RNG.standard_normal((2, 6, 3)), RNG.standard_normal((2, 5))]
    plan = check_plan(g, feeds)
    assert len(plan.slots) < len(plan.slot_of)
    small, large = peak_bytes(plan, {"batch": 1, "time": 1}), peak_bytes(plan, {"batch": 4, "time": 50})
    assert 0 < small < large


def test_input_passed_through_as_output_and_constant_output():
    g = Graph("passthrough")
    x = g.input("x", "float32", ["batch", 2])
    y = g.add1("Unary", [x], {"fn": "relu"})
    g.outputs = [x, y, g.const("c", np.ones(2))]
    plan = check_plan(g, [RNG.standard_normal((2, 2))])
    assert plan.slot_of[id(x)] != plan.slot_of[id(y)]
    assert plan.live[id(x)] == (-1, len(g.nodes))


def test_keep_inputs_protects_inputs_from_reuse():
    g = unary_chain(4)
    x = g.inputs[0]
    assert len(memory_plan(g).slots[memory_plan(g).slot_of[id(x)]]) > 1
    plan = memory_plan(g, keep_inputs=True)
    assert plan.slots[plan.slot_of[id(x)]] == [x]
    assert_disjoint_lifetimes(g, plan)


def test_peak_bytes_needs_bound_symbols():
    plan = memory_plan(unary_chain(2))
    with pytest.raises(KeyError, match="batch"):
        peak_bytes(plan, {})
