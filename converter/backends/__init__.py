"""Backend registry: ``available() -> {name: compile_fn}``.

``compile_fn(graph, out_dir, **opts) -> list[Path]`` optimizes and lowers the graph, and writes
``model.<backend>.wlm`` into ``out_dir`` with ``converter.bundle.write_bundle``.
"""

from __future__ import annotations

from typing import Callable


def _wasm(graph, out_dir, **opts):
    from converter.backends.wasm import compile_wasm
    return compile_wasm(graph, out_dir, **opts)


def _webgpu(graph, out_dir, **opts):
    from converter.backends.webgpu import compile
    return compile(graph, out_dir, **opts)


def _webgl(graph, out_dir, **opts):
    from converter.backends.webgl import compile as compile_webgl
    return compile_webgl(graph, out_dir, **opts)


_BACKENDS: dict[str, Callable] = {"wasm": _wasm, "webgpu": _webgpu, "webgl": _webgl}


def register(name: str, compile_fn: Callable) -> None:
    """Add a backend (the WebGPU / WebGL2 backends register themselves here)."""
    _BACKENDS[name] = compile_fn


def available() -> dict[str, Callable]:
    return dict(_BACKENDS)
