"""Keras' own outputs for `--verify` (converter/verify.py): the model file loaded by Keras itself.

Loading runs no code from the file: ``safe_mode=True`` refuses Lambda layers' pickled functions, and
only when Keras is importable; otherwise the caller falls back to the numpy interpreter.
"""

from __future__ import annotations

from pathlib import Path


def keras_reference(path):
    """``fn(arrays in graph-input order) -> (label, outputs in graph-output order)``, or None for an
    in-memory model (nothing to reload)."""
    if not isinstance(path, (str, Path)):
        return None

    def run(arrays):
        import keras
        model = keras.saving.load_model(str(path), compile=False, safe_mode=True)
        arrays = arrays[:len(model.inputs)]     # the graph's extra inputs are stateful layers' states
        outs = model(arrays if len(arrays) > 1 else arrays[0], training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        return f"keras {keras.__version__}", [keras.ops.convert_to_numpy(o) for o in outs]
    return run
