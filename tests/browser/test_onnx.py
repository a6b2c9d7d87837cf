"""The ONNX frontend on every backend in headless Chromium: the real PyTorch / tf2onnx exports against
their source framework's outputs, and the onnx package's node test cases (tests/cases/onnx_node_cases.py),
all cases of a backend in one merged bundle, against the cases' expected outputs; both at 1e-4 abs+rel.
The per-backend outcomes are written to tests/.cache/onnx-conformance/<backend>.json for docs/onnx.md."""

from __future__ import annotations

import json

import numpy as np
import pytest

from converter.api import compile as compile_graph
from converter.api import from_onnx
from converter.ir import dims
from tests.cases import onnx_models, onnx_node_cases

pytestmark = pytest.mark.browser
BACKENDS = ("wasm", "webgpu", "webgl")
TOL = 1e-4


@pytest.fixture(scope="module")
def onnx_page(browser, http_server):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{http_server}/index.html")
    yield page
    context.close()


def _exports():
    pytest.importorskip("onnxruntime", reason="onnxruntime is in requirements-dev.txt")
    pytest.importorskip("torch", reason="torch==2.13.0 is in requirements-dev.txt")
    pytest.importorskip("tf2onnx", reason="tf2onnx is in requirements-dev.txt")
    return [onnx_models.export(c) for c in onnx_models.CASES.values()]


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_exports_match_their_framework(onnx_page, bundles, backend):
    """All PyTorch / tf2onnx exports in one bundle per backend, free dims bound per export."""
    ready = []
    for made in _exports():
        graph = from_onnx(made.path, input_shapes=made.case.input_shapes or None)
        bindings: dict = {}
        for v, a in zip(graph.inputs, made.inputs):
            dims.bind(v.shape, a.shape, bindings, v.name)
        feeds = [np.asarray(a).astype(v.dtype) for v, a in zip(graph.inputs, made.inputs)]
        ready.append((made.case.name, graph, feeds, made.outputs, bindings))
    runner = MergedRun(onnx_page, bundles, backend)
    runner.run(ready)
    bad = {name: r for name, r in runner.outcomes.items() if r[0] != "pass"}
    assert len(runner.outcomes) == len(ready) and not bad, bad


# Loads one bundle with one backend and runs it once.
_RUN = """async ([script, dir, backend, feeds, dims]) => {
  const webloom = await import(script);
  const runner = await webloom.load(dir, { backendOrder: [backend] });
  try {
    if (dims) runner.setDims(dims);
    const out = await runner.predict(feeds);
    const plain = {};
    for (const [name, values] of Object.entries(out)) plain[name] = Array.from(values);
    return { backend: runner.backendName, outputs: plain };
  } finally {
    runner.dispose();
  }
}"""


def _mismatch(got, want) -> str:
    want = np.asarray(want, np.float64).ravel()
    if got.size != want.size:
        return f"{got.size} values, expected {want.size}"
    with np.errstate(invalid="ignore"):
        close = np.isclose(got, want, rtol=TOL, atol=TOL, equal_nan=True)
    if close.all():
        return ""
    i = int(np.flatnonzero(~close)[0])
    return f"{int((~close).sum())}/{want.size} values differ, e.g. [{i}] got {got[i]!r} want {want[i]!r}"


class MergedRun:
    """Runs many graphs as one bundle per backend (one compile, one page load); a bundle that fails to
    build or run is split until the failing part stands alone. Items are (name, graph, feed arrays,
    expected outputs, symbol bindings); outcomes are (pass | wrong | error, detail) per name."""

    def __init__(self, page, bundles, backend):
        self.page, self.bundles, self.backend = page, bundles, backend
        self.outcomes: dict = {}
        self.count = 0

    def run(self, ready: list) -> None:
        try:
            results = self._bundle(ready)
        except Exception as err:  # noqa: BLE001 (narrowed down to the failing case)
            if len(ready) == 1:
                message = " ".join(f"{type(err).__name__}: {err}".split())
                self.outcomes[ready[0][0]] = ("error", message[:300])
                return
            self.run(ready[:len(ready) // 2])
            self.run(ready[len(ready) // 2:])
            return
        for (name, _, _, expected, _), outs in zip(ready, results):
            bad = [f"output {k}: {m}" for k, (got, want) in enumerate(zip(outs, expected))
                   if (m := _mismatch(got, want))]
            self.outcomes[name] = ("wrong", "; ".join(bad)) if bad else ("pass", "")

    def _bundle(self, ready: list) -> list:
        import copy
        parts = [(f"c{k}", copy.deepcopy(item[1])) for k, item in enumerate(ready)]
        merged = onnx_node_cases.merge(parts)
        feeds, names, bindings = {}, [], {}
        for (prefix, g), (_, _, arrays, _, binds) in zip(parts, ready):
            feeds.update({v.name: np.asarray(a).ravel().tolist() for v, a in zip(g.inputs, arrays)})
            names.append([v.name for v in g.outputs])
            bindings.update({f"{prefix}_{k}": v for k, v in binds.items()})
        self.count += 1
        out = self.bundles.new_dir(f"onnx-node/{self.backend}-{self.count}")
        compile_graph(merged, self.backend).save(out)
        url = self.bundles.url(out)
        r = self.page.evaluate(_RUN, [f"{url}/webloom.js", url + "/", self.backend, feeds, bindings or None])
        assert r["backend"] == self.backend, r["backend"]
        def decode(v):
            return np.array([np.nan if x is None else float(x) for x in v], np.float64)
        return [[decode(r["outputs"][n]) for n in case_names] for case_names in names]


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_onnx_node_conformance(onnx_page, bundles, backend):
    pytest.importorskip("onnx")
    ready, outcomes = [], {}
    interpreted = onnx_node_cases.interpreter_results()
    for case in onnx_node_cases.cases():
        interp = interpreted[case.name]
        prepared = onnx_node_cases.browser_ready(case) if interp[0] == "pass" else None
        if prepared is None:
            outcomes[case.name] = interp if interp[0] != "pass" else ("not run", "symbolic or empty shapes")
        else:
            ready.append((case.name, *prepared, {}))
    runner = MergedRun(onnx_page, bundles, backend)
    runner.run(ready)
    outcomes.update(runner.outcomes)
    onnx_node_cases.RESULTS.mkdir(parents=True, exist_ok=True)
    (onnx_node_cases.RESULTS / f"{backend}.json").write_text(json.dumps(outcomes, indent=1, sort_keys=True))
    documented = onnx_node_cases.doc_results(backend)
    current = onnx_node_cases.op_counts(outcomes)
    assert current == documented, (f"docs/onnx.md's {backend} column is stale: regenerate it with "
                                   "`python -m tests.cases.onnx_node_cases` after this run")


# Two steps of a PyTorch step model (ids, h, c) -> (logits, h', c') with --state pairs: step() feeds h', c'
# back; the ids go in as a BigInt64Array (int64, as PyTorch makes them).
_STEPS = """
  const r = await webloom.load(base + "/", { backendOrder: [args[0]] });
  try {
    const [ids1, ids2, ids3, h0, c0] = args[1];
    r.input("h").set(Float32Array.from(h0), [1, 3, 10]);
    r.input("c").set(Float32Array.from(c0), [1, 3, 10]);
    r.input("ids").set(BigInt64Array.from(ids1.map(BigInt)), [3, ids1.length / 3]);
    await r.step();
    r.input("ids").set(BigInt64Array.from(ids2.map(BigInt)), [3, ids2.length / 3]);
    await r.step();
    const second = Array.from(r.output("logits").toActual());
    r.input("ids").set(BigInt64Array.from(ids3.map(BigInt)), [3, ids3.length / 3]);
    await r.step();     // a longer chunk: the layout grows, the carried state (its shape unchanged) stays
    return [second, Array.from(r.output("logits").toActual())];
  } finally {
    r.dispose();
  }
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_pytorch_step_model_with_states(onnx_page, bundles, backend):
    import onnxruntime as ort
    made = next(m for m in _exports() if m.case.name == "embed_lstm")
    graph = from_onnx(made.path, states=[("h", "h_next"), ("c", "c_next")])
    out = bundles.compile(graph, backend, f"onnx-step/{backend}")
    ids1, h0, c0 = made.inputs
    rng = np.random.default_rng(9)
    ids2, ids3 = (rng.integers(0, 20, (3, t)).astype(np.int64) for t in (2, 9))
    session = ort.InferenceSession(str(made.path), providers=["CPUExecutionProvider"])
    _, h1, c1 = session.run(None, {"ids": ids1, "h": h0, "c": c0})
    want2, h2, c2 = session.run(None, {"ids": ids2, "h": h1, "c": c1})
    want3, _, _ = session.run(None, {"ids": ids3, "h": h2, "c": c2})
    args = [ids.ravel().tolist() for ids in (ids1, ids2, ids3, h0, c0)]
    got2, got3 = bundles.call(onnx_page, out, _STEPS, backend, args)
    for got, want in ((got2, want2), (got3, want3)):
        np.testing.assert_allclose(np.asarray(got, np.float64), want.ravel(), rtol=TOL, atol=TOL)


def _option_models():
    """The ONNX recurrent options as hand-built models (tests/frontends/test_onnx_frontend.py) with
    onnxruntime's outputs: peepholes, clip, input_forget, activations with parameters, sequence_lens."""
    from tests.frontends import test_onnx_frontend as f
    specs = {
        "peepholes": ("LSTM", "bidirectional", dict(peep=True, states=True)),
        "clip_lstm": ("LSTM", "forward", dict(clip=0.7)),
        "clip_gru": ("GRU", "reverse", dict(clip=0.5, linear_before_reset=1)),
        "clip_rnn": ("RNN", "bidirectional", dict(clip=0.6)),
        "input_forget": ("LSTM", "reverse", dict(input_forget=1)),
        "acts_lstm": ("LSTM", "forward", dict(activations=["HardSigmoid", "Tanh", "Softsign"],
                                              activation_alpha=[0.3], activation_beta=[0.4])),
        "acts_gru": ("GRU", "forward", dict(activations=["Sigmoid", "LeakyRelu"], activation_alpha=[0.05])),
        "seq_lens_gru": ("GRU", "bidirectional", dict(seq_lens=True, states=True)),
        "seq_lens_lstm": ("LSTM", "reverse", dict(seq_lens=True)),
    }
    out = []
    for name, (op, direction, kw) in specs.items():
        model = f._rnn_model(op, direction, **kw)
        feeds = f._rnn_feeds(model)
        out.append((name, model, feeds, f._ort(model, feeds)))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_recurrent_options_on_backends(onnx_page, bundles, backend):
    pytest.importorskip("onnxruntime", reason="onnxruntime is in requirements-dev.txt")
    ready = []
    for name, model, feeds, want in _option_models():
        graph = from_onnx(model)
        arrays = [np.asarray(feeds[v.name]).astype(v.dtype) for v in graph.inputs]
        bindings: dict = {}
        for v, a in zip(graph.inputs, arrays):
            dims.bind(v.shape, a.shape, bindings, v.name)
        ready.append((name, graph, arrays, want, bindings))
    runner = MergedRun(onnx_page, bundles, backend)
    runner.run(ready)
    bad = {name: r for name, r in runner.outcomes.items() if r[0] != "pass"}
    assert len(runner.outcomes) == len(ready) and not bad, bad
