"""Coverage-guided fuzzing of the Python readers with atheris (pip install atheris; libFuzzer inside).

    .venv/bin/python tools/fuzz/atheris_readers.py bundle -atheris_runs=200000
    .venv/bin/python tools/fuzz/atheris_readers.py keras -max_total_time=600

bundle: the input is a bundle file whose CRC is fixed up before reading (so the payload parser is
reached), starting from tests/fuzz/seeds/. keras: the input is written to a file and read as a Keras model
(.h5 or .keras by its magic). Own errors (BundleError / ConversionError) are expected; anything else is a
finding, and libFuzzer writes the input that caused it (crash-*) to the current folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import atheris  # noqa: E402

with atheris.instrument_imports():
    from converter.bundle import BundleError, read_bundle  # noqa: E402
    from converter.errors import ConversionError  # noqa: E402
    from converter.frontends.keras.loader import load_keras  # noqa: E402
    from tests.fuzz import bundles  # noqa: E402

TMP = Path(tempfile.mkdtemp(prefix="webloom-atheris-"))


def bundle_target(data: bytes) -> None:
    try:
        read_bundle(bundles.fix_crc(data))
    except BundleError:
        pass


def keras_target(data: bytes) -> None:
    path = TMP / "model.bin"
    path.write_bytes(data)
    try:
        load_keras(path)
    except ConversionError:
        pass


def seed_corpus(target: str) -> Path:
    """A folder of starting inputs: the seed bundles, or the corpus's Keras files."""
    corpus = TMP / f"corpus-{target}"
    corpus.mkdir(exist_ok=True)
    source = ROOT / "tests" / ("fuzz/seeds" if target == "bundle" else "corpus/keras")
    for f in source.iterdir():
        if f.is_file() and f.stat().st_size < 200_000:
            (corpus / f.name).write_bytes(f.read_bytes())
    return corpus


def main() -> None:
    target = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] in ("bundle", "keras") else "bundle"
    args = [a for a in sys.argv[1:] if a != target]
    fn = bundle_target if target == "bundle" else keras_target
    atheris.Setup([sys.argv[0], *args, str(seed_corpus(target))], fn)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    atheris.Fuzz()


if __name__ == "__main__":
    main()
