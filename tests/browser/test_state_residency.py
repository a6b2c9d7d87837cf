"""The GPU backends hold the carried state on the device between step()s (docs/design.md section 6): a
plain run() or predict() in between must neither use nor overwrite it, so step(); run(); step() gives what
the same calls give on wasm, whose state lives on the host. The model: runtime-js/fixtures/make_generate.py
(ids -> Embedding -> LSTM(16), h/c carried -> Dense(12) softmax `probs`)."""

from __future__ import annotations

import importlib.util

import numpy as np

from tests.browser.fixtures import ROOT, assert_close, decode

_SPEC = importlib.util.spec_from_file_location("make_generate", ROOT / "runtime-js/fixtures/make_generate.py")
make_generate = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(make_generate)

_INTERLEAVED = """
  const result = {};
  for (const backend of args[0]) {
    const runner = await webloom.load(base + "/", { backendOrder: [backend] });
    const ids = runner.input("ids"), probs = [];
    const read = () => probs.push(Array.from(runner.output("probs").toActual()));
    runner.resetState();
    ids.set(Int32Array.of(3)); await runner.step(); read();
    ids.set(Int32Array.of(1)); await runner.run(); read();
    ids.set(Int32Array.of(4)); await runner.step(); read();
    await runner.predict({ ids: [7] });
    ids.set(Int32Array.of(2)); await runner.step(); read();
    runner.dispose();
    result[backend] = probs;
  }
  return result;
"""


def test_run_and_predict_between_steps_leave_the_held_state_alone(page, bundles):
    out = make_generate.write(bundles.new_dir("state-residency"), ("wasm", "webgpu", "webgl"))
    r = bundles.call(page, out, _INTERLEAVED, ["wasm", "webgpu", "webgl"])
    assert not np.allclose(r["wasm"][0], r["wasm"][2])        # the state carried: step 2 differs
    for backend in ("webgpu", "webgl"):
        for i, (got, want) in enumerate(zip(r[backend], r["wasm"])):
            assert_close(decode(got), np.array(want), f"{backend} call {i}")
