"""Program, bundle files and the expression language (converter/backends/program.py, converter/bundle/).

The fixture bundle (bundle_fixture.wlm, and bundle_fixture.json: the Program as the JS reader must see it)
is also read by runtime-js/test/bundle.test.mjs. After a deliberate format change, rewrite both with
``WEBLOOM_UPDATE_FIXTURES=1 .venv/bin/python -m pytest tests/unit/test_bundle.py``.
"""

from __future__ import annotations

import base64
import dataclasses
import filecmp
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from converter.backends.program import (Binding, IOSpec, KernelSpec, Program, ProgramError, SlotSpec,
                                        StepSpec, TensorSpec)
from converter.bundle import (BundleError, ExprError, encode_bundle, evaluate, read_bundle, validate,
                              write_bundle)
from converter.bundle import format as fmt
from converter.bundle import regenerate

HERE = Path(__file__).resolve().parent
FIXTURE_WLM = HERE / "bundle_fixture.wlm"
FIXTURE_JSON = HERE / "bundle_fixture.json"
EXPR_CASES = json.loads((HERE / "expr_cases.json").read_text(encoding="utf-8"))["cases"]
for _case in EXPR_CASES:   # long cases are stored as [text, count] parts (see the file's "about")
    _case.setdefault("expr", "".join(text * count for text, count in _case.get("build", [])))
# the smallest valid WebAssembly module: magic + version
EMPTY_WASM = b"\0asm\x01\0\0\0"
# the relaxed-SIMD module slot: a valid module told apart from the plain one by a custom section "relaxed"
RELAXED_WASM = EMPTY_WASM + b"\x00\x08\x07relaxed"


def make_program(source_pad: int = 0) -> Program:
    """A small Embedding -> RNN-step program touching every field; ``source_pad`` shifts the weights."""
    emb = np.arange(50 * 8, dtype=np.float32).reshape(50, 8) / 7
    u = np.linspace(-1, 1, 8 * 8, dtype=np.float32)
    weights = emb.tobytes() + u.tobytes()           # 1600 bytes, then 256: both 64-aligned offsets
    tensors = [
        TensorSpec(0, "ids", "int32", ("batch", "time"), "input", slot=0),
        TensorSpec(1, "h0", "float32", ("batch", 8), "input", slot=1),
        TensorSpec(2, "emb", "float32", (50, 8), "weight", weight_offset=0),
        TensorSpec(3, "u", "float32", (8, 8), "weight", weight_offset=1600),
        TensorSpec(4, "xe", "float32", ("batch", "time", 8), "temp", slot=2),
        TensorSpec(5, "y", "float32", ("batch", 8), "output", slot=3),
        TensorSpec(6, "h_out", "float32", ("batch", 8), "output", slot=4, nbytes_expr="32*batch"),
    ]
    kernels = [
        KernelSpec("gather", "gather_main", "// gather ünïcode ✓\n" + " " * source_pad,
                   [Binding("table"), Binding("idx"), Binding("out", "read_write")], ["n", "e"], (64, 1, 1),
                   {"op": "Gather", "fused": [], "tile": {"x": 64}}),
        KernelSpec("rnn", "rnn_main", "void rnn_main() {}",
                   [Binding("x"), Binding("u"), Binding("h0"), Binding("y", "read_write"),
                    Binding("h", "read_write")], ["batch", "time"], (8, 8, 1), {"steps": 1}),
    ]
    steps = [
        StepSpec(0, [2, 0, 4], ["batch*time", 8], ("cdiv(batch*time*8,64)", 1, 1)),
        StepSpec(1, [4, 3, 1, 5, 6], ["batch", "time"], ("cdiv(batch,8)", "1", "1")),
    ]
    return Program(
        backend="wasm", graph_name="tiny_rnn", symbols=["batch", "time"],
        inputs=[IOSpec("ids", 0, "int32", ("batch", "time"), valid_range=(0, 50)),
                IOSpec("h0", 1, "float32", ("batch", 8), role="state", state_of="h_out")],
        outputs=[IOSpec("y", 5, "float32", ("batch", 8)),
                 IOSpec("h_out", 6, "float32", ("batch", 8), role="state", state_of="h0")],
        tensors=tensors,
        slots=[SlotSpec(0, ["4*batch*time"]), SlotSpec(1, ["32*batch"]), SlotSpec(2, ["32*batch*time"]),
               SlotSpec(3, ["32*batch"]), SlotSpec(4, ["32*batch", "max(32*batch, 64)"])],
        kernels=kernels, steps=steps, weights=weights, module=EMPTY_WASM, module_relaxed=RELAXED_WASM,
        meta={"source": "keras 3.15", "layers": 3, "ratio": 0.5, "flags": [True, None]})


def header_of(data: bytes) -> dict:
    magic, version, flags, crc, fb_len, w_off, w_len = struct.unpack_from("<8sIIIIQQ", data, 0)
    return dict(magic=magic, version=version, flags=flags, crc=crc, fb_len=fb_len, w_off=w_off, w_len=w_len)


def with_header(data: bytes, fix_crc: bool = True, **fields) -> bytes:
    """``data`` with header fields replaced (and the CRC recomputed over the body unless told not to)."""
    h = {**header_of(data), **fields}
    body = data[fmt.HEADER_SIZE:]
    if fix_crc and "crc" not in fields:
        h["crc"] = zlib.crc32(body)
    head = struct.pack("<8sIIIIQQ24x", h["magic"], h["version"], h["flags"], h["crc"], h["fb_len"],
                       h["w_off"], h["w_len"])
    return head + body


def ts_view(p: Program) -> dict:
    """The Program as runtime-js/src/bundle/reader.ts types it (camelCase, dims as strings, blobs base64)."""
    def io(x: IOSpec) -> dict:
        return {"name": x.name, "tensor": x.tensor, "dtype": x.dtype, "shape": [str(d) for d in x.shape],
                "role": x.role, "validRange": list(x.valid_range) if x.valid_range else None,
                "stateOf": x.state_of}

    def tensor(t: TensorSpec) -> dict:
        return {"id": t.id, "name": t.name, "dtype": t.dtype, "shape": [str(d) for d in t.shape],
                "kind": t.kind, "slot": t.slot, "weightOffset": t.weight_offset, "nbytesExpr": t.nbytes_expr}

    def kernel(k: KernelSpec) -> dict:
        return {"name": k.name, "entry": k.entry, "source": k.source,
                "bindings": [dataclasses.asdict(b) for b in k.bindings], "params": k.params,
                "workgroup": list(k.workgroup), "meta": k.meta}

    return {
        "formatVersion": fmt.FORMAT_VERSION, "backend": p.backend, "graphName": p.graph_name,
        "symbols": p.symbols, "inputs": [io(x) for x in p.inputs], "outputs": [io(x) for x in p.outputs],
        "tensors": [tensor(t) for t in p.tensors], "slots": [{"id": s.id, "sizes": s.sizes} for s in p.slots],
        "kernels": [kernel(k) for k in p.kernels],
        "steps": [{"kernel": s.kernel, "tensors": s.tensors, "params": s.params, "dispatch": list(s.dispatch)}
                  for s in p.steps],
        "meta": p.meta, "weightsBase64": base64.b64encode(p.weights).decode(),
        "moduleBase64": base64.b64encode(p.module).decode(),
        "moduleRelaxedBase64": base64.b64encode(p.module_relaxed).decode()}


# ---- round trips ------------------------------------------------------------------------------------

def test_round_trip_bytes_and_file(tmp_path):
    p = make_program()
    data = encode_bundle(p)
    assert read_bundle(data) == p
    path = tmp_path / "model.wasm.wlm"
    assert write_bundle(p, path) == len(data) == path.stat().st_size
    assert read_bundle(path) == p
    assert read_bundle(str(path)) == p
    assert read_bundle(memoryview(bytearray(data))) == p


def test_round_trip_keeps_the_threaded_module(tmp_path):
    p = make_program()
    p.module_threads = RELAXED_WASM + b"\x00\x08\x07threads"
    assert read_bundle(encode_bundle(p)).module_threads == p.module_threads


def test_round_trip_minimal_program():
    p = Program("webgl", "empty", [], [], [], [], [], [], [])
    q = read_bundle(encode_bundle(p))
    assert q == p and q.weights == b"" and q.module == b"" and q.module_relaxed == b"" and q.meta == {}
    assert q.module_threads == b""


def test_encoding_is_deterministic():
    assert encode_bundle(make_program()) == encode_bundle(make_program())


def test_constructors_normalize_to_what_the_reader_returns():
    t = TensorSpec(0, "x", "float32", ["batch", 4, "time*batch"], "input", slot=0)
    assert t.shape == ("batch", 4, "batch*time") and t.nbytes_expr == "16*batch*batch*time"
    s = StepSpec(0, (1, 2), [3, "n"], [1, "cdiv(n,2)", 1])
    assert s.tensors == [1, 2] and s.params == ["3", "n"] and s.dispatch == ("1", "cdiv(n,2)", "1")
    assert KernelSpec("k", "k", "", [], workgroup=[4, 2, 1]).workgroup == (4, 2, 1)


@pytest.mark.parametrize("pad", [0, 1, 13, 63, 64, 200])
def test_weights_are_64_byte_aligned_in_the_file(pad):
    p = make_program(source_pad=pad)
    data = encode_bundle(p)
    h = header_of(data)
    assert h["w_off"] % 64 == 0 and h["w_off"] >= fmt.HEADER_SIZE + h["fb_len"]
    assert h["w_off"] + h["w_len"] == len(data)
    assert data[h["w_off"]:] == p.weights
    assert data[fmt.HEADER_SIZE + h["fb_len"]:h["w_off"]] == bytes(h["w_off"] - fmt.HEADER_SIZE - h["fb_len"])
    # what the runtime does: a float32 view at the file offset of each weight
    u = np.frombuffer(data, dtype=np.float32, count=64, offset=h["w_off"] + p.tensors[3].weight_offset)
    np.testing.assert_array_equal(u, np.linspace(-1, 1, 64, dtype=np.float32))


def test_header_fields():
    data = encode_bundle(make_program())
    h = header_of(data)
    assert (h["magic"], h["version"], h["flags"]) == (b"WLOOMBND", 1, 0)
    assert h["crc"] == zlib.crc32(data[64:])
    assert data[40:64] == bytes(24)
    assert data[64 + 4:64 + 8] == b"WLM1"


# ---- damaged files -----------------------------------------------------------------------------------

def test_bad_magic():
    data = encode_bundle(make_program())
    for bad in (b"PK\x03\x04" + data[4:], b"", b"hello", b"\0asm\x01\0\0\0"):
        with pytest.raises(BundleError, match=r"^not a Webloom bundle \(bad magic\)$"):
            read_bundle(bad)


def test_newer_version():
    data = with_header(encode_bundle(make_program()), version=7)
    with pytest.raises(BundleError) as err:
        read_bundle(data)
    assert str(err.value) == "bundle format version 7 is newer than this reader (1): update webloom"


def test_truncated():
    data = encode_bundle(make_program())
    for n in (len(data) - 1, len(data) - 300, 100):
        with pytest.raises(BundleError) as err:
            read_bundle(data[:n])
        assert str(err.value) == f"bundle is truncated: expected {len(data)} bytes, got {n}"
    for n in (3, 8, 63):
        with pytest.raises(BundleError, match=rf"^bundle is truncated: expected 64 bytes, got {n}$"):
            read_bundle(data[:n])


@pytest.mark.parametrize("where", ["payload", "weights", "padding", "trailing"])
def test_checksum_mismatch(where):
    data = bytearray(encode_bundle(make_program()))
    h = header_of(data)
    if where == "trailing":
        data += b"\0"
    else:
        at = {"payload": 64 + h["fb_len"] // 2, "weights": len(data) - 5,
              "padding": h["w_off"] - 1}[where]
        data[at] ^= 0x10
    with pytest.raises(BundleError, match=r"^bundle is corrupted \(checksum mismatch\)$"):
        read_bundle(bytes(data))


def test_inconsistent_header():
    data = encode_bundle(make_program())
    for fields in ({"flags": 1}, {"version": 0}, {"w_off": header_of(data)["w_off"] - 32},
                   {"fb_len": header_of(data)["w_off"]}):
        with pytest.raises(BundleError, match=r"^bundle is corrupted \("):
            read_bundle(with_header(data, **fields))


def test_payload_with_valid_crc_but_foreign_identifier():
    data = bytearray(encode_bundle(make_program()))
    data[68:72] = b"XXXX"
    with pytest.raises(BundleError, match=r"payload is not a Webloom program"):
        read_bundle(with_header(bytes(data)))


def test_payload_with_valid_crc_but_broken_offsets():
    data = bytearray(encode_bundle(make_program()))
    data[64:68] = struct.pack("<I", 0x7FFFFFF0)       # root table offset far outside the payload
    with pytest.raises(BundleError, match=r"^bundle payload is malformed \("):
        read_bundle(with_header(bytes(data)))


# ---- programs the writer refuses ---------------------------------------------------------------------

def _edit(p: Program, what: str) -> None:
    if what == "unknown symbol":
        p.steps[0].dispatch = ("cdiv(batch*tme,64)", "1", "1")
    elif what == "bad expression":
        p.slots[0].sizes = ["4*batch*"]
    elif what == "binding count":
        p.steps[1].tensors = p.steps[1].tensors[:-1]
    elif what == "param count":
        p.steps[0].params = ["1"]
    elif what == "weight alignment":
        p.tensors[3].weight_offset = 1608
    elif what == "weight past blob":
        p.weights = p.weights[:1700]
    elif what == "state pair":
        p.outputs[1].state_of = "ids"
    elif what == "numpy meta":
        p.kernels[0].meta["tile"] = np.int64(64)
    elif what == "tensor id":
        p.tensors[4].id = 9
    elif what == "missing slot":
        p.tensors[4].slot = 7
    elif what == "kernel index":
        p.steps[1].kernel = 2
    elif what == "dtype":
        p.inputs[0].dtype = "int64"


@pytest.mark.parametrize("what, message", [
    ("unknown symbol", "step 0 ('gather') dispatch 'cdiv(batch*tme,64)' uses unknown symbol 'tme' "
                       "(program symbols: batch, time)"),
    ("bad expression", "slot 0 size: bad expression '4*batch*': expected a number, symbol or '(' "
                       "at column 9"),
    ("binding count", "step 1 ('rnn') passes 4 tensors for 5 bindings"),
    ("param count", "step 0 ('gather') passes 1 params for 2"),
    ("weight alignment", "tensor 3 ('u') has weight_offset 1608: it must be a multiple of 64"),
    ("weight past blob", "tensor 3 ('u') needs weight bytes [1600, 1856) but the blob has 1700"),
    ("state pair", "input 'h0' is a state paired with output 'h_out', which is missing or not a state "
                   "whose state_of is 'h0'"),
    ("numpy meta", "kernel 'gather' meta.tile has type int64: meta must be JSON data"),
    ("tensor id", "tensors[4] has id 9: tensor ids must equal their position"),
    ("missing slot", "tensor 4 ('xe') is in slot 7, but the program has 5 slots"),
    ("kernel index", "step 1 runs kernel 2, but the program has 2 kernels"),
    ("dtype", "input 'ids' dtype is 'int64', expected one of float32, int32"),
])
def test_writer_rejects_invalid_programs(what, message):
    p = make_program()
    _edit(p, what)
    with pytest.raises(BundleError) as err:
        encode_bundle(p)
    assert str(err.value).startswith("cannot write bundle: invalid program: ")
    assert message in str(err.value)
    with pytest.raises(ProgramError):
        p.validate()


@pytest.mark.parametrize("what, message", [
    ("slot", "slot 0 size '4294967300' is 4294967300, outside [0, 4294967296]"),
    ("param", "step 0 param '2147483648' is 2147483648, outside [-2147483648, 2147483647]"),
    ("workgroup", "kernel 'gather' workgroup size is 2048, outside [1, 1024]"),
])
def test_writer_refuses_what_the_readers_refuse(what, message):
    """checks.check_limits runs before writing: no bundle its own readers (Python, JS) would refuse."""
    p = make_program()
    if what == "slot":
        p.slots[0].sizes = ["4294967300"]
    elif what == "param":
        p.steps[0].params = ["2147483648", *p.steps[0].params[1:]]
    else:
        p.kernels[0].workgroup = (2048, 1, 1)
    p.validate()
    with pytest.raises(BundleError) as err:
        encode_bundle(p)
    assert str(err.value).startswith(f"cannot write bundle: {message}, beyond what a runtime can run; ")


def test_backend_write_past_the_limits_is_a_conversion_error(tmp_path):
    """A model too large for any runtime is the user's to change: a one-line ConversionError, no bundle."""
    from converter import backends
    from converter.errors import ConversionError
    from converter.ir.graph import Graph
    g = Graph("big")
    g.outputs.append(g.add1("Unary", [g.input("x", "float32", (70000, 20000))], {"fn": "relu"}))
    with pytest.raises(ConversionError, match=r"^webgpu backend: cannot write bundle: slot 0 size '5600000000' "
                                              r"is 5600000000, outside \[0, 4294967296\]"):
        backends.write("webgpu", g, tmp_path)
    assert list(tmp_path.iterdir()) == []


# ---- the expression language -------------------------------------------------------------------------

@pytest.mark.parametrize("case", EXPR_CASES, ids=[repr(c["expr"][:40]) for c in EXPR_CASES])
def test_expr_shared_cases(case):
    if "error" in case:
        with pytest.raises(ExprError) as err:
            evaluate(case["expr"], case["bindings"])
        assert str(err.value) == case["error"]
    else:
        assert evaluate(case["expr"], case["bindings"]) == case["value"]


def test_expr_cases_cover_every_operator_and_error():
    text = " ".join(c["expr"] for c in EXPR_CASES)
    for token in ("+", "-", "*", "/", "%", "(", "cdiv", "max", "min"):
        assert token in text
    errors = " ".join(c.get("error", "") for c in EXPR_CASES)
    for kind in ("unbound symbol", "divides by zero", "overflows", "unexpected character", "unknown function",
                 "expected ')'", "expected ','", "not an integer", "more than 256 operators",
                 "longer than 4096 characters", "more than 20 digits"):
        assert kind in errors


def test_expr_validate_and_bindings():
    assert validate("cdiv(time*batch, 64) + max(batch, n)") == ("batch", "n", "time")
    assert validate("4") == ()
    assert evaluate(7, {}) == 7
    assert evaluate("batch*2", {"batch": np.int64(3)}) == 6
    with pytest.raises(ExprError, match="not an integer"):
        evaluate("batch", {"batch": True})
    with pytest.raises(ExprError, match="bad expression"):
        validate("max(1)")


# ---- generated code and fixtures stay current ---------------------------------------------------------

def test_generated_python_matches_schema(tmp_path):
    generated = regenerate.generate(tmp_path)
    checked_in = Path(regenerate.HERE) / "vendor" / "fb"
    names = sorted(f.name for f in generated.glob("*.py"))
    assert names == sorted(f.name for f in checked_in.glob("*.py"))
    _, mismatch, errors = filecmp.cmpfiles(generated, checked_in, names, shallow=False)
    assert not mismatch and not errors, (
        f"converter/bundle/vendor/fb/ is stale ({mismatch + errors}): "
        f"run .venv/bin/python -m converter.bundle.regenerate")


def test_fixture_files_are_current():
    p = make_program()
    data, view = encode_bundle(p), json.dumps(ts_view(p), indent=1, ensure_ascii=False) + "\n"
    if os.environ.get("WEBLOOM_UPDATE_FIXTURES") == "1":
        FIXTURE_WLM.write_bytes(data)
        FIXTURE_JSON.write_text(view, encoding="utf-8")
    assert FIXTURE_WLM.read_bytes() == data, "bundle_fixture.wlm is stale: see this file's docstring"
    assert FIXTURE_JSON.read_text(encoding="utf-8") == view, "bundle_fixture.json is stale"
    assert read_bundle(FIXTURE_WLM) == p
