"""Shared by the examples with Chainer models: run convert_chainer (``python -m converter chainer``) on
an example's model script and weights; build_page.py then lays out the page beside the bundles."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def convert_chainer(factory: str, weights: Path, out: Path, backend: str, *args: str) -> None:
    """``factory`` is MODULE.py:FACTORY; ``args`` the rest (--input ..., --forward ...)."""
    cmd = [sys.executable, "-m", "converter", "chainer", factory, "--weights", str(weights), *args,
           "--backend", backend, "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"build_web: converting {factory} ({' '.join(args)}) failed: {done.stderr.strip()}")
    print(done.stdout.strip())


def main(build, what: str, default_out: str) -> None:
    """The command line of a build_web.py whose ``build(out, backend)`` converts Chainer models too."""
    import argparse
    parser = argparse.ArgumentParser(description=f"Convert the {what} models and lay out the page.")
    parser.add_argument("--out", type=Path, default=ROOT / "web" / default_out)
    parser.add_argument("--backend", default="all", help="backends to compile (comma-separated or all)")
    args = parser.parse_args()
    build(args.out, args.backend)
    print(f"serve {args.out} (python -m http.server -d {args.out}) and open index.html")
