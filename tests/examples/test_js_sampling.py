"""examples/js_sampling.py (the Python twin of the runtime's createRng/sample that the examples' Python
references draw with) gives exactly what runtime-js/dist/webloom.js gives, seed for seed."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from tests.examples.pages import ROOT

sys.path.insert(0, str(ROOT / "examples"))
import js_sampling  # noqa: E402

SCRIPT = """
import { createRng, sample } from %s;
const [logits, seeds, temperatures] = JSON.parse(process.argv[2]);
const out = {};
for (const seed of seeds) {
  const r = createRng(seed);
  out[seed] = { numbers: [r(), r(), r()], picks: temperatures.map((t) =>
    Array.from({ length: 12 }, () => sample(logits, { temperature: t, random: r }))) };
}
console.log(JSON.stringify(out));
"""


def test_python_twin_draws_what_the_runtime_draws(tmp_path):
    logits = js_sampling.log_probs(np.random.default_rng(0).dirichlet(np.ones(9))).tolist()
    seeds, temperatures = [0, 7, 42, 2**32 - 1], [0, 0.7, 1.5]
    script = tmp_path / "draw.mjs"
    script.write_text(SCRIPT % json.dumps((ROOT / "runtime-js" / "dist" / "webloom.js").as_uri()))
    done = subprocess.run(["node", str(script), json.dumps([logits, seeds, temperatures])],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    js = json.loads(done.stdout)
    for seed in seeds:
        r = js_sampling.create_rng(seed)
        assert [r(), r(), r()] == js[str(seed)]["numbers"]
        picks = [[js_sampling.sample(logits, t, r) for _ in range(12)] for t in temperatures]
        assert picks == js[str(seed)]["picks"], seed
