"""Writes the malformed-input corpus under tests/corpus/ (files + expected.json) from scratch.

Each file is one hostile or damaged input (the ones issue 15 found, and more); expected.json holds, per
file, the exact one-line error each reader or command must give. The expected lines are written from
the current readers, so after regenerating, read `git diff tests/corpus/expected.json`: every changed
line must be a message you mean. Usage: .venv/bin/python tools/fuzz/make_corpus.py
"""

from __future__ import annotations

import contextlib
import io
import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from converter.backends.program import IOSpec, TensorSpec  # noqa: E402
from converter.bundle import BundleError, read_bundle  # noqa: E402
from tests.fuzz import bundles, model_files  # noqa: E402

CORPUS = ROOT / "tests" / "corpus"
ABOUT = ("The malformed-input corpus (issue 15): each case is a file under tests/corpus/ and the exact "
         "one-line error expected. Bundles: 'python' is read_bundle's BundleError, 'js' parseBundle's "
         "BundleError message. Models: 'argv' runs in tests/corpus/ (OUT: a fresh output folder) and "
         "'error' is the one line on stderr (exit status 2). Regenerate with tools/fuzz/make_corpus.py.")


# ---- bundles ------------------------------------------------------------------------------------------

def _edit(**changes):
    def make():
        p = bundles.tiny_program()
        for path, value in changes.items():
            target, attr = p, path.split(".")
            for part in attr[:-1]:
                target = target[int(part)] if part.isdigit() else getattr(target, part)
            setattr(target, attr[-1], value)
        return bundles.encode_unchecked(p)
    return make


def _meta(text: str):
    return lambda: bundles.encode_unchecked(bundles.tiny_program(), meta_text=text)


def _string_past_payload():
    data = bytearray(bundles.encode_unchecked(bundles.tiny_program()))
    at = bundles.string_offsets(bytes(data), "tiny")[0]        # the graph name
    data[at:at + 4] = struct.pack("<I", 4000)                   # runs past the payload's end
    return bundles.fix_crc(bytes(data))


def _expansion():
    p = bundles.tiny_program()
    letters = [chr(c) for c in range(ord("a"), ord("a") + 26)]
    p.symbols = ["batch", "time"] + letters
    dim = "*".join(f"({letters[2 * i]}+{letters[2 * i + 1]})" for i in range(13))   # 2^13 terms
    p.tensors[2].shape = ("batch", "time", dim)      # as stored: the constructor would expand it
    return bundles.encode_unchecked(p)


def _big_output():
    p = bundles.tiny_program()
    p.tensors[2] = TensorSpec(2, "emb", "float32", (4000000000,), "output", slot=1)
    p.outputs[0] = IOSpec("emb", 2, "float32", (4000000000,))
    p.tensors[2].nbytes_expr = "16"
    return bundles.encode_unchecked(p)


BUNDLES = {
    "duplicate-symbols": _edit(symbols=["batch", "time", "batch"]),
    "symbol-named-max": _edit(symbols=["batch", "time", "max"]),
    "inverted-valid-range": _edit(**{"inputs.0.valid_range": (5, 2)}),
    "workgroup-zero": _edit(**{"kernels.1.workgroup": (0, 1, 1)}),
    "step-param-beyond-int32": _edit(**{"steps.1.params": ["3000000000"]}),
    "slot-of-8-gib": _edit(**{"slots.2.sizes": ["8589934592"]}),
    "output-of-4e9-elements": _big_output,
    "negative-dim": _edit(**{"tensors.3.shape": ("batch", "2-5")}),
    "dispatch-of-four": _edit(**{"steps.0.dispatch": ("1", "1", "1", "1")}),
    "parens-5000-deep": _edit(**{"slots.0.sizes": ["(" * 5000 + "1" + ")" * 5000]}),
    "unary-minus-1000": _edit(**{"steps.0.dispatch": ("-" * 1000 + "1", "1", "1")}),
    "sum-of-300-terms": _edit(**{"slots.1.sizes": ["1+" * 300 + "1"]}),
    "integer-of-30-digits": _edit(**{"steps.1.dispatch": ("1" * 30, "1", "1")}),
    "dim-expanding-to-8192-terms": _expansion,
    "meta-5000-deep": _meta('{"a":' + "[" * 5000 + "]" * 5000 + "}"),
    "meta-integer-of-5000-digits": _meta('{"a":1' + "0" * 5000 + "}"),
    "meta-nan": _meta('{"a":NaN}'),
    "meta-array": _meta("[1,2]"),
    "string-past-payload": _string_past_payload,
    "weight-size-divides-by-zero": _edit(**{"tensors.1.nbytes_expr": "0*(1/0)"}),   # found by tests/fuzz
}



# Bundles a fuzzer found, kept as they were found (long run, seed 1, iteration 59925: the readers
# disagreed on a vtable of odd size).
FOUND_BUNDLES = ["odd-vtable-size"]


def write_bundles() -> list:
    cases = []
    (CORPUS / "bundle").mkdir(parents=True, exist_ok=True)
    for name in list(BUNDLES) + FOUND_BUNDLES:
        path = CORPUS / "bundle" / f"{name}.wlm"
        if name in BUNDLES:
            path.write_bytes(BUNDLES[name]())
        try:
            read_bundle(path)
            python = None
        except BundleError as err:
            python = str(err)
        cases.append({"file": f"bundle/{name}.wlm", "python": python})
    webloom = str(ROOT / "runtime-js" / "dist" / "webloom.js")
    files = [str(CORPUS / c["file"]) for c in cases]
    out = subprocess.run(["node", str(Path(__file__).with_name("read_bundles.mjs")), webloom, *files],
                         check=True, capture_output=True, text=True).stdout
    js = json.loads(out)
    for c, f in zip(cases, files):
        c["js"] = js[f]
    return cases


# ---- model files --------------------------------------------------------------------------------------

def _external_storage(g, name, array):
    if name.endswith("kernel:0"):
        g.create_dataset(name, shape=array.shape, dtype=array.dtype,
                         external=[("/etc/hostname", 0, array.nbytes)])
    else:
        g.create_dataset(name, data=array)


def _external_link(g, name, array):
    if name.endswith("kernel:0"):
        g[name] = h5py.ExternalLink("/etc/secret_weights.h5", "/kernel")
    else:
        g.create_dataset(name, data=array)


def _huge_declared(g, name, array):
    if name in ("0",) or name.endswith("kernel:0"):
        g.create_dataset(name, shape=(2, 800_000_000), dtype="f4", chunks=(1, 1_000_000))
    else:
        g.create_dataset(name, data=array)


def _as(dtype):
    return lambda g, name, array: g.create_dataset(name, data=array.astype(dtype))


def _h5(name, dataset=None, config=None, model=model_files.dense_model):
    def make(path):
        base, weights = model()
        model_files.write_h5(path, config(base) if config else base, weights, dataset=dataset)
    return name, make


def _keras(name, members=None, dataset=None):
    def make(path):
        config, weights = model_files.keras3_dense_model()
        model_files.write_keras_zip(path, config, weights, members=members, dataset=dataset)
    return name, make


def _fraction_shape(config):
    config["config"]["layers"][0]["config"]["batch_input_shape"] = [None, 3.7]
    return config


def _units_text(config):
    config["config"]["layers"][1]["config"]["units"] = "two"
    return config


def _huge_input_dim(config):
    config["config"]["layers"][0]["config"]["batch_input_shape"] = [None, 2**63]
    return config


def _lstm_units_list(config):
    config["config"]["layers"][2]["config"]["units"] = [2]
    return config


KERAS = [
    _h5("keras/dense.h5"),                                # a good model, for the command line cases
    _h5("keras/external-storage.h5", dataset=_external_storage),
    _h5("keras/external-link.h5", dataset=_external_link),
    _keras("keras/external-storage.keras", dataset=lambda g, n, a: g.create_dataset(
        n, shape=a.shape, dtype=a.dtype, external=[("/etc/hostname", 0, a.nbytes)])),
    _keras("keras/declares-6-gb-dataset.keras", dataset=_huge_declared),
    _h5("keras/declares-6-gb-dataset.h5", dataset=_huge_declared),
    _keras("keras/metadata-of-80-mb.keras", members={"metadata.json": " " * 80_000_000}),
    _h5("keras/complex-weights.h5", dataset=_as(np.complex64)),
    _h5("keras/bool-weights.h5", dataset=_as(np.bool_)),
    _h5("keras/batch-shape-3.7.h5", config=_fraction_shape),
    _h5("keras/units-as-text.h5", config=_units_text),
    _h5("keras/lstm-units-as-list.h5", config=_lstm_units_list, model=model_files.embedding_lstm_model),
    _h5("keras/input-dim-2-pow-63.h5", config=_huge_input_dim),
]


def write_onnx() -> list:
    """ONNX files the fuzzer found crashing the frontend: text fields that are not UTF-8."""
    from onnx import TensorProto, helper
    d = CORPUS / "onnx"
    d.mkdir(parents=True, exist_ok=True)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"], domain="dom")],
                                                "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)])
    data = model.SerializeToString().replace(b"dom", b"d\xffm")      # a domain that is not UTF-8
    (d / "domain-not-utf8.onnx").write_bytes(data)
    nameless = helper.make_tensor_value_info("", TensorProto.FLOAT, ["n", 3])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [nameless])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (d / "nameless-output.onnx").write_bytes(model.SerializeToString())
    return [("convert_onnx", [f"onnx/{n}.onnx", "--backend", "wasm", "--out", "OUT"])
            for n in ("domain-not-utf8", "nameless-output")]



def _fixed_dates(data: bytes) -> bytes:
    """A zip (an .npz) rewritten with fixed member dates, so the same arrays give the same file."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for name in sorted(src.namelist()):    # Chainer writes them in hash order
            dst.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), src.read(name))
    return out.getvalue()


def write_chainer() -> list:
    import chainer
    d = CORPUS / "chainer"
    d.mkdir(parents=True, exist_ok=True)
    # model.py is the corpus's own source (tests/corpus/chainer/model.py); model.txt the same text under a
    # name convert_chainer must refuse
    (d / "model.txt").write_text((d / "model.py").read_text())
    sys.path.insert(0, str(d))
    import model as tiny  # noqa: E402  (the file just written)
    chain = tiny.build()
    chain.l1.W.array[...] = np.arange(6, dtype=np.float32).reshape(2, 3) / 8   # fixed: same files each run
    chain.l1.b.array[...] = 0.5
    good = io.BytesIO()
    chainer.serializers.save_npz(good, chain)
    data = _fixed_dates(good.getvalue())
    (d / "truncated.npz").write_bytes(data[: len(data) // 2])
    # found by tests/fuzz: a damaged header naming a compression method zipfile does not implement
    stored = b"PK\x01\x02\x14\x03\x14\x00\x00\x00"            # central directory entry, up to the method
    (d / "unknown-compression.npz").write_bytes(data.replace(stored + b"\x00\x00", stored + b"\x63\x00"))
    chain.l1.W.array[0, 0] = np.nan
    bad = io.BytesIO()
    chainer.serializers.save_npz(bad, chain)
    (d / "nan-weight.npz").write_bytes(_fixed_dates(bad.getvalue()))
    base = ["--input", "x=1,3", "--backend", "wasm", "--out", "OUT"]
    return [("convert_chainer", ["chainer/model.py:build", "--weights", "chainer/truncated.npz", *base]),
            ("convert_chainer", ["chainer/model.py:build", "--weights", "chainer/unknown-compression.npz",
                                 *base]),
            ("convert_chainer", ["chainer/model.py:build", "--weights", "chainer/nan-weight.npz", *base]),
            ("convert_chainer", ["chainer/model.txt:build", *base]),
            ("convert_chainer", ["chainer/model.py:exits", *base])]


def run_command(prog: str, argv: list) -> str:
    """The one stderr line of the command run in tests/corpus/ (what tests/unit/test_corpus.py checks)."""
    from converter import cli
    import os
    import tempfile
    err = io.StringIO()
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as out:
        os.chdir(CORPUS)
        try:
            with contextlib.redirect_stderr(err):
                args = [a if a != "OUT" else out for a in argv]
                run = {"convert_chainer": cli.chainer_cli, "convert_onnx": cli.onnx_cli}.get(prog, cli.main)
                status = run(args)
        finally:
            os.chdir(cwd)
    assert status == 2, (argv, status, err.getvalue())
    return err.getvalue().strip()


# Files a fuzzer found, kept as they were found (not rewritten by this script).
FOUND = ["keras/atheris-broken-links.h5"]     # atheris: h5py failed inside visititems_links


def write_models() -> list:
    cases = [("convert_keras", [name, "--backend", "wasm", "--out", "OUT"]) for name in FOUND]
    (CORPUS / "keras").mkdir(parents=True, exist_ok=True)
    for name, make in KERAS:
        make(CORPUS / name)
        if name != "keras/dense.h5":
            cases.append(("convert_keras", [name, "--backend", "wasm", "--out", "OUT"]))
    cases.append(("convert_keras", ["keras/dense.h5", "--input-shape", "x=99999999999999999999,3",
                                    "--backend", "wasm", "--out", "OUT"]))
    cases += write_chainer()
    cases += write_onnx()
    return [{"argv": [prog, *argv], "error": run_command(prog, argv)} for prog, argv in cases]


def main() -> None:
    cases = write_bundles() + write_models()
    text = json.dumps({"about": ABOUT, "cases": cases}, indent=1, ensure_ascii=False)
    (CORPUS / "expected.json").write_text(text + "\n", encoding="utf-8")
    for c in cases:
        print(c.get("file") or " ".join(c["argv"][:2]))
        for key in ("python", "js", "error"):
            if key in c:
                print(f"  {key}: {c[key]}")


if __name__ == "__main__":
    main()
