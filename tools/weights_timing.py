"""Times float32 vs float16 vs int8 weights: bundle size, load (parse + expand + upload) and run, wasm in
Node, on a word-model-sized graph (Embedding 20000x128 -> LSTM 512 -> Dense 20000, ~13 MiB of weights).
The readers expand encoded weights to float32 at load, so kernels and run times are those of float32;
what changes is the bytes fetched and the expansion at load.   .venv/bin/python tools/weights_timing.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCRIPT = """
import { load } from "%s";
const dir = process.argv[2];
const t0 = performance.now();
const runner = await load(dir, { backendOrder: ["wasm"] });
const loadMs = performance.now() - t0;
const ids = Int32Array.from({ length: 32 }, (_, i) => (i * 37) %% 20000);
await runner.predict({ ids: { data: ids, shape: [1, 32] } });
const t1 = performance.now();
for (let i = 0; i < 20; i++) await runner.predict({ ids: { data: ids, shape: [1, 32] } });
console.log(JSON.stringify({ loadMs, runMs: (performance.now() - t1) / 20 }));
"""


def word_model(vocab=20000, dim=128, units=512):
    from converter.ir.graph import Graph
    rng = np.random.default_rng(0)
    g = Graph("word_lm")
    ids = g.input("ids", "int32", ("batch", "time"))
    table = g.const("embed", rng.normal(0, 0.5, (vocab, dim)))
    x = g.add1("Gather", [table, ids])
    w = g.const("W", rng.uniform(-0.1, 0.1, (dim, 4 * units)))
    u = g.const("U", rng.uniform(-0.05, 0.05, (units, 4 * units)))
    b = g.const("b", rng.uniform(-0.1, 0.1, (4 * units,)))
    h = g.add("LSTM", [x, w, u, b, None, None, None], {"return_sequences": False})[0]
    g.outputs = [g.add1("MatMul", [h, g.const("Wout", rng.uniform(-0.1, 0.1, (units, vocab)))])]
    return g


def main() -> None:
    from converter.api import compile as compile_graph
    bundle = compile_graph(word_model(), "wasm")
    runtime = ROOT / "runtime-js" / "dist" / "webloom.js"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "time.mjs"
        script.write_text(SCRIPT % runtime.as_uri())
        for encoding in ("float32", "float16", "int8"):
            out = Path(tmp) / encoding
            out.mkdir()
            path = bundle.save(out, weights=encoding)
            best = None
            for _ in range(5):
                done = subprocess.run(["node", str(script), str(out)], capture_output=True, text=True,
                                      check=True)
                r = json.loads(done.stdout)
                best = r if best is None or r["loadMs"] < best["loadMs"] else best
            rows.append((encoding, path.stat().st_size, best["loadMs"], best["runMs"]))
            shutil.rmtree(out)
    print("| weights | bundle | load (parse + expand + upload) | run (T=32) |")
    print("|---|---|---|---|")
    for enc, size, load_ms, run_ms in rows:
        print(f"| {enc} | {size / 2**20:.2f} MiB | {load_ms:.0f} ms | {run_ms:.1f} ms |")


if __name__ == "__main__":
    main()
