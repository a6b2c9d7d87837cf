"""Seeded, structure-aware mutation of bundle files.

A mutant starts from a seed bundle (tests/fuzz/seeds/) and gets one to three edits, each either
structural (decode the Program, change one field to a hostile value, encode without validation) or
byte-level (flip bytes, write an interesting u32 at a 4-aligned offset, change a string's length
prefix, truncate or extend the payload). The CRC is fixed up (19 times in 20) so mutants reach the
payload parser instead of stopping at the checksum. Same seed and iteration, same mutant.
"""

from __future__ import annotations

import copy
import random
import struct
from dataclasses import fields
from pathlib import Path

from converter.bundle import format as fmt
from converter.bundle import read_bundle
from tests.fuzz import bundles

SEEDS = Path(__file__).resolve().parent / "seeds"
U32 = [0, 1, 2, 3, 4, 7, 8, 63, 64, 65, 255, 256, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
       0xFFFFFFFE, 1 << 20]
EXPRS = ["0", "1", "-1", "64", "2147483647", "2147483648", "4294967296", "-2147483649", "9007199254740991",
         "9007199254740992", "99999999999999999999", "1/0", "5%0", "cdiv(1,0)", "batch*batch*batch*batch",
         "time-100", "max(batch,", "min()", "(", ")", "", " ", "batch**2", "max", "floor(1,2)", "x",
         "batch*time*65536", "-batch", "batch-batch", "3.5", "é", "1" * 21, "(" * 60 + "1" + ")" * 60,
         "-" * 300 + "1", "1+" * 257 + "1", "max(max(max(batch,1),2),3)", "cdiv(-7,2)", "0*(1/0)"]
NAMES = ["batch", "time", "max", "cdiv", "", "1x", "a b", "batch", "_", "x" * 300, "é", "time"]
META = ['{"a":' + "[" * 70 + "]" * 70 + "}", '{"a":NaN}', '{"a":1e400}', '{"a":1' + "0" * 400 + "}", "[1]",
        "null", "{", '{"a":"\\ud800"}', '"x"', "{}", '{"a":' + "[" * 60 + "]" * 60 + "}", "1", ""]
JSON_NUMBERS = [0, -1, 1e308, 2**53 + 1, 2**31, -(2**31) - 1]


def load_seeds() -> list:
    """[(name, bytes, Program)] of every seed bundle, sorted by name."""
    out = []
    for path in sorted(SEEDS.glob("*.wlm")):
        data = path.read_bytes()
        out.append((path.name, data, read_bundle(data)))
    return out


def _expr(rng: random.Random, symbols: list) -> str:
    if rng.random() < 0.5:
        return rng.choice(EXPRS)
    depth = rng.randint(1, 4)

    def build(d):
        if d == 0 or rng.random() < 0.3:
            return rng.choice(symbols + ["0", "1", "4", "64", "2147483648"]) if symbols else "1"
        op = rng.choice(["+", "-", "*", "/", "%", "cdiv", "max", "min", "neg"])
        if op == "neg":
            return f"-{build(d - 1)}"
        if op in ("cdiv", "max", "min"):
            return f"{op}({build(d - 1)},{build(d - 1)})"
        return f"({build(d - 1)}){op}({build(d - 1)})"
    return build(depth)


def _int(rng: random.Random) -> int:
    return rng.choice([0, 1, -1, 2, 3, 63, 64, 65, 1000, 2**31 - 1, -(2**31), 2**16, 2**32 - 1, 7])


def _mutate_list(rng, items: list, make) -> list:
    items = list(items)
    choice = rng.randrange(4)
    if choice == 0 and items:
        items[rng.randrange(len(items))] = make()
    elif choice == 1 and items:
        del items[rng.randrange(len(items))]
    elif choice == 2:
        items.insert(rng.randrange(len(items) + 1), make() if not items or rng.random() < 0.5 else
                     copy.copy(rng.choice(items)))
    elif items:
        rng.shuffle(items)
    return items


def _mutate_object(rng, obj, symbols: list) -> None:
    """Change one field of a dataclass (IOSpec, TensorSpec, SlotSpec, KernelSpec, StepSpec)."""
    f = rng.choice(fields(obj))
    value = getattr(obj, f.name)
    if isinstance(value, bool) or value is None and f.name == "valid_range":
        new = rng.choice([None, (0, 1), (5, 2), (-(2**31), 2**31 - 1), (3, 3)])
    elif isinstance(value, int):
        new = _int(rng) if rng.random() < 0.7 else value + rng.choice([-1, 1])
    elif isinstance(value, str) and f.name in ("nbytes_expr",):
        new = _expr(rng, symbols)
    elif isinstance(value, str):
        new = rng.choice(["", "float32", "int32", "float64", "data", "state", "input", "output", "weight",
                          "temp", "read", "read_write", "write", value + "x", "h_out", "h_in"])
    elif isinstance(value, tuple) and f.name in ("shape", "dispatch"):
        new = tuple(_mutate_list(rng, [str(v) for v in value], lambda: _expr(rng, symbols)))
    elif isinstance(value, tuple):
        new = tuple(_mutate_list(rng, list(value), lambda: _int(rng)))
    elif isinstance(value, list) and value and isinstance(value[0], str) or f.name in ("sizes", "params"):
        new = _mutate_list(rng, value, lambda: _expr(rng, symbols))
    elif isinstance(value, list) and f.name == "tensors":
        new = _mutate_list(rng, value, lambda: _int(rng))
    elif isinstance(value, dict):
        new = dict(value)   # a fresh dict: the seed's stays as it was
        new[rng.choice(list(new) or ["k"])] = rng.choice(JSON_NUMBERS + ["x", [], {}, None, True])
    else:
        return
    object.__setattr__(obj, f.name, new)


def _structural(rng: random.Random, program):
    # copy only what a mutation may touch: the Program's lists and the one object edited
    p = copy.copy(program)
    for name in ("symbols", "inputs", "outputs", "tensors", "slots", "kernels", "steps"):
        setattr(p, name, [copy.copy(x) for x in getattr(program, name)])
    meta_text = None
    part = rng.choice(["symbols", "inputs", "outputs", "tensors", "slots", "kernels", "steps", "meta",
                       "weights", "list"])
    if part == "symbols":
        p.symbols = _mutate_list(rng, p.symbols, lambda: rng.choice(NAMES))
    elif part == "meta":
        meta_text = rng.choice(META)
    elif part == "weights":
        cut = rng.randrange(len(p.weights) + 1)
        p.weights = p.weights[:cut] if rng.random() < 0.5 else p.weights + bytes(rng.randrange(1, 200))
    elif part == "list":
        name = rng.choice(["inputs", "outputs", "tensors", "slots", "kernels", "steps"])
        items = getattr(p, name)
        setattr(p, name, _mutate_list(rng, items, lambda: copy.copy(rng.choice(items)) if items else None))
        if None in getattr(p, name):
            setattr(p, name, [x for x in getattr(p, name) if x is not None])
    else:
        items = getattr(p, part)
        if items:
            _mutate_object(rng, rng.choice(items), p.symbols)
    return bundles.encode_unchecked(p, meta_text=meta_text)


def _bytes(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    whole = len(data) >= fmt.HEADER_SIZE
    end = fmt.HEADER_SIZE + struct.unpack_from("<I", data, 20)[0] if whole else len(data)
    lo, hi = (fmt.HEADER_SIZE, max(fmt.HEADER_SIZE + 1, end)) if rng.random() < 0.9 else (0, len(buf))
    if len(buf) < 8:          # an earlier mutation cut it shorter than any field: only growing it is left
        return bytes(buf) + bytes(rng.randrange(1, 64))
    if lo >= len(buf) - 3:    # cut inside the header by an earlier mutation: mutate anywhere
        lo, hi = 0, len(buf)
    kind = rng.randrange(5)
    if kind == 0:
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(lo, min(hi, len(buf)))
            buf[at] ^= 1 << rng.randrange(8)
    elif kind == 1:
        at = rng.randrange(lo, min(hi, len(buf) - 3)) & ~3
        buf[at:at + 4] = struct.pack("<I", rng.choice(U32))
    elif kind == 2:
        at = rng.randrange(lo, min(hi, len(buf) - 1))
        buf[at:at + 2] = struct.pack("<H", rng.choice([0, 1, 4, 0xFFFF, 0x8000, rng.randrange(0x10000)]))
    elif kind == 3:
        texts = [s for s in ("batch", "time", "float32", "int32", "data", "state", "read_write", "weight") if
                 bundles.string_offsets(data, s)]
        if texts:
            at = rng.choice(bundles.string_offsets(data, rng.choice(texts)))
            buf[at:at + 4] = struct.pack("<I", rng.choice([0, 1, 100, 5000, 0xFFFFFFFF]))
    else:
        cut = rng.randrange(len(buf))
        buf = buf[:cut] if rng.random() < 0.7 else buf + bytes(rng.randrange(1, 64))
    return bytes(buf)


def mutant(seeds: list, seed: int, iteration: int) -> tuple[str, bytes]:
    """(seed bundle name, mutant bytes) for this run seed and iteration."""
    rng = random.Random(seed * 1_000_003 + iteration)
    name, data, program = seeds[rng.randrange(len(seeds))]
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        try:
            data = _structural(rng, program) if rng.random() < 0.6 else _bytes(rng, data)
        except (TypeError, ValueError, AttributeError, IndexError, KeyError, struct.error, OverflowError):
            data = _bytes(rng, data)       # the encoder refused a value of the wrong type: mutate bytes
    return name, (bundles.fix_crc(data) if rng.random() < 0.95 else data)
