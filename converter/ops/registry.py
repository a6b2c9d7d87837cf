"""The op registry: every op is defined once, with its inputs, attributes, shape rule and numpy reference.

An op module declares::

    @register("Relu", inputs=("x",), attrs={})
    class Relu:
        # shape rule: gets ValueInfo|None per input and the attrs; returns [(dtype, shape), ...]
        def infer(x, *, attrs): return [(x.dtype, x.shape)]
        # reference: numpy arrays (None for an absent optional input) and attrs as keywords
        def reference(x, **attrs): return (np.maximum(x, 0),)

Input names ending in ``?`` are optional (the node holds ``None`` there). ``outputs`` names the outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class ValueInfo:
    """What a shape rule sees of an input: dtype, shape, and the constant data if it is a constant."""
    dtype: str
    shape: tuple
    data: Any = None


@dataclass
class OpDef:
    name: str
    inputs: tuple
    outputs: tuple
    attrs: dict
    infer: Callable
    reference: Callable
    doc: str = ""
    # free-form facts used by passes (e.g. "elementwise": True)
    traits: dict = field(default_factory=dict)

    @property
    def min_inputs(self) -> int:
        return sum(1 for n in self.inputs if not n.endswith("?") and not n.endswith("*"))

    @property
    def variadic(self) -> bool:
        return bool(self.inputs) and self.inputs[-1].endswith("*")


OPS: dict[str, OpDef] = {}


def register(name: str, inputs=("x",), outputs=("y",), attrs=None, **traits):
    """Class decorator: register an op from a class holding ``infer`` and ``reference`` functions."""
    def wrap(cls):
        if name in OPS:
            raise ValueError(f"op {name} registered twice")
        OPS[name] = OpDef(name, tuple(inputs), tuple(outputs), dict(attrs or {}),
                          staticmethod(cls.infer).__func__, staticmethod(cls.reference).__func__,
                          (cls.__doc__ or "").strip(), traits)
        return cls
    return wrap


def get(name: str) -> OpDef:
    _load_all()
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}; known ops: {', '.join(sorted(OPS))}") from None


def all_ops() -> dict[str, OpDef]:
    _load_all()
    return OPS


_loaded = False


def _load_all():
    global _loaded
    if not _loaded:
        _loaded = True
        import converter.ops  # noqa: F401  (importing the package registers every op module)
