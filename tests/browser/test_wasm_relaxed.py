"""Issue 14: every wasm bundle carries a plain SIMD module and a relaxed-SIMD one (f32x4.relaxed_madd: FMA
where the CPU has it); the runtime picks the relaxed one where WebAssembly.validate accepts relaxed SIMD
(Chromium) and the plain one elsewhere (Node 20 without --experimental-wasm-relaxed-simd). FMA rounds once
instead of twice, so the two differ in the last bits: both must stay within 1e-4 of Keras."""

from __future__ import annotations

import numpy as np

from converter.bundle import read_bundle
from tests.browser.fixtures import assert_close, decode
from tests.cases import keras_models

RELAXED_MADD = bytes([0xFD, 0x85, 0x02])   # f32x4.relaxed_madd
NODE_RELAXED = "--experimental-wasm-relaxed-simd"

_RUN = """async ([script, dir, feeds]) => {
  const webloom = await import(script);
  const runner = await webloom.load(dir, { backendOrder: ["wasm"] });
  const out = await runner.predict(feeds);
  const outputs = {};
  for (const [name, values] of Object.entries(out)) outputs[name] = Array.from(values);
  return { backend: runner.backendName, variant: runner.backendVariant, outputs };
}"""


def test_relaxed_simd_module_is_chosen_where_the_engine_has_it(page, bundles):
    case = next(c for c in keras_models.CASES if c.name == "k3_encoder_decoder")   # LSTM, LSTM, Dense
    out_dir, made, graph = bundles.convert_case(case, "wasm")
    program = read_bundle(out_dir / "model.wasm.wlm")
    assert RELAXED_MADD in program.module_relaxed and RELAXED_MADD not in program.module
    feeds = dict(zip([v.name for v in graph.inputs], keras_models.feeds(graph, made.inputs)))
    url = bundles.url(out_dir)
    feeds_json = {name: np.asarray(a).ravel().tolist() for name, a in feeds.items()}
    chromium = page.evaluate(_RUN, [f"{url}/webloom.js", url + "/", feeds_json])
    assert (chromium["backend"], chromium["variant"]) == ("wasm", "relaxed-simd")
    runs = {"chromium": {k: decode(v) for k, v in chromium["outputs"].items()}}
    variants = []
    runs["node"] = bundles.run_node(out_dir, feeds, variant=variants)
    runs["node " + NODE_RELAXED] = bundles.run_node(out_dir, feeds, node_flags=(NODE_RELAXED,),
                                                    variant=variants)
    assert variants == ["simd128", "relaxed-simd"]
    for where, got in runs.items():
        for value, name, want in zip(graph.outputs, made.output_names, made.outputs):
            assert_close(got[value.name], want, f"{case.name} in {where}, output {name}")
    assert page.errors == []
