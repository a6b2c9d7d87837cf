"""Build the text generation web page: convert the shipped models with convert_keras and lay out

    OUT/index.html, webloom.js, vocab.json, expected.json
    OUT/window/model.<backend>.wlm     (the window model, re-fed MAXLEN characters per new character)
    OUT/step/model.<backend>.wlm       (the same model converted with --step: its one-step stateful form,
                                        one runner.step() per character)

then serve OUT (e.g. `python -m http.server -d OUT`) and open index.html.

    .venv/bin/python examples/text_generation/build_web.py --out web/text_generation [--backend all]
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import build_page  # noqa: E402  (examples/build_page.py, shared by the examples)

MODELS = {"window": "model.keras", "step": ("model.keras", ("--step",))}
PAGE_FILES = ("index.html", "vocab.json", "expected.json")


def build(out: Path, backend: str = "all") -> Path:
    """Converts the models into ``out`` and copies the page beside them; returns ``out``."""
    return build_page.build(HERE, out, MODELS, PAGE_FILES, backend)


if __name__ == "__main__":
    build_page.main(HERE, "text generation", "text_generation", MODELS, PAGE_FILES)
