"""The captioning example's Chainer model (examples/captioning/chainer/): trained well enough, and its
three bundles (encoder, prime, decoder step, made by build_web.py with convert_chainer) caption the
page's sample images in Chromium exactly as Chainer's own greedy decoding does, on every backend."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tests.examples.pages import ROOT, build_example, page_results

chainer = pytest.importorskip("chainer")

EXAMPLE = ROOT / "examples" / "captioning"
CHAINER_SAMPLES = json.loads((EXAMPLE / "chainer" / "samples.json").read_text())
SHARED = json.loads((EXAMPLE / "samples.json").read_text())


@pytest.fixture(scope="module")
def web_dir(web_root) -> Path:
    out = web_root / "captioning"        # test_captioning.py builds the same page folder: reuse it
    if not (out / "chainer" / "decoder" / "model.webgl.wlm").exists():
        build_example(EXAMPLE, out)
    return out


def load_module(path: Path, name: str):
    """An example's script as a module under a name of its own (two examples have a model.py)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def captioner():
    chainer_model = load_module(EXAMPLE / "chainer" / "model.py", "captioning_chainer_model")
    pictures = load_module(EXAMPLE / "pictures.py", "captioning_pictures")
    net = chainer_model.Captioner()
    chainer.serializers.load_npz(EXAMPLE / "chainer" / "captioner.npz", net)
    return chainer_model, pictures, net


def _nchw(pictures, images):
    return np.ascontiguousarray(pictures.to_float(images).transpose(0, 3, 1, 2))


def test_trained_model_captions_held_out_pictures(captioner):
    chainer_model, pictures, net = captioner
    images, _, truths = pictures.make_data(200, np.random.default_rng(1))    # never trained on
    captions = [c for c, _ in chainer_model.greedy_captions(net, _nchw(pictures, images))]
    accuracy = np.mean([c == t for c, t in zip(captions, truths)])
    assert accuracy >= 0.85, accuracy
    assert CHAINER_SAMPLES["held_out_accuracy"] == pytest.approx(accuracy, abs=0.02)


def test_shipped_samples_are_chainers_greedy_captions(captioner):
    chainer_model, pictures, net = captioner
    size = pictures.SIZE
    images = np.array([s["pixels"] for s in SHARED["samples"]], np.uint8).reshape(-1, size, size, 3)
    got = chainer_model.greedy_captions(net, _nchw(pictures, images))
    assert [c for c, _ in got] == [s["chainer"] for s in CHAINER_SAMPLES["samples"]]
    assert (EXAMPLE / "chainer" / "captioner.npz").stat().st_size < 1024 * 1024


@pytest.mark.parametrize("backend", ["wasm", "webgpu", "webgl"])
def test_page_captions_match_chainer_greedy(page, web_dir, http_server, backend):
    url = f"{http_server}/{web_dir.name}/index.html?model=chainer&backend={backend}&temperature=0"
    result = page_results(page, url)
    assert (result["backend"], result["model"]) == (backend, "Chainer")
    assert result["captions"] == [s["chainer"] for s in CHAINER_SAMPLES["samples"]]
    rows = page.eval_on_selector_all("#captions tbody tr", "rows => rows.map(r => "
                                     "Array.from(r.cells, c => c.textContent))")
    assert [r[2] for r in rows] == result["captions"]           # the reference column is Chainer's
    assert page.inner_text("#reference") == "Chainer (greedy)"
