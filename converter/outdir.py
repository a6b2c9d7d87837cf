"""The output folder of a conversion: staged writes, the manifest `model.json`, no stale or foreign files.

A conversion writes everything into a staging folder inside ``--out`` first and moves it in at the end,
so a failed conversion leaves the folder as it was. Before any work, the folder is checked: files listed
in the previous conversion's manifest (or, without one, files named as a conversion names them) are
that conversion's and are replaced or removed; anything else (another program's file, a link, a folder)
is foreign and makes the conversion refuse unless ``--force``. With ``--force`` foreign files are left
alone, except stale bundles (``model.<backend>.wlm``), which the page would otherwise load. Nothing is
ever written through a link (converter/safefile.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Optional

from converter.errors import ConversionError
from converter.safefile import write_bytes

MANIFEST = "model.json"
MANIFEST_FORMAT = "webloom-output/1"
# what a conversion writes; without a manifest, regular files with these names are taken as a previous
# conversion's (folders written before manifests existed)
OUR_NAMES = re.compile(r"^(model\.[A-Za-z0-9_-]+\.wlm|index\.html|webloom\.js(\.map)?|sample\.json"
                       r"|model\.json)$")
BUNDLE_NAME = re.compile(r"^model\.[A-Za-z0-9_-]+\.wlm$")
STAGING_PREFIX = ".webloom-staging-"


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _previous_names(out: Path) -> Optional[set]:
    """The names the previous conversion's manifest lists, or None without a (readable) manifest."""
    manifest = out / MANIFEST
    if not _is_regular(manifest):
        return None
    try:
        data = json.loads(manifest.read_text())
        files = data["files"]
        return {str(name) for name in files} | {MANIFEST}
    except (OSError, ValueError, KeyError, TypeError):
        return None


class OutputFolder:
    """``check()`` before the work, ``stage`` to write into, ``commit(manifest)`` or ``discard()``."""

    def __init__(self, path: Path, force: bool = False):
        self.path = Path(path)
        self.force = force
        self.previous: set = set()      # names of the previous conversion's files
        self.foreign: list = []         # names this converter did not write
        self.stage: Optional[Path] = None

    def check(self) -> None:
        """Sort the folder's entries into ours and foreign; refuse foreign ones unless --force."""
        if self.path.exists() and not self.path.is_dir():
            raise ConversionError(f"--out {self.path}: exists and is not a folder; give a folder")
        if not self.path.exists():
            return
        listed = _previous_names(self.path)
        for entry in sorted(os.listdir(self.path)):
            full = self.path / entry
            ours = _is_regular(full) and (OUR_NAMES.match(entry) if listed is None else entry in listed)
            (self.previous.add if ours else self.foreign.append)(entry)
        if self.foreign and not self.force:
            more = len(self.foreign) - 6
            shown = ", ".join(self.foreign[:6]) + (f" and {more} more" if more > 0 else "")
            raise ConversionError(f"--out {self.path}: the folder holds files this converter did not write "
                                  f"({shown}); choose an empty folder, or pass --force to write beside them "
                                  "(stale model.*.wlm bundles are then removed, links replaced, not "
                                  "followed)")

    def begin(self) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        self.stage = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.path))
        return self.stage

    def discard(self) -> None:
        if self.stage is not None:
            shutil.rmtree(self.stage, ignore_errors=True)
            self.stage = None

    def commit(self, manifest: dict) -> list:
        """Move the staged files in, remove the previous conversion's leftovers, write model.json last.
        Returns the names removed."""
        staged = sorted(p.name for p in self.stage.iterdir())
        stale = set(self.previous) | {n for n in self.foreign if BUNDLE_NAME.match(n)}
        removed = sorted(stale - set(staged) - {MANIFEST})
        # the old manifest goes first: a crash part-way must not leave it vouching for new files
        for name in [MANIFEST] * (MANIFEST in self.previous) + removed:
            _remove(self.path / name)
        for name in staged:
            os.replace(self.stage / name, self.path / name)   # replaces a link itself, never its target
        self.discard()
        write_bytes(self.path / MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
        return removed


def _remove(path: Path) -> None:
    try:
        os.unlink(path)        # a link is removed, not followed
    except FileNotFoundError:
        pass


def file_entry(path: Path) -> dict:
    """What the manifest records for one written file: bytes, sha256 and, for a bundle, its header CRC32
    (the runtime compares the bundle it reads with bytes and CRC32, no hashing needed)."""
    entry = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    with open(path, "rb") as f:
        head = f.read(20)
    if head[:8] == b"WLOOMBND" and len(head) == 20:
        entry["crc32"] = int.from_bytes(head[16:20], "little")
    return entry
