"""Build every example (each examples/<name>/build_web.py) into OUT/<name>/ and put the examples index
(index.html, page.css) at OUT; then serve OUT and open index.html.

    .venv/bin/python examples/build_all.py --out web/examples [--backend all]
"""

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE.parent / "web" / "examples")
    parser.add_argument("--backend", default="all", help="backends to compile (comma-separated or all)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for script in sorted(HERE.glob("*/build_web.py")):
        name = script.parent.name
        print(f"== {name}")
        done = subprocess.run([sys.executable, str(script), "--out", str(args.out / name), "--backend",
                               args.backend])
        if done.returncode != 0:
            raise SystemExit(f"build_all: {name} failed (exit status {done.returncode})")
    for name in ("index.html", "page.css"):
        shutil.copyfile(HERE / name, args.out / name)
    print(f"serve {args.out} (python -m http.server -d {args.out}) and open index.html")


if __name__ == "__main__":
    main()
