"""Structure of wasm lowering: legalization coverage, tensors, slots, weights, steps, I/O specs, bundle."""

import re

import numpy as np

from converter.backends import available
from converter.backends.lowering import check_table
from converter.backends.program import WEIGHT_ALIGN
from converter.backends import lower
from converter.backends.dialect import CDIALECT, missing
from converter.backends.wasm.emit import TEMPLATES
from converter.backends.wasm.lower import TABLE
from converter.bundle import read_bundle
from converter.ir.graph import Graph
from converter.ops.activations import ELEMENTWISE_FNS

RNG = np.random.default_rng(3)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def lstm_graph() -> Graph:
    g = Graph("lstm")
    x, m = g.input("x", "float32", ("batch", "time", 3)), g.input("m", "float32", ("batch", "time"))
    y, h, c = g.add("LSTM", [x, g.const("W", rand(3, 20)), g.const("U", rand(5, 20)), g.const("b", rand(20)),
                             None, None, m], {"return_sequences": True})
    g.outputs = [g.add1("MatMul", [y, g.const("Wd", rand(5, 2))], {"activation": "sigmoid"}), h]
    return g


def test_every_catalogue_op_has_a_kernel_or_a_reason():
    assert check_table(TABLE, "wasm") == []


def test_every_elementwise_fn_has_a_c_function():
    assert missing(CDIALECT) == []
    defined = set(re.findall(r"static inline f4 (?:act|bin)_(\w+)\(", "".join(CDIALECT.HELPERS.values())))
    assert set(ELEMENTWISE_FNS) == defined


def test_lstm_is_one_recurrence_step_after_a_projection_matmul():
    program = lower("wasm", lstm_graph(), keep_sources=True)
    names = [program.kernels[s.kernel].name for s in program.steps]
    assert names.count("LSTMRecurrence") == 1
    assert names.index("MatMul") < names.index("LSTMRecurrence")      # x @ W + b hoisted out of the loop
    assert len(names) == 3
    rec = program.steps[names.index("LSTMRecurrence")]
    assert program.kernels[rec.kernel].params == ["s_batch", "s_time"] and rec.params == ["batch", "time"]
    assert "for (int32_t s = 0; s < T; s++)" in program.kernels[rec.kernel].source
    assert all(k.source == "" for k in lower("wasm", lstm_graph()).kernels), "bundles carry the module only"


def test_tensors_slots_and_aligned_weights():
    program = lower("wasm", lstm_graph())
    weights = [t for t in program.tensors if t.kind == "weight"]
    assert weights and all(t.weight_offset % WEIGHT_ALIGN == 0 for t in weights)
    packed_u = next(t for t in weights if t.name.startswith("U"))
    assert packed_u.shape == (1, 5, 32)     # H=5 padded to 8 units: 1 block of [5 rows][2x4 gates x 4 units]
    assert all(0 <= t.slot < len(program.slots) for t in program.tensors if t.kind != "weight")
    assert program.symbols == ["batch", "time"]
    assert {t.kind for t in program.tensors} == {"input", "output", "temp", "weight"}
    assert b"__heap_base" in program.module and b"memory" in program.module


def test_gather_input_gets_valid_range_and_states_get_roles():
    g = Graph("emb")
    ids, h = g.input("ids", "int32", ("batch", "time")), g.input("h_in", "float32", ("batch", 4))
    e = g.add1("Gather", [g.const("table", rand(9, 3)), ids])
    _, h_out = g.add("SimpleRNN", [e, g.const("W", rand(3, 4)), g.const("U", rand(4, 4)), None, h])
    g.outputs = [h_out]
    out_name = h_out.name        # passes keep output names (the Value object may be replaced)
    g.meta["states"] = [{"input": "h_in", "output": out_name}]
    program = lower("wasm", g)
    ids_spec, h_spec = program.inputs
    assert ids_spec.valid_range == (0, 9) and ids_spec.role == "data"
    assert h_spec.role == "state" and h_spec.state_of == out_name
    assert program.outputs[0].role == "state" and program.outputs[0].state_of == "h_in"


def test_identical_kernels_are_shared():
    g = Graph("twice")
    x = g.input("x", "float32", ("batch", 4))
    a = g.add1("Softmax", [x])
    g.outputs = [a, g.add1("Softmax", [g.add1("Reverse", [a], {"axis": 1})])]
    program = lower("wasm", g)
    assert len(program.steps) == 3 and len(program.kernels) == 2


def test_registry_writes_a_bundle_that_reads_back(tmp_path):
    paths = available()["wasm"](lstm_graph(), tmp_path)
    assert [p.name for p in paths] == ["model.wasm.wlm"]
    program = read_bundle(paths[0])
    assert program.backend == "wasm" and program.module[:4] == b"\0asm"
