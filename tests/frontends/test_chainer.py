"""The Chainer frontend: Chainer's own forward passes vs the IR interpreter on the traced graph."""

from __future__ import annotations

import copy
import json
import shutil
import textwrap

import numpy as np
import pytest

chainer = pytest.importorskip("chainer")
import chainer.functions as F  # noqa: E402
import chainer.links as L  # noqa: E402

from converter import from_chainer  # noqa: E402
from converter.errors import ConversionError  # noqa: E402
from converter.passes import optimize  # noqa: E402

TOL = dict(rtol=1e-5, atol=1e-5)


class RNNForLM(chainer.Chain):
    """Seed 004 (Chainer's example language model), with wide uniform(-1, 1) parameters so that gates
    saturate on some units."""

    def __init__(self, n_vocab=50, n_units=16, seed=0):
        super().__init__()
        with self.init_scope():
            self.embed = L.EmbedID(n_vocab, n_units)
            self.l1 = L.LSTM(n_units, n_units)
            self.l2 = L.LSTM(n_units, n_units)
            self.l3 = L.Linear(n_units, n_vocab)
        rng = np.random.RandomState(seed)
        for param in self.params():
            param.array[...] = rng.uniform(-1, 1, param.shape)

    def reset_state(self):
        self.l1.reset_state()
        self.l2.reset_state()

    def __call__(self, x):
        h0 = self.embed(x)
        h1 = self.l1(F.dropout(h0))
        h2 = self.l2(F.dropout(h1))
        return self.l3(F.dropout(h2))


def _chainer_steps(model, xs) -> list:
    model.reset_state()
    with chainer.using_config("train", False):
        return [model(x).array for x in xs]


def _graph_steps(graph, xs) -> list:
    """Run the graph once per step, carrying the states as runner.step() does."""
    names = [v.name for v in graph.outputs]
    feeds = {v.name: np.zeros(v.shape, np.float32) for v in graph.inputs if v.name != "x"}
    ys = []
    for x in xs:
        outs = dict(zip(names, graph.run({"x": x, **feeds})))
        feeds = {s["input"]: outs[s["output"]] for s in graph.meta["states"]}
        ys.append(outs["output"])
    return ys


def test_rnn_lm_traced_once_runs_five_steps_like_chainer():
    model = RNNForLM()
    graph = from_chainer(model, {"x": np.zeros(3, np.int32)})
    assert model.l1.h is None and model.l1.c is None        # tracing leaves the model's state alone
    lstms = [n for n in graph.nodes if n.op == "LSTM"]
    assert [n.attrs["gate_layout"] for n in lstms] == ["aifo_interleaved"] * 2
    assert graph.meta["states"] == [{"input": f"l{k}_{s}", "output": f"l{k}_{s}_next"}
                                    for k in (1, 2) for s in ("h", "c")]
    assert [v.name for v in graph.inputs] == ["x", "l1_h", "l1_c", "l2_h", "l2_c"]
    xs = np.random.RandomState(1).randint(0, 50, (5, 3)).astype(np.int32)
    expected = _chainer_steps(model, xs)
    for got, want in zip(_graph_steps(graph, xs), expected):
        np.testing.assert_allclose(got, want, **TOL)
    optimized = copy.deepcopy(graph)
    optimize(optimized)          # fuse_gates rewrites Chainer's interleaved gates to ifco
    optimized.verify()
    assert all(n.attrs.get("gate_layout", "ifco") == "ifco" for n in optimized.nodes)
    for got, want in zip(_graph_steps(optimized, xs), expected):
        np.testing.assert_allclose(got, want, **TOL)


class SmallCNN(chainer.Chain):
    def __init__(self):
        super().__init__()
        with self.init_scope():
            self.conv = L.Convolution2D(3, 4, ksize=3, pad=1)
            self.bn = L.BatchNormalization(4)
            self.conv2 = L.Convolution2D(4, 5, ksize=3, stride=2)
            self.fc = L.Linear(5 * 2 * 2, 6)
        rng = np.random.RandomState(2)
        for param in self.params():
            param.array[...] = rng.uniform(-1, 1, param.shape)
        self.bn.avg_mean[...] = rng.uniform(-1, 1, 4)
        self.bn.avg_var[...] = rng.uniform(0.5, 2.0, 4)

    def __call__(self, x):
        h = F.max_pooling_2d(F.relu(self.bn(self.conv(x))), 2)          # cover_all: 9x9 -> 5x5
        h = F.average_pooling_2d(F.leaky_relu(self.conv2(h)), 2, pad=1)  # pads count in the average
        return F.log_softmax(self.fc(h))


def test_small_cnn_matches_chainer():
    model = SmallCNN()
    x = np.random.RandomState(3).randn(2, 3, 9, 9).astype(np.float32)
    with chainer.using_config("train", False):
        want = model(x).array
    graph = from_chainer(model, {"image": x})
    ops = [n.op for n in graph.nodes]
    assert ops.count("Transpose") == 2   # into NHWC once at the input, back once before the flatten
    np.testing.assert_allclose(graph.run([x])[0], want, **TOL)
    optimize(graph)
    np.testing.assert_allclose(graph.run([x])[0], want, **TOL)


class Mixed(chainer.Chain):
    """F.lstm on a pre-activation that is not upward(x) + lateral(h), and assorted array functions."""

    def __init__(self):
        super().__init__()
        with self.init_scope():
            self.lin = L.Linear(6, 16)

    def __call__(self, x, c):
        c2, h = F.lstm(c, 2.0 * F.tanh(self.lin(x)))
        both = F.concat([h, F.elu(c2) - 0.5], axis=1)                     # [B, 8]
        grid = F.transpose(F.reshape(both, (-1, 2, 4)), (0, 2, 1))         # [B, 4, 2]
        scaled = grid * F.broadcast_to(F.sigmoid(F.sum(grid, axis=2, keepdims=True)), grid.shape)
        return F.softmax(1.0 / (F.exp(scaled) + 1.0), axis=1), c2


def test_lstm_cell_math_and_array_functions():
    rng = np.random.RandomState(4)
    model = Mixed()
    model.lin.W.array[...] = rng.uniform(-1, 1, (16, 6))
    x, c = rng.randn(3, 6).astype(np.float32), rng.randn(3, 4).astype(np.float32)
    with chainer.using_config("train", False):
        want = [v.array for v in model(x, c)]
    graph = from_chainer(model, {"x": x, "c": c})
    assert "LSTM" not in {n.op for n in graph.nodes}
    assert [v.name for v in graph.outputs] == ["output0", "output1"]
    for got, ref in zip(graph.run([x, c]), want):
        np.testing.assert_allclose(got, ref, **TOL)


class UsesSin(chainer.Chain):
    def __call__(self, x):
        return F.relu(F.sin(x))


def test_unsupported_function_is_one_line_error():
    with pytest.raises(ConversionError) as err:
        from_chainer(UsesSin(), [np.zeros((2, 3), np.float32)])
    message = str(err.value)
    assert "\n" not in message
    assert "Chainer function Sin is not supported" in message and "docs/chainer.md" in message


def test_not_a_chain_and_failing_forward_are_one_line_errors():
    with pytest.raises(ConversionError, match="expects a chainer.Link/Chain, got function"):
        from_chainer(lambda x: x, [np.zeros(3, np.float32)])
    with pytest.raises(ConversionError, match="traced forward call raised"):
        from_chainer(RNNForLM(), {"x": np.zeros((3, 2, 2), np.float32)})   # float ids


SCRIPT = textwrap.dedent("""
    import chainer
    import chainer.functions as F
    import chainer.links as L


    class LM(chainer.Chain):
        def __init__(self):
            super().__init__()
            with self.init_scope():
                self.embed = L.EmbedID(20, 8)
                self.rnn = L.LSTM(8, 8)
                self.out = L.Linear(8, 20)

        def __call__(self, ids):
            return F.softmax(self.out(self.rnn(self.embed(ids))))


    def build():
        return LM()
""")


def test_cli_builds_a_wasm_bundle_with_carried_states(tmp_path, capsys):
    from converter.bundle import read_bundle
    from converter.cli import chainer_cli
    script = tmp_path / "lm.py"
    script.write_text(SCRIPT)
    namespace: dict = {}
    exec(compile(SCRIPT, str(script), "exec"), namespace)   # the same model, to save its weights
    model = namespace["build"]()
    rng = np.random.RandomState(5)
    for param in model.params():
        param.array[...] = rng.uniform(-1, 1, param.shape)
    chainer.serializers.save_npz(tmp_path / "lm.npz", model)
    out = tmp_path / "web"
    status = chainer_cli([f"{script}:build", "--weights", str(tmp_path / "lm.npz"), "--input", "ids=2:int32",
                          "--backend", "wasm", "--out", str(out)])
    assert status == 0, capsys.readouterr().err
    program = read_bundle(out / "model.wasm.wlm")
    assert [(i.name, i.role, i.state_of) for i in program.inputs] == [
        ("ids", "data", None), ("rnn_h", "state", "rnn_h_next"), ("rnn_c", "state", "rnn_c_next")]
    assert program.inputs[0].valid_range == (0, 20)
    assert [o.name for o in program.outputs] == ["output", "rnn_h_next", "rnn_c_next"]
    assert "3 layers -> " in capsys.readouterr().out             # the summary counts the links
    if shutil.which("node"):
        _check_bundle_runs_like_chainer(program, tmp_path, model)


def _check_bundle_runs_like_chainer(program, tmp_path, model):
    from tests.unit.wasm_run import run_program
    graph = from_chainer(model, {"ids": np.zeros(2, np.int32)})
    feeds = [np.array([3, 17], np.int32), np.zeros((2, 8), np.float32), np.zeros((2, 8), np.float32)]
    with chainer.using_config("train", False):
        model.rnn.reset_state()
        want = model(feeds[0]).array
    np.testing.assert_allclose(run_program(program, graph, feeds)[0], want, rtol=1e-4, atol=1e-5)


def test_cli_errors_are_one_line(tmp_path, capsys):
    from converter.cli import chainer_cli
    script = tmp_path / "lm.py"
    script.write_text(SCRIPT)
    np.savez(tmp_path / "wrong.npz", **{"embed/W": np.zeros((3, 3), np.float32)})
    cases = [([f"{script}:missing", "--input", "ids=2:int32"], "defines no function 'missing'"),
             ([f"{script}:build", "--input", "ids=2:int64"], "expected NAME=d0,d1,...[:float32|int32]"),
             ([f"{script}:build", "--input", "ids=2:int32", "--weights", str(tmp_path / "wrong.npz")],
              "the parameters do not fit the model")]
    for argv, fragment in cases:
        assert chainer_cli(argv + ["--backend", "wasm", "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("convert_chainer: error: ") and fragment in err[0], err


def test_n_step_lstm_on_separate_inputs_says_to_use_a_list_input():
    model = L.NStepLSTM(1, 4, 5, 0.0)
    xs = [np.zeros((2, 4), np.float32), np.zeros((2, 4), np.float32)]
    with pytest.raises(ConversionError, match="must come from a list input or an NStep link's ys"):
        from_chainer(model, xs, forward=lambda m, *seqs: m(None, None, list(seqs))[0])


class GRUNet(chainer.Chain):
    def __init__(self):
        super().__init__()
        with self.init_scope():
            self.gru = L.StatefulGRU(4, 5)
        rng = np.random.RandomState(6)
        for param in self.params():
            param.array[...] = rng.uniform(-1, 1, param.shape)

    def __call__(self, x):
        return self.gru(x)


def test_stateful_gru_carries_h_like_chainer():
    model = GRUNet()
    graph = from_chainer(model, [np.zeros((2, 4), np.float32)])
    assert graph.meta["states"] == [{"input": "gru_h", "output": "gru_h_next"}]
    xs = np.random.RandomState(7).randn(3, 2, 4).astype(np.float32)
    h = np.zeros((2, 5), np.float32)
    # zeros fed in are set_state(zeros); StatefulGRU's reset_state() differs (U has a bias)
    model.gru.set_state(chainer.Variable(h.copy()))
    for x in xs:
        with chainer.using_config("train", False):
            want = model(x).array
        y, h = graph.run([x, h])
        np.testing.assert_allclose(y, want, **TOL)


NSTEP_SCRIPT = textwrap.dedent("""
    import chainer
    import chainer.links as L


    class Encoder(chainer.Chain):
        def __init__(self):
            super().__init__()
            with self.init_scope():
                self.rnn = L.NStepBiGRU(2, 5, 4, 0.0)

        def __call__(self, xs):
            hy, ys = self.rnn(None, xs)
            return hy[-1], ys


    def build():
        return Encoder()
""")


def test_cli_list_input_and_missing_weights_warning(tmp_path, capsys):
    """convert_chainer --input xs=list:B,T_MAX,D: the bundle takes xs padded and xs_lengths; without
    --weights it warns that the factory's own parameters are converted; the wasm bundle runs variable
    lengths like Chainer."""
    from converter.bundle import read_bundle
    from converter.cli import chainer_cli
    from converter.frontends.chainer.cli import load_factory
    from tests.cases.chainer_models import padded
    script = tmp_path / "enc.py"
    script.write_text(NSTEP_SCRIPT)
    out = tmp_path / "web"
    np.random.seed(9)        # the factory's random initialization is what gets converted
    status = chainer_cli([f"{script}:build", "--input", "xs=list:3,7,5", "--backend", "wasm",
                          "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    warning = captured.err.strip().splitlines()
    assert len(warning) == 1 and "warning: no --weights given" in warning[0], warning
    program = read_bundle(out / "model.wasm.wlm")
    assert [(i.name, i.dtype, tuple(i.shape)) for i in program.inputs] == [
        ("xs", "float32", (3, 7, 5)), ("xs_lengths", "int32", (3,))]
    assert [o.name for o in program.outputs] == ["output0", "output1"]
    np.random.seed(9)
    model = load_factory(f"{script}:build")()
    rng = np.random.RandomState(10)
    xs = [rng.uniform(-2, 2, (n, 5)).astype(np.float32) for n in (2, 7, 5)]
    with chainer.using_config("train", False):
        last, ys = model(xs)
    graph = from_chainer(model, [xs])
    if shutil.which("node"):
        from tests.unit.wasm_run import run_program
        got = run_program(program, graph, [padded(xs), np.array([2, 7, 5], np.int32)])
        np.testing.assert_allclose(got[0], last.array, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got[1], padded(ys), rtol=1e-4, atol=1e-5)


class ListUser(chainer.Chain):
    """An NStep link, and the ways a list of sequences cannot be used."""

    def __init__(self, how: str):
        super().__init__()
        with self.init_scope():
            self.rnn = L.NStepGRU(1, 3, 4, 0.0)
            self.lin = L.Linear(3, 3)
        self.how = how

    def __call__(self, xs):
        if self.how == "concat":
            return F.concat(xs, axis=0)
        if self.how == "reordered":
            return self.rnn(None, xs[::-1])[0]
        if self.how == "different_links":
            return self.rnn(None, [self.lin(xs[0])] + list(xs[1:]))[0]
        if self.how == "pad_length":
            return F.pad_sequence(xs, length=9)
        return self.rnn(None, xs)[1][0]          # one sequence of ys as an output


@pytest.mark.parametrize("how, fragment", [
    ("concat", "sequence 0 of list input 'x' is used by Concat"),
    ("reordered", "must hold every sequence of list input 'x' in its order"),
    ("different_links", "apply the same functions to every sequence"),
    ("pad_length", "pads to length 9, but list input 'x' is padded to 5"),
    ("row_output", "sequence 0 of the ys of NStep link 'rnn' is used by the model's output"),
])
def test_list_misuse_is_a_one_line_error(how, fragment):
    xs = [np.ones((n, 3), np.float32) for n in (5, 2)]
    with pytest.raises(ConversionError) as err:
        from_chainer(ListUser(how), [xs])
    assert fragment in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_ragged_example_input_is_a_one_line_error():
    with pytest.raises(ConversionError, match="not an array .sequences of different lengths"):
        from_chainer(ListUser("concat"), {"x": [[1.0, 2.0], [3.0]]})


def test_sequences_max_length_pads_past_the_longest_example():
    from converter.frontends.chainer import Sequences
    from tests.cases.chainer_models import padded
    model = L.NStepBiLSTM(1, 3, 4, 0.0)
    rng = np.random.RandomState(8)
    for param in model.params():
        param.array[...] = rng.uniform(-1, 1, param.shape)
    xs = [rng.randn(n, 3).astype(np.float32) for n in (3, 1)]
    graph = from_chainer(model, {"xs": Sequences(xs, max_length=6)}, forward=lambda m, s: m(None, None, s))
    assert [(v.name, tuple(v.shape)) for v in graph.inputs] == [("xs", (2, 6, 3)), ("xs_lengths", (2,))]
    # other lengths than the traced ones, and garbage in the padding
    longer = [rng.randn(n, 3).astype(np.float32) for n in (6, 2)]
    feed = np.full((2, 6, 3), 7.0, np.float32)
    feed[0], feed[1, :2] = longer[0], longer[1]
    with chainer.using_config("train", False):
        hy, cy, ys = model(None, None, longer)
    got = graph.run({"xs": feed, "xs_lengths": np.array([6, 2], np.int32)})
    for value, want in zip(got, (hy.array, cy.array, padded(ys))):
        np.testing.assert_allclose(value, want, **TOL)
    # the interpreter counts a length above T_MAX as T_MAX (LengthMask); a bundle refuses it before
    # running: the lengths input carries the valid range [0, T_MAX]
    clamped = graph.run({"xs": feed, "xs_lengths": np.array([60, 2], np.int32)})
    for value, want in zip(clamped, got):
        np.testing.assert_array_equal(value, want)
    from converter.backends import lower
    specs = {io.name: io for io in lower("wasm", graph).inputs}
    assert specs["xs_lengths"].valid_range == (0, 7) and specs["xs"].valid_range is None


def _entry(a) -> dict:
    return {"shape": list(a.shape), "data": a.ravel().tolist()}


@pytest.fixture
def chainer_verify(tmp_path, monkeypatch):
    """convert_chainer --verify (wasm in Node only: no second Playwright inside pytest) on the LSTM LM with
    nonzero states fed in, and on the NStep encoder with a list input; returns run(which) -> status."""
    if not shutil.which("node"):
        pytest.skip("--verify runs the wasm bundle in Node, which is not installed")
    from converter import verify
    from converter.cli import chainer_cli
    monkeypatch.setattr(verify, "chromium_path", lambda: None)
    rng = np.random.RandomState(11)
    (tmp_path / "lm.py").write_text(SCRIPT)
    namespace: dict = {}
    exec(compile(SCRIPT, "lm.py", "exec"), namespace)
    model = namespace["build"]()
    for param in model.params():
        param.array[...] = rng.uniform(-1, 1, param.shape)
    chainer.serializers.save_npz(tmp_path / "lm.npz", model)
    states = {"h": rng.uniform(-1, 1, (2, 8)), "rnn_c": rng.uniform(-2, 2, (2, 8))}   # rnn_h renamed h
    (tmp_path / "enc.py").write_text(NSTEP_SCRIPT)
    samples = {"lm": {"ids": np.array([3, 17]), **states},
               "enc": {"xs": rng.uniform(-2, 2, (3, 7, 5)), "xs_lengths": np.array([2, 7, 5])}}
    argv = {"lm": ["lm.py:build", "--weights", "lm.npz", "--input", "ids=2:int32", "--rename", "rnn_h=h"],
            "enc": ["enc.py:build", "--input", "xs=list:3,7,5"]}

    def run(which):
        sample = tmp_path / f"{which}.json"
        sample.write_text(json.dumps({"inputs": {k: _entry(v) for k, v in samples[which].items()}}))
        monkeypatch.chdir(tmp_path)
        return chainer_cli(argv[which] + ["--backend", "wasm", "--out", f"web_{which}", "--verify",
                                          "--sample", str(sample)])
    return run


@pytest.mark.parametrize("which", ["lm", "enc"])
def test_verify_compares_with_chainer(chainer_verify, capsys, which):
    assert chainer_verify(which) == 0
    out = capsys.readouterr().out
    assert "verify against chainer " in out and "wasm (node): max abs" in out and " ok" in out, out
    assert "note: source framework not used" not in out and "+ the numpy interpreter" not in out


def test_verify_fails_when_chainer_disagrees(chainer_verify, monkeypatch, capsys):
    real = L.Linear.forward

    def off(self, x, *args, **kwargs):      # only the reference's run: tracing records the graph
        y = real(self, x, *args, **kwargs)
        return y if chainer.config.enable_backprop else y + 1e-2
    monkeypatch.setattr(L.Linear, "forward", off)
    assert chainer_verify("lm") == 3
    out = capsys.readouterr().out
    assert "verify against chainer " in out and "verify FAILED for wasm (node)" in out, out
