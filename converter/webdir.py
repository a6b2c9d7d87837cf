"""Makes a converter output folder self-contained: the runtime (webloom.js) and a demo page beside the
bundles, so that serving the folder (`python -m http.server -d web`) is a working demo. The files come
from the package data when installed, from runtime-js/ in a source checkout (converter/resources.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from converter.errors import ConversionError
from converter.resources import runtime_file
from converter.safefile import copy_file, write_bytes

NAMES = ("webloom.js", "index.html")


def write_web_files(out_dir: Path, sample: Optional[Path] = None) -> list[Path]:
    """Write webloom.js (and its source map when built with one), index.html and ``sample`` (a path or
    an already checked dict) as sample.json into ``out_dir``."""
    sources = {name: runtime_file(name) for name in NAMES}
    missing = [str(src) for src in sources.values() if not src.is_file()]
    if missing:
        raise ConversionError(f"the JS runtime is not built ({', '.join(missing)} missing): run "
                              "`bash tools/setup.sh` (or `npm --prefix runtime-js run build`) first")
    js_map = sources["webloom.js"].with_name("webloom.js.map")
    if js_map.is_file():
        sources["webloom.js.map"] = js_map
    written = []
    for name, src in sources.items():
        dst = Path(out_dir) / name
        copy_file(src, dst)
        written.append(dst)
    if sample is not None:
        data = sample if isinstance(sample, dict) else read_sample(Path(sample))
        dst = Path(out_dir) / "sample.json"
        write_bytes(dst, json.dumps(data, separators=(",", ":")).encode())
        written.append(dst)
    return written


def read_sample(src: Path) -> dict:
    try:
        data = json.loads(src.read_text())
    except (OSError, ValueError) as e:
        raise ConversionError(f"--sample {src}: cannot read it as JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("inputs"), dict):
        raise ConversionError(f"--sample {src}: expected {{\"inputs\": {{name: {{shape, data}}}}, "
                              "\"outputs\": {...}}")
    return data
