"""Build the text generation web page: convert the shipped models with convert_keras and lay out

    OUT/index.html, webloom.js, vocab.json, expected.json
    OUT/window/model.<backend>.wlm     (the window model, re-fed MAXLEN characters per new character)
    OUT/step/model.<backend>.wlm       (the stateful single-step twin, one runner.step() per character)

then serve OUT (e.g. `python -m http.server -d OUT`) and open index.html.

    .venv/bin/python examples/text_generation/build_web.py --out web/text_generation [--backend all]
"""

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RUNTIME = ROOT / "runtime-js" / "dist" / "webloom.js"
MODELS = {"window": "model.keras", "step": "model_step.keras"}
PAGE_FILES = ("index.html", "vocab.json", "expected.json")


def build(out: Path, backend: str = "all") -> Path:
    """Converts both models into ``out`` and copies the page beside them; returns ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for sub, model in MODELS.items():
        cmd = [sys.executable, "-m", "converter", "keras", str(HERE / model), "--backend", backend,
               "--out", str(out / sub)]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            raise SystemExit(f"build_web: converting {model} failed: {done.stderr.strip()}")
        print(done.stdout.strip())
    for name in PAGE_FILES:
        shutil.copyfile(HERE / name, out / name)
    shutil.copyfile(RUNTIME, out / "webloom.js")
    return out


def main():
    parser = argparse.ArgumentParser(description="Convert the text generation models and lay out the page.")
    parser.add_argument("--out", type=Path, default=ROOT / "web" / "text_generation")
    parser.add_argument("--backend", default="all", help="backends to compile (comma-separated or all)")
    args = parser.parse_args()
    build(args.out, args.backend)
    print(f"serve {args.out} (python -m http.server -d {args.out}) and open index.html")


if __name__ == "__main__":
    main()
