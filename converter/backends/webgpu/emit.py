"""WGSL rendering: kernel templates (kernels/webgpu/*.wgsl.j2) plus the metadata that travels with them.

A kernel is rendered from one template and a small context. The binding declarations, the uniform
``Params`` struct and the workgroup size are generated here from the same lists that become the
KernelSpec's metadata, so a number never lives in two places: the runtime builds its bind group layout
from ``KernelSpec.bindings`` (storage buffers at bindings 0..n-1, in order) and, when ``params`` is not
empty, one uniform buffer at binding n holding the params as consecutive u32 (``meta.params_binding``).

Activation and binary functions, literals and helper functions come from the WGSL dialect
(converter/backends/dialect.py); helpers are emitted only when a kernel calls them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import jinja2

from converter.backends.dialect import WGSL_DIALECT as WGSL
from converter.backends.program import Binding, KernelSpec

KERNEL_DIR = Path(__file__).resolve().parents[3] / "kernels" / "webgpu"
WGSL_TYPES = {"float32": "f32", "int32": "i32"}

_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(KERNEL_DIR)),
                          undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                          keep_trailing_newline=True)

@dataclass
class Buf:
    """One storage binding: its name in WGSL, element type (f32/i32) and access."""
    name: str
    type: str = "f32"
    access: str = "read"


def _header(bufs: list, params: list) -> str:
    lines = []
    for i, b in enumerate(bufs):
        mode = "read" if b.access == "read" else "read_write"
        lines.append(f"@group(0) @binding({i}) var<storage, {mode}> {b.name}: array<{b.type}>;")
    if params:
        fields = " ".join(f"{p}: u32," for p in params)
        lines.append(f"struct Params {{ {fields} }}")
        lines.append(f"@group(0) @binding({len(bufs)}) var<uniform> P: Params;")
    return "\n".join(lines) + "\n"


def render(name: str, template: str, bufs: list, params: list, workgroup: tuple, meta=None,
           **context) -> KernelSpec:
    """Render ``template`` into a KernelSpec named ``name``.

    The entry point is ``k_<hash>`` of the source and metadata: the lowering shares kernels by entry and
    the runtime caches pipelines by it, so equal entries must mean equal kernels.
    """
    workgroup = tuple(workgroup) + (1,) * (3 - len(workgroup))
    body = _ENV.get_template(template).render(wg=workgroup, **context)
    helpers = WGSL.helpers(body)
    source = f"// webloom {name} ({template})\n" + _header(bufs, params) + helpers + body
    info = {"template": template, "params_binding": len(bufs) if params else None, **(meta or {})}
    digest = hashlib.sha256((source + json.dumps(info, sort_keys=True)).encode()).hexdigest()[:16]
    entry = f"k_{digest}"
    if source.count("fn main(") != 1:
        raise ValueError(f"webgpu: template {template} must define exactly one `fn main(`")
    return KernelSpec(name=name, entry=entry, source=source.replace("fn main(", f"fn {entry}("),
                      bindings=[Binding(b.name, b.access) for b in bufs],
                      params=list(params), workgroup=workgroup, meta=info)
