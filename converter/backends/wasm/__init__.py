"""The WebAssembly backend: lowering (lower.py), C emission (emit.py), compilation (toolchain.py).

Like every backend package (see converter/backends/__init__.py): ``NAME``, ``PASSES`` and
``lower_program(graph, **opts) -> Program`` for a graph the driver has optimized.
"""

from __future__ import annotations

from pathlib import Path

from converter.backends import lowering
from converter.backends.program import Program
from converter.backends.wasm.emit import module_source
from converter.backends.wasm.lower import TABLE, output_copy
from converter.backends.wasm.toolchain import THREAD_PAGES, compile_modules, find_compiler
from converter.passes import PIPELINE

NAME = "wasm"
PASSES = PIPELINE


def lower_program(graph, keep_sources: bool = False) -> Program:
    """Lower ``graph`` and compile its kernels into one wasm module, three times: plain SIMD (``module``),
    relaxed SIMD (``module_relaxed``, FMA; the runtime picks it where the engine validates it) and relaxed
    SIMD for threads (``module_threads``: shared imported memory of ``meta["thread_pages"]`` pages).

    The module is what runs; each kernel's C text is dropped from the Program unless ``keep_sources``
    (it would only add bytes to every bundle)."""
    program, _ = lowering.lower(graph, NAME, TABLE, output_copy)
    compiler = find_compiler()
    modules = compile_modules(module_source(graph.name, program.kernels), compiler)
    program.module, program.module_relaxed = modules["simd128"], modules["relaxed-simd"]
    program.module_threads, program.meta["thread_pages"] = modules["threads"], THREAD_PAGES
    program.meta["compiler"] = " ".join(Path(c).name for c in compiler)
    if not any(k.meta.get("threads") and k.meta["template"] == "recurrence.c.j2" for k in program.kernels):
        for kernel in program.kernels:     # threads pay off only with a split recurrence (lower.py)
            kernel.meta.pop("threads", None)
    if not keep_sources:
        for kernel in program.kernels:
            kernel.source = ""
    return program.validate()
