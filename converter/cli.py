"""Command line: `convert_keras MODEL --backend NAME --out DIR [--input-shape NAME=d0,d1,...]`.

Every failure the user can fix ends as one line `convert_keras: error: <message>` and exit status 2;
anything else is a bug in Webloom and says so (with `--debug` showing the traceback).
`convert_chainer` (``chainer_main``) shares everything after loading the model; its parser and loader
live in converter/frontends/chainer/cli.py.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path
from typing import Optional, Sequence

from converter.errors import ConversionError
from converter.options import add_common_options
from converter.options import finish as finish_options

PROG = "convert_keras"
EXIT_USER_ERROR = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130


class _UsageError(Exception):
    """Bad command line arguments; printed as one line like every other user error."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print the usage block too; one line is the contract
        raise _UsageError(message)


def available_backends() -> dict:
    """name -> compile(graph, out_dir) -> [Path], from the backend registry."""
    try:
        from converter.backends import available
    except ImportError:       # no backend package installed: report "none available", do not crash
        return {}
    return dict(available())


def parse_input_shape(text: str) -> tuple[str, list]:
    """`x=1,20,8` -> ("x", [1, 20, 8]); `?`, `None` or an empty item leaves that dim free."""
    name, sep, dims_text = text.partition("=")
    if not sep or not name:
        raise _UsageError(f"--input-shape {text!r}: expected NAME=d0,d1,... (e.g. x=1,20,8 or x=?,?,8)")
    dims: list = []
    for item in dims_text.split(","):
        item = item.strip()
        if item in ("", "?", "None", "none"):
            dims.append(None)
        elif item.isascii() and item.isdigit() and int(item) < 2**31:
            dims.append(int(item))
        elif item.isascii() and item.isdigit():
            raise _UsageError(f"--input-shape {text!r}: dim {item} is beyond the 2147483647 a dimension "
                              "can be")
        else:
            raise _UsageError(f"--input-shape {text!r}: dim {item!r} is not a non-negative integer or ?")
    return name, dims


def build_parser(prog: str, backends: dict) -> _Parser:
    names = ", ".join(sorted(backends)) or "none installed"
    parser = _Parser(prog=prog, description="Compile a Keras model (.h5 or .keras) to Webloom bundles.")
    parser.add_argument("model", help="path to a Keras .h5 or .keras model file")
    parser.add_argument("--backend", action="append",
                        help=f"backend to compile for, repeatable or comma-separated; 'all' = every "
                             f"available one (available: {names})")
    parser.add_argument("--out", required=True, type=Path, help="output folder for the bundle files")
    parser.add_argument("--input-shape", action="append", default=[], metavar="NAME=d0,d1,...",
                        help="fix an input's shape, batch first; ? leaves a dim free (repeatable)")
    parser.add_argument("--sample", type=Path, metavar="JSON",
                        help="copy this file to OUT/sample.json: the demo page then runs its inputs and "
                             "compares with its outputs ({inputs|outputs: {name: {shape, data}}})")
    parser.add_argument("--step", action="store_true",
                        help="compile the one-step stateful form of a window model: batch 1, one time "
                             "step, every recurrent layer's state carried (for runner.step())")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for unexpected errors")
    return parser


def pick_backends(requested: Sequence[str], backends: dict) -> list[str]:
    names = [n.strip() for item in requested for n in item.split(",") if n.strip()]
    if not backends:
        raise _UsageError("no backends are available in this installation (converter.backends.available() "
                          "is empty); nothing can be compiled")
    if "all" in names:
        return sorted(backends)
    unknown = [n for n in names if n not in backends]
    if unknown or not names:
        raise _UsageError(f"unknown backend {', '.join(unknown) or '(none given)'}; available: "
                          f"{', '.join(sorted(backends))}")
    return list(dict.fromkeys(names))


def load_keras_graph(args):
    from converter.api import from_keras
    shapes = dict(parse_input_shape(t) for t in args.input_shape)
    try:
        step = {"step": True} if getattr(args, "step", False) else {}
        graph = from_keras(args.model, input_shapes=shapes or None, **step)
    except ConversionError as e:     # the builder names the Python API's argument; say the option's name
        text = str(e).replace("input_shapes names", "--input-shape names")
        text = text.replace("input_shapes['", "--input-shape '")
        raise ConversionError(text) from None
    from converter.frontends.keras.reference import keras_reference
    # a --step graph has state inputs the Keras model lacks: the interpreter is its reference
    args.reference = None if step else keras_reference(args.model)
    return graph


def convert(args, backends: dict, out=None, load_graph=None) -> int:
    """Load the model (``load_graph(args) -> Graph``, Keras by default), optimize, compile, summarize;
    the folder work is converter/conversion.py's. Returns the exit status."""
    from converter import conversion, signature
    from converter.outdir import OutputFolder
    from converter.webdir import read_sample
    out = out or sys.stdout
    started = time.perf_counter()
    if backends:     # a mistyped backend fails before the work; an empty registry after the model checks
        pick_backends(args.backend, backends)
    folder = OutputFolder(args.out, force=getattr(args, "force", False))
    folder.check()
    renames = conversion.parse_renames(getattr(args, "rename", []))
    sample = read_sample(args.sample) if getattr(args, "sample", None) else None
    graph = (load_graph or load_keras_graph)(args)
    chosen = pick_backends(args.backend, backends)
    layers = graph.meta.get("layers", "?")
    conversion.apply_renames(graph, renames)
    if sample is not None:          # names, dtypes and shapes, before anything is compiled or written
        signature.check_sample(sample, conversion.from_graph(graph), str(args.sample))
    job = conversion.Conversion(args, backends, chosen, out)
    result = job.run(graph, folder, sample)
    seconds = time.perf_counter() - started
    from converter.summary import print_summary
    return print_summary(args, job, result, graph, layers, seconds, out)


def main(argv: Optional[Sequence[str]] = None, prog: str = PROG, make_parser=None, load_graph=None) -> int:
    """One conversion; ``make_parser(prog, backends)`` and ``load_graph(args)`` pick the frontend
    (Keras when None)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    error_prog = PROG if make_parser is None else prog
    try:
        backends = available_backends()
        parser = add_common_options((make_parser or build_parser)(prog, backends))
        args = parser.parse_args(argv)
        finish_options(args)
        return convert(args, backends, load_graph=load_graph)
    except KeyboardInterrupt:        # Ctrl-C (or a model script raising it): one line, no traceback
        _error("interrupted; nothing more was written", error_prog)
        return EXIT_INTERRUPTED
    except (ConversionError, OSError, _UsageError) as e:
        if debug:
            traceback.print_exc()
        _error(" ".join(str(e).split()) or type(e).__name__, error_prog)
        return EXIT_USER_ERROR
    except Exception as e:  # a bug in Webloom, not in the user's model: ask for a report
        if debug:
            traceback.print_exc()
        detail = " ".join(str(e).split())[:300]
        _error(f"unexpected {type(e).__name__}: {detail} (please report: run with --debug for the traceback)",
               error_prog)
        return EXIT_BUG


def _error(message: str, prog: str = PROG) -> None:
    print(f"{prog}: error: {message}", file=sys.stderr)


def keras_main() -> None:
    """Console script entry point `convert_keras` (pyproject: converter.cli:keras_main)."""
    sys.exit(main())


CHAINER_PROG = "convert_chainer"


def chainer_cli(argv: Optional[Sequence[str]] = None, prog: str = CHAINER_PROG) -> int:
    """`convert_chainer MODULE.py:FACTORY --input NAME=d0,d1:DTYPE ... --backend NAME --out DIR`."""
    from converter.frontends.chainer.cli import build_chainer_parser, load_chainer_graph
    return main(argv, prog, make_parser=build_chainer_parser, load_graph=load_chainer_graph)


def chainer_main() -> None:
    """Console script entry point `convert_chainer` (pyproject: converter.cli:chainer_main)."""
    sys.exit(chainer_cli())


ONNX_PROG = "convert_onnx"


def onnx_cli(argv: Optional[Sequence[str]] = None, prog: str = ONNX_PROG) -> int:
    """`convert_onnx MODEL.onnx --backend NAME --out DIR [--input-shape ...] [--state IN=OUT ...]`."""
    from converter.frontends.onnx.cli import build_onnx_parser, load_onnx_graph
    return main(argv, prog, make_parser=build_onnx_parser, load_graph=load_onnx_graph)


def onnx_main() -> None:
    """Console script entry point `convert_onnx` (pyproject: converter.cli:onnx_main)."""
    sys.exit(onnx_cli())
