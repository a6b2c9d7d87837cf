"""Times the wasm backend on the benchmark models (M1-M4) in Node and checks the outputs against Keras.

Not a test: a measuring tool for the wasm kernels. Usage:
    .venv/bin/python tools/wasm_timing.py [--models M1,M2] [--batch 1] [--runs 100] [--step]
Each model is built with Keras (random weights, seed 0), converted with converter.from_keras and the
wasm backend into a temporary folder, then tools/wasm_timing.mjs loads it with runtime-js/dist/webloom.js
(backendOrder ["wasm"]), runs warm-up runs, times `--runs` runs of input.set + run() + output reads and
prints the median / min ms and the max abs difference from Keras (must be <= 1e-4).
``--step`` adds "S2": M2's LSTM as a stateful single step (T=1, state inputs and outputs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RUNTIME = ROOT / "runtime-js" / "dist" / "webloom.js"
TOLERANCE = 1e-4


def build_model(name: str, batch: int):
    """The benchmark model ``name`` (M1-M4, S2) and a random input for it."""
    import keras
    from keras import layers
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    if name == "M1":
        inp = keras.Input((100,), dtype="int32")
        x = layers.Embedding(20000, 128)(inp)
        x = layers.LSTM(64, return_sequences=True)(x)
        x = layers.LSTM(32)(x)
        out = layers.Dense(1, activation="sigmoid")(x)
        data = rng.integers(0, 20000, (batch, 100)).astype(np.int32)
    elif name == "M2":
        inp = keras.Input((40, 57))
        out = layers.Dense(57, activation="softmax")(layers.LSTM(128)(inp))
        data = rng.standard_normal((batch, 40, 57)).astype(np.float32)
    elif name == "M3":
        inp = keras.Input((3, 1))
        x = layers.LSTM(512, return_sequences=True)(inp)
        out = layers.Dense(112, activation="softmax")(layers.LSTM(512)(x))
        data = rng.standard_normal((batch, 3, 1)).astype(np.float32)
    elif name == "M4":
        inp = keras.Input((200, 64))
        out = layers.Dense(10)(layers.LSTM(256)(inp))
        data = rng.standard_normal((batch, 200, 64)).astype(np.float32)
    elif name == "S2":
        inp = keras.Input(batch_shape=(batch, 1, 57))
        out = layers.Dense(57, activation="softmax")(layers.LSTM(128, stateful=True)(inp))
        data = rng.standard_normal((batch, 1, 57)).astype(np.float32)
    else:
        raise SystemExit(f"unknown model {name}; choose from M1, M2, M3, M4, S2")
    return keras.Model(inp, out), data


def prepare(name: str, batch: int, folder: Path) -> dict:
    """Converts model ``name`` into ``folder`` and returns the Node job for it."""
    import converter
    from converter.backends import available
    model, data = build_model(name, batch)
    expected = np.asarray(model(data, training=False)).astype(np.float32)
    graph = converter.from_keras(model)
    available()["wasm"](graph, folder)
    data_inputs = [v for v in graph.inputs if not any(s["input"] == v.name
                                                      for s in graph.meta.get("states", []))]
    (folder / "input.bin").write_bytes(data.tobytes())
    return {"name": name, "dir": str(folder), "input": data_inputs[0].name, "dtype": str(data.dtype),
            "shape": list(data.shape), "output": graph.outputs[0].name,
            "expected": expected.ravel().tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="M1,M2,M3,M4")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--step", action="store_true", help="also time S2, a stateful single step")
    args = parser.parse_args()
    names = args.models.split(",") + (["S2"] if args.step else [])
    with tempfile.TemporaryDirectory(prefix="webloom-timing-") as tmp:
        jobs = [prepare(n, args.batch, Path(tmp) / n) for n in names]
        request = Path(tmp) / "jobs.json"
        request.write_text(json.dumps({"webloom": str(RUNTIME), "runs": args.runs, "jobs": jobs}))
        proc = subprocess.run(["node", str(ROOT / "tools" / "wasm_timing.mjs"), str(request)],
                              capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"node failed: {proc.stderr.strip() or proc.stdout.strip()}")
    bad = False
    for line in proc.stdout.strip().splitlines():
        r = json.loads(line)
        ok = r["maxdiff"] <= TOLERANCE
        bad |= not ok
        print(f"{r['name']} batch {args.batch}: median {r['median']:.3f} ms  min {r['min']:.3f} ms  "
              f"max|diff| {r['maxdiff']:.2e} {'ok' if ok else 'WRONG'}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
