"""`python -m converter keras MODEL --backend NAME --out DIR ...` (same options as `convert_keras`)."""

import sys

from converter.cli import main

COMMANDS = {"keras": main}
USAGE = "usage: python -m converter {keras} MODEL --backend NAME --out DIR [--input-shape NAME=d0,...]"


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
