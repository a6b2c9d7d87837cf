"""Runs every code block of README.md and docs/*.md marked runnable (the line `<!-- runnable -->` right
before its fence), so the documentation cannot drift from the code. The convention is documented in
docs/guide.md ("About the snippets"): blocks of one file run in order in one fresh folder holding
model.keras (examples/sentiment) and window.keras (examples/text_generation); bash with .venv/bin on PATH,
python with this interpreter, js as ES modules in Node with `webloom` resolving to runtime-js."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- runnable -->"
FENCE = re.compile(r"^```(\w+)\s*$")
RUNNERS = {"bash": "sh", "sh": "sh", "python": "py", "js": "js", "javascript": "js"}
FILES = {"model.keras": ROOT / "examples" / "sentiment" / "model.keras",
         "window.keras": ROOT / "examples" / "text_generation" / "model.keras"}


def snippets(text: str) -> list[tuple[int, str, str]]:
    """(line number, language, code) of each marked block."""
    lines, out = text.splitlines(), []
    for i, line in enumerate(lines):
        if line.strip() != MARKER:
            continue
        fence = FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
        if fence is None:
            raise AssertionError(f"line {i + 1}: {MARKER} must be followed by a ``` fence with a language")
        end = next(j for j in range(i + 2, len(lines)) if lines[j].strip() == "```")
        out.append((i + 2, fence.group(1), "\n".join(lines[i + 2:end]) + "\n"))
    return out


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKED = [d for d in DOCS if MARKER in d.read_text()]


def test_the_marker_is_used():
    assert ROOT / "README.md" in MARKED and ROOT / "docs" / "guide.md" in MARKED


def _prepare(folder: Path) -> dict:
    for name, src in FILES.items():
        shutil.copyfile(src, folder / name)
    modules = folder / "node_modules"
    modules.mkdir()
    (modules / "webloom").symlink_to(ROOT / "runtime-js", target_is_directory=True)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=str(ROOT))
    return env


def _run(lang: str, code: str, folder: Path, env: dict, n: int) -> subprocess.CompletedProcess:
    kind = RUNNERS.get(lang)
    assert kind, f"runnable block in language {lang!r}: use one of {sorted(RUNNERS)}"
    path = folder / f"snippet{n}.{ {'sh': 'sh', 'py': 'py', 'js': 'mjs'}[kind] }"
    path.write_text(code)
    cmd = {"sh": ["bash", "-euo", "pipefail", str(path)], "py": [sys.executable, str(path)],
           "js": ["node", str(path)]}[kind]
    return subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("doc", MARKED, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_runnable_snippets(doc, tmp_path):
    env = _prepare(tmp_path)
    blocks = snippets(doc.read_text())
    assert blocks
    for n, (line, lang, code) in enumerate(blocks):
        done = _run(lang, code, tmp_path, env, n)
        assert done.returncode == 0, (f"{doc.name} line {line} ({lang}) failed:\n{code}\n"
                                      f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr[-3000:]}")
