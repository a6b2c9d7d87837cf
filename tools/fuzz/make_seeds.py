"""Writes the seed bundles the bundle fuzzers mutate (tests/fuzz/seeds/*.wlm): two small graphs (an
embedding into a stateful SimpleRNN, an LSTM with a mask and a dense head) lowered for every backend,
so mutants reach each backend's kernels, params and dispatch shapes. Usage:
.venv/bin/python tools/fuzz/make_seeds.py (needs the pinned zig for wasm, like every wasm build)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import converter  # noqa: E402
from converter.ir.graph import Graph  # noqa: E402

SEEDS = ROOT / "tests" / "fuzz" / "seeds"
RNG = np.random.default_rng(15)


def _rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def embed_rnn() -> Graph:
    g = Graph("embed_rnn")
    ids, h = g.input("ids", "int32", ("batch", "time")), g.input("h_in", "float32", ("batch", 4))
    e = g.add1("Gather", [g.const("table", _rand(9, 3)), ids])
    _, h_out = g.add("SimpleRNN", [e, g.const("W", _rand(3, 4)), g.const("U", _rand(4, 4)), None, h])
    g.outputs = [h_out]
    g.meta["states"] = [{"input": "h_in", "output": h_out.name}]
    return g


def lstm_head() -> Graph:
    g = Graph("lstm_head")
    x, m = g.input("x", "float32", ("batch", "time", 3)), g.input("m", "float32", ("batch", "time"))
    weights = [g.const("W", _rand(3, 20)), g.const("U", _rand(5, 20)), g.const("b", _rand(20))]
    y, _, _ = g.add("LSTM", [x, *weights, None, None, m], {"return_sequences": True})
    g.outputs = [g.add1("MatMul", [y, g.const("Wd", _rand(5, 2))], {"activation": "sigmoid"})]
    return g


def main() -> None:
    SEEDS.mkdir(parents=True, exist_ok=True)
    for make in (embed_rnn, lstm_head):
        for backend in ("wasm", "webgpu", "webgl"):
            path = SEEDS / f"{make.__name__}.{backend}.wlm"
            converter.compile(make(), backend).save(path)
            print(path.relative_to(ROOT), path.stat().st_size)


if __name__ == "__main__":
    main()
