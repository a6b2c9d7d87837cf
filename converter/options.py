"""Command-line options every frontend's converter shares (convert_keras, convert_chainer, convert_onnx).

``add_common_options(parser)`` adds to a frontend's parser what it does not define itself, so a frontend
only declares its model-loading options; ``finish(args)`` fills the defaults after parsing.
"""

from __future__ import annotations

import argparse

from converter.bundle.quantize import ENCODINGS


def _version() -> str:
    from converter import __version__
    return f"webloom {__version__}"


def _has(parser: argparse.ArgumentParser, option: str) -> bool:
    return option in parser._option_string_actions


def add_common_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the shared options; ``--backend`` becomes optional (default: all)."""
    backend = parser._option_string_actions.get("--backend")
    if backend is not None:
        backend.required = False
        backend.help = (backend.help or "") + " (default: all)"
    adds = [
        ("--version", dict(action="version", version=_version())),
        ("--force", dict(action="store_true",
                         help="write into a folder that holds files this converter did not write (they are "
                              "left alone; stale model.*.wlm bundles are removed)")),
        ("--rename", dict(action="append", default=[], metavar="NAME=NEW",
                          help="rename a model input or output (repeatable), e.g. input_layer_2=words")),
        ("--verify", dict(action="store_true",
                          help="run every bundle after converting (wasm in Node, all backends in headless "
                               "Chromium when installed) and compare with the source framework (else the "
                               "numpy interpreter); exit 3 past the tolerance")),
        ("--tolerance", dict(type=float, metavar="TOL",
                             help="--verify's abs+rel tolerance (default 1e-4 for float32 weights, 2e-2 "
                                  "for float16, 1e-1 for int8)")),
    ]
    for option, kwargs in adds:
        if not _has(parser, option):
            parser.add_argument(option, **kwargs)
    # convert_chainer's --weights is its parameter file: there the encoding is --weight-dtype only
    names = ["--weight-dtype"] if _has(parser, "--weights") else ["--weights", "--weight-dtype"]
    parser.add_argument(*names, dest="weight_encoding", choices=ENCODINGS, default="float32",
                        help="store weights as float32 (default), float16 (~2x smaller) or int8 (one scale "
                             "per output channel, ~4x smaller); the runtime expands them to float32 at load")
    return parser


def finish(args) -> None:
    if getattr(args, "backend", None) is None:
        args.backend = ["all"]
