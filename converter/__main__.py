"""`python -m converter keras MODEL ...` (as `convert_keras`), `python -m converter chainer ...`
(as `convert_chainer`) and `python -m converter onnx MODEL.onnx ...` (as `convert_onnx`)."""

import sys

from converter.cli import chainer_cli, main, onnx_cli

COMMANDS = {"keras": main, "chainer": chainer_cli, "onnx": onnx_cli}
USAGE = ("usage: python -m converter keras MODEL --backend NAME --out DIR [--input-shape NAME=d0,...]\n"
         "       python -m converter chainer MODULE.py:FACTORY --weights NPZ --input NAME=d0,... "
         "--backend NAME --out DIR\n"
         "       python -m converter onnx MODEL.onnx --backend NAME --out DIR [--state IN=OUT ...]")


def run(argv) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command = COMMANDS.get(argv[0])
    if command is None:
        print(f"python -m converter: error: unknown command {argv[0]!r}; commands: "
              f"{', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return command(argv[1:], prog=f"python -m converter {argv[0]}")


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
