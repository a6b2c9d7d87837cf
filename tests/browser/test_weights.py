"""float16 / int8 weights on every backend (converter/bundle/quantize.py, expanded at load by the JS
reader): catalogue models stay within the documented tolerance of their float32 outputs (docs/design.md:
float16 2e-2, int8 1e-1, abs + rel), and the error the converter reports (`--verify`, in model.json and
sample.json) is what the demo page shows in the browser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from converter.bundle import read_bundle
from converter.bundle.format import unpack_header
from converter.conversion import TOLERANCE
from tests.cases import keras_models

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ("wasm", "webgpu", "webgl")
# one model per family (LSTM with embedding/mask, GRU, bidirectional, conv 1-D/2-D, stateful, norms,
# SimpleRNN; the sentiment model, seed000, is int8_demo below); WEBLOOM_WEIGHTS_ALL=1 runs every small case
FAMILY = ("k3_lstm_masked_embedding", "k3_gru_reset_after", "k3_bidi_concat_masked", "k3_conv1d_stack",
          "k3_conv2d_stack", "k3_lstm_stateful", "k3_norms", "k3_simple_rnn_state")
ALL = bool(os.environ.get("WEBLOOM_WEIGHTS_ALL"))
CASES = [c for c in keras_models.CASES if c.small and (ALL or c.name in FAMILY)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_encoded_weights_stay_close_to_float32(page, bundles, case):
    from converter.api import compile as compile_graph
    from converter.api import from_keras
    made = keras_models.materialize(case, keras_models.default_cache_dir())
    graph = from_keras(made.model_path)
    feeds = dict(zip([v.name for v in graph.inputs], keras_models.feeds(graph, made.inputs)))
    for backend in BACKENDS:
        bundle = compile_graph(graph, backend)
        for encoding in ("float16", "int8"):
            out = bundles.new_dir(f"weights/{case.name}-{backend}-{encoding}")
            bundle.save(out, weights=encoding)
            got = bundles.run_on(page, out, feeds, backend).outputs
            tol = TOLERANCE[encoding]
            for value, name, want in zip(graph.outputs, made.output_names, made.outputs):
                np.testing.assert_allclose(got[value.name], np.asarray(want, np.float64).ravel(), rtol=tol,
                                           atol=tol, err_msg=f"{case.name} {backend} {encoding}: {name}")


@pytest.fixture(scope="module")
def int8_demo(web_root):
    out = web_root / "sentiment-int8"
    example = ROOT / "examples" / "sentiment"
    done = subprocess.run([sys.executable, "-m", "converter", "keras", str(example / "model.keras"), "--out",
                           str(out), "--sample", str(example / "expected.json"), "--weights", "int8",
                           "--verify"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return out, done.stdout


def test_conversion_prints_size_and_cost(int8_demo):
    out, stdout = int8_demo
    manifest = json.loads((out / "model.json").read_text())
    for backend in BACKENDS:
        entry = manifest["weights_report"]["backends"][backend]
        # the whole file shrinks less than the weights (the wasm bundle carries two compiled modules)
        assert entry["bytes_float32"] / entry["bytes"] > 1.7, entry
        stored = unpack_header((out / f"model.{backend}.wlm").read_bytes()).weights_length
        assert len(read_bundle(out / f"model.{backend}.wlm").weights) / stored > 3.0, backend  # ~4x
        assert entry["browser"]["max_abs"] < 1e-2
        assert f"int8 weights, {backend}:" in stdout and "accuracy cost vs float32 (in the browser)" in stdout
    assert "verify against keras" in stdout and "FAILED" not in stdout


@pytest.mark.parametrize("backend", BACKENDS)
def test_page_shows_what_verify_reported(page, http_server, int8_demo, backend):
    out, _ = int8_demo
    page.goto(f"{http_server}/{out.name}/index.html?backend={backend}")
    page.wait_for_selector("body[data-done]", timeout=120_000)
    assert page.get_attribute("body", "data-done") == "true", page.inner_text("#status")
    manifest = json.loads((out / "model.json").read_text())
    shown = page.inner_text("#model")
    assert manifest["model"]["sha256"][:16] in shown and "weights int8" in shown and "model.keras" in shown
    row = page.eval_on_selector_all("#report tbody tr", "rows => rows.map(r => Array.from(r.cells, c => "
                                    "c.textContent))")[0]
    reported = json.loads((out / "sample.json").read_text())["verify"]["backends"][backend]["browser"]
    assert float(row[4]) == pytest.approx(reported["max_abs"], rel=0.01, abs=1e-7), (row, reported)
