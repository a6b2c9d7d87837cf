"""Build hook: the wheel carries the kernel templates and the built JS runtime as package data.

``kernels/`` and ``runtime-js/`` stay at the top of the repository (the converter reads them there in a
source checkout, see converter/resources.py); building a wheel copies them into ``converter/_data/``.
The runtime must be built first (``npm --prefix runtime-js run build``, done by tools/setup.sh); when
``runtime-js/dist/`` is missing and npm is available, the build runs it.
"""

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# source folder -> files copied into converter/_data/<same relative path>
DATA = {"kernels": ("**/*",),     # every template and any metadata file beside them
        "runtime-js/dist": ("webloom.js", "webloom.js.map", "webloom.d.ts", "types/**/*.d.ts"),
        "runtime-js/demo": ("index.html",)}


def _ensure_runtime() -> None:
    if (ROOT / "runtime-js/dist/webloom.js").is_file():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("webloom build: runtime-js/dist/webloom.js is missing and npm is not installed: "
                         "build the runtime first (npm --prefix runtime-js ci && npm --prefix runtime-js "
                         "run build)")
    subprocess.run([npm, "--prefix", str(ROOT / "runtime-js"), "ci", "--no-audit", "--no-fund"], check=True)
    subprocess.run([npm, "--prefix", str(ROOT / "runtime-js"), "run", "build"], check=True)


class BuildWithData(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):    # an editable install reads the top-level folders
            return
        _ensure_runtime()
        target = Path(self.build_lib) / "converter" / "_data"
        shutil.rmtree(target, ignore_errors=True)
        for folder, patterns in DATA.items():
            src = ROOT / folder
            for pattern in patterns:
                for path in src.glob(pattern):
                    if path.is_file() and "__pycache__" not in path.parts:
                        dst = target / folder / path.relative_to(src)
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(path, dst)


setup(cmdclass={"build_py": BuildWithData})
