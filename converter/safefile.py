"""Writing into an output folder without ever following a symbolic link (docs/security.md).

A file is written under a fresh name created with O_EXCL | O_NOFOLLOW (so it cannot be a link planted in
advance) and then renamed over the destination: rename replaces a link at the destination itself, never
the file it points to. Readers (a dev server) never see half a file.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def write_bytes(path, data: bytes) -> int:
    """Write ``data`` to ``path`` atomically; a link at ``path`` is replaced, its target left alone."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, _FLAGS, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return len(data)


def copy_file(src, dst) -> int:
    """Copy ``src`` (a file of ours: package data, a checked sample) to ``dst`` with write_bytes."""
    return write_bytes(dst, Path(src).read_bytes())
