"""WebGL2 code generation without a browser: coverage, loop structure, packing and texture metadata."""

from __future__ import annotations

import numpy as np
import pytest

from converter.backends import lowering
from converter.backends import lower, write
from converter.backends.dialect import GLSL_DIALECT
from converter.backends.webgl.lower import TABLE
from converter.errors import ConversionError
from converter.ir.graph import Graph


def _rnn_graph(op: str, hidden: int = 5, masked: bool = True, **attrs) -> Graph:
    gates = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[op]
    rng = np.random.default_rng(0)
    g = Graph(op.lower())
    x = g.input("x", "float32", ("batch", "time", 3))
    mask = g.input("mask", "float32", ("batch", "time")) if masked else None
    W = g.const("W", rng.normal(size=(3, gates * hidden)))
    U = g.const("U", rng.normal(size=(hidden, gates * hidden)))
    extra = {"LSTM": [None, None, mask], "GRU": [None, None, mask], "SimpleRNN": [None, mask]}[op]
    outs = g.add(op, [x, W, U, None] + extra, {"return_sequences": True, **attrs})
    g.outputs = list(outs)
    return g


def _loops(program) -> list:
    """(iteration count, [kernel templates]) per loop (meta.loop) of the step list; a plain step is a
    loop of one iteration."""
    out, i = [], 0
    while i < len(program.steps):
        step = program.steps[i]
        kernel = program.kernels[step.kernel]
        loop = kernel.meta.get("loop")
        if loop is None:
            out.append(("1", [kernel.meta["template"]]))
            i += 1
            continue
        assert step.dispatch == ("1", "1", "1") and loop["index"] == "u_iter"
        templates = [program.kernels[s.kernel].meta["template"] for s in program.steps[i:i + loop["span"]]]
        out.append((step.params[kernel.params.index(loop["count"])], templates))
        i += loop["span"]
    return out


def test_every_catalogue_op_has_a_kernel_or_a_reason():
    assert lowering.check_table(TABLE, "webgl") == []


def test_lstm_is_one_projection_then_one_draw_per_step():
    program = lower("webgl", _rnn_graph("LSTM"))
    loops = _loops(program)
    assert loops[0] == ("1", ["matmul.glsl.j2"])                       # x @ W + b for all steps at once
    assert [l for l in loops if l[0] == "time"] == [("time", ["recurrence_step.glsl.j2"])]
    step_kernel = next(k for k in program.kernels if k.meta["template"] == "recurrence_step.glsl.j2")
    assert [b.name for b in step_kernel.bindings if b.access == "read_write"] == ["h", "c"]   # MRT
    assert step_kernel.meta["region"] == "block" and len(step_kernel.meta["swap"]) == 2
    assert "uniform int s_batch;" in step_kernel.source and "s_batch" in step_kernel.params
    assert step_kernel.source.startswith("#version 300 es")


def test_recurrent_weights_are_packed_rgba_and_histories_blocked():
    hidden = 5
    graph = _rnn_graph("LSTM", hidden)
    U = next(c for c in graph.constants() if c.name == "U").data.copy()
    program = lower("webgl", graph)
    meta = program.meta["webgl"]
    (tid,) = meta["rgba_weights"]
    tensor = program.tensors[tid]
    assert tensor.shape == (hidden, hidden, 4)
    packed = np.frombuffer(program.weights, np.float32, hidden * hidden * 4, tensor.weight_offset)
    packed = packed.reshape(hidden, hidden, 4)
    for gate in range(4):                                  # texel (k, j) holds the i, f, c, o gates of unit j
        np.testing.assert_array_equal(packed[:, :, gate], U[:, gate * hidden:(gate + 1) * hidden])
    assert len(meta["blocked_slots"]) == 4                 # h and c, even and odd
    assert all(v == {"blocks": "time", "block_elems": "5*batch"} for v in meta["blocked_slots"].values())


@pytest.mark.parametrize("reset_after,body", [(True, 1), (False, 2)])
def test_gru_draws_per_step(reset_after, body):
    program = lower("webgl", _rnn_graph("GRU", reset_after=reset_after))
    (loop,) = [l for l in _loops(program) if l[0] == "time"]
    assert len(loop[1]) == body


def test_simple_rnn_keeps_its_weights_unpacked():
    program = lower("webgl", _rnn_graph("SimpleRNN", masked=False, go_backwards=True))
    assert program.meta["webgl"]["rgba_weights"] == []
    step = next(k for k in program.kernels if k.meta["template"] == "recurrence_step.glsl.j2")
    assert "int t = T - 1 - s;" in step.source           # go_backwards reads the input reversed


def test_compile_writes_a_bundle_that_reads_back(tmp_path):
    from converter.bundle import read_bundle
    graph = _rnn_graph("LSTM")
    (path,) = write("webgl", graph, tmp_path, max_texture_width=64)
    assert path.name == "model.webgl.wlm"
    program = read_bundle(path)
    assert program.backend == "webgl" and program.meta["webgl"]["max_width"] == 64
    assert program == lower("webgl", _rnn_graph("LSTM"), max_texture_width=64)


def test_elementwise_broadcast_and_helpers_only_when_used():
    g = Graph("ew")
    x = g.input("x", "float32", ("batch", 4))
    y = g.add1("Binary", [x, g.const("b", np.arange(4, dtype=np.float32))], {"fn": "add"})
    g.outputs = [g.add1("Unary", [y], {"fn": "relu"})]
    program = lower("webgl", g)
    (kernel,) = program.kernels                            # add + relu fused into one draw
    assert "wl_sigmoid" not in kernel.source and "wl_tanh" not in kernel.source
    assert "ld_x0(idx)" in kernel.source                   # same shape as the output: no index math
    assert "ld_x1((0) * 4 + c1)" in kernel.source          # [4] broadcast over batch: stride 0


def test_literals_cover_non_finite_values():
    assert GLSL_DIALECT.lit(0.5) == "0.5" and GLSL_DIALECT.lit(2) == "2.0"
    assert GLSL_DIALECT.lit(float("inf")) == "wl_inf()" and GLSL_DIALECT.lit(float("-inf")) == "(-wl_inf())"
    assert GLSL_DIALECT.lit(float("nan")) == "wl_nan()"


def test_unsupported_layer_norm_axes_fail_with_the_node_name():
    g = Graph("ln")
    x = g.input("x", "float32", ("batch", 3, 4))
    g.outputs = [g.add1("LayerNorm", [x], {"axes": (1,)}, name="ln_mid")]
    with pytest.raises(ConversionError, match="ln_mid.*trailing"):
        lower("webgl", g)


def test_bad_max_texture_width_is_rejected():
    with pytest.raises(ValueError, match="max_texture_width"):
        lower("webgl", _rnn_graph("SimpleRNN"), max_texture_width=0)


def test_int32_constants_beyond_float_exactness_are_refused():
    """WebGL keeps int32 as floats (exact within +-2^24): a constant past that is refused, not rounded."""
    for worst, refused in ((16777216, False), (-16777217, True)):
        g = Graph("int_const")
        k = g.const("k", np.array([1, worst, 3], np.int32))
        g.outputs.append(g.add1("Binary", [g.input("a", "int32", (3,)), k], {"fn": "add"}))
        if not refused:
            lower("webgl", g)
            continue
        with pytest.raises(ConversionError, match=r"^webgl backend: constant k holds -16777217, beyond the "):
            lower("webgl", g)
