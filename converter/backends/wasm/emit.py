"""C source for the wasm backend: kernel functions rendered from kernels/wasm/*.c.j2, one file per model.

A kernel is a template body wrapped in an exported function whose signature follows the ABI of
docs/design.md section 5: one pointer per binding (an i32 byte offset on wasm32), then one int32 per
param. Params are the symbols (``batch``, ``time``) the kernel's dims use, named ``s_<symbol>`` in C;
every other dim is a compile-time constant. A kernel that can be split over threads (``threads()``) takes
``int32_t tid, int32_t nth`` last (prelude.c.j2); its meta ``threads`` says whether the runtime splits it.
The export name carries a hash of the function, so equal
kernels of different nodes share one function.
"""

from __future__ import annotations

import hashlib

import jinja2

from converter.backends.dialect import CDIALECT
from converter.backends.lowering import SymbolDims
from converter.backends.program import Binding, KernelSpec
from converter.errors import ConversionError
from converter.resources import kernel_dir

TEMPLATES = kernel_dir("wasm")  # the package data when installed (converter/resources.py)
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                          keep_trailing_newline=True)
CTYPES = {"float32": "float", "int32": "int32_t"}
JOB_ARGS = 56          # arguments a thread job carries: wl_ctl[8..64) (prelude.c.j2, threads.ts)


class CKernel(SymbolDims):
    """One kernel under construction: its pointer arguments, the symbols its dims use, its template."""

    dialect = CDIALECT

    def __init__(self, op: str, template: str):
        self.op, self.template = op, template
        self.args: list = []          # (c name, c type, tensor id, access)
        self.symbols: list = []
        self.split = None             # None: no thread arguments; else whether the runtime splits it

    def threads(self, split: bool) -> "CKernel":
        """Give the kernel the (tid, nth) arguments; the runtime splits it over its threads when `split`."""
        self.split = split
        return self

    def ptr(self, cname: str, tensor: int, dtype: str = "float32", access: str = "read") -> "CKernel":
        self.args.append((cname, CTYPES[dtype], tensor, access))
        return self

    def render(self, **context) -> tuple[KernelSpec, list, list]:
        """(KernelSpec, tensor ids in binding order, param expressions) for a step."""
        body = _ENV.get_template(self.template).render(**context)
        symbols = sorted(self.symbols)
        args = [f"{ct} *{name}" for name, ct, _, _ in self.args] + [f"int32_t s_{s}" for s in symbols]
        args += ["int32_t tid", "int32_t nth"] if self.split is not None else []
        if self.split and len(args) - 2 > JOB_ARGS:
            raise ConversionError(f"wasm backend: {self.op} takes {len(args) - 2} arguments, more than a "
                                  f"thread job carries ({JOB_ARGS}); this is a converter bug, please report it")
        signature = "(" + ", ".join(args) + ")"
        digest = hashlib.sha1((signature + body).encode()).hexdigest()[:10]
        entry = f"{_snake(self.op)}_{digest}"
        source = f"EXPORT({entry}) void {entry}{signature} {{\n{body.rstrip()}\n}}\n"
        bindings = [Binding(name, access) for name, _, _, access in self.args]
        kernel = KernelSpec(self.op, entry, source, bindings, [f"s_{s}" for s in symbols],
                            (1, 1, 1), {"template": self.template, **({"threads": 1} if self.split else {})})
        return kernel, [t for _, _, t, _ in self.args], symbols


def _snake(name: str) -> str:
    out = ""
    for i, ch in enumerate(name):
        out += ("_" if ch.isupper() and i else "") + ch.lower()
    return out


def module_source(graph_name: str, kernels: list) -> str:
    """The whole C file: the prelude (SIMD math), the activation and binary functions the kernels call
    (from the C dialect), then every kernel function once."""
    prelude = _ENV.get_template("prelude.c.j2").render(graph_name=graph_name)
    body = "\n".join(k.source for k in kernels)
    return prelude + "\n" + CDIALECT.helpers(body) + "\n" + body
