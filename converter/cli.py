"""Command line: `convert_keras MODEL --backend NAME --out DIR [--input-shape NAME=d0,d1,...]`.

Every failure the user can fix ends as one line `convert_keras: error: <message>` and exit status 2;
anything else is a bug in Webloom and says so (with `--debug` showing the traceback).
`convert_chainer` (``chainer_main``) shares everything after loading the model; its parser and loader
live in converter/frontends/chainer/cli.py.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
import traceback
from pathlib import Path
from typing import Optional, Sequence

from converter.errors import ConversionError

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
    parser.add_argument("--backend", action="append", required=True,
                        help=f"backend to compile for, repeatable or comma-separated; 'all' = every "
                             f"available one (available: {names})")
    parser.add_argument("--out", required=True, type=Path, help="output folder for the bundle files")
    parser.add_argument("--input-shape", action="append", default=[], metavar="NAME=d0,d1,...",
                        help="fix an input's shape, batch first; ? leaves a dim free (repeatable)")
    parser.add_argument("--sample", type=Path, metavar="JSON",
                        help="copy this file to OUT/sample.json: the demo page then runs its inputs and "
                             "compares with its outputs ({inputs|outputs: {name: {shape, data}}})")
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
    return from_keras(args.model, input_shapes=shapes or None)


def convert(args, backends: dict, out=None, load_graph=None) -> None:
    """Load the model (``load_graph(args) -> Graph``, Keras by default), optimize, compile, summarize."""
    out = out or sys.stdout
    started = time.perf_counter()
    if backends:     # a mistyped backend fails before the work; an empty registry after the model checks
        pick_backends(args.backend, backends)
    graph = (load_graph or load_keras_graph)(args)
    chosen = pick_backends(args.backend, backends)
    layers = graph.meta.get("layers", "?")
    # Backends lower the optimized form (hoisted projections, fused gates): optimizing is not optional.
    from converter.passes import optimize
    optimize(graph)
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in chosen:
        # A backend may annotate or rewrite the graph it lowers; each gets its own copy.
        written += [(name, Path(p)) for p in backends[name](copy.deepcopy(graph), args.out)]
    from converter.webdir import write_web_files
    web_files = write_web_files(args.out, sample=args.sample)
    seconds = time.perf_counter() - started
    print(f"{args.model}: {layers} layers -> {len(graph.nodes)} ops, "
          f"weights {_size(graph.weight_bytes())}", file=out)
    for name, path in written:
        print(f"  {name}: {path} ({_size(path.stat().st_size)})", file=out)
    print(f"  bundles {_size(sum(p.stat().st_size for _, p in written))} in {seconds:.2f} s; "
          f"with {', '.join(p.name for p in web_files)} (serve {args.out} for the demo page)", file=out)


def main(argv: Optional[Sequence[str]] = None, prog: str = PROG, make_parser=None, load_graph=None) -> int:
    """One conversion; ``make_parser(prog, backends)`` and ``load_graph(args)`` pick the frontend
    (Keras when None)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    error_prog = PROG if make_parser is None else prog
    try:
        backends = available_backends()
        args = (make_parser or build_parser)(prog, backends).parse_args(argv)
        convert(args, backends, load_graph=load_graph)
        return 0
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


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


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
