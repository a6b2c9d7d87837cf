"""Build the word generation page: convert model.keras with convert_keras into OUT and copy the page
(index.html, vocab.json, expected.json, fable.txt) beside it; then serve OUT and open index.html.

    .venv/bin/python examples/word_generation/build_web.py --out web/word_generation [--backend all]
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import build_page  # noqa: E402  (examples/build_page.py, shared by the examples)

MODELS = {"": "model.keras"}
PAGE_FILES = ("index.html", "vocab.json", "expected.json", "fable.txt")


def build(out: Path, backend: str = "all") -> Path:
    """Converts the model into ``out`` and copies the page beside it; returns ``out``."""
    return build_page.build(HERE, out, MODELS, PAGE_FILES, backend)


if __name__ == "__main__":
    build_page.main(HERE, "word generation", "word_generation", MODELS, PAGE_FILES)
