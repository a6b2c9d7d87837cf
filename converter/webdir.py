"""Makes a converter output folder self-contained: the runtime (webloom.js) and a demo page beside the
bundles, so that serving the folder (`python -m http.server -d web`) is a working demo."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Optional

from converter.errors import ConversionError

RUNTIME_DIR = Path(__file__).resolve().parents[1] / "runtime-js"
FILES = {"webloom.js": RUNTIME_DIR / "dist" / "webloom.js", "index.html": RUNTIME_DIR / "demo" / "index.html"}


def write_web_files(out_dir: Path, sample: Optional[Path] = None) -> list[Path]:
    """Copy webloom.js and index.html (and ``sample`` as sample.json) into ``out_dir``."""
    missing = [str(src) for src in FILES.values() if not src.is_file()]
    if missing:
        raise ConversionError(f"the JS runtime is not built ({', '.join(missing)} missing): run "
                              "`bash tools/setup.sh` (or `npm --prefix runtime-js run build`) first")
    written = []
    for name, src in FILES.items():
        dst = Path(out_dir) / name
        shutil.copyfile(src, dst)
        written.append(dst)
    if sample is not None:
        written.append(_copy_sample(Path(sample), Path(out_dir) / "sample.json"))
    return written


def _copy_sample(src: Path, dst: Path) -> Path:
    try:
        data = json.loads(src.read_text())
    except (OSError, ValueError) as e:
        raise ConversionError(f"--sample {src}: cannot read it as JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("inputs"), dict):
        raise ConversionError(f"--sample {src}: expected {{\"inputs\": {{name: {{shape, data}}}}, "
                              "\"outputs\": {...}}")
    shutil.copyfile(src, dst)
    return dst
