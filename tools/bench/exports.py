"""Writes each runtime's model files from one built model (models.Built) into the work folder.

Layout under `work/<model key>/`: `model.keras` (Keras 3, what Webloom converts), `webloom/model.<b>.wlm`
(+ `webloom-step/` for M5's stateful twin), `tfjs/model.json` + shards (TF.js layers model from the
tf_keras twin), `model.onnx` (tf2onnx from the twin), `case.json` (inputs and Keras' outputs for the page).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import shutil
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

ONNX_OPSET = 17


def write_keras(built, folder: Path) -> Path:
    path = folder / "model.keras"
    built.keras_model.save(path)
    if built.stateful is not None:
        built.stateful.save(folder / "model-step.keras")
    return path


def write_webloom(model_path: Path, out: Path) -> dict:
    """Compiles the Keras file for every backend the converter has; returns {backend: path | error}."""
    import converter
    from converter.backends import available
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    result = {}
    for name, compile_fn in sorted(available().items()):
        try:
            # a fresh graph per backend: compile functions optimize the graph in place
            graph = converter.from_keras(str(model_path))
            result[name] = compile_fn(graph, out)[0]
        except Exception as err:  # a backend that cannot compile this model is a row, not a crash
            result[name] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    return result


def _tfjs_h5_module():
    """tensorflowjs' Keras-to-layers-model writer, imported without the package __init__s.

    Those import the SavedModel, TF-DF, TF-Hub and JAX converters (heavy dependencies the Keras path never
    uses, left out by `pip install tensorflowjs --no-deps`); the writer itself needs h5py, numpy and six.
    """
    for name in ("tensorflowjs", "tensorflowjs.converters"):
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None:
            raise ModuleNotFoundError("tensorflowjs is not installed; run tools/bench/run.sh (it installs "
                                      "the bench-only packages)")
        module = types.ModuleType(name)
        module.__spec__ = spec
        module.__path__ = list(spec.submodule_search_locations)
        sys.modules[name] = module
    return importlib.import_module("tensorflowjs.converters.keras_h5_conversion")


def write_tfjs(twin, out: Path) -> Path:
    conversion = _tfjs_h5_module()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        h5 = Path(tmp) / "twin.h5"
        twin.save(h5, save_format="h5")
        topology, groups = conversion.h5_merged_saved_model_to_tfjs_format(str(h5))
    conversion.write_artifacts(topology, groups, str(out))
    return out / "model.json"


def write_onnx(twin, x: np.ndarray, out: Path) -> Path:
    import tensorflow as tf
    import tf2onnx
    spec = [tf.TensorSpec(x.shape, tf.as_dtype(x.dtype), name="x")]
    proto, _ = tf2onnx.convert.from_keras(twin, input_signature=spec, opset=ONNX_OPSET,
                                          output_path=str(out))
    ops = {n.op_type for n in proto.graph.node}
    if "Loop" in ops or "Scan" in ops:
        raise RuntimeError(f"{out.name}: tf2onnx wrote the LSTM as a Loop/Scan, not ONNX's LSTM op; the "
                           f"ORT rows would measure the wrong graph (check the tf_keras twin)")
    return out


def onnx_op_types(path: Path) -> list:
    import onnx
    return sorted({n.op_type for n in onnx.load(str(path)).graph.node})


def write_case(built, folder: Path) -> Path:
    """Inputs and Keras' outputs for the page, as flat lists (small: the largest input is 12,800 floats)."""
    x = built.x
    case = {"model": built.mdef.key, "input": {"dtype": str(x.dtype), "shape": list(x.shape),
                                               "data": x.ravel().tolist()},
            "expected": {"shape": list(built.expected.shape), "data": built.expected.ravel().tolist()}}
    if built.generation:
        gen = built.generation
        case["generation"] = {
            "seed": gen["seed"], "window_chars": gen["window_chars"],
            "window_probs": gen["window_probs"].ravel().tolist(), "step_first": gen["step_first"],
            "step_chars": gen["step_chars"], "step_probs": gen["step_probs"].ravel().tolist()}
    path = folder / "case.json"
    path.write_text(json.dumps(case))
    return path


def folder_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
