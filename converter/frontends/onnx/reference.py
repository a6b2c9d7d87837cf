"""onnxruntime's own outputs for `--verify` (converter/conversion.py ``_reference``): an InferenceSession
on the original model file, CPU only. onnxruntime is imported only when --verify runs; when it is
missing or refuses the model, the caller falls back to the numpy interpreter (and says why).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# onnxruntime's input type strings -> the dtype to feed (the bundle takes int64 ids as int32)
FEED_DTYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32,
               "tensor(bool)": np.bool_}


def onnx_reference(path, graph):
    """``fn(arrays in graph-input order) -> (label, outputs in graph-output order)``, or None for an
    in-memory model. The names are taken now, before ``--rename`` renames the graph's inputs/outputs
    (the frontend keeps the model's own names)."""
    if not isinstance(path, (str, Path)):
        return None
    inputs, outputs = [v.name for v in graph.inputs], [v.name for v in graph.outputs]

    def run(arrays):
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.log_severity_level = 3          # its warnings are not the user's business here
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        types = {i.name: i.type for i in session.get_inputs()}
        unknown = [f"{n} {types.get(n)}" for n in inputs if types.get(n) not in FEED_DTYPES]
        if unknown:
            raise ValueError(f"input {unknown[0]} cannot be fed")
        feeds = {n: np.asarray(a).astype(FEED_DTYPES[types[n]]) for n, a in zip(inputs, arrays)}
        return f"onnxruntime {ort.__version__}", session.run(outputs, feeds)
    return run
