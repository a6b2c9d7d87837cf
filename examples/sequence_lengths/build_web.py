"""Build the sequence lengths page: convert model.keras with convert_keras into OUT and copy the page
(index.html, vocab.json, expected.json) beside it; then serve OUT and open index.html.

    .venv/bin/python examples/sequence_lengths/build_web.py --out web/sequence_lengths [--backend all]
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import build_page  # noqa: E402  (examples/build_page.py, shared by the examples)

MODELS = {"": "model.keras"}
PAGE_FILES = ("index.html", "vocab.json", "expected.json")


def build(out: Path, backend: str = "all") -> Path:
    """Converts the model into ``out`` and copies the page beside it; returns ``out``."""
    return build_page.build(HERE, out, MODELS, PAGE_FILES, backend)


if __name__ == "__main__":
    build_page.main(HERE, "sequence lengths", "sequence_lengths", MODELS, PAGE_FILES)
