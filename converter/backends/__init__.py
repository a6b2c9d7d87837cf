"""Backend registry.

Each backend provides ``lower(graph, **opts) -> Program`` (optimizes the graph in place, lowers it and
compiles its kernels). ``available() -> {name: compile_fn}`` gives, per backend, ``compile_fn(graph,
out_dir, **opts) -> list[Path]`` writing ``model.<backend>.wlm`` into ``out_dir``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable


def _lower_wasm(graph, **opts):
    from converter.backends.wasm import lower_wasm
    return lower_wasm(graph, **opts)


def _lower_webgpu(graph, **opts):
    from converter.backends.webgpu import lower_program
    return lower_program(graph, **opts)


def _lower_webgl(graph, **opts):
    from converter.backends.webgl import lower_program
    return lower_program(graph, **opts)


_LOWER: dict[str, Callable] = {"wasm": _lower_wasm, "webgpu": _lower_webgpu, "webgl": _lower_webgl}


def register(name: str, lower_fn: Callable) -> None:
    """Add a backend: ``lower_fn(graph, **opts) -> Program``."""
    _LOWER[name] = lower_fn


def lower(name: str, graph, **opts):
    """The Program of ``graph`` for backend ``name``."""
    if name not in _LOWER:
        raise KeyError(f"unknown backend {name!r}; available: {', '.join(sorted(_LOWER))}")
    return _LOWER[name](graph, **opts)


def bundle_name(backend: str) -> str:
    return f"model.{backend}.wlm"


def _compile_fn(name: str) -> Callable:
    def compile_fn(graph, out_dir, **opts) -> list[Path]:
        from converter.bundle import write_bundle
        path = Path(out_dir) / bundle_name(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bundle(lower(name, graph, **opts), path)
        return [path]
    compile_fn.__name__ = f"compile_{name}"
    return compile_fn


def available() -> dict[str, Callable]:
    return {name: _compile_fn(name) for name in _LOWER}
