"""The captioning example end to end: build its page with build_web.py (convert_keras on the shipped CNN
encoder and one-step LSTM decoder), then on every backend use it like a visitor: the held-out samples
and the starter picture captioned greedily, beam search (width 3), an uploaded picture and a drawn one.
Everything is checked against a Python reference: Keras' greedy captions (samples.json), and greedy /
beam search / seeded sampling in numpy over the interpreter running the same two models."""

from __future__ import annotations

import json
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from tests.examples.pages import (BACKENDS, ROOT, build_example, check_backend_bar, open_page, screenshot,
                                  wait_done)

EXAMPLE = ROOT / "examples" / "captioning"
SAMPLES = json.loads((EXAMPLE / "samples.json").read_text())
VOCAB = json.loads((EXAMPLE / "vocab.json").read_text())
WIDTH = 3
sys.path.insert(0, str(ROOT / "examples"))
import js_sampling  # noqa: E402  (the runtime's sampler in Python)


@pytest.fixture(scope="module")
def web_dir(web_root) -> Path:
    return build_example(EXAMPLE, web_root / "captioning")


class Reference:
    """The page's decoding in numpy over the interpreter (encoder.keras, decoder_step.keras)."""

    def __init__(self):
        from converter import from_keras
        self.encoder = from_keras(str(EXAMPLE / "encoder.keras"))
        self.decoder = from_keras(str(EXAMPLE / "decoder_step.keras"))

    def start(self, pixels) -> list:
        image = (np.asarray(pixels, np.float32) / np.float32(255)).reshape(1, 32, 32, 3)
        return self.encoder.run([image])

    def step(self, token: int, state: list) -> tuple:
        probs, h, c = self.decoder.run([np.array([[token]], np.int32)] + state)
        return probs[0], [h, c]

    def words(self, tokens) -> str:
        return " ".join(VOCAB["words"][t] for t in tokens if t != VOCAB["end"])

    def sampled(self, pixels, temperature: float, random) -> str:
        """Greedy (temperature 0) or seeded sampling, as the page's loop."""
        state, token, out = self.start(pixels), VOCAB["start"], []
        while len(out) < VOCAB["max_words"]:
            probs, state = self.step(token, state)
            token = js_sampling.sample(js_sampling.log_probs(probs), temperature, random)
            if token == VOCAB["end"]:
                break
            out.append(token)
        return self.words(out)

    def beam(self, pixels, width: int = WIDTH) -> list:
        """beamSearch() of the runtime: the `width` best expansions survive, ties by beam then token."""
        live, done = [([], 0.0, self.start(pixels))], []
        for _ in range(VOCAB["max_words"] + 1):
            if not live:
                break
            candidates = []
            for b, (tokens, score, state) in enumerate(live):
                probs, after = self.step(tokens[-1] if tokens else VOCAB["start"], state)
                logp = np.log(probs.astype(np.float64))
                for k in sorted(range(len(logp)), key=lambda i: (-logp[i], i))[:width]:
                    candidates.append((score + logp[k], b, k, after))
            candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
            nxt = []
            for score, b, k, after in candidates[:width]:
                tokens = live[b][0] + [k]
                (done if k == VOCAB["end"] else nxt).append((tokens, score, after))
            live = nxt
        found = sorted([(t, s) for t, s, _ in done] + [(t, s) for t, s, _ in live], key=lambda h: -h[1])
        return [{"text": self.words(t), "score": s} for t, s in found[:width]]


@pytest.fixture(scope="module")
def reference() -> Reference:
    return Reference()


def png(pixels: np.ndarray) -> bytes:
    """An RGB PNG of a uint8 [h, w, 3] array (no PIL needed)."""
    h, w, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def check_beams(got: list, want: list, what: str) -> None:
    assert [h["text"] for h in got] == [h["text"] for h in want], what
    np.testing.assert_allclose([h["score"] for h in got], [h["score"] for h in want], rtol=1e-4, atol=1e-3,
                               err_msg=what)


def picture(page) -> dict:
    return page.evaluate("window.webloomPicture")


def check_page_beam_search(page, reference, starter: dict, backend: str) -> None:
    """Beam search, width 3, chosen on the page: the samples' and the starter picture's hypotheses
    against ``reference``'s numpy beam search (test_captioning_chainer.py uses it too)."""
    page.evaluate("delete document.body.dataset.done")
    page.select_option("#mode", "beam")
    wait_done(page)
    beams = page.evaluate("window.webloomResults")
    for i, s in enumerate(SAMPLES["samples"]):
        check_beams(beams["hypotheses"][i], reference.beam(s["pixels"]), f"sample {i} on {backend}")
    check_beams(picture(page)["hypotheses"], reference.beam(starter["pixels"]), f"starter on {backend}")
    assert page.eval_on_selector_all("#hypotheses tbody tr", "rows => rows.length") == WIDTH


def test_shipped_files_are_small_and_the_model_is_trained():
    total = sum(p.stat().st_size for p in EXAMPLE.iterdir() if p.is_file())
    assert total < 2 * 1024 * 1024, f"examples/captioning holds {total} bytes"
    assert SAMPLES["held_out_accuracy"] >= 0.9
    size = VOCAB["image_size"]
    assert all(len(s["pixels"]) == size * size * 3 for s in SAMPLES["samples"])


def test_reference_greedy_is_keras_greedy(reference):
    got = [reference.sampled(s["pixels"], 0, None) for s in SAMPLES["samples"]]
    assert got == [s["keras"] for s in SAMPLES["samples"]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_page_captions_like_the_reference(page, web_dir, http_server, backend, reference, tmp_path):
    open_page(page, f"{http_server}/{web_dir.name}/index.html?backend={backend}")
    check_backend_bar(page, backend)
    result = page.evaluate("window.webloomResults")
    assert result["backend"] == backend and result["mode"] == "greedy"
    assert result["captions"] == [s["keras"] for s in SAMPLES["samples"]]
    starter = picture(page)
    assert starter["caption"] == reference.sampled(starter["pixels"], 0, None) == "a big red circle"
    check_page_beam_search(page, reference, starter, backend)
    # upload a picture twice the model's size: the page resizes it to 32x32
    sample = np.array(SAMPLES["samples"][0]["pixels"], np.uint8).reshape(32, 32, 3)
    upload = tmp_path / "shape.png"
    upload.write_bytes(png(sample.repeat(2, axis=0).repeat(2, axis=1)))
    page.evaluate("delete document.body.dataset.done")
    page.set_input_files("#upload", str(upload))
    wait_done(page)
    uploaded = picture(page)
    seen = np.array(uploaded["pixels"]).reshape(32, 32, 3)
    assert np.abs(seen.astype(int) - sample).mean() < 8, "the upload was not resized faithfully"
    check_beams(uploaded["hypotheses"], reference.beam(uploaded["pixels"]), f"upload on {backend}")
    assert uploaded["caption"] == SAMPLES["samples"][0]["truth"]
    screenshot(page, f"captioning-{backend}")


def test_drawing_a_picture(page, web_dir, http_server, reference):
    open_page(page, f"{http_server}/{web_dir.name}/index.html?backend=wasm")
    page.click("#clear")
    page.click("#swatches button[data-color='blue']")
    box = page.locator("#pad").bounding_box()
    page.evaluate("delete document.body.dataset.done")
    page.mouse.move(box["x"] + 60, box["y"] + 60)
    page.mouse.down()
    for x in range(60, 170, 6):          # a thick blue bar, row by row: a big blue square-ish blob
        for y in (60, 90, 120, 150, 170):
            page.mouse.move(box["x"] + x, box["y"] + y)
    page.mouse.up()
    wait_done(page)
    drawn = picture(page)
    seen = np.array(drawn["pixels"]).reshape(32, 32, 3)
    assert seen[16, 16, 2] > 150 and seen[16, 16, 0] < 100, seen[16, 16]    # blue in the middle
    assert drawn["caption"] == reference.sampled(drawn["pixels"], 0, None)
    assert "blue" in drawn["caption"]
    screenshot(page, "captioning-drawn")


def test_sampling_matches_the_seeded_reference(page, web_dir, http_server, reference):
    query = "backend=wasm&mode=sampled&temperature=1.5&rng=3"
    open_page(page, f"{http_server}/{web_dir.name}/index.html?{query}")
    result = page.evaluate("window.webloomResults")
    random = js_sampling.create_rng(3)           # one generator for the samples, in table order
    assert result["captions"] == [reference.sampled(s["pixels"], 1.5, random) for s in SAMPLES["samples"]]
    assert picture(page)["caption"] == reference.sampled(picture(page)["pixels"], 1.5,
                                                          js_sampling.create_rng(3))
