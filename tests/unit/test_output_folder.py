"""The output folder (converter/outdir.py, safefile.py): the manifest, a previous conversion's files
removed, foreign files refused without --force, and no write ever going through a symbolic link
(issue 15 item 5: index.html, webloom.js, sample.json, the bundle's temp file were followed)."""

import json
import os
from pathlib import Path

import pytest

from converter import cli
from converter.bundle import read_bundle, write_bundle
from tests.unit.test_cli import fake_registry, tiny_graph  # noqa: F401  (fixtures)

FIXTURE = Path(__file__).resolve().parent / "bundle_fixture.wlm"


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "m.h5"
    path.write_bytes(b"model bytes")
    return path


def _convert(model, out, *extra):
    return cli.main([str(model), "--out", str(out), *map(str, extra)])


def _victim(tmp_path, name):
    victim = tmp_path / f"victim-{name}"
    victim.write_text("precious")
    return victim


def test_write_bundle_never_follows_links(tmp_path):
    program = read_bundle(FIXTURE)
    path = tmp_path / "model.wasm.wlm"
    planted = {path: _victim(tmp_path, "bundle"),
               path.with_name(path.name + ".tmp"): _victim(tmp_path, "tmp")}
    for link, target in planted.items():
        os.symlink(target, link)
    write_bundle(program, path)
    assert all(t.read_text() == "precious" for t in planted.values())
    assert not path.is_symlink() and read_bundle(path).backend == program.backend


def test_links_in_out_are_refused_then_replaced_not_followed(fake_registry, tiny_graph, model, tmp_path,
                                                             capsys):
    out = tmp_path / "web"
    out.mkdir()
    sample = tmp_path / "s.json"
    sample.write_text(json.dumps({"inputs": {"x": {"shape": [1, 3], "data": [1, 2, 3]}}}))
    names = ["index.html", "webloom.js", "webloom.js.map", "sample.json", "model.alpha.txt", "model.json"]
    victims = {name: _victim(tmp_path, name) for name in names}
    for name, victim in victims.items():
        os.symlink(victim, out / name)
    assert _convert(model, out, "--backend", "alpha", "--sample", sample) == 2
    assert "did not write" in capsys.readouterr().err
    assert _convert(model, out, "--backend", "alpha", "--sample", sample, "--force") == 0
    assert all(v.read_text() == "precious" for v in victims.values())
    for name in names:
        assert not (out / name).is_symlink() and (out / name).is_file(), name


def test_manifest_lists_every_file_with_hashes(fake_registry, tiny_graph, model, tmp_path):
    out = tmp_path / "web"
    assert _convert(model, out, "--backend", "alpha,beta") == 0
    manifest = json.loads((out / "model.json").read_text())
    assert manifest["model"]["file"] == "m.h5" and len(manifest["model"]["sha256"]) == 64
    assert manifest["converter"]["version"] == "0.1.0" and manifest["weights"] == "float32"
    assert set(manifest["bundles"]) == {"alpha", "beta"}
    assert set(manifest["files"]) | {"model.json"} == {p.name for p in out.iterdir()}
    assert manifest["signature"]["inputs"][0]["name"] == "x"
    assert [p for p in out.iterdir() if p.name.startswith(".")] == []


def test_previous_conversion_is_replaced_and_said(fake_registry, tiny_graph, model, tmp_path, capsys):
    out = tmp_path / "web"
    sample = tmp_path / "s.json"
    sample.write_text(json.dumps({"inputs": {"x": {"shape": [2, 3], "data": [0] * 6}}}))
    assert _convert(model, out, "--backend", "alpha,beta", "--sample", sample) == 0
    capsys.readouterr()
    assert _convert(model, out, "--backend", "alpha") == 0
    said = capsys.readouterr().out
    assert "removed from" in said and "model.beta.txt" in said and "sample.json" in said
    assert not (out / "model.beta.txt").exists() and not (out / "sample.json").exists()
    assert set(json.loads((out / "model.json").read_text())["bundles"]) == {"alpha"}


def test_foreign_files_refused_without_force_and_kept_with_it(fake_registry, tiny_graph, model, tmp_path,
                                                               capsys):
    out = tmp_path / "web"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "model.gamma.wlm").write_bytes(b"stale bundle of another model")
    (out / "model.json").write_text("{}")           # not a manifest this converter wrote
    before = sorted(p.name for p in out.iterdir())
    assert _convert(model, out, "--backend", "alpha") == 2
    err = capsys.readouterr().err
    assert "notes.txt" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == before        # nothing written, nothing removed
    assert _convert(model, out, "--backend", "alpha", "--force") == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert not (out / "model.gamma.wlm").exists()                   # a stale bundle would be served


def test_a_folder_without_manifest_with_webloom_names_is_a_previous_conversion(fake_registry, tiny_graph,
                                                                              model, tmp_path):
    out = tmp_path / "web"
    out.mkdir()
    for name in ("model.webgl.wlm", "index.html", "sample.json"):
        (out / name).write_text("old")
    assert _convert(model, out, "--backend", "alpha") == 0
    assert not (out / "model.webgl.wlm").exists() and not (out / "sample.json").exists()


def test_failed_conversion_leaves_the_folder_as_it_was(fake_registry, tiny_graph, model, tmp_path):
    out = tmp_path / "web"
    assert _convert(model, out, "--backend", "alpha") == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(graph, out_dir):
        raise OSError("disk full")
    fake_registry["beta"] = broken
    assert _convert(model, out, "--backend", "alpha,beta") == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
