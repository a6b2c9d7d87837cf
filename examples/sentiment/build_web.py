"""Build the sentiment page (the README's main job): convert model.keras with convert_keras into OUT and
copy the page (index.html: type a review, see its score; Keras comparison under a toggle) beside it.

    .venv/bin/python examples/sentiment/build_web.py --out web/ [--backend all]
    .venv/bin/python examples/sentiment/build_web.py --out web/ --page-only   # after convert_keras

tools/demo.sh converts with convert_keras itself and then installs the page with --page-only.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import build_page  # noqa: E402  (examples/build_page.py, shared by the examples)

MODELS = {"": ("model.keras", ("--sample", str(HERE / "expected.json")))}
PAGE_FILES = ("index.html", "vocab.json", "expected.json")


def build(out: Path, backend: str = "all") -> Path:
    """Converts the model into ``out`` and copies the page beside it; returns ``out``."""
    return build_page.build(HERE, out, MODELS, PAGE_FILES, backend)


if __name__ == "__main__":
    build_page.main(HERE, "sentiment", "sentiment", MODELS, PAGE_FILES)
