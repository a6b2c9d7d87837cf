"""The convert_keras command line: exit codes, one-line errors, backend selection and the summary."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from converter import cli

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}


def _run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "converter", "keras", *map(str, args)], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def _assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("convert_keras: error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def lstm_file(tmp_path_factory):
    code = ("import sys, keras; x = keras.Input((4, 3), name='x'); "
            "keras.Model(x, keras.layers.LSTM(2, name='lstm')(x)).save(sys.argv[1])")
    path = tmp_path_factory.mktemp("cli") / "lstm.keras"
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=ENV, timeout=120,
                   capture_output=True)
    return path


def test_help_lists_backends():
    result = _run("--help")
    assert result.returncode == 0
    names = ", ".join(sorted(cli.available_backends())) or "none installed"
    assert f"available: {names}" in " ".join(result.stdout.split())


def test_missing_file(tmp_path):
    _assert_one_line_error(_run(tmp_path / "gone.h5", "--backend", "all", "--out", tmp_path / "o"),
                           "gone.h5", "file not found")


def test_not_a_model(tmp_path):
    path = tmp_path / "junk.keras"
    path.write_bytes(b"\x00junk" * 100)
    _assert_one_line_error(_run(path, "--backend", "all", "--out", tmp_path / "o"), "junk.keras",
                           "not a Keras model file")


def test_missing_required_option(tmp_path):
    _assert_one_line_error(_run(tmp_path / "m.h5", "--backend", "all"), "--out")


def test_bad_input_shape(lstm_file, tmp_path):
    _assert_one_line_error(_run(lstm_file, "--backend", "all", "--out", tmp_path, "--input-shape", "x=1,a"),
                           "--input-shape", "'a'")


def test_unknown_backend_names_the_available_ones(lstm_file, tmp_path):
    result = _run(lstm_file, "--backend", "no_such_backend", "--out", tmp_path)
    available = sorted(cli.available_backends())
    if available:
        _assert_one_line_error(result, "unknown backend no_such_backend", ", ".join(available))
    else:
        _assert_one_line_error(result, "no backends are available")


def test_end_to_end_all_backends(lstm_file, tmp_path):
    """Needs the builder, the passes and at least one registered backend."""
    out = tmp_path / "bundles"
    result = _run(lstm_file, "--backend", "all", "--out", out, "--input-shape", "x=?,4,3")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "layers ->" in result.stdout and "ops" in result.stdout
    names = [p.name for p in out.iterdir()]
    for backend in cli.available_backends():
        assert any(n.endswith(f".{backend}.wlm") for n in names), (backend, names)


# ---- in process, with a registry of test backends (the CLI's own logic, independent of real backends) --

def _write_backend(tag):
    def compile_fn(graph, out_dir):
        path = Path(out_dir) / f"model.{tag}.txt"
        path.write_text(graph.dump())
        return [path]
    return compile_fn


@pytest.fixture
def fake_registry(monkeypatch):
    registry = {"alpha": _write_backend("alpha"), "beta": _write_backend("beta")}
    monkeypatch.setattr(cli, "available_backends", lambda: registry)
    return registry


@pytest.fixture
def tiny_graph(monkeypatch):
    """from_keras replaced by a two-node graph so these tests need no Keras model."""
    import numpy as np
    from converter.ir.graph import Graph
    import converter.api

    def fake_from_keras(path, input_shapes=None):
        if not Path(path).exists():
            raise FileNotFoundError(f"{path}: no such file")
        g = Graph("tiny")
        x = g.input("x", "float32", ("batch", 3))
        g.outputs.append(g.add1("MatMul", [x, g.const("w", np.ones((3, 2), np.float32))]))
        g.meta["layers"] = 2
        return g
    monkeypatch.setattr(converter.api, "from_keras", fake_from_keras)


def test_all_runs_every_backend_and_prints_summary(fake_registry, tiny_graph, tmp_path, capsys):
    model = tmp_path / "m.h5"
    model.write_bytes(b"x")
    assert cli.main([str(model), "--backend", "all", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "index.html", "model.alpha.txt", "model.beta.txt", "model.json", "webloom.js", "webloom.js.map"]
    assert "2 layers -> 1 ops, weights 24 B" in out
    assert "alpha:" in out and "beta:" in out and "bundles" in out


def test_comma_separated_and_repeated_backends(fake_registry, tiny_graph, tmp_path):
    model = tmp_path / "m.h5"
    model.write_bytes(b"x")
    args = [str(model), "--backend", "beta,beta", "--out", str(tmp_path / "o")]
    assert cli.main(args) == 0
    written = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert written == ["index.html", "model.beta.txt", "model.json", "webloom.js", "webloom.js.map"]


def test_unknown_backend_in_process(fake_registry, tmp_path, capsys):
    assert cli.main(["m.h5", "--backend", "gamma", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "convert_keras: error: unknown backend gamma; available: alpha, beta"


def test_unexpected_error_asks_for_a_report(fake_registry, monkeypatch, tmp_path, capsys):
    import converter.api

    def broken(path, input_shapes=None):
        raise RuntimeError("boom\nsecond line")
    monkeypatch.setattr(converter.api, "from_keras", broken)
    args = ["m.h5", "--backend", "alpha", "--out", str(tmp_path)]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["convert_keras: error: unexpected RuntimeError: boom second line "
                                        "(please report: run with --debug for the traceback)"]
    assert cli.main(args + ["--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_parse_input_shape():
    assert cli.parse_input_shape("x=1,20,8") == ("x", [1, 20, 8])
    assert cli.parse_input_shape("tokens=?,None,") == ("tokens", [None, None, None])
    with pytest.raises(cli._UsageError):
        cli.parse_input_shape("1,2")
