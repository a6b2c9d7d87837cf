"""Build the captioning web page: convert the shipped encoder and decoder with convert_keras and lay out

    OUT/index.html, webloom.js, vocab.json, samples.json
    OUT/encoder/model.<backend>.wlm    (image -> initial LSTM state, run once per image)
    OUT/decoder/model.<backend>.wlm    (stateful single-step decoder, one runner.step() per word)

then serve OUT (e.g. `python -m http.server -d OUT`) and open index.html.

    .venv/bin/python examples/captioning/build_web.py --out web/captioning [--backend all]
"""

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RUNTIME = ROOT / "runtime-js" / "dist" / "webloom.js"
MODELS = {"encoder": "encoder.keras", "decoder": "decoder_step.keras"}
PAGE_FILES = ("index.html", "vocab.json", "samples.json")


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
    parser = argparse.ArgumentParser(description="Convert the captioning models and lay out the page.")
    parser.add_argument("--out", type=Path, default=ROOT / "web" / "captioning")
    parser.add_argument("--backend", default="all", help="backends to compile (comma-separated or all)")
    args = parser.parse_args()
    build(args.out, args.backend)
    print(f"serve {args.out} (python -m http.server -d {args.out}) and open index.html")


if __name__ == "__main__":
    main()
