"""`convert_onnx`: the command line's ONNX half. It takes convert_keras' options (``--backend``, ``--out``,
``--input-shape``, ``--sample``, ``--debug``) and the same output folder, plus ``--state IN=OUT``
(repeatable): an input/output pair carried as recurrent state, so that a step model
``(ids, h, c) -> (logits, h', c')`` runs with ``runner.step()``.
"""

from __future__ import annotations

from converter.cli import _Parser, _UsageError, build_parser, parse_input_shape


def build_onnx_parser(prog: str, backends: dict) -> _Parser:
    parser = build_parser(prog, backends)
    parser.description = ("Compile an ONNX model (.onnx, e.g. from torch.onnx.export or tf2onnx) to Webloom "
                          "bundles.")
    for action in parser._actions:      # same options as convert_keras; only the model differs
        if action.dest == "model":
            action.help = "path to an .onnx file (external weight files must lie in its folder)"
    parser.add_argument("--state", action="append", default=[], metavar="IN=OUT",
                        help="carry output OUT into input IN between runner.step() calls (repeatable), "
                             "e.g. --state h=h_next --state c=c_next")
    return parser


def parse_state(text: str) -> tuple[str, str]:
    inp, sep, out = text.partition("=")
    if not sep or not inp.strip() or not out.strip():
        raise _UsageError(f"--state {text!r}: expected INPUT=OUTPUT (e.g. h=h_next)")
    return inp.strip(), out.strip()


def load_onnx_graph(args):
    from converter.api import from_onnx
    shapes = dict(parse_input_shape(t) for t in args.input_shape)
    states = [parse_state(t) for t in args.state]
    graph = from_onnx(args.model, input_shapes=shapes or None, states=states or None)
    from converter.frontends.onnx.reference import onnx_reference
    args.reference = onnx_reference(args.model, graph)    # used (and onnxruntime imported) by --verify
    return graph
