"""Makes a converter output folder self-contained: the runtime (webloom.js) and a demo page beside the
bundles, so that serving the folder (`python -m http.server -d web`) is a working demo."""

from __future__ import annotations

import shutil
from pathlib import Path

from converter.errors import ConversionError

RUNTIME_DIR = Path(__file__).resolve().parents[1] / "runtime-js"
FILES = {"webloom.js": RUNTIME_DIR / "dist" / "webloom.js", "index.html": RUNTIME_DIR / "demo" / "index.html"}


def write_web_files(out_dir: Path) -> list[Path]:
    """Copy webloom.js and index.html into ``out_dir``; returns the written paths."""
    missing = [str(src) for src in FILES.values() if not src.is_file()]
    if missing:
        raise ConversionError(f"the JS runtime is not built ({', '.join(missing)} missing): run "
                              "`bash tools/setup.sh` (or `npm --prefix runtime-js run build`) first")
    written = []
    for name, src in FILES.items():
        dst = Path(out_dir) / name
        shutil.copyfile(src, dst)
        written.append(dst)
    return written
