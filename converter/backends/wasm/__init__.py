"""The WebAssembly backend: lowering (lower.py), C emission (emit.py), compilation (toolchain.py)."""

from __future__ import annotations

from pathlib import Path

from converter.backends import lowering
from converter.backends.program import Program
from converter.backends.wasm.emit import module_source
from converter.backends.wasm.lower import TABLE, output_copy
from converter.backends.wasm.toolchain import compile_module, find_compiler


def lower_wasm(graph, keep_sources: bool = False) -> Program:
    """Optimize ``graph`` (in place), lower it and compile its kernels into one wasm module.

    The module is what runs; each kernel's C text is dropped from the Program unless ``keep_sources``
    (it would only add bytes to every bundle)."""
    program, _ = lowering.lower(graph, "wasm", TABLE, output_copy)
    compiler = find_compiler()
    program.module = compile_module(module_source(graph.name, program.kernels), compiler)
    program.meta["compiler"] = " ".join(Path(c).name for c in compiler)
    if not keep_sources:
        for kernel in program.kernels:
            kernel.source = ""
    return program.validate()


def compile_wasm(graph, out_dir, **opts) -> list[Path]:
    """Write ``model.wasm.wlm`` into ``out_dir``; returns the written paths."""
    from converter.bundle import write_bundle
    program = lower_wasm(graph)
    path = Path(out_dir) / "model.wasm.wlm"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bundle(program, path)
    return [path]
