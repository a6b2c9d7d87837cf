"""Compiling the C module to WebAssembly: zig's clang (the ziglang wheel), or a system clang that has the
wasm32 target. Modules are cached by a hash of source, compiler and flags in a user cache directory.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

from converter.errors import ConversionError

log = logging.getLogger(__name__)

FLAGS = ["--target=wasm32-freestanding", "-O3", "-msimd128", "-nostdlib", "-fno-builtin",
         "-Wl,--no-entry", "-Wl,--export-dynamic", "-Wl,--export=__heap_base", "-Wl,--strip-all"]


def cache_dir() -> Path:
    base = os.environ.get("WEBLOOM_CACHE") or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "webloom" / "wasm"


def find_compiler() -> list:
    """The compiler command: zig cc when the ziglang package imports, else a clang with wasm32."""
    try:
        import ziglang  # noqa: F401
        return [sys.executable, "-m", "ziglang", "cc"]
    except ImportError:
        pass
    clang = shutil.which("clang")
    if clang and "wasm32" in _run([clang, "-print-targets"]).stdout:
        return [clang]
    raise ConversionError("wasm backend: no C compiler for wasm32 found; install the ziglang package "
                          "(pip install ziglang) or a clang with the WebAssembly target")


def _run(cmd: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def compile_module(source: str, compiler: Optional[list] = None) -> bytes:
    """The wasm bytes for C ``source`` (cached by content); a compile error names the first message."""
    compiler = compiler or find_compiler()
    key = hashlib.sha256("\0".join([source, *compiler, *FLAGS]).encode()).hexdigest()[:24]
    cached = cache_dir() / f"{key}.wasm"
    if cached.exists():
        return cached.read_bytes()
    log.info("wasm backend: compiling with %s", " ".join(compiler))
    with tempfile.TemporaryDirectory(prefix="webloom-wasm-") as tmp:
        src, out = Path(tmp) / "model.c", Path(tmp) / "model.wasm"
        src.write_text(source)
        res = _run([*compiler, *FLAGS, str(src), "-o", str(out)])
        if res.returncode != 0:
            first = next((ln for ln in res.stderr.splitlines() if "error" in ln), res.stderr.strip()[:300])
            raise ConversionError(f"wasm backend: the C compiler failed ({first}); this is a converter bug, "
                                  f"please report it with the model")
        data = out.read_bytes()
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp_path.write_bytes(data)
    os.replace(tmp_path, cached)    # atomic: parallel test workers may compile the same module
    return data
