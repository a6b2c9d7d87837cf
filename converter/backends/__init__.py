"""Backend registry and the driver every conversion goes through.

A backend is a package ``converter/backends/<name>/`` whose ``__init__`` provides ``NAME``, ``PASSES``
(its optimization pipeline) and ``lower_program(graph, **opts) -> Program`` (lowering of an already optimized
graph, module compiled). The driver here is the only caller: ``lower(name, graph, **opts)`` optimizes a
copy of ``graph`` with the backend's passes (the caller's graph is never changed) and lowers it;
``write(name, graph, out_dir, **opts)`` also saves the bundle (``converter.bundle.save_bundle``, the one
bundle writer). ``available() -> {name: compile_fn}`` gives ``compile_fn(graph, out_dir, **opts) ->
[Path]`` per backend for the CLI and tools.
"""

from __future__ import annotations

import copy
import importlib
from functools import partial
from pathlib import Path

_MODULES = {"wasm": "converter.backends.wasm", "webgpu": "converter.backends.webgpu",
            "webgl": "converter.backends.webgl"}
_EXTRA: dict = {}


def register(name: str, backend) -> None:
    """Add a backend: an object (module) with ``PASSES`` and ``lower_program(graph, **opts) -> Program``."""
    _EXTRA[name] = backend


def backend(name: str):
    """The backend module ``name``."""
    if name in _EXTRA:
        return _EXTRA[name]
    if name not in _MODULES:
        raise KeyError(f"unknown backend {name!r}; available: {', '.join(sorted(names()))}")
    return importlib.import_module(_MODULES[name])


def names() -> list[str]:
    return list(_MODULES) + [n for n in _EXTRA if n not in _MODULES]


def lower(name: str, graph, **opts):
    """The Program of ``graph`` for backend ``name``: optimized (on a copy) with the backend's passes."""
    from converter.passes import optimize
    chosen = backend(name)
    work = optimize(copy.deepcopy(graph), passes=chosen.PASSES)
    return chosen.lower_program(work, **opts)


def write(name: str, graph, out_dir, **opts) -> list[Path]:
    """Lower ``graph`` for ``name`` and save ``model.<name>.wlm`` into ``out_dir``."""
    from converter.bundle import BundleError, bundle_name, save_bundle
    from converter.errors import ConversionError
    program = lower(name, graph, **opts)
    try:
        return [save_bundle(program, Path(out_dir) / bundle_name(name))]
    except BundleError as err:       # a model past the runtimes' limits: the user's to change, not a bug
        raise ConversionError(f"{name} backend: {err}") from None


def available() -> dict:
    return {name: partial(write, name) for name in names()}
