"""The Python API on the shipped example: from_keras -> run -> compile -> save, without TensorFlow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import converter
from converter.bundle import read_bundle

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sentiment"


@pytest.fixture(scope="module")
def graph():
    return converter.from_keras(EXAMPLE / "model.keras")


def _sample():
    data = json.loads((EXAMPLE / "expected.json").read_text())
    words = data["inputs"]["words"]
    x = np.array(words["data"], np.int32).reshape(words["shape"])
    return x, np.array(data["outputs"]["score"]["data"], np.float32)


def test_run_matches_keras_by_list_and_by_name(graph):
    x, want = _sample()
    by_list = graph.run([x])[0]
    by_name = graph.run({"words": x})[0]
    np.testing.assert_allclose(by_list.ravel(), want, atol=1e-5, rtol=1e-5)
    np.testing.assert_array_equal(by_list, by_name)


@pytest.mark.parametrize("backend", ["wasm", "webgpu", "webgl"])
def test_compile_returns_a_bundle_that_saves(graph, backend, tmp_path):
    nodes_before = [n.op for n in graph.nodes]
    bundle = converter.compile(graph, backend)
    assert [n.op for n in graph.nodes] == nodes_before, "compile must not rewrite the caller's graph"
    path = bundle.save(tmp_path)
    assert path.name == f"model.{backend}.wlm"
    program = read_bundle(path)
    assert program.backend == backend
    assert [io.name for io in program.inputs] == ["words"]
    assert [io.name for io in program.outputs] == ["score"]
    assert bundle.to_bytes() == path.read_bytes()


def test_unknown_backend_is_named(graph):
    with pytest.raises(KeyError, match="unknown backend 'opengl'; available: wasm, webgl, webgpu"):
        converter.compile(graph, "opengl")


@pytest.mark.parametrize("backend", ["wasm", "webgpu", "webgl"])
def test_bundle_weights_stay_close_to_the_raw_weights(graph, backend):
    # a backend may re-lay weights out (blocked, vec4-packed, padded), never ship a weight twice
    program = converter.compile(graph, backend).program
    raw = graph.weight_bytes()
    assert len(program.weights) <= 1.02 * raw, (len(program.weights), raw)
    names = [t.name.split("#")[0] for t in program.tensors if t.kind == "weight"]
    assert len(names) == len(set(names)), f"a weight is stored twice: {sorted(names)}"
