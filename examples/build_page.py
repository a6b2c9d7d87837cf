"""Shared by the multi-model examples: convert each model with convert_keras into its own sub-folder of
OUT, then copy the page's own files and the runtime beside them."""

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "runtime-js" / "dist" / "webloom.js"


def build(here: Path, out: Path, models: dict, page_files: tuple, backend: str = "all") -> Path:
    """``models`` maps a sub-folder name to a model file in ``here``; returns ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for sub, model in models.items():
        cmd = [sys.executable, "-m", "converter", "keras", str(here / model), "--backend", backend,
               "--out", str(out / sub)]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            raise SystemExit(f"build_web: converting {model} failed: {done.stderr.strip()}")
        print(done.stdout.strip())
    for name in page_files:
        shutil.copyfile(here / name, out / name)
    shutil.copyfile(RUNTIME, out / "webloom.js")
    return out


def main(here: Path, what: str, default_out: str, models: dict, page_files: tuple) -> None:
    parser = argparse.ArgumentParser(description=f"Convert the {what} models and lay out the page.")
    parser.add_argument("--out", type=Path, default=ROOT / "web" / default_out)
    parser.add_argument("--backend", default="all", help="backends to compile (comma-separated or all)")
    args = parser.parse_args()
    build(here, args.out, models, page_files, args.backend)
    print(f"serve {args.out} (python -m http.server -d {args.out}) and open index.html")
