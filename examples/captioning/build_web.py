"""Build the captioning web page: convert the shipped encoder and decoder with convert_keras (and the
Chainer captioner's three bundles with convert_chainer) and lay out

    OUT/index.html, webloom.js, vocab.json, samples.json
    OUT/encoder/model.<backend>.wlm    (image -> initial LSTM state, run once per image)
    OUT/decoder/model.<backend>.wlm    (stateful single-step decoder, one runner.step() per word)
    OUT/chainer/{encoder,prime,decoder}/model.<backend>.wlm, chainer/samples.json   (the Chainer model)

then serve OUT (e.g. `python -m http.server -d OUT`) and open index.html.

    .venv/bin/python examples/captioning/build_web.py --out web/captioning [--backend all]
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import build_page  # noqa: E402  (examples/build_page.py, shared by the multi-model examples)
import chainer_convert  # noqa: E402  (examples/chainer_convert.py)

MODELS = {"encoder": "encoder.keras", "decoder": "decoder_step.keras"}
# the Chainer captioner's three methods (chainer/README.md): image -> feature -> LSTM state; one word a step
CHAINER = {"encoder": ("encode", "image=1,3,32,32"), "prime": ("prime", "feature=1,32"),
           "decoder": ("step", "word=1:int32")}
PAGE_FILES = ("index.html", "models.js", "vocab.json", "samples.json", "chainer/samples.json")


def build(out: Path, backend: str = "all") -> Path:
    """Converts the models into ``out`` and copies the page beside them; returns ``out``."""
    factory, weights = f"{HERE / 'chainer' / 'model.py'}:build", HERE / "chainer" / "captioner.npz"
    for sub, (method, example) in CHAINER.items():
        chainer_convert.convert_chainer(factory, weights, out / "chainer" / sub, backend,
                                        "--forward", method, "--input", example)
    return build_page.build(HERE, out, MODELS, PAGE_FILES, backend)


if __name__ == "__main__":
    chainer_convert.main(build, "captioning", "captioning")
