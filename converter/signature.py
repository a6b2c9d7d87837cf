"""A model's I/O signature (names, dtypes, symbolic shapes, valid id ranges, state pairs) as the bundles
store it: printed by the CLI with a JS snippet, kept in model.json, used to check a --sample and to make
random verification inputs."""

from __future__ import annotations

import re
from typing import Optional

import numpy as np

from converter.errors import ConversionError

_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _io(io) -> dict:
    entry = {"name": io.name, "dtype": io.dtype, "shape": [str(d) for d in io.shape], "role": io.role}
    if io.valid_range is not None:
        entry["valid_range"] = list(io.valid_range)
    if io.state_of:
        entry["state_of"] = io.state_of
    return entry


def from_program(program) -> dict:
    return {"inputs": [_io(io) for io in program.inputs], "outputs": [_io(io) for io in program.outputs],
            "symbols": list(program.symbols)}


def _describe(io: dict) -> str:
    text = f"{io['name']}: {io['dtype']}[{', '.join(io['shape'])}]"
    if "valid_range" in io:
        lo, hi = io["valid_range"]
        text += f", ids in [{lo}, {hi})"
    if io["role"] == "state":
        text += f", state ({io.get('state_of', '?')})"
    return text


def format_lines(sig: dict) -> list:
    lines = ["inputs:  " + "; ".join(_describe(io) for io in sig["inputs"]),
             "outputs: " + "; ".join(_describe(io) for io in sig["outputs"])]
    pairs = [f"{io['state_of']} -> {io['name']}" for io in sig["inputs"] if io["role"] == "state"]
    if pairs:
        lines.append("state pairs (step() feeds output -> input): " + ", ".join(pairs))
    return lines


def _example_shape(io: dict) -> list:
    return [int(d) if d.isdigit() else (8 if d == "time" else 1) if _SYMBOL.fullmatch(d) else 1
            for d in io["shape"]]


def js_snippet(sig: dict, url: str) -> list:
    """Three lines of JS that load the folder and run the model with its real input and output names."""
    feeds = []
    for io in sig["inputs"]:
        if io["role"] != "data":
            continue
        array = "Int32Array" if io["dtype"] == "int32" else "Float32Array"
        shape = _example_shape(io)
        key = io["name"] if _SYMBOL.fullmatch(io["name"]) else repr(io["name"])
        dims = ", ".join(map(str, shape))
        feeds.append(f"{key}: {{ data: new {array}({int(np.prod(shape))}), shape: [{dims}] }}")
    out = sig["outputs"][0]["name"] if sig["outputs"] else "y"
    return [f'const runner = await load("{url}");   // import {{ load }} from "webloom" (or "./webloom.js")',
            f"const result = await runner.predict({{ {', '.join(feeds)} }});",
            f'console.log(result["{out}"].shape, result["{out}"]);']


def _bind(expr: str, size: int, dims: dict) -> Optional[str]:
    """Bind a dim expression to a concrete size: an int must match, a lone symbol binds; None if fine."""
    if expr.isdigit():
        return None if int(expr) == size else f"{expr}"
    if _SYMBOL.fullmatch(expr):
        if dims.setdefault(expr, size) != size:
            return f"{expr}={dims[expr]}"
    return None


def check_sample(sample: dict, sig: dict, where: str) -> dict:
    """Check a sample's inputs (and outputs, when given) against the signature; return the bound dims."""
    dims: dict = {}
    names = {"inputs": sig["inputs"], "outputs": sig["outputs"]}
    for side, specs in names.items():
        given = sample.get(side) or {}
        if not isinstance(given, dict):
            raise ConversionError(f"--sample {where}: '{side}' must map names to {{shape, data}}")
        known = {io["name"]: io for io in specs}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ConversionError(f"--sample {where}: {side} {unknown} are not the model's; its {side} are "
                                  f"{sorted(known)}")
        for io in specs:
            entry = given.get(io["name"])
            if entry is None:
                if side == "inputs" and io["role"] == "data":
                    raise ConversionError(f"--sample {where}: input '{io['name']}' is missing; expected "
                                          f"{io['dtype']}[{', '.join(io['shape'])}]")
                continue
            _check_entry(entry, io, dims, f"--sample {where}: {side[:-1]} '{io['name']}'")
    return dims


def _check_entry(entry, io: dict, dims: dict, what: str) -> None:
    if not isinstance(entry, dict) or "data" not in entry or "shape" not in entry:
        raise ConversionError(f"{what}: expected {{\"shape\": [...], \"data\": [...]}}")
    shape, data = entry["shape"], entry["data"]
    if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
        raise ConversionError(f"{what}: shape {shape!r} is not a list of non-negative integers")
    if len(shape) != len(io["shape"]):
        raise ConversionError(f"{what}: shape {shape} has rank {len(shape)}, the model's is "
                              f"[{', '.join(io['shape'])}]")
    for axis, (expr, size) in enumerate(zip(io["shape"], shape)):
        clash = _bind(expr, size, dims)
        if clash is not None:
            raise ConversionError(f"{what}: shape {shape} axis {axis} is {size}, the model needs {clash} "
                                  f"([{', '.join(io['shape'])}])")
    if not isinstance(data, list) or len(data) != int(np.prod(shape)):
        raise ConversionError(f"{what}: data has {len(data) if isinstance(data, list) else 'no'} values, "
                              f"shape {shape} needs {int(np.prod(shape))}")
    if io["dtype"] == "int32" and not all(isinstance(v, int) and not isinstance(v, bool) for v in data):
        raise ConversionError(f"{what}: int32 input holds non-integers")
    if io["dtype"] == "float32" and not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                            for v in data):
        raise ConversionError(f"{what}: float32 data holds non-numbers")
    if "valid_range" in io and data:
        lo, hi = io["valid_range"]
        bad = next((v for v in data if not lo <= v < hi), None)
        if bad is not None:
            raise ConversionError(f"{what}: value {bad} is outside the valid range [{lo}, {hi})")


def random_inputs(sig: dict, seed: int = 0) -> dict:
    """Random inputs for every data input, in each input's valid range: {"inputs": {name: {shape, data}}}.
    Symbols take small sizes (batch 2, time 8, others 3), so batch > 1 is exercised."""
    rng = np.random.default_rng(seed)
    sizes = {"batch": 2, "time": 8}
    inputs = {}
    for io in sig["inputs"]:
        if io["role"] != "data":
            continue
        shape = [_size(d, sizes) for d in io["shape"]]
        if io["dtype"] == "int32":
            lo, hi = io.get("valid_range", [0, 10])
            data = rng.integers(lo, hi, size=shape).astype(np.int32)
        else:
            data = rng.uniform(-1, 1, size=shape).astype(np.float32)
        inputs[io["name"]] = {"shape": shape, "data": data.ravel().tolist()}
    return {"inputs": inputs}


def _size(expr: str, sizes: dict) -> int:
    if expr.isdigit():
        return int(expr)
    if _SYMBOL.fullmatch(expr):
        return sizes.setdefault(expr, 3)
    from converter.bundle import expr as expr_lang
    return int(expr_lang.evaluate(expr, sizes))
