"""Every backend against the numpy interpreter on one shared table of per-op cases (tests/cases/op_cases.py).

Per backend, the cases it does not exclude are built into one graph (static cases) or two (symbolic
batch/time cases, run under several bindings in one runtime session), compiled with
``converter.compile`` and run once in headless Chromium through runtime-js/dist/webloom.js. When a
bundle fails to compile or run, its cases are split in halves until the failing case stands alone, so a
failure names the case without costing a bundle per case when all is well. Outputs must match within
1e-4 abs + 1e-4 rel, with NaN exactly where the interpreter gives NaN and infinities of the same sign.
"""

from __future__ import annotations

import numpy as np
import pytest

from converter.api import compile as compile_graph
from converter.ir.graph import Graph
from tests.cases.op_cases import CASES, SYMBOLIC_RUNS, TOL

BACKENDS = ("wasm", "webgpu", "webgl")

# Loads one bundle with one backend (no fallback) and runs it once per (feeds, dims) entry.
_RUN = """async ([script, dir, backend, runs]) => {
  const webloom = await import(script);
  const runner = await webloom.load(dir, { backendOrder: [backend] });
  const results = [];
  try {
    for (const { feeds, dims } of runs) {
      if (dims) runner.setDims(dims);
      const out = await runner.predict(feeds);
      const plain = {};
      for (const [name, values] of Object.entries(out)) plain[name] = Array.from(values);
      results.push(plain);
    }
  } finally {
    runner.dispose();
  }
  return { backend: runner.backendName, results };
}"""


class Built:
    """A graph holding several cases, the interpreter's outputs per run and which outputs are whose."""

    def __init__(self, cases: list, name: str):
        self.graph = Graph(name)
        self.outputs: dict = {}          # case name -> [output value name]
        self.inputs: dict = {}           # case name -> {input key: graph input name}
        for case in cases:
            self._add(case)
        runs = len(cases[0].feeds)
        self.feeds = [{self.inputs[c.name][k]: a for c in cases for k, a in c.feeds[r].items()}
                      for r in range(runs)]
        self.dims = list(SYMBOLIC_RUNS) if cases[0].symbolic else [None]
        self.want = [dict(zip([v.name for v in self.graph.outputs], self.graph.run(f))) for f in self.feeds]

    def _add(self, case) -> None:
        g, values = self.graph, {}
        for key, array in case.feeds[0].items():
            dtype = "int32" if np.issubdtype(array.dtype, np.integer) else "float32"
            values[key] = g.input(f"{case.name}__{key}", dtype, case.input_shape(key))
        self.inputs[case.name] = {k: v.name for k, v in values.items()}
        outs = list(case.build(g, values))
        g.outputs.extend(outs)
        self.outputs[case.name] = [v.name for v in outs]


class Conformance:
    """Runs the cases' bundles per backend once (lazily) and keeps each case's outcome."""

    def __init__(self, page, bundles):
        self.page, self.bundles = page, bundles
        # (backend, case name) -> ("ok", [per run {output: (got, want)}]) or ("error", message)
        self.outcomes: dict = {}
        self.done: set = set()
        self.counter = 0

    def outcome(self, backend: str, case):
        if backend not in self.done:
            self.done.add(backend)
            included = [c for c in CASES if backend not in c.exclusions]
            for symbolic in (False, True):
                group = [c for c in included if c.symbolic == symbolic]
                if group:
                    self._run_split(backend, group)
        return self.outcomes[(backend, case.name)]

    def _run_split(self, backend: str, cases: list) -> None:
        try:
            built = Built(cases, f"conformance_{backend}")
            results = self._run_bundle(backend, built)
        except Exception as err:            # noqa: BLE001 (any failure is narrowed down to its case)
            if len(cases) == 1:
                message = " ".join(str(err).split())
                self.outcomes[(backend, cases[0].name)] = ("error", f"{type(err).__name__}: {message}"[:1500])
                return
            half = len(cases) // 2
            self._run_split(backend, cases[:half])
            self._run_split(backend, cases[half:])
            return
        for case in cases:
            per_run = [{name: (got[name], want[name]) for name in built.outputs[case.name]}
                       for got, want in zip(results, built.want)]
            self.outcomes[(backend, case.name)] = ("ok", per_run)

    def _run_bundle(self, backend: str, built: Built) -> list:
        self.counter += 1
        out = self.bundles.new_dir(f"conformance/{backend}-{self.counter}")
        compile_graph(built.graph, backend).save(out)
        url = self.bundles.url(out)
        runs = [{"feeds": {k: np.asarray(a).ravel().tolist() for k, a in feeds.items()}, "dims": dims}
                for feeds, dims in zip(built.feeds, built.dims)]
        result = self.page.evaluate(_RUN, [f"{url}/webloom.js", url + "/", backend, runs])
        assert result["backend"] == backend, f"ran on {result['backend']} instead of {backend}"
        return [{k: np.array([np.nan if x is None else x for x in v], np.float64) for k, v in r.items()}
                for r in result["results"]]


@pytest.fixture(scope="module")
def conformance(browser, http_server, bundles):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{http_server}/index.html")
    yield Conformance(page, bundles)
    context.close()


def mismatches(got: np.ndarray, want: np.ndarray) -> list:
    """Indices where got differs from want: NaN pattern, infinity sign, or |got-want| > TOL + TOL|want|."""
    want = np.asarray(want, np.float64).ravel()
    got_nan, want_nan = np.isnan(got), np.isnan(want)
    finite = np.isfinite(want)
    with np.errstate(invalid="ignore"):
        # only for finite want: inf - inf is nan and -inf vs inf would pass an infinite bound
        close = finite & (np.abs(got - want) <= TOL + TOL * np.abs(np.where(finite, want, 0.0)))
    same_inf = np.isinf(want) & (got == want)
    ok = np.where(want_nan, got_nan, ~got_nan & (close | same_inf))
    return np.flatnonzero(~ok).tolist()


def _describe(bad, got, want, limit=6) -> str:
    want = np.asarray(want, np.float64).ravel()
    return ", ".join(f"[{i}] got {got[i]!r} want {want[i]!r}" for i in bad[:limit])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_matches_interpreter(conformance, backend, case):
    if backend in case.exclusions:
        pytest.skip(f"{backend}: {case.exclusions[backend]}")
    status, value = conformance.outcome(backend, case)
    assert status == "ok", f"{case.name} on {backend}: {value}"
    problems = []
    for run, outputs in enumerate(value):
        for name, (got, want) in outputs.items():
            size = np.asarray(want).size
            if got.size != size:
                problems.append(f"run {run} {name}: {got.size} values, expected {size}")
                continue
            bad = mismatches(got, want)
            if bad:
                problems.append(f"run {run} {name}: {len(bad)}/{size} differ: {_describe(bad, got, want)}")
    assert not problems, f"{case.name} on {backend}:\n" + "\n".join(problems)


def test_mismatches_catches_nan_inf_and_tolerance():
    """The comparison itself: NaN only against NaN, infinities by sign, and the 1e-4 abs+rel bound."""
    want = np.array([np.nan, np.inf, -np.inf, 1.0, 1e4, 0.0])
    assert mismatches(want.copy(), want) == []
    assert mismatches(np.array([0.0, np.inf, -np.inf, 1.0, 1e4, 0.0]), want) == [0]
    assert mismatches(np.array([np.nan, -np.inf, -np.inf, 1.0, 1e4, np.nan]), want) == [1, 5]
    assert mismatches(np.array([np.nan, np.inf, -np.inf, 1.0003, 1e4 + 0.5, 1e-4]), want) == [3]


def test_failures_are_narrowed_to_their_case(monkeypatch):
    """A bundle that fails to build or run is split until the failing case stands alone; the rest pass."""
    picked = [c for c in CASES if c.name in ("unary_relu", "unary_tanh", "binary_add_col", "softmax_last")]
    conf = Conformance(page=None, bundles=None)
    calls = []

    def fake_run(backend, built):
        calls.append(sorted(built.outputs))
        if "unary_tanh" in built.outputs:
            raise RuntimeError("kernel  failed\n to compile")
        return built.want
    monkeypatch.setattr(conf, "_run_bundle", fake_run)
    conf._run_split("wasm", picked)
    assert conf.outcomes[("wasm", "unary_tanh")] == ("error", "RuntimeError: kernel failed to compile")
    for case in picked:
        if case.name != "unary_tanh":
            assert conf.outcomes[("wasm", case.name)][0] == "ok", case.name
    assert len(calls) == 5          # all four, each half, then the failing half's two cases alone
