"""WebGPU kernel paths that the converter picks from static shapes (or gates at run time by symbolic
ones), each checked against the interpreter in headless Chromium: the GEMV and the register-blocked
matmul with tails in M, K and N, line reductions longer than one workgroup and strided (inner > 1) ones.
"""

from __future__ import annotations

import numpy as np
import pytest

from converter.backends.webgpu import lower as webgpu_lower
from converter.ir.graph import Graph


def _paths_graph() -> Graph:
    rng = np.random.default_rng(8)
    g = Graph("paths")
    x = g.input("x", "float32", ("batch", 37))
    long = g.input("long", "float32", ("batch", 300))
    seq = g.input("seq", "float32", ("batch", 5, 40))
    w, b = g.const("w", rng.uniform(-1, 1, (37, 70))), g.const("b", rng.uniform(-1, 1, 70))
    mm = g.add1("MatMul", [x, w, b], {"activation": "relu"})
    g.outputs = [mm, g.add1("Softmax", [mm]), g.add1("Softmax", [seq], {"axis": 1}),
                 g.add1("LayerNorm", [long], {"axes": (-1,)}),
                 g.add1("Reduce", [long, None], {"fn": "max", "axes": (1,)}),
                 g.add1("Reduce", [seq, None], {"fn": "mean", "axes": (1,)})]
    return g


# 1 and 3 rows run the GEMV; 40 and 70 the tiled matmul (70: a second, partial row of tiles)
@pytest.mark.parametrize("batch", [1, 3, webgpu_lower.SKINNY_MAX_ROWS + 24, 70])
def test_shape_chosen_kernel_paths_match_interpreter(page, bundles, batch):
    rng = np.random.default_rng(batch)
    feeds = {"x": rng.uniform(-1, 1, (batch, 37)).astype(np.float32),
             "long": rng.uniform(-3, 3, (batch, 300)).astype(np.float32),
             "seq": rng.uniform(-3, 3, (batch, 5, 40)).astype(np.float32)}
    bundles.check_graph(page, _paths_graph(), feeds, "webgpu", f"paths-{batch}", {"batch": batch})
