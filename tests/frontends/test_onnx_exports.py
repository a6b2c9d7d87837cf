"""Real exports (PyTorch with both exporters, Keras through tf2onnx) converted with from_onnx and run by the
interpreter: equal to the source framework and to onnxruntime within 1e-5, with the free dims left free."""

from __future__ import annotations

import numpy as np
import pytest

from converter.api import from_onnx
from tests.cases import onnx_models

TOL = 1e-5


def _exported(name, case=None):
    case = case or onnx_models.CASES[name]
    pytest.importorskip("onnxruntime", reason="onnxruntime is in requirements-dev.txt")
    if case.exporter == "tf2onnx":
        pytest.importorskip("tf2onnx", reason="tf2onnx is in requirements-dev.txt")
    else:
        pytest.importorskip("torch", reason="torch==2.13.0 is in requirements-dev.txt")
    return onnx_models.export(case)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(onnx_models.CASES))
def test_export_matches_source_and_onnxruntime(name):
    made = _exported(name)
    graph = from_onnx(made.path, input_shapes=made.case.input_shapes or None)
    got = graph.run(made.inputs)
    assert len(got) == len(made.outputs)
    for value, mine, source, ort in zip(graph.outputs, got, made.outputs, made.ort):
        np.testing.assert_allclose(mine, source, rtol=TOL, atol=TOL, err_msg=f"{name} {value.name} vs source")
        np.testing.assert_allclose(mine, ort, rtol=TOL, atol=TOL,
                                   err_msg=f"{name} {value.name} vs onnxruntime")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lstm2_bf", "lstm2_bf_dynamo", "embed_lstm"])
def test_batch_and_time_stay_free(name):
    made = _exported(name)
    graph = from_onnx(made.path)
    assert not any(isinstance(d, int) for d in graph.inputs[0].shape[:2]), graph.inputs[0]
    # another batch and length than the export's, against onnxruntime
    import onnxruntime as ort
    rng = np.random.default_rng(5)
    feeds = []
    for v, a in zip(graph.inputs, made.inputs):
        shape = [{0: 2, 1: 9}.get(i, s) if not isinstance(d, int) else s
                 for i, (d, s) in enumerate(zip(v.shape, a.shape))]
        if v.name in ("h", "c"):
            shape = [1, 2, a.shape[2]]
        feeds.append(rng.integers(0, 20, shape).astype(a.dtype) if a.dtype.kind == "i"
                     else rng.standard_normal(shape).astype(np.float32))
    session = ort.InferenceSession(str(made.path), providers=["CPUExecutionProvider"])
    want = session.run(None, {i.name: f for i, f in zip(session.get_inputs(), feeds)})
    for mine, ref in zip(graph.run(feeds), want):
        np.testing.assert_allclose(mine, ref, rtol=TOL, atol=TOL)


@pytest.mark.slow
def test_tf2onnx_loop_is_named():
    from converter.errors import ConversionError
    made = _exported(None, onnx_models.LOOP_CASE)
    with pytest.raises(ConversionError, match=r"\(Loop\): control flow .* cannot be compiled"):
        from_onnx(made.path)


@pytest.mark.slow
@pytest.mark.parametrize("name,transposes", [("lstm2_bf", 0), ("lstm2_bf_dynamo", 0), ("embed_lstm", 0),
                                             ("cnn", 1), ("cnn_dynamo", 1)])
def test_layout_transposes_cancel(name, transposes):
    """Batch-first LSTMs import without the exporter's time-major Transposes, CNNs channels last with
    only the input's NCHW -> NHWC Transpose."""
    graph = from_onnx(_exported(name).path)
    ops = [n.op for n in graph.nodes]
    assert ops.count("Transpose") == transposes, graph.dump()
