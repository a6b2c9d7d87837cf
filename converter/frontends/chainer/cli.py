"""`convert_chainer`: the command line's Chainer half (argument parser and model loading).

A Chainer model is Python code, so the command runs the user's own script, named explicitly as
``MODULE.py:FACTORY``; only the parameters come from the ``.npz`` file, which is read with pickling
disabled, so nothing in it is ever executed.
"""

from __future__ import annotations

import importlib.util
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np

from converter.cli import _Parser, _UsageError
from converter.errors import ConversionError

DTYPES = {"float32": np.float32, "int32": np.int32}


def build_chainer_parser(prog: str, backends: dict) -> _Parser:
    names = ", ".join(sorted(backends)) or "none installed"
    parser = _Parser(prog=prog, description=(
        "Compile a Chainer model to Webloom bundles. The model is built by running YOUR Python file "
        "(MODULE.py:FACTORY names the file and the function that returns the chainer.Chain), so only name "
        "scripts you trust; the parameters are then loaded from --weights (read without unpickling)."))
    parser.add_argument("model", metavar="MODULE.py:FACTORY",
                        help="your Python file and the function in it that returns the chainer.Chain "
                             "(the file is executed)")
    parser.add_argument("--weights", type=Path, metavar="NPZ",
                        help="parameters saved with chainer.serializers.save_npz (no pickled objects)")
    parser.add_argument("--input", action="append", required=True, metavar="NAME=d0,d1,...[:DTYPE]",
                        help="one example input per forward argument, in call order; DTYPE float32 "
                             "(default) or int32, e.g. --input ids=3:int32 (repeatable). A list of "
                             "variable-length sequences (for NStep links): NAME=list:B,T_MAX[,d...][:DTYPE], "
                             "e.g. xs=list:4,20,8 (the bundle takes NAME [B, T_MAX, ...] padded and "
                             "NAME_lengths int32 [B])")
    parser.add_argument("--forward", metavar="METHOD",
                        help="trace this method of the chain instead of calling it (e.g. predict)")
    parser.add_argument("--backend", action="append", required=True,
                        help=f"backend to compile for, repeatable or comma-separated; 'all' = every "
                             f"available one (available: {names})")
    parser.add_argument("--out", required=True, type=Path, help="output folder for the bundle files")
    parser.add_argument("--sample", type=Path, metavar="JSON",
                        help="copy this file to OUT/sample.json for the demo page to run and compare")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for unexpected errors")
    return parser


def parse_input(text: str):
    """`ids=3:int32` -> ("ids", zeros((3,), int32)); the dtype defaults to float32.
    `xs=list:B,T_MAX,d...` -> ("xs", Sequences of B zero arrays [T_MAX, d...]) for the NStep links."""
    from converter.frontends.chainer.trace import Sequences
    name, sep, rest = text.partition("=")
    is_list = rest.startswith("list:")
    shape_text, _, dtype = rest[len("list:"):].partition(":") if is_list else rest.partition(":")
    dtype = dtype.strip() or "float32"
    if not sep or not name or dtype not in DTYPES:
        raise _UsageError(f"--input {text!r}: expected NAME=d0,d1,...[:float32|int32] (e.g. ids=3:int32) "
                          "or NAME=list:B,T_MAX[,d...][:DTYPE]")
    items = [d.strip() for d in shape_text.split(",") if d.strip()]
    if not all(d.isdigit() for d in items):
        raise _UsageError(f"--input {text!r}: dims must be non-negative integers (the traced shape)")
    shape = tuple(int(d) for d in items)
    if not is_list:
        return name, np.zeros(shape, DTYPES[dtype])
    if len(shape) < 2 or min(shape[:2]) < 1:
        raise _UsageError(f"--input {text!r}: a list needs B,T_MAX (both >= 1) and then each step's dims, "
                          "e.g. xs=list:4,20,8")
    # traced with every sequence T_MAX long; the graph itself takes any lengths in [0, T_MAX]
    return name, Sequences([np.zeros(shape[1:], DTYPES[dtype]) for _ in range(shape[0])], shape[1])


def load_factory(spec: str):
    """Import MODULE.py (the user's own script) and return its FACTORY callable."""
    path_text, sep, factory = spec.rpartition(":")
    if not sep or not path_text or not factory.isidentifier():
        raise _UsageError(f"model {spec!r}: expected MODULE.py:FACTORY, e.g. model.py:build")
    path = Path(path_text)
    if not path.is_file():
        raise ConversionError(f"{path}: no such Python file; give the script that defines {factory}")
    if path.suffix != ".py":
        raise ConversionError(f"{path}: not a Python file (.py); give the script that defines {factory}, "
                              "and the parameters with --weights")
    module_spec = importlib.util.spec_from_file_location(f"_webloom_user_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    sys.path.insert(0, str(path.resolve().parent))   # let the script import its neighbours
    try:
        module_spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:   # sys.exit() in the script must not end the conversion silently
        raise ConversionError(f"{path}: running the script raised {_raised(e)}") from None
    finally:
        sys.path.remove(str(path.resolve().parent))
    fn = getattr(module, factory, None)
    if not callable(fn):
        raise ConversionError(f"{path}: defines no function {factory!r}; name the function that returns "
                              "the chainer.Chain")
    return fn


def _raised(e: BaseException) -> str:
    if isinstance(e, SystemExit):
        return f"SystemExit (sys.exit({e.code!r})); a model script must not exit"
    return f"{type(e).__name__}: {e}"


def load_weights(path: Path, chain) -> None:
    from chainer.serializers import NpzDeserializer
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, NotImplementedError,
            RuntimeError) as e:           # RuntimeError: zipfile on a member flagged as encrypted
        raise ConversionError(f"{path}: cannot read the .npz file, it is truncated or corrupt "
                              f"({type(e).__name__}: {' '.join(str(e).split())[:120]}); save it again with "
                              "chainer.serializers.save_npz") from None
    try:
        with npz:
            NpzDeserializer(npz, strict=True).load(chain)
    except (KeyError, ValueError, TypeError) as e:
        raise ConversionError(f"{path}: the parameters do not fit the model built by the factory "
                              f"({type(e).__name__}: {e}); save them with chainer.serializers.save_npz "
                              "from the same model") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as e:
        # a member cut short, or a damaged header (an unknown compression, an "encrypted" flag)
        raise ConversionError(f"{path}: cannot read the .npz file, it is truncated or corrupt "
                              f"({type(e).__name__}); save it again with chainer.serializers.save_npz") \
            from None
    _check_finite(path, chain)


def _check_finite(path: Path, chain) -> None:
    """Refuse NaN/Inf parameters, as the Keras loader does: they would make a model that outputs NaN."""
    for name, param in chain.namedparams():
        data = param.array
        if data is not None and np.issubdtype(data.dtype, np.floating) and not np.all(np.isfinite(data)):
            bad = int(data.size - np.count_nonzero(np.isfinite(data)))
            raise ConversionError(f"{path}: parameter {name} has {bad} NaN/Inf values; retrain or fix the "
                                  "model — non-finite weights cannot be converted")


def load_chainer_graph(args):
    from converter.api import from_chainer
    inputs = dict(parse_input(t) for t in args.input)
    factory = load_factory(args.model)
    try:
        chain = factory()
    except (Exception, SystemExit) as e:
        raise ConversionError(f"{args.model}: the factory raised {_raised(e)}") from None
    if args.weights is not None:
        load_weights(args.weights, chain)
    else:
        print(f"convert_chainer: warning: no --weights given: converting the parameters {args.model} itself "
              "made (a fresh model's random initialization, unless the factory loads trained ones)",
              file=sys.stderr)
    forward = None
    if args.forward:
        if not callable(getattr(chain, args.forward, None)):
            raise ConversionError(f"--forward {args.forward}: the chain has no method of that name")
        forward = lambda c, *xs: getattr(c, args.forward)(*xs)  # noqa: E731
    graph = from_chainer(chain, inputs, forward=forward)
    from converter.frontends.chainer.reference import chainer_reference
    args.reference = chainer_reference(chain, inputs, forward, graph)     # --verify runs the chain again
    return graph
