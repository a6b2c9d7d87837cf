"""The malformed-input corpus (tests/corpus/, written by tools/fuzz/make_corpus.py): every file gives
exactly its expected one-line error. runtime-js/test/corpus.test.mjs checks the JS reader's lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from converter.bundle import BundleError, read_bundle

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
CASES = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))["cases"]
BUNDLES = [c for c in CASES if "file" in c]
COMMANDS = [c for c in CASES if "argv" in c]


@pytest.mark.parametrize("case", BUNDLES, ids=[c["file"] for c in BUNDLES])
def test_bundle_reader_gives_the_expected_error(case):
    with pytest.raises(BundleError) as err:
        read_bundle(CORPUS / case["file"])
    assert str(err.value) == case["python"]
    assert case["js"] is not None, "the JS reader must refuse every corpus bundle too"


@pytest.mark.parametrize("case", COMMANDS, ids=[" ".join(c["argv"][:2]) for c in COMMANDS])
def test_command_gives_the_expected_error(case, tmp_path, monkeypatch, capsys):
    from converter import cli
    prog = case["argv"][0]
    if prog == "convert_chainer":
        pytest.importorskip("chainer", reason="the convert_chainer cases need Chainer installed")
    if prog == "convert_onnx":
        pytest.importorskip("onnx", reason="the convert_onnx cases need the onnx package")
    monkeypatch.chdir(CORPUS)
    argv = [str(tmp_path) if a == "OUT" else a for a in case["argv"][1:]]
    run = {"convert_chainer": cli.chainer_cli, "convert_onnx": cli.onnx_cli}.get(prog, cli.main)
    status = run(argv)
    lines = capsys.readouterr().err.strip().splitlines()
    assert (status, lines) == (2, [case["error"]])
    assert not any(tmp_path.iterdir()), "a refused model must not leave files in --out"
