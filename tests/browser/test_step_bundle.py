"""`--step` bundles in the browser: stepping a window through the one-step stateful form with
runner.step() (state carried by the runtime) reproduces Keras' window model on that window, 1e-4, on
every backend; and state snapshots (getState/setState) replay a step exactly."""

from __future__ import annotations

import numpy as np
import pytest

from tests.browser.fixtures import assert_close
from tests.cases import keras_models as km

BACKENDS = ["wasm", "webgpu", "webgl"]
# Steps each row's window from zero state; returns every step's first output, then checks that a
# snapshot taken before the last step replays it bit for bit.
_STEP_ROWS = """
  const runner = await webloom.load(base + "/", { backendOrder: [args[0]] });
  const [rows, perStep] = [args[1], args[2]];
  const data = runner.inputs.find((h) => h.role === "data");
  const Type = data.dtype === "int32" ? Int32Array : Float32Array;
  const out = [];
  let replayed = true;
  for (const row of rows) {
    runner.resetState();
    const steps = [];
    for (let t = 0; t < row.length / perStep; t++) {
      const snapshot = runner.getState();
      data.set(Type.from(row.slice(t * perStep, (t + 1) * perStep)));
      await runner.step();
      const y = runner.outputs[0].toActual();
      steps.push(Array.from(y));
      const after = runner.getState();
      runner.setState(snapshot);
      await runner.step();
      replayed &&= runner.outputs[0].toActual().every((v, i) => Object.is(v, y[i]));
      runner.setState(after);
    }
    out.push(steps);
  }
  const backend = runner.backendName;
  runner.dispose();
  return { backend, out, replayed };
"""


@pytest.mark.parametrize("name", ["seed000_stacked", "seed001"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_stepping_reproduces_the_window_model(page, bundles, backend, name):
    from converter import from_keras
    case = km.get(name)
    model = km.build_model(case)
    (x,) = km.case_inputs(case)
    x = x[:2] if x.dtype.kind == "i" else x[:1]     # a padded and a full row of ids; one window of floats
    want = km.predict(model, [x])[0]
    graph = from_keras(model, step=True)
    bundle = bundles.compile(graph, backend, f"step-{name}-{backend}")
    per_step = int(np.prod(x.shape[2:], dtype=int))
    rows = [row.ravel().tolist() for row in x]
    r = bundles.call(page, bundle, _STEP_ROWS, backend, rows, per_step)
    assert r["backend"] == backend
    assert r["replayed"], "a restored snapshot did not replay the step exactly"
    for row in range(x.shape[0]):
        length = int(np.count_nonzero(x[row])) if x.dtype.kind == "i" else x.shape[1]
        got = np.array(r["out"][row][length - 1], np.float64)
        assert_close(got, want[row], f"{name} row {row} on {backend}")
