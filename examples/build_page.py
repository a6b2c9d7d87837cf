"""Shared by the examples' build_web.py: convert each model with convert_keras into its own sub-folder of
OUT (or OUT itself for the sub-folder ""), then copy the page's own files, the shared page.js/page.css
and the runtime beside them."""

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
RUNTIME = ROOT / "runtime-js" / "dist" / "webloom.js"
SHARED = ("page.js", "page.css")


def convert(model: Path, out: Path, backend: str = "all", extra: tuple = ()) -> None:
    cmd = [sys.executable, "-m", "converter", "keras", str(model), "--backend", backend, "--out", str(out),
           *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"build_web: converting {model} failed: {done.stderr.strip()}")
    print(done.stdout.strip())


def install_page(here: Path, out: Path, page_files: tuple) -> None:
    """Copies the page (its own files, page.js, page.css, webloom.js) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for name in page_files:
        shutil.copyfile(here / name, out / name)
    for name in SHARED:
        shutil.copyfile(HERE / name, out / name)
    shutil.copyfile(RUNTIME, out / "webloom.js")


def build(here: Path, out: Path, models: dict, page_files: tuple, backend: str = "all") -> Path:
    """``models`` maps a sub-folder name to a model file in ``here`` (a (file, extra convert_keras
    arguments) pair for options such as --step); returns ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for sub, model in models.items():
        model, extra = (model, ()) if isinstance(model, str) else model
        convert(here / model, out / sub if sub else out, backend, tuple(extra))
    install_page(here, out, page_files)
    return out


def main(here: Path, what: str, default_out: str, models: dict, page_files: tuple) -> None:
    parser = argparse.ArgumentParser(description=f"Convert the {what} models and lay out the page.")
    parser.add_argument("--out", type=Path, default=ROOT / "web" / default_out)
    parser.add_argument("--backend", default="all", help="backends to compile (comma-separated or all)")
    parser.add_argument("--page-only", action="store_true",
                        help="only copy the page files into OUT (the models are converted already)")
    args = parser.parse_args()
    if args.page_only:
        install_page(here, args.out, page_files)
    else:
        build(here, args.out, models, page_files, args.backend)
    print(f"serve {args.out} (python -m http.server -d {args.out}) and open index.html")
