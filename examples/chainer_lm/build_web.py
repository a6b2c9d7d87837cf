"""Build the Chainer language model's web page: convert seed 004's RNNForLM (model.py, trained weights
params.npz) with convert_chainer, tracing one call on one word id, and lay out

    OUT/index.html, webloom.js, vocab.json, expected.json
    OUT/model/model.<backend>.wlm    (one word in, next-word logits out; l1/l2 LSTM states carried)

then serve OUT (e.g. `python -m http.server -d OUT`) and open index.html.

    .venv/bin/python examples/chainer_lm/build_web.py --out web/chainer_lm [--backend all]
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import build_page  # noqa: E402  (examples/build_page.py, shared by the multi-model examples)
import chainer_convert  # noqa: E402  (examples/chainer_convert.py)

PAGE_FILES = ("index.html", "vocab.json", "expected.json")


def build(out: Path, backend: str = "all") -> Path:
    """Converts the model into ``out/model`` and copies the page beside it; returns ``out``."""
    chainer_convert.convert_chainer(f"{HERE / 'model.py'}:build", HERE / "params.npz", out / "model",
                                    backend, "--input", "x=1:int32")
    return build_page.build(HERE, out, {}, PAGE_FILES, backend)


if __name__ == "__main__":
    chainer_convert.main(build, "Chainer language model", "chainer_lm")
