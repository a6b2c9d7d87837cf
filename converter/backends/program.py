"""The Program: what a backend lowering produces and a bundle file stores (docs/design.md section 4).

Terms:
- expression: a string in the language of ``converter/bundle/expr.py`` over ``Program.symbols``
  (``"4*batch*time"``, ``"cdiv(batch,64)"``); ints given where an expression is expected become strings.
- dim: an IR dim (``converter/ir/dims.py``), an int, a product string or a derived expression;
  shapes are tuples of dims.
- ids: ``tensors[i].id == i`` and ``slots[i].id == i``, so ids index the lists directly. A step names its
  kernel by index into ``kernels``.
- a state pair: an input and an output with ``role="state"`` whose ``state_of`` name each other; the
  runtime feeds the output's value back into the input on the next run.

The constructors normalize (tuples for shapes, workgroups and dispatch; strings for expressions; bytes
for blobs) so that a Program read back from a bundle compares equal to the one written.
``Program.validate()`` checks every cross reference and expression with one-line errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

from converter.bundle import expr as expr_lang
from converter.ir import dims

DTYPES = ("float32", "int32")
DTYPE_BYTES = {"float32": 4, "int32": 4}
ROLES = ("data", "state")
KINDS = ("input", "output", "weight", "temp")
ACCESS = ("read", "read_write")
WEIGHT_ALIGN = 64
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ProgramError(ValueError):
    """A Program whose parts do not fit together (a backend bug or a damaged bundle)."""


def _shape(shape) -> tuple:
    return tuple(dims.normalize(d) for d in shape)


def _expr(e) -> str:
    return str(e) if isinstance(e, int) and not isinstance(e, bool) else e


def _exprs(es) -> list:
    return [_expr(e) for e in es]


@dataclass
class IOSpec:
    name: str
    tensor: int                                    # TensorSpec.id
    dtype: str
    shape: tuple
    role: str = "data"                             # "data" | "state"
    valid_range: Optional[tuple] = None            # half-open (lo, hi) of allowed values (Gather indices)
    state_of: Optional[str] = None                 # the other half of a state pair (see module doc)

    def __post_init__(self):
        self.shape = _shape(self.shape)
        if self.valid_range is not None:
            self.valid_range = tuple(int(v) for v in self.valid_range)


@dataclass
class TensorSpec:
    id: int
    name: str
    dtype: str
    shape: tuple
    kind: str = "input"                            # "input" | "output" | "weight" | "temp"
    slot: int = -1                                 # SlotSpec.id; every non-weight tensor has one
    weight_offset: int = -1                        # byte offset into Program.weights (weights only)
    nbytes_expr: str = ""                          # "" means: computed from dtype and shape

    def __post_init__(self):
        self.shape = _shape(self.shape)
        self.nbytes_expr = _expr(self.nbytes_expr)
        if self.nbytes_expr == "" and self.dtype in DTYPE_BYTES:
            self.nbytes_expr = str(dims.mul(DTYPE_BYTES[self.dtype], dims.size(self.shape)))


@dataclass
class SlotSpec:
    id: int
    sizes: list                                    # byte-size expressions; the slot holds the largest

    def __post_init__(self):
        self.sizes = _exprs(self.sizes)


@dataclass
class Binding:
    name: str
    access: str = "read"                           # "read" | "read_write"


@dataclass
class KernelSpec:
    name: str
    entry: str                                     # entry point (WGSL/GLSL function, wasm export)
    source: str
    bindings: list                                 # [Binding], in the order a step lists its tensors
    params: list = field(default_factory=list)     # names of the integer params, in call order
    workgroup: tuple = (1, 1, 1)
    meta: dict = field(default_factory=dict)       # JSON data

    def __post_init__(self):
        self.bindings = list(self.bindings)
        self.params = list(self.params)
        self.workgroup = tuple(int(w) for w in self.workgroup)


@dataclass
class StepSpec:
    kernel: int                                    # index into Program.kernels
    tensors: list                                  # one TensorSpec.id per kernel binding
    params: list = field(default_factory=list)     # one expression per kernel param
    dispatch: tuple = ("1", "1", "1")              # workgroup counts (x, y, z) as expressions

    def __post_init__(self):
        self.tensors = [int(t) for t in self.tensors]
        self.params = _exprs(self.params)
        self.dispatch = tuple(_exprs(self.dispatch))


@dataclass
class Program:
    backend: str
    graph_name: str
    symbols: list                                  # symbol names the input shapes bind
    inputs: list                                   # [IOSpec]
    outputs: list                                  # [IOSpec]
    tensors: list                                  # [TensorSpec]
    slots: list                                    # [SlotSpec]
    kernels: list                                  # [KernelSpec]
    steps: list                                    # [StepSpec]
    weights: bytes = b""                           # every weight WEIGHT_ALIGN-aligned in it
    module: bytes = b""                            # backend-level code (the compiled wasm module)
    meta: dict = field(default_factory=dict)       # JSON data
    module_relaxed: bytes = b""                    # wasm: `module` built with relaxed SIMD (FMA), optional
    module_threads: bytes = b""                    # wasm: `module_relaxed` for threads (shared memory), optional

    def __post_init__(self):
        for name in ("symbols", "inputs", "outputs", "tensors", "slots", "kernels", "steps"):
            setattr(self, name, list(getattr(self, name)))
        self.weights = bytes(self.weights)
        self.module = bytes(self.module)
        self.module_relaxed = bytes(self.module_relaxed)
        self.module_threads = bytes(self.module_threads)

    def validate(self) -> "Program":
        """Raise ProgramError naming the first part that does not fit; return self."""
        _check_symbols(self.symbols)
        for i, t in enumerate(self.tensors):
            _check_tensor(self, i, t)
        for i, s in enumerate(self.slots):
            _check(s.id == i, f"slots[{i}] has id {s.id}: slot ids must equal their position")
            _check(len(s.sizes) > 0, f"slot {i} has no sizes")
            for e in s.sizes:
                _check_expr(self, e, f"slot {i} size")
        for side in ("inputs", "outputs"):
            for io in getattr(self, side):
                _check_io(self, side, io)
        for k in self.kernels:
            _check_kernel(k)
        for i, s in enumerate(self.steps):
            _check_step(self, i, s)
        json_ready(self.meta, "program meta")
        return self


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ProgramError(f"invalid program: {message}")


def _check_one_of(value, allowed: tuple, what: str) -> None:
    _check(value in allowed, f"{what} is {value!r}, expected one of {', '.join(allowed)}")


def _check_expr(program: Program, e, what: str) -> None:
    _check(isinstance(e, str), f"{what} {e!r} is not an expression string")
    try:
        used = expr_lang.validate(e)
    except expr_lang.ExprError as err:
        raise ProgramError(f"invalid program: {what}: {err}") from None
    unknown = [s for s in used if s not in program.symbols]
    known = ", ".join(program.symbols) or "none"
    _check(not unknown, f"{what} '{e}' uses unknown symbol '{unknown[0] if unknown else ''}' "
                        f"(program symbols: {known})")


def _check_symbols(symbols: list) -> None:
    for s in symbols:
        ok = isinstance(s, str) and bool(_IDENT.match(s)) and s not in expr_lang.FUNCTIONS
        _check(ok, f"symbol {s!r} is not a valid name (an identifier other than cdiv, max, min)")
    _check(len(set(symbols)) == len(symbols), f"symbols {symbols} repeat a name")


def _check_shape(program: Program, shape: tuple, what: str) -> None:
    for d in shape:
        _check(not isinstance(d, int) or d >= 0, f"{what} has a negative dim {d}")
        for s in dims.symbols(d):
            _check(s in program.symbols, f"{what} dim '{d}' uses unknown symbol '{s}' "
                                         f"(program symbols: {', '.join(program.symbols) or 'none'})")


def _check_tensor(program: Program, i: int, t: TensorSpec) -> None:
    what = f"tensor {i} ('{t.name}')"
    _check(t.id == i, f"tensors[{i}] has id {t.id}: tensor ids must equal their position")
    _check_one_of(t.dtype, DTYPES, f"{what} dtype")
    _check_one_of(t.kind, KINDS, f"{what} kind")
    _check_shape(program, t.shape, f"{what} shape")
    _check_expr(program, t.nbytes_expr, f"{what} nbytes")
    if t.kind == "weight":
        _check_weight(program, what, t)
    else:
        _check(0 <= t.slot < len(program.slots),
               f"{what} is in slot {t.slot}, but the program has {len(program.slots)} slots")


def _check_weight(program: Program, what: str, t: TensorSpec) -> None:
    _check(not expr_lang.validate(t.nbytes_expr),
           f"{what} is a weight with a symbolic size '{t.nbytes_expr}'")
    nbytes = expr_lang.evaluate(t.nbytes_expr, {})
    off = t.weight_offset
    _check(off >= 0 and off % WEIGHT_ALIGN == 0,
           f"{what} has weight_offset {off}: it must be a multiple of {WEIGHT_ALIGN}")
    _check(off + nbytes <= len(program.weights),
           f"{what} needs weight bytes [{off}, {off + nbytes}) but the blob has {len(program.weights)}")


def _check_io(program: Program, side: str, io: IOSpec) -> None:
    what = f"{side[:-1]} '{io.name}'"
    _check(0 <= io.tensor < len(program.tensors), f"{what} refers to tensor {io.tensor}, "
                                                  f"but the program has {len(program.tensors)}")
    _check_one_of(io.dtype, DTYPES, f"{what} dtype")
    _check_one_of(io.role, ROLES, f"{what} role")
    _check_shape(program, io.shape, f"{what} shape")
    if io.valid_range is not None:
        _check(len(io.valid_range) == 2 and io.valid_range[0] < io.valid_range[1],
               f"{what} has valid_range {io.valid_range}: expected (lo, hi) with lo < hi")
    if io.role == "state":
        other = "outputs" if side == "inputs" else "inputs"
        partner = [p for p in getattr(program, other) if p.name == io.state_of]
        _check(len(partner) == 1 and partner[0].role == "state" and partner[0].state_of == io.name,
               f"{what} is a state paired with {other[:-1]} {io.state_of!r}, which is missing or not a "
               f"state whose state_of is '{io.name}'")
    else:
        _check(io.state_of is None, f"{what} has state_of {io.state_of!r} but role 'data'")


def _check_kernel(k: KernelSpec) -> None:
    what = f"kernel '{k.name}'"
    for b in k.bindings:
        _check(isinstance(b, Binding), f"{what} has a binding {b!r} that is not a Binding")
        _check_one_of(b.access, ACCESS, f"{what} binding '{b.name}' access")
    _check(len(k.workgroup) == 3 and all(w >= 1 for w in k.workgroup),
           f"{what} has workgroup {k.workgroup}: expected three sizes >= 1")
    _check(all(isinstance(p, str) for p in k.params), f"{what} has params {k.params}: expected names")
    json_ready(k.meta, f"{what} meta")


def _check_step(program: Program, i: int, s: StepSpec) -> None:
    _check(0 <= s.kernel < len(program.kernels),
           f"step {i} runs kernel {s.kernel!r}, but the program has {len(program.kernels)} kernels")
    k = program.kernels[s.kernel]
    what = f"step {i} ('{k.name}')"
    _check(len(s.tensors) == len(k.bindings),
           f"{what} passes {len(s.tensors)} tensors for {len(k.bindings)} bindings")
    for t in s.tensors:
        _check(0 <= t < len(program.tensors), f"{what} uses tensor {t}, but the program has "
                                              f"{len(program.tensors)}")
    _check(len(s.params) == len(k.params), f"{what} passes {len(s.params)} params for {len(k.params)}")
    for e in s.params:
        _check_expr(program, e, f"{what} param")
    _check(len(s.dispatch) == 3, f"{what} has dispatch {s.dispatch}: expected three expressions")
    for e in s.dispatch:
        _check_expr(program, e, f"{what} dispatch")


def json_ready(value: Any, what: str) -> Any:
    """``value`` if it is JSON data (dict with str keys, list, str, finite number, bool, None)."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check(isinstance(key, str), f"{what} has a non-string key {key!r}: meta must be JSON data")
            json_ready(item, f"{what}.{key}")
    elif isinstance(value, (list, tuple)):
        for j, item in enumerate(value):
            json_ready(item, f"{what}[{j}]")
    elif isinstance(value, float):
        _check(value == value and abs(value) != float("inf"), f"{what} is {value}: meta must be finite")
    else:
        _check(value is None or isinstance(value, (str, int, bool)),
               f"{what} has type {type(value).__name__}: meta must be JSON data (convert numpy values)")
    return value
