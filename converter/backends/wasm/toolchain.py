"""Compiling the C module to WebAssembly: zig's clang (the ziglang wheel), or a system clang that has the
wasm32 target. Modules are cached by a hash of source, compiler and flags in a user cache directory.

Every model is built twice, in parallel: the plain SIMD module (runs everywhere with wasm SIMD) and a
relaxed-SIMD one (the prelude's vmadd becomes f32x4.relaxed_madd: FMA where the CPU has it), which the
runtime picks when WebAssembly.validate accepts relaxed SIMD, and the relaxed one again for threads: shared
imported memory (so workers can instantiate the same module on it), atomics for the barriers (prelude.c.j2)
and each instance's __stack_pointer exported (every worker gets its own stack).
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


# The threaded module's memory: THREAD_PAGES initial (data + the main thread's stack fit; the runtime reads
# the figure from Program.meta), up to the largest wasm32 memory the linker accepts (65535 pages).
THREAD_PAGES = 32
THREAD_FLAGS = ["-mrelaxed-simd", "-matomics", "-mbulk-memory", "-Wl,--shared-memory", "-Wl,--import-memory",
                f"-Wl,--initial-memory={THREAD_PAGES * 65536}", "-Wl,--max-memory=4294901760",
                "-Wl,--export=__stack_pointer"]
VARIANTS = {"simd128": [], "relaxed-simd": ["-mrelaxed-simd"], "threads": THREAD_FLAGS}   # -> extra flags


def compile_module(source: str, compiler: Optional[list] = None) -> bytes:
    """The plain SIMD wasm bytes for C ``source`` (cached by content)."""
    return compile_modules(source, compiler, ("simd128",))["simd128"]


def compile_modules(source: str, compiler: Optional[list] = None, variants=tuple(VARIANTS)) -> dict:
    """{variant: wasm bytes} for C ``source``, the missing ones compiled at the same time (cached by
    content); a compile error names the first message."""
    compiler = compiler or find_compiler()
    flags = {v: [*FLAGS, *VARIANTS[v]] for v in variants}
    cached = {v: cache_dir() / (hashlib.sha256("\0".join([source, *compiler, *flags[v]]).encode())
                                .hexdigest()[:24] + ".wasm") for v in variants}
    todo = [v for v in variants if not cached[v].exists()]
    if todo:
        log.info("wasm backend: compiling %s with %s", ", ".join(todo), " ".join(compiler))
        with tempfile.TemporaryDirectory(prefix="webloom-wasm-") as tmp:
            src = Path(tmp) / "model.c"
            src.write_text(source)
            procs = {v: subprocess.Popen([*compiler, *flags[v], str(src), "-o", f"{tmp}/{v}.wasm"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                     for v in todo}
            for v, proc in procs.items():
                stderr = proc.communicate()[1]
                _check(proc.returncode, stderr)
                _store(cached[v], (Path(tmp) / f"{v}.wasm").read_bytes())
    return {v: cached[v].read_bytes() for v in variants}


def _check(returncode: int, stderr: str) -> None:
    if returncode != 0:
        first = next((ln for ln in stderr.splitlines() if "error" in ln), stderr.strip()[:300])
        raise ConversionError(f"wasm backend: the C compiler failed ({first}); this is a converter bug, "
                              f"please report it with the model")


def _store(cached: Path, data: bytes) -> None:
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp_path.write_bytes(data)
    os.replace(tmp_path, cached)    # atomic: parallel test workers may compile the same module
