"""docs/design.md "Adding an op", proved: a toy op added through the places that section lists, and only
those, runs on every backend in Chromium and matches its numpy reference.

The places: the op (shape rule + reference, ``converter/ops/``), one lowering entry per backend (its
``TABLE`` in ``converter/backends/<backend>/lower.py``) and its templates (``kernels/<backend>/``).
Here the op is registered from the test, the entries are added to the tables with monkeypatch and the
templates are written into the kernel folders for the test's duration, then all three are removed.
"""

from __future__ import annotations

import numpy as np
import pytest

from converter.backends.dialect import WGSL_DIALECT
from converter.backends.lowering import LoweringContext, check_table
from converter.backends.wasm import lower as wasm_lower
from converter.backends.wasm.emit import TEMPLATES as WASM_KERNELS, CKernel
from converter.backends.webgl import lower as webgl_lower
from converter.backends.webgl.emit import KERNEL_DIR as WEBGL_KERNELS, GlKernel
from converter.backends.webgpu import emit as webgpu_emit
from converter.backends.webgpu import lower as webgpu_lower
from converter.ir import dims
from converter.ir.graph import Graph, Node
from converter.ops import registry
from converter.ops.common import need_dtype

OP = "ToyRamp"
TEMPLATE = "toy_ramp_test"       # kernels/<backend>/toy_ramp_test.<ext>.j2, removed after the test

# ---- 1. the op: shape rule and numpy reference -------------------------------------------------------


class ToyRamp:
    """y[i] = x[i] + k * i over the flat index i."""

    def infer(x, *, attrs):
        need_dtype(OP, "x", x, "float32")
        return [("float32", x.shape)]

    def reference(x, *, k):
        ramp = np.arange(x.size, dtype=np.float32).reshape(x.shape)
        return ((x + np.float32(k) * ramp).astype(np.float32),)


# ---- 2. one lowering entry per backend ---------------------------------------------------------------

def lower_toy_wasm(node: Node, ctx: LoweringContext) -> None:
    x, y = node.inputs[0], node.outputs[0]
    k = CKernel(OP, f"{TEMPLATE}.c.j2")
    k.ptr("x", ctx.tensor(x)).ptr("y", ctx.tensor(y), access="read_write")
    kernel, tensors, params = k.render(n=k.dim(dims.size(x.shape)), k=k.dialect.lit(node.attrs["k"]))
    ctx.add_step(kernel, tensors, params)


def lower_toy_webgpu(node: Node, ctx: LoweringContext) -> None:
    x, y = node.inputs[0], node.outputs[0]
    bufs = [webgpu_emit.Buf("x"), webgpu_emit.Buf("y", access="read_write")]
    n = webgpu_lower.prod(x.shape)
    kernel = webgpu_emit.render(OP, f"{TEMPLATE}.wgsl.j2", bufs, ["n"], (webgpu_lower.LINEAR_WG,),
                                k=WGSL_DIALECT.lit(node.attrs["k"]))
    ctx.add_step(kernel, [ctx.tensor(x), ctx.tensor(y)], [n], webgpu_lower.linear_dispatch(n))


def lower_toy_webgl(node: Node, ctx: LoweringContext) -> None:
    k = GlKernel(OP, f"{TEMPLATE}.glsl.j2")
    k.read("x", ctx.tensor(node.inputs[0]))
    k.write("y", ctx.tensor(node.outputs[0]))
    kernel, tensors, params = k.render(k=k.dialect.lit(node.attrs["k"]))
    ctx.add_step(kernel, tensors, params)


# ---- 3. the templates --------------------------------------------------------------------------------

TEMPLATES = {
    WASM_KERNELS / f"{TEMPLATE}.c.j2":
        "  for (int32_t i = 0; i < {{ n }}; i++) y[i] = x[i] + {{ k }} * (float)i;\n",
    webgpu_emit.KERNEL_DIR / f"{TEMPLATE}.wgsl.j2":
        "@compute @workgroup_size({{ wg[0] }})\n"
        "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,\n"
        "        @builtin(local_invocation_id) lid: vec3<u32>) {\n"
        "  let i = (wid.y * nwg.x + wid.x) * {{ wg[0] }}u + lid.x;\n"
        "  if (i >= P.n) { return; }\n"
        "  y[i] = x[i] + {{ k }} * f32(i);\n}\n",
    WEBGL_KERNELS / f"{TEMPLATE}.glsl.j2":
        '{% import "_main.glsl.j2" as m %}\n{{ m.begin(outputs) }}\n'
        "  o_y = vec4(ld_x(idx) + {{ k }} * float(idx));\n}\n",
}
ENTRIES = [(wasm_lower.TABLE, lower_toy_wasm), (webgpu_lower.TABLE, lower_toy_webgpu),
           (webgl_lower.TABLE, lower_toy_webgl)]


@pytest.fixture
def toy_op(monkeypatch):
    registry.register(OP, inputs=("x",), attrs={"k": 1.0})(ToyRamp)
    for table, generator in ENTRIES:
        monkeypatch.setitem(table, OP, generator)
    for path, text in TEMPLATES.items():
        path.write_text(text)
    try:
        yield
    finally:
        registry.OPS.pop(OP, None)
        for path in TEMPLATES:
            path.unlink(missing_ok=True)


def _toy_graph() -> Graph:
    g = Graph("toy")
    x = g.input("x", "float32", ("batch", 3, 5))
    g.outputs = [g.add1("Unary", [g.add1(OP, [x], {"k": 0.25})], {"fn": "tanh"})]
    return g


def test_the_listed_places_are_all_a_kernel_op_needs(toy_op):
    for table, _ in ENTRIES:
        assert check_table(table, "any") == []      # the coverage check sees the new op as lowered


@pytest.mark.parametrize("backend", ["wasm", "webgpu", "webgl"])
def test_toy_op_runs_on_every_backend(toy_op, page, bundles, backend):
    x = np.random.default_rng(9).uniform(-3, 3, (2, 3, 5)).astype(np.float32)
    bundles.check_graph(page, _toy_graph(), {"x": x}, backend, "toy_ramp", dims={"batch": 2})
