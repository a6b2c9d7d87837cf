"""The onnx package's own node test cases (``onnx.backend.test.case.node.collect_testcases``) for every op
type the ONNX frontend claims, converted with ``from_onnx`` and run by the interpreter or a backend.

A case belongs to an op type when its model is one node of that type. The ``*_expanded`` variants test
the op's function body (other ops) and are not counted. Outcomes: ``pass``; ``refused`` (from_onnx raises
its one-line ConversionError, recorded as the reason); ``wrong`` (outputs differ beyond the case's own
tolerance); ``error`` (the run failed). ``docs/onnx.md`` holds the generated table
(``python -m tests.cases.onnx_node_cases`` rewrites it from the interpreter run and the per-backend
results the browser test leaves in ``tests/.cache/onnx-conformance/<backend>.json``).
"""

from __future__ import annotations

import functools
import json
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "onnx.md"
RESULTS = ROOT / "tests" / ".cache" / "onnx-conformance"
BACKENDS = ("interpreter", "wasm", "webgpu", "webgl")
BEGIN, END = "<!-- conformance table: begin -->", "<!-- conformance table: end -->"


@dataclass
class NodeCase:
    name: str
    op: str
    model: object            # onnx.ModelProto
    data_sets: list          # [(inputs, outputs)]
    rtol: float
    atol: float


def claimed_ops() -> list:
    from converter.frontends.onnx import builder
    builder.build_graph.__globals__  # noqa: B018 (the handler modules register on first build)
    from converter.frontends.onnx import ops_elementwise, ops_linear, ops_recurrent, ops_shape  # noqa: F401
    return sorted(builder.HANDLERS)


@functools.lru_cache(maxsize=1)
def cases() -> tuple:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from onnx.backend.test.case.node import collect_testcases
        collected = collect_testcases(None)
    claimed = set(claimed_ops())
    out = []
    for c in collected:
        ops = [n.op_type for n in c.model.graph.node]
        if len(ops) == 1 and ops[0] in claimed and "_expanded" not in c.name:
            out.append(NodeCase(c.name, ops[0], c.model, list(c.data_sets or []), c.rtol, c.atol))
    return tuple(sorted(out, key=lambda c: c.name))


# Node tests feed every operand as a graph input. An exported model holds weights and attribute-like
# operands (axes, shapes, pads, exponents) as initializers, which is what the frontend needs; these
# input positions are turned into initializers holding the test's data ("frozen") before conversion.
FROZEN = {
    "LSTM": (1, 2, 3, 7), "GRU": (1, 2, 3), "RNN": (1, 2, 3), "Conv": (1, 2), "Gemm": (1, 2), "MatMul": (1,),
    "BatchNormalization": (1, 2, 3, 4), "Clip": (1, 2), "Pow": (1,), "Dropout": (1, 2), "Split": (1,),
    "Slice": (1, 2, 3, 4), "ReduceSum": (1,), "ReduceMean": (1,), "ReduceMax": (1,), "Tile": (1,),
    "Expand": (1,), "Reshape": (1,), "Squeeze": (1,), "Unsqueeze": (1,), "ConstantOfShape": (0,),
    "Range": (0, 1, 2), "Gather": (1,),
}


def frozen_model(case: NodeCase, inputs: list):
    """The case's model with the FROZEN operands as initializers; returns (model, remaining inputs)."""
    from onnx import numpy_helper
    model = type(case.model)()
    model.CopyFrom(case.model)
    node = model.graph.node[0]
    names = [i.name for i in model.graph.input]
    frozen = {node.input[k] for k in FROZEN.get(case.op, ()) if k < len(node.input) and node.input[k]}
    keep = [i for i in model.graph.input if i.name not in frozen]
    for name in frozen:
        model.graph.initializer.append(numpy_helper.from_array(np.asarray(inputs[names.index(name)]), name))
    del model.graph.input[:]
    model.graph.input.extend(keep)
    rest = [a for n, a in zip(names, inputs) if n not in frozen]
    return model, rest


def convert(case: NodeCase, inputs: list):
    """(graph, feeds, None) or (None, None, the one-line reason from_onnx gives)."""
    from converter.api import from_onnx
    from converter.errors import ConversionError
    model, rest = frozen_model(case, inputs)
    try:
        return from_onnx(model), [np.asarray(a) for a in rest], None
    except ConversionError as e:
        return None, None, str(e)


def compare(case: NodeCase, got: list, want: list):
    """None when every output matches within the case's tolerance, else what differs (one line)."""
    if len(got) != len(want):
        return f"{len(got)} outputs, expected {len(want)}"
    for k, (g, w) in enumerate(zip(got, want)):
        w = np.asarray(w)
        g = np.asarray(g, dtype=np.float64).reshape(-1)
        wf = w.astype(np.float64).reshape(-1)
        if g.shape != wf.shape:
            return f"output {k}: {g.size} values, expected shape {w.shape}"
        try:
            np.testing.assert_allclose(g, wf, rtol=max(case.rtol, 1e-5), atol=max(case.atol, 1e-5))
        except AssertionError:
            bad = np.abs(g - wf)
            return f"output {k}: max abs difference {np.nanmax(bad):.3g}"
    return None


def run_interpreter(case: NodeCase) -> tuple:
    """(outcome, detail) under the numpy interpreter."""
    for inputs, outputs in case.data_sets:
        graph, feeds, reason = convert(case, inputs)
        if graph is None:
            return "refused", reason
        try:
            got = graph.run(feeds)
        except Exception as e:  # the interpreter rejects what the conversion produced
            return "error", " ".join(f"{type(e).__name__}: {e}".split())[:300]
        diff = compare(case, got, outputs)
        if diff is not None:
            return "wrong", diff
    return "pass", ""


# ---- the docs table ----------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _interpreter_results() -> tuple:
    return tuple((c.name, run_interpreter(c)) for c in cases())


def interpreter_results() -> dict:
    """{case name: (outcome, detail)} under the interpreter, computed once per process."""
    return dict(_interpreter_results())


def load_results(backend: str) -> dict:
    path = RESULTS / f"{backend}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def table(results: dict) -> str:
    """Markdown: op type -> passed/total per backend, then every case that did not pass, with why."""
    by_op: dict = {}
    for c in cases():
        by_op.setdefault(c.op, []).append(c.name)
    lines = ["| op type | " + " | ".join(BACKENDS) + " |", "|---|" + "---|" * len(BACKENDS)]
    for op, names in sorted(by_op.items()):
        cells = []
        for b in BACKENDS:
            res = results.get(b, {})
            if not res:
                cells.append("not run")
                continue
            cells.append(f"{sum(1 for n in names if res.get(n, ['?'])[0] == 'pass')}/{len(names)}")
        lines.append(f"| {op} | " + " | ".join(cells) + " |")
    lines += ["", "Cases that do not pass (outcome per backend and the reason):", ""]
    for c in cases():
        bad = [(b, results[b].get(c.name, ["not run", ""])) for b in BACKENDS if results.get(b)]
        bad = [(b, r) for b, r in bad if r[0] != "pass"]
        if bad:
            reasons = sorted({_short(r[1]) for _, r in bad})
            where = ", ".join(f"{b}: {r[0]}" for b, r in bad)
            lines.append(f"- `{c.name}` ({where}): {'; '.join(reasons)}")
    return "\n".join(lines)


def _short(reason: str) -> str:
    """One line for the doc: no page-run boilerplate, no server URLs (they change from run to run)."""
    text = re.sub(r"\s+", " ", reason or "")
    text = re.sub(r"(Error: )?Page\.evaluate: Error: no backend could load \S+: ", "", text)
    text = re.sub(r"https?://\S+", "<bundle>", text).replace("|", "\\|")
    return text[:240]


def write_doc(results: dict) -> None:
    doc = DOC.read_text()
    start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    DOC.write_text(doc[:start] + "\n" + table(results) + "\n" + doc[end:])


def doc_results(backend: str = "interpreter") -> dict:
    """One column of the doc's table: {op: "passed/total"}."""
    doc = DOC.read_text()
    body = doc[doc.index(BEGIN):doc.index(END)]
    column = BACKENDS.index(backend) + 2
    rows = {}
    for line in body.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > column and re.match(r"^[A-Z]\w*$", cells[1]):
            rows[cells[1]] = cells[column]
    return rows


def op_counts(outcomes: dict) -> dict:
    """{op: "passed/total"} from {case name: (outcome, detail)}."""
    by_op: dict = {}
    for c in cases():
        by_op.setdefault(c.op, []).append(outcomes.get(c.name, ("?", ""))[0] == "pass")
    return {op: f"{sum(v)}/{len(v)}" for op, v in sorted(by_op.items())}


if __name__ == "__main__":
    results = {"interpreter": interpreter_results()}
    for backend in BACKENDS[1:]:
        results[backend] = load_results(backend)
    write_doc(results)
    passed = sum(1 for r in results["interpreter"].values() if r[0] == "pass")
    print(f"{DOC}: interpreter {passed}/{len(results['interpreter'])}", file=sys.stderr)


# ---- many cases in one graph (one bundle and one page load per backend) ----------------------------

_NAME = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\b")
_FUNCTIONS = {"max", "min", "cdiv"}


def rename_symbols(dim, prefix: str):
    """``dim`` with every symbol prefixed (``batch`` -> ``c0_batch``): parts of a merged graph bind
    their own symbols."""
    from converter.ir import dims
    if isinstance(dim, int):
        return dim
    text = _NAME.sub(lambda m: m.group(1) if m.group(1) in _FUNCTIONS else f"{prefix}_{m.group(1)}", str(dim))
    return dims.normalize(text)


def merge(parts: list):
    """One graph holding every (prefix, graph) part: values and nodes renamed ``<prefix>__<name>``,
    symbols ``<prefix>_<symbol>``."""
    from converter.ir.graph import Graph
    merged = Graph("onnx_node_tests")
    for prefix, g in parts:
        for v in g.values():
            v.name = merged.unique(f"{prefix}__{v.name}")
            v.shape = tuple(rename_symbols(d, prefix) for d in v.shape)
        for node in g.nodes:
            if node.op == "Reshape":
                node.attrs["shape"] = tuple(rename_symbols(d, prefix) for d in node.attrs["shape"])
        for node in g.nodes:
            node.name = merged.unique(f"{prefix}__{node.name}")
        merged.inputs += g.inputs
        merged.nodes += g.nodes
        merged.outputs += g.outputs
    return merged


def browser_ready(case: NodeCase):
    """(graph, feeds {name: array}, expected [arrays]) for data set 0 when the interpreter passes it and
    its shapes are static (a merged bundle binds no symbols), else None."""
    from converter.ir import dims
    inputs, outputs = case.data_sets[0]
    graph, feeds, _ = convert(case, inputs)
    if graph is None or not all(dims.is_static(d) for v in graph.inputs for d in v.shape):
        return None
    if any(np.asarray(a).size == 0 for a in feeds) or any(0 in v.shape for v in graph.outputs):
        return None
    return graph, [np.asarray(a).astype(v.dtype) for a, v in zip(feeds, graph.inputs)], list(outputs)
