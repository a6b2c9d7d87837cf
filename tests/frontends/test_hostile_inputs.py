"""Hostile or damaged inputs that are not files of the corpus (tests/corpus/, test_corpus.py): Keras 2 float
ids outside the embedding, a model script that interrupts the conversion. No TensorFlow needed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

import converter
from converter import cli
from tests.fuzz import model_files

ROOT = Path(__file__).resolve().parents[2]
NODE_RUN = ROOT / "tests" / "browser" / "node_run.mjs"
WEBLOOM = ROOT / "runtime-js" / "dist" / "webloom.js"


@pytest.fixture(scope="module")
def float_id_bundle(tmp_path_factory):
    """Keras 2 Embedding(5, 3) on a float32 input (Keras 2's default dtype) -> LSTM, as a wasm bundle."""
    root = tmp_path_factory.mktemp("float_ids")
    config, weights = model_files.embedding_lstm_model()
    model_files.write_h5(root / "model.h5", config, weights)
    graph = converter.from_keras(root / "model.h5")
    converter.compile(graph, "wasm").save(root / "out")
    return graph, root / "out"


def test_float_ids_get_the_embedding_range(float_id_bundle):
    graph, out = float_id_bundle
    program = converter.bundle.read_bundle(out / "model.wasm.wlm")
    assert [(i.name, i.dtype, i.valid_range) for i in program.inputs] == [("ids", "float32", (0, 5))]


def _node(out: Path, ids: list, tmp_path: Path) -> dict:
    request = tmp_path / "request.json"
    # JSON has no NaN/inf: the runtime's Float32Array.from turns these strings into them
    request.write_text(json.dumps({"dir": str(out), "webloom": str(WEBLOOM), "backendOrder": ["wasm"],
                                   "dims": None, "inputs": {"ids": ids}}))
    proc = subprocess.run(["node", str(NODE_RUN), str(request)], capture_output=True, text=True, timeout=60)
    return json.loads(proc.stdout)


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", 1e10, -1, 5])
def test_runtime_refuses_float_ids_keras_refuses(float_id_bundle, tmp_path, bad):
    _, out = float_id_bundle
    result = _node(out, [1, 2, bad, 0], tmp_path)
    assert "outside the valid range [0, 5)" in result.get("error", ""), result


def test_runtime_truncates_float_ids_like_keras(float_id_bundle, tmp_path):
    graph, out = float_id_bundle
    result = _node(out, [1.9, 0.5, 4.99, -0.5], tmp_path)
    want = graph.run([np.array([[1, 0, 4, 0]], np.float32)])[0]
    np.testing.assert_allclose(np.array(result["outputs"]["lstm"], np.float32).reshape(want.shape), want,
                               atol=1e-5)


def test_keyboard_interrupt_in_a_model_script_is_one_line(tmp_path, capsys):
    script = tmp_path / "model.py"
    script.write_text("def build():\n    raise KeyboardInterrupt\n")
    status = cli.chainer_cli([f"{script}:build", "--input", "x=1,3", "--backend", "wasm",
                              "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert (status, err) == (130, ["convert_chainer: error: interrupted; nothing more was written"])
