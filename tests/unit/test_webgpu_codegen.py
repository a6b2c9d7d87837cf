"""What matters in the generated WGSL and its metadata (no browser): dispatch structure, bindings, params."""

from __future__ import annotations

import re

import numpy as np
import pytest

from converter.backends import lowering
from converter.backends.webgpu import emit, lower_program
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
    program = lower_program(_lstm())
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
    program = lower_program(_lstm())
    names = [_kernel_of(program, s).name for s in program.steps]
    assert names == ["matmul", "lstm_sequence"]
    recurrence = program.kernels[program.steps[1].kernel]
    # the recurrence reads xw (already projected, bias included) and never W or x
    assert [b.name for b in recurrence.bindings][:2] == ["xw", "U"]
    assert program.steps[0].tensors[-1] == program.steps[1].tensors[0]
    assert "W[" not in recurrence.source


def test_step_mode_repeats_one_dispatch_per_time_step():
    program = lower_program(_lstm(masked=True), recurrence="step")
    step = program.steps[-1]
    kernel = _kernel_of(program, step)
    assert kernel.meta["loop"] == {"index": "s", "count": "steps", "span": 1}
    assert step.params[kernel.params.index("steps")] == "time"
    assert "workgroupBarrier" not in kernel.source
    state = program.tensors[step.tensors[-1]]
    assert state.kind == "temp" and state.shape == (2, "batch", 8)


def test_large_state_falls_back_to_step_mode():
    program = lower_program(_lstm(hidden=webgpu_lower.SEQUENCE_MAX_UNITS + 8))
    assert _kernel_of(program, program.steps[-1]).meta["recurrence"] == "step"


def test_gru_reset_before_in_step_mode_repeats_two_phases():
    rng = np.random.default_rng(1)
    g = Graph("gru")
    x = g.input("x", "float32", ("batch", "time", 3))
    y, _ = g.add("GRU", [x, g.const("W", rng.random((3, 12))), g.const("U", rng.random((4, 12)))],
                 {"reset_after": False})
    g.outputs = [y]
    program = lower_program(g, recurrence="step")
    loops = [_kernel_of(program, s).meta["loop"] for s in program.steps[-2:]]
    assert loops[0]["span"] == 2 and loops[1]["span"] == 1


def test_metadata_matches_the_wgsl_declarations():
    program = lower_program(_lstm(masked=True))
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
    program = lower_program(g)
    assert len(program.steps) == 2 and len(program.kernels) == 1
    assert re.fullmatch(r"k_[0-9a-f]{16}", program.kernels[0].entry)


def test_every_catalogue_op_is_lowered_or_explained():
    assert lowering.check_table(webgpu_lower.table(), "webgpu") == []


def test_every_elementwise_fn_has_wgsl():
    assert set(emit.UNARY) >= set(ACTIVATIONS)
    assert set(emit.BINARY) >= set(BINARY_FNS)


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_non_finite_constants_are_rejected_with_a_clear_error(value):
    with pytest.raises(ValueError, match="not finite"):
        emit.lit(value)


def test_broadcast_strides_reach_the_kernel_as_params():
    g = Graph("bias")
    x = g.input("x", "float32", ("batch", "time", 3))
    y = g.add1("Binary", [x, g.input("r", "float32", ("batch", 1, 3))], {"fn": "add"})
    g.outputs = [y]
    program = lower_program(g)
    kernel, step = _kernel_of(program, program.steps[0]), program.steps[0]
    params = dict(zip(kernel.params, step.params))
    assert params["s1_0"] == "3" and params["s1_2"] == "1" and "s1_1" not in params
    assert params["d1"] == "time" and params["n"] == "3*batch*time"
