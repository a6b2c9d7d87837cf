"""Run a wasm Program in Node (tests/unit/wasm_node_harness.mjs) with the runtime's memory layout."""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from converter.bundle import evaluate
from converter.interpreter import bind_inputs

HARNESS = Path(__file__).with_name("wasm_node_harness.mjs")


def _align(n: int) -> int:
    return -(-n // 64) * 64


def layout(program, bindings: dict) -> tuple[dict, int]:
    """tensor id -> byte offset relative to align64(__heap_base); and the bytes needed in total."""
    slot_at, at = [], _align(len(program.weights))
    for slot in program.slots:
        slot_at.append(at)
        at = _align(at + max(evaluate(s, bindings) for s in slot.sizes))
    offsets = {t.id: t.weight_offset if t.kind == "weight" else slot_at[t.slot] for t in program.tensors}
    return offsets, at


def run_program(program, graph, feeds: list) -> list:
    """The program's outputs (numpy arrays) for ``feeds`` given in the graph's input order."""
    env, bindings = bind_inputs(graph, feeds)
    offsets, total = layout(program, bindings)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "m.wasm").write_bytes(program.module)
        (tmp / "w.bin").write_bytes(program.weights)
        inputs = [{"offset": offsets[io.tensor], "data": base64.b64encode(env[id(v)].tobytes()).decode()}
                  for io, v in zip(program.inputs, graph.inputs)]
        steps = []
        for s in program.steps:
            k = program.kernels[s.kernel]
            steps.append({"entry": k.entry, "ptrs": [offsets[t] for t in s.tensors],
                          "params": [evaluate(p, bindings) for p in s.params]})
        outs = []
        for io in program.outputs:
            shape = tuple(evaluate(str(d), bindings) for d in io.shape)
            outs.append((shape, io.dtype, offsets[io.tensor]))
        job = {"module": str(tmp / "m.wasm"), "weights": str(tmp / "w.bin"), "total_bytes": total,
               "inputs": inputs, "steps": steps,
               "outputs": [{"offset": off, "nbytes": 4 * int(np.prod(shape))} for shape, _, off in outs]}
        (tmp / "job.json").write_text(json.dumps(job))
        res = subprocess.run(["node", str(HARNESS), str(tmp / "job.json")], capture_output=True, text=True)
        if res.returncode:
            raise RuntimeError(f"node harness failed: {res.stderr.strip()[-2000:]}")
    data = json.loads(res.stdout)
    return [np.frombuffer(base64.b64decode(b), dtype=dt).reshape(shape)
            for b, (shape, dt, _) in zip(data, outs)]
