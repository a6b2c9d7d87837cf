"""The options every converter command shares (converter/options.py): --version, --backend defaulting to
all, --rename, the signature and JS snippet, --sample checked before anything is written, --weights."""

import json
import subprocess
import sys

import pytest

from converter import cli
from tests.unit.test_cli import fake_registry, tiny_graph  # noqa: F401  (fixtures)


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "m.h5"
    path.write_bytes(b"x")
    return path


def test_version():
    for command in ("keras", "chainer"):
        done = subprocess.run([sys.executable, "-m", "converter", command, "--version"], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0 and done.stdout.strip() == "webloom 0.1.0", done


def test_backend_defaults_to_all(fake_registry, tiny_graph, model, tmp_path):
    assert cli.main([str(model), "--out", str(tmp_path / "o")]) == 0
    assert {"model.alpha.txt", "model.beta.txt"} <= {p.name for p in (tmp_path / "o").iterdir()}


def test_signature_and_snippet_use_the_real_names(fake_registry, tiny_graph, model, tmp_path, capsys):
    assert cli.main([str(model), "--out", str(tmp_path / "o"), "--rename", "x=features"]) == 0
    out = capsys.readouterr().out
    assert "inputs:  features: float32[batch, 3]" in out
    snippet = out.split("in JS:\n")[1].splitlines()[:3]
    assert snippet[0].strip().startswith(f'const runner = await load("{(tmp_path / "o").as_posix()}/")')
    assert "runner.predict({ features: { data: new Float32Array(3), shape: [1, 3] } })" in snippet[1]
    manifest = json.loads((tmp_path / "o" / "model.json").read_text())
    assert manifest["signature"]["inputs"][0]["name"] == "features"


@pytest.mark.parametrize("rename,fragment", [
    ("nope=y", "no input or output of that name; its inputs are ['x']"),
    ("x=1bad", "plain identifier"),
])
def test_rename_errors(fake_registry, tiny_graph, model, tmp_path, capsys, rename, fragment):
    assert cli.main([str(model), "--out", str(tmp_path / "o"), "--rename", rename]) == 2
    assert fragment in capsys.readouterr().err


@pytest.mark.parametrize("sample,fragment", [
    ({"inputs": {"y": {"shape": [1, 3], "data": [0, 0, 0]}}}, "inputs ['y'] are not the model's"),
    ({"inputs": {"x": {"shape": [1, 4], "data": [0] * 4}}}, "axis 1 is 4, the model needs 3"),
    ({"inputs": {"x": {"shape": [2, 3], "data": [0] * 5}}}, "data has 5 values, shape [2, 3] needs 6"),
    ({"inputs": {"x": {"shape": [1, 3], "data": ["a", 0, 0]}}}, "float32 data holds non-numbers"),
    ({"inputs": {}}, "input 'x' is missing"),
])
def test_bad_sample_is_refused_before_anything_is_written(fake_registry, tiny_graph, model, tmp_path, capsys,
                                                          sample, fragment):
    path = tmp_path / "sample.json"
    path.write_text(json.dumps(sample))
    assert cli.main([str(model), "--out", str(tmp_path / "o"), "--sample", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o").exists() or list((tmp_path / "o").iterdir()) == []


def test_input_shape_error_names_the_real_inputs(tmp_path):
    code = ("import sys, keras; x = keras.Input((4, 3), name='real_name'); "
            "keras.Model(x, keras.layers.Dense(2)(x)).save(sys.argv[1])")
    path = tmp_path / "m.keras"
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=120, capture_output=True)
    done = subprocess.run([sys.executable, "-m", "converter", "keras", str(path), "--out",
                           str(tmp_path / "o"), "--input-shape", "x=1,4,3"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert "--input-shape names ['x']" in done.stderr and "real_name" in done.stderr, done.stderr


def test_chainer_weight_encoding_option_does_not_clash_with_its_npz():
    from converter.frontends.chainer.cli import build_chainer_parser
    from converter.options import add_common_options
    parser = add_common_options(build_chainer_parser("convert_chainer", {"wasm": None}))
    args = parser.parse_args(["m.py:f", "--input", "x=3", "--out", "o", "--weights", "p.npz",
                              "--weight-dtype", "int8"])
    assert str(args.weights) == "p.npz" and args.weight_encoding == "int8" and args.backend is None


@pytest.fixture
def wasm_only(monkeypatch):
    """The real wasm backend alone, and no Chromium (a second Playwright cannot start inside pytest's)."""
    from converter import verify
    from converter.backends import available
    import converter.api
    import converter.frontends.keras.reference as reference
    import numpy as np
    from converter.ir.graph import Graph
    monkeypatch.setattr(cli, "available_backends", lambda: {"wasm": available()["wasm"]})
    monkeypatch.setattr(verify, "chromium_path", lambda: None)
    monkeypatch.setattr(reference, "keras_reference", lambda path: None)

    def random_graph(path, input_shapes=None):
        g = Graph("tiny")
        x = g.input("x", "float32", ("batch", 3))
        w = np.random.default_rng(0).uniform(-1, 1, (3, 2))
        g.outputs.append(g.add1("MatMul", [x, g.const("w", w)]))
        return g
    monkeypatch.setattr(converter.api, "from_keras", random_graph)


def test_verify_reports_per_backend_and_fails_past_the_tolerance(wasm_only, model, tmp_path, capsys):
    out = tmp_path / "o"
    assert cli.main([str(model), "--out", str(out), "--verify"]) == 0
    said = capsys.readouterr().out
    assert "verify against numpy interpreter (tolerance 0.0001" in said and "wasm (node): max abs" in said
    report = json.loads((out / "sample.json").read_text())
    assert report["verify"]["backends"]["wasm"]["node"]["ok"] is True
    assert report["inputs"]["x"]["shape"] == [2, 3]                  # random inputs, batch 2
    assert cli.main([str(model), "--out", str(out), "--verify", "--weights", "int8", "--tolerance", "1e-9"]) == 3
    said = capsys.readouterr().out
    assert "verify FAILED for wasm (node)" in said
    assert "int8 weights, wasm:" in said and "accuracy cost vs float32 (in Node): max abs" in said
    manifest = json.loads((out / "model.json").read_text())
    assert manifest["weights"] == "int8" and manifest["verify"]["backends"]["wasm"]["node"]["ok"] is False
