"""Smaller weights (converter/bundle/quantize.py): float16 and int8 bundles read back (Python reader)
within the encoding's error of the float32 weights, int8 with one scale per output channel, sizes
~2x / ~4x smaller on a weights-heavy program."""

import json

import numpy as np
import pytest

from converter.backends.program import Program, SlotSpec, TensorSpec
from converter.bundle import encode_bundle, quantize, read_bundle


def _program(arrays: dict) -> Program:
    tensors, blob = [], b""
    for i, (name, a) in enumerate(arrays.items()):
        blob += bytes((-len(blob)) % 64)
        tensors.append(TensorSpec(id=i, name=name, dtype="float32", shape=a.shape, kind="weight",
                                  weight_offset=len(blob)))
        blob += a.astype("<f4").tobytes()
    return Program(backend="wasm", graph_name="w", symbols=[], inputs=[], outputs=[], tensors=tensors,
                   slots=[SlotSpec(0, ["4"])], kernels=[], steps=[], weights=blob)


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    # output channels of very different magnitudes: a per-tensor scale would lose the small ones
    w = rng.uniform(-1, 1, (64, 48)) * np.logspace(-3, 0, 48)[None, :]
    return {"w": w.astype(np.float32), "emb": rng.normal(size=(100, 32)).astype(np.float32),
            "bias": rng.normal(size=(48,)).astype(np.float32)}


def _read(arrays, encoding):
    p = _program(arrays)
    back = read_bundle(encode_bundle(p, encoding))
    out = {}
    for t in back.tensors:
        n = int(np.prod(t.shape))
        out[t.name] = np.frombuffer(back.weights, np.float32, n, t.weight_offset).reshape(t.shape)
    return out, len(encode_bundle(p)), len(encode_bundle(p, encoding))


def test_float16_round_trip(arrays):
    got, full, small = _read(arrays, "float16")
    for name, a in arrays.items():
        tol = 0 if a.ndim == 1 else 1e-3 * np.abs(a).max()
        np.testing.assert_allclose(got[name], a, atol=tol, rtol=1e-3, err_msg=name)
    assert (got["bias"] == arrays["bias"]).all()                  # vectors stay float32
    assert 1.7 < full / small < 2.1


def test_int8_per_output_channel(arrays):
    got, full, small = _read(arrays, "int8")
    w = arrays["w"]
    channel_peak = np.abs(w).max(axis=0)
    # each output channel's error is within half a step of its own scale, even the tiny channels
    assert (np.abs(got["w"] - w).max(axis=0) <= channel_peak / 127 * 0.5 + 1e-9).all()
    q, scales, axis = quantize.int8_encode(w)
    assert axis == 0 and scales.shape == (48,)
    assert (got["bias"] == arrays["bias"]).all()
    assert 3.0 < full / small < 4.2


def test_damaged_encoding_is_a_bundle_error(arrays):
    from converter.bundle.format import BundleError
    p = _program(arrays)
    blob, entries = quantize.pack(p, "int8")
    entries[0].offset = len(blob) + 100
    with pytest.raises(ValueError, match="outside the"):
        quantize.unpack(blob, entries, len(p.weights), p.tensors)
    data = bytearray(encode_bundle(p, "int8"))
    data[-1] ^= 0xFF
    with pytest.raises(BundleError):
        read_bundle(bytes(data))


@pytest.mark.parametrize("encoding", ["float16", "int8"])
def test_js_reader_expands_exactly_like_the_python_reader(arrays, encoding, tmp_path):
    """The runtime's expansion (runtime-js/src/bundle/reader.ts) gives the Python reader's float32 bits."""
    import base64
    import subprocess
    from pathlib import Path
    runtime = Path(__file__).resolve().parents[2] / "runtime-js" / "dist" / "webloom.js"
    arrays = {**arrays, "conv": np.random.default_rng(1).normal(size=(5, 20, 3, 2)).astype(np.float32)}
    data = encode_bundle(_program(arrays), encoding)
    path = tmp_path / "model.wasm.wlm"
    path.write_bytes(data)
    script = (f"import {{ parseBundle }} from {json.dumps(runtime.as_uri())};"
              "import { readFileSync } from 'node:fs';"
              f"const b = readFileSync({json.dumps(str(path))});"
              "const p = parseBundle(new Uint8Array(b).buffer);"
              "process.stdout.write(Buffer.from(p.weights).toString('base64'));")
    done = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert base64.b64decode(done.stdout) == read_bundle(data).weights
