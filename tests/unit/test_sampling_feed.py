"""Which graphs carry a WebGPU sampling kernel (converter/backends/sampling.py, Runner.generate): one
data input taking tokens (int32 ids [1|batch, T] or one-hot rows [1|batch, T, V]) and one data output
scoring V >= 2 tokens; the kernel's metadata names them."""

from __future__ import annotations

import numpy as np
import pytest

from converter.backends.sampling import generation_feed
from converter.ir.graph import Graph


def dense_model(x_dtype, x_shape, vocab=6, state=False):
    g = Graph("m")
    x = g.input("x", x_dtype, x_shape)
    inputs = [x]
    if x_dtype == "int32":
        x = g.add1("Gather", [g.const("table", np.ones((vocab, 4))), x])
    h = x if len(x.shape) == 2 else g.add1("Reduce", [x], {"fn": "mean", "axes": (1,)})
    y = g.add1("MatMul", [h, g.const("w", np.ones((int(h.shape[-1]), vocab)))])
    y.name = "scores"
    g.outputs = [y]
    if state:
        s = g.input("s", "float32", (1, vocab))
        y2 = g.add1("Binary", [s, y], {"fn": "add"})
        y2.name = "s_next"
        g.outputs.append(y2)
        g.meta["states"] = [{"input": "s", "output": "s_next"}]
    return g, inputs


@pytest.mark.parametrize("dtype, shape, window, onehot", [
    ("int32", ("batch", 3), 3, False), ("int32", (1, 1), 1, False), ("float32", (1, 1, 6), 1, True),
    ("float32", ("batch", 4, 6), 4, True)])
def test_token_inputs_get_a_feed(dtype, shape, window, onehot):
    g, _ = dense_model(dtype, shape, state=shape[0] == 1)
    feed = generation_feed(g)
    assert feed is not None and (feed.input, feed.output, feed.window, feed.vocab, feed.onehot) == \
        ("x", "scores", window, 6, onehot)


@pytest.mark.parametrize("dtype, shape, vocab", [
    ("int32", ("batch", "time"), 6),       # a free window
    ("float32", ("batch", 3, 5), 6),      # float features, not one-hot rows of the vocabulary
    ("int32", ("batch", 3), 1)])          # one score (a classifier), nothing to sample
def test_other_signatures_get_none(dtype, shape, vocab):
    g, _ = dense_model(dtype, shape, vocab)
    assert generation_feed(g) is None


def test_the_webgpu_bundle_carries_the_kernel_no_step_runs():
    from converter.api import compile as compile_graph
    g, _ = dense_model("int32", ("batch", 3))
    program = compile_graph(g, "webgpu").program
    sample = [i for i, k in enumerate(program.kernels) if "generate" in k.meta]
    assert len(sample) == 1 and all(s.kernel != sample[0] for s in program.steps)
    assert program.kernels[sample[0]].meta["generate"] == {"input": "x", "output": "scores", "window": 3,
                                                           "vocab": 6, "onehot": False}
