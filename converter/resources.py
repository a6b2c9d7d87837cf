"""Where the converter finds its data files: the kernel templates and the built JS runtime.

An installed wheel carries them inside the package (``converter/_data/``, copied there by setup.py's
build step from the top-level ``kernels/`` and ``runtime-js/``); a source checkout (editable install,
tests) reads them from the top-level folders, so editing a kernel template needs no rebuild.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED = PACKAGE_DIR / "_data"
SOURCE_ROOT = PACKAGE_DIR.parent

# name in the package data -> (path in a source checkout, what builds it when it is missing)
RUNTIME_FILES = {
    "webloom.js": "runtime-js/dist/webloom.js",
    "index.html": "runtime-js/demo/index.html",
}


def _root() -> Path:
    """The folder holding ``kernels/`` and ``runtime-js/``: the package data when installed."""
    return BUNDLED if (BUNDLED / "kernels").is_dir() else SOURCE_ROOT


def kernel_dir(backend: str) -> Path:
    """The kernel templates of one backend (``kernels/<backend>/``)."""
    return _root() / "kernels" / backend


def runtime_file(name: str) -> Path:
    """A runtime file copied into every output folder (see RUNTIME_FILES)."""
    return _root() / RUNTIME_FILES[name]
