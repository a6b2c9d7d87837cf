"""The captioning example's Chainer model (examples/captioning/chainer/): trained well enough, and its
three bundles (encoder, prime, decoder step, made by build_web.py with convert_chainer) caption the
page's sample images in Chromium exactly as Chainer's own greedy decoding does, on every backend; beam
search (width 3) and seeded sampling on the page equal the same decoding in numpy over the interpreter
running the three traced methods; the page's Model selector switches to this model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tests.examples.pages import ROOT, build_example, check_backend_bar, page_results, screenshot, wait_done
from tests.examples.test_captioning import Reference, check_page_beam_search, js_sampling, picture

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


class ChainerReference(Reference):
    """The page's decoding (test_captioning.Reference) over the interpreter running the chain's three
    traced methods: encode, prime (from a zero state), step."""

    def __init__(self, net, size: int):
        from converter import from_chainer
        cls, self.size = type(net), size
        with chainer.using_config("train", False):
            self.encoder = from_chainer(net, {"image": np.zeros((1, 3, size, size), np.float32)},
                                        forward=cls.encode)
            self.prime = from_chainer(net, {"feature": np.zeros((1, 32), np.float32)}, forward=cls.prime)
            self.decoder = from_chainer(net, {"word": np.zeros((1,), np.int32)}, forward=cls.step)

    def start(self, pixels) -> list:
        image = np.asarray(pixels, np.float32).reshape(1, self.size, self.size, 3) / np.float32(255)
        feature, = self.encoder.run([np.ascontiguousarray(image.transpose(0, 3, 1, 2))])
        zeros = np.zeros((1, self.prime.inputs[1].shape[1]), np.float32)
        return list(self.prime.run([feature, zeros, zeros]))

    def step(self, token: int, state: list) -> tuple:
        probs, h, c = self.decoder.run([np.array([token], np.int32)] + state)
        return probs[0], [h, c]


@pytest.fixture(scope="module")
def reference(captioner) -> ChainerReference:
    return ChainerReference(captioner[2], captioner[1].SIZE)


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


def test_reference_greedy_is_chainer_greedy(reference):
    got = [reference.sampled(s["pixels"], 0, None) for s in SHARED["samples"]]
    assert got == [s["chainer"] for s in CHAINER_SAMPLES["samples"]]


@pytest.mark.parametrize("backend", ["wasm", "webgpu", "webgl"])
def test_page_captions_match_chainer_greedy(page, web_dir, http_server, backend, reference):
    url = f"{http_server}/{web_dir.name}/index.html?model=chainer&backend={backend}&temperature=0"
    result = page_results(page, url)
    check_backend_bar(page, backend)
    assert (result["backend"], result["model"], result["mode"]) == (backend, "Chainer", "greedy")
    assert page.input_value("#model") == "chainer"
    assert result["captions"] == [s["chainer"] for s in CHAINER_SAMPLES["samples"]]
    rows = page.eval_on_selector_all("#captions tbody tr", "rows => rows.map(r => "
                                     "Array.from(r.cells, c => c.textContent))")
    assert [r[2] for r in rows] == result["captions"]           # the reference column is Chainer's
    assert page.inner_text("#reference") == "Chainer (greedy)"
    assert page.inner_text("#reference-file") == "chainer/samples.json"
    starter = picture(page)
    assert starter["model"] == "Chainer"
    assert starter["caption"] == reference.sampled(starter["pixels"], 0, None) == "a big red circle"
    # beam search, width 3, over the Chainer decoder's state snapshots: against numpy's beam search
    check_page_beam_search(page, reference, starter, backend)
    screenshot(page, f"captioning-chainer-{backend}")


def test_model_selector_switches_to_chainer(page, web_dir, http_server, reference):
    """The selector reloads the page with ?model=chainer, keeping the backend and the decoding chosen on
    the page (here seeded sampling, set in the form after loading)."""
    keras = page_results(page, f"{http_server}/{web_dir.name}/index.html?backend=wasm")
    assert keras["model"] == "Keras" and page.inner_text("#reference") == "Keras (greedy)"
    page.evaluate("delete document.body.dataset.done")
    page.select_option("#mode", "sampled")           # enables the temperature and seed fields
    wait_done(page)
    page.fill("#rng", "3")
    page.fill("#temperature", "1.5")
    with page.expect_navigation():
        page.select_option("#model", "chainer")
    wait_done(page)
    assert "model=chainer" in page.url and "backend=wasm" in page.url and "rng=3" in page.url
    result = page.evaluate("window.webloomResults")
    assert (result["model"], result["mode"]) == ("Chainer", "sampled")
    random = js_sampling.create_rng(3)           # one generator for the samples, in table order
    assert result["captions"] == [reference.sampled(s["pixels"], 1.5, random) for s in SHARED["samples"]]
    assert picture(page)["caption"] == reference.sampled(picture(page)["pixels"], 1.5,
                                                          js_sampling.create_rng(3))


def test_unknown_model_is_a_clear_error(page, web_dir, http_server):
    page.goto(f"{http_server}/{web_dir.name}/index.html?model=torch&backend=wasm")
    page.wait_for_selector("body[data-done]")
    assert page.get_attribute("body", "data-done") == "false"
    assert page.inner_text("#status") == ('Error: unknown model "torch" (?model=): use one of keras, '
                                          'chainer')
