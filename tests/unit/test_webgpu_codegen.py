"""What matters in the generated WGSL and its metadata (no browser): dispatch structure, bindings, params."""

from __future__ import annotations

import re

import numpy as np
import pytest

from converter.backends import lowering
from converter.backends import lower
from converter.backends.dialect import WGSL_DIALECT, missing
from converter.backends.webgpu import lower as webgpu_lower
from converter.ir.graph import Graph
from converter.ops.activations import ACTIVATIONS, BINARY_FNS


def _lstm(hidden: int = 8, masked: bool = False) -> Graph:
    rng = np.random.default_rng(0)
    g = Graph("lstm")
    x = g.input("x", "float32", ("batch", "time", 5))
    mask = g.input("mask", "float32", ("batch", "time")) if masked else None
    W = g.const("W", rng.uniform(-1, 1, (5, 4 * hidden)))
    U = g.const("U", rng.uniform(-1, 1, (hidden, 4 * hidden)))
    b = g.const("b", rng.uniform(-1, 1, (4 * hidden,)))
    y, _, _ = g.add("LSTM", [x, W, U, b, None, None, mask], {"return_sequences": True})
    g.outputs = [y]
    return g


def _kernel_of(program, step):
    return program.kernels[step.kernel]


def test_small_lstm_is_one_dispatch_for_the_whole_sequence():
    program = lower("webgpu", _lstm())
    recurrent = [s for s in program.steps if _kernel_of(program, s).meta.get("recurrence")]
    assert len(recurrent) == 1
    kernel = _kernel_of(program, recurrent[0])
    assert kernel.meta["recurrence"] == "sequence" and "loop" not in kernel.meta
    # one workgroup per batch row, h in workgroup memory, one barrier in the time loop
    assert recurrent[0].dispatch == ("batch", "1", "1")
    assert "var<workgroup> hbuf" in kernel.source
    after = kernel.source.split("for (var s = 0u; s < T;")[1]
    time_loop = after.rsplit("\n  for (var j = 0u; j < UPT;", 1)[0]
    assert kernel.source.count("workgroupBarrier()") == 2     # after the init and once per step
    assert "workgroupBarrier()" in time_loop


def test_input_projection_is_a_matmul_outside_the_recurrence():
    program = lower("webgpu", _lstm())
    names = [_kernel_of(program, s).name for s in program.steps]
    # M = batch*time is symbolic: both matmul paths are emitted, the dispatch gates pick one at run time
    assert names == ["matmul_gemv", "matmul", "lstm_sequence"]
    recurrence = program.kernels[program.steps[2].kernel]
    # the recurrence reads xw (already projected, bias included) and never W or x
    assert [b.name for b in recurrence.bindings][:2] == ["xw", "U"]
    assert program.steps[0].tensors[-1] == program.steps[1].tensors[-1] == program.steps[2].tensors[0]
    assert "W[" not in recurrence.source


def test_step_mode_repeats_one_dispatch_per_time_step():
    program = lower("webgpu", _lstm(masked=True), recurrence="step")
    step = program.steps[-1]
    kernel = _kernel_of(program, step)
    assert kernel.meta["loop"] == {"index": "s", "count": "steps", "span": 1}
    assert step.params[kernel.params.index("steps")] == "time"
    assert "workgroupBarrier" not in kernel.source
    state = program.tensors[step.tensors[-1]]
    assert state.kind == "temp" and state.shape == (2, "batch", 8)


def test_large_state_falls_back_to_step_mode():
    program = lower("webgpu", _lstm(hidden=webgpu_lower.SEQUENCE_MAX_UNITS + 8))
    assert _kernel_of(program, program.steps[-1]).meta["recurrence"] == "step"


def test_gru_reset_before_in_step_mode_repeats_two_phases():
    rng = np.random.default_rng(1)
    g = Graph("gru")
    x = g.input("x", "float32", ("batch", "time", 3))
    y, _ = g.add("GRU", [x, g.const("W", rng.random((3, 12))), g.const("U", rng.random((4, 12)))],
                 {"reset_after": False})
    g.outputs = [y]
    program = lower("webgpu", g, recurrence="step")
    loops = [_kernel_of(program, s).meta["loop"] for s in program.steps[-2:]]
    assert loops[0]["span"] == 2 and loops[1]["span"] == 1


def test_metadata_matches_the_wgsl_declarations():
    program = lower("webgpu", _lstm(masked=True))
    for kernel in program.kernels:
        for i, binding in enumerate(kernel.bindings):
            mode = "read" if binding.access == "read" else "read_write"
            assert f"@binding({i}) var<storage, {mode}> {binding.name}:" in kernel.source
        pb = kernel.meta["params_binding"]
        assert pb == len(kernel.bindings)
        fields = re.search(r"struct Params \{ (.*) \}", kernel.source).group(1)
        assert [f.split(":")[0] for f in fields.split(", ") if f] == kernel.params
        assert f"@binding({pb}) var<uniform> P: Params;" in kernel.source
        size = ", ".join(str(w) for w in kernel.workgroup[:1])
        assert f"@workgroup_size({size}" in kernel.source
        assert f"fn {kernel.entry}(" in kernel.source


def test_identical_kernels_are_shared_and_entries_hash_the_source():
    rng = np.random.default_rng(2)
    g = Graph("mlp")
    x = g.input("x", "float32", ("batch", 4))
    h = g.add1("MatMul", [x, g.const("w1", rng.random((4, 4))), g.const("b1", rng.random(4))])
    y = g.add1("MatMul", [h, g.const("w2", rng.random((4, 4))), g.const("b2", rng.random(4))])
    g.outputs = [y]
    program = lower("webgpu", g)
    assert len(program.steps) == 4 and len(program.kernels) == 2     # (gemv, tiled) per MatMul, shared
    assert re.fullmatch(r"k_[0-9a-f]{16}", program.kernels[0].entry)


def test_every_catalogue_op_is_lowered_or_explained():
    assert lowering.check_table(webgpu_lower.TABLE, "webgpu") == []


def test_every_elementwise_fn_has_wgsl():
    assert missing(WGSL_DIALECT) == []


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_non_finite_constants_are_rejected_with_a_clear_error(value):
    with pytest.raises(ValueError, match="not finite"):
        WGSL_DIALECT.lit(value)


def test_broadcast_strides_reach_the_kernel_as_params():
    g = Graph("bias")
    x = g.input("x", "float32", ("batch", "time", 3))
    y = g.add1("Binary", [x, g.input("r", "float32", ("batch", 1, 3))], {"fn": "add"})
    g.outputs = [y]
    program = lower("webgpu", g)
    kernel, step = _kernel_of(program, program.steps[0]), program.steps[0]
    params = dict(zip(kernel.params, step.params))
    assert params["s1_0"] == "3" and params["s1_2"] == "1" and "s1_1" not in params
    assert params["d1"] == "time" and params["n"] == "3*batch*time"


def _dense(rows, k: int = 37, n: int = 70) -> Graph:
    rng = np.random.default_rng(9)
    g = Graph("dense")
    x = g.input("x", "float32", (rows, k))
    g.outputs = [g.add1("MatMul", [x, g.const("w", rng.random((k, n))), g.const("b", rng.random(n))])]
    return g


def _matmul_steps(program):
    return [(s, _kernel_of(program, s)) for s in program.steps if "matmul" in _kernel_of(program, s).meta]


def test_one_row_matmul_is_a_gemv_that_splits_k():
    (step, kernel), = _matmul_steps(lower("webgpu", _dense(1)))
    assert kernel.meta["matmul"] == "gemv" and kernel.name == "matmul_gemv"
    # 64 columns x 4 K slices whose partial sums meet in workgroup memory
    assert kernel.workgroup == (64, 4, 1) and "var<workgroup> part" in kernel.source
    assert "for (var k = lid.y; k < P.k; k = k + SLICES)" in kernel.source
    assert step.dispatch == ("cdiv(70,64)", f"cdiv(1,{webgpu_lower.GEMV_ROWS})", "1")


def test_narrow_gemv_trades_columns_for_k_slices():
    (_, kernel), = _matmul_steps(lower("webgpu", _dense(1, n=10)))
    assert kernel.workgroup == (16, 16, 1)


def test_many_rows_use_the_register_blocked_tiled_matmul():
    (step, kernel), = _matmul_steps(lower("webgpu", _dense(200)))
    assert kernel.meta["matmul"] == "tiled" and kernel.workgroup == (16, 16, 1)
    # each invocation accumulates a 4x4 block in registers: 64x64 outputs per workgroup
    assert "var accs: array<array<f32, 4>, 4>;" in kernel.source
    assert "var<workgroup> tx: array<array<f32, 16>, 64>;" in kernel.source
    assert step.dispatch == ("cdiv(70,64)", "cdiv(200,64)", "1")


def test_symbolic_rows_gate_exactly_one_matmul_path_at_run_time():
    steps = _matmul_steps(lower("webgpu", _dense("batch")))
    assert [k.meta["matmul"] for _, k in steps] == ["gemv", "tiled"]
    for batch in range(0, 100):
        running = [k.meta["matmul"] for s, k in steps
                   if all(lowering.evaluate(e, {"batch": batch}) > 0 for e in s.dispatch)]
        want = [] if batch == 0 else ["gemv" if batch <= webgpu_lower.SKINNY_MAX_ROWS else "tiled"]
        assert running == want, batch


def _reduction_kernel(build):
    g = Graph("red")
    x = g.input("x", "float32", ("batch", 70, 40))
    g.outputs = [build(g, x)]
    program = lower("webgpu", g)
    (step,) = program.steps
    return step, _kernel_of(program, step)


@pytest.mark.parametrize("build,ops", [
    (lambda g, x: g.add1("Softmax", [x]), ("max", "sum")),
    (lambda g, x: g.add1("Softmax", [x], {"axis": 1}), ("max", "sum")),
    (lambda g, x: g.add1("LayerNorm", [x], {"axes": (-1,)}), ("sum",)),
    (lambda g, x: g.add1("Reduce", [x, None], {"fn": "max", "axes": (1,)}), ("max",)),
])
def test_row_reductions_combine_partials_in_workgroup_memory(build, ops):
    step, kernel = _reduction_kernel(build)
    assert sorted(re.findall(r"fn group_(\w+)\(", kernel.source)) == sorted(ops)
    assert "var<workgroup> red" in kernel.source
    # barriers sit in uniform control flow: no invocation leaves early
    assert "return;" not in kernel.source.split("fn k_")[1]
    lines, slices = kernel.workgroup[:2]
    assert lines * slices == webgpu_lower.ROW_WG and step.dispatch[0].startswith(f"min(cdiv(")
    assert f",{lines}),65535)" in step.dispatch[0]


def test_row_reduction_shape_follows_the_line_layout():
    _, last = _reduction_kernel(lambda g, x: g.add1("Softmax", [x]))
    _, strided = _reduction_kernel(lambda g, x: g.add1("Softmax", [x], {"axis": 1}))
    assert last.workgroup == (4, 64, 1)                       # 40 contiguous values: 64 slices, 4 lines
    assert strided.workgroup == webgpu_lower.ROW_STRIDED_WG + (1,)   # neighbouring lines side by side


def test_lstm_weights_are_repacked_as_one_vec4_per_unit_and_input():
    program = lower("webgpu", _lstm(hidden=8))
    step = program.steps[-1]
    kernel = _kernel_of(program, step)
    assert "var<storage, read> U: array<vec4<f32>>;" in kernel.source
    assert "a = a + hbuf[cur + k] * U[k * H + u];" in kernel.source
    u = program.tensors[step.tensors[1]]
    assert u.shape == (8, 8, 4)
    packed = np.frombuffer(program.weights, np.float32, 8 * 8 * 4, u.weight_offset).reshape(8, 8, 4)
    original = np.random.default_rng(0)
    original.uniform(-1, 1, (5, 32))
    want = original.uniform(-1, 1, (8, 32)).astype(np.float32)
    np.testing.assert_array_equal(packed[3, 5], want[3, [5, 13, 21, 29]])
