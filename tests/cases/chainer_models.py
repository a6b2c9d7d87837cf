"""Chainer models for the frontend tests (Chainer vs the interpreter, tests/frontends/test_chainer_cases.py)
and the backend tests (Chainer vs every backend in Chromium, tests/browser/test_chainer_backends.py).

Each case builds a chain with wide random parameters (so gates saturate on some units), example inputs
(batch > 1, lists of different lengths), and Chainer's own outputs under the graph's output names
(a list of sequences padded with zeros, as the graph returns it). Few cases, each exercising several
functions, to keep the browser tests short.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np


@dataclass
class ChainerCase:
    name: str
    make: Callable            # () -> (chain, inputs for from_chainer, forward or None)


def _randomize(chain, seed: int, scale: float = 1.0):
    rng = np.random.RandomState(seed)
    for param in chain.params():
        param.array[...] = rng.uniform(-scale, scale, param.shape)
    return chain


def padded(seqs) -> np.ndarray:
    """Chainer's list of [length, ...] arrays as the graph's [B, T_MAX, ...] with zeros past each length."""
    arrays = [np.asarray(getattr(s, "array", s)) for s in seqs]
    out = np.zeros((len(arrays), max(len(a) for a in arrays)) + arrays[0].shape[1:], arrays[0].dtype)
    for b, a in enumerate(arrays):
        out[b, :len(a)] = a
    return out


def chainer_outputs(result) -> dict:
    """Chainer's results named as the graph names its outputs (trace._named_outputs)."""
    import chainer
    if isinstance(result, chainer.Variable):
        items = [("output", result)]
    elif isinstance(result, dict):
        items = list(result.items())
    else:
        items = [(f"output{i}", v) for i, v in enumerate(result)]
    return {name: padded(v) if isinstance(v, (list, tuple)) else v.array for name, v in items}


def feeds_for(graph, inputs) -> dict:
    """The graph's feeds for from_chainer's example inputs: lists padded, plus their lengths."""
    named = inputs if isinstance(inputs, dict) else {("x" if len(inputs) == 1 else f"input{i}"): a
                                                    for i, a in enumerate(inputs)}
    feeds = {}
    for name, value in named.items():
        if isinstance(value, (list, tuple)):
            feeds[name] = padded(value)
            feeds[f"{name}_lengths"] = np.array([len(v) for v in value], np.int32)
        else:
            feeds[name] = np.asarray(value)
    assert set(feeds) == {v.name for v in graph.inputs}, (sorted(feeds), [v.name for v in graph.inputs])
    return feeds


def run_chainer(chain, inputs, forward: Optional[Callable]) -> dict:
    import chainer
    args = list(inputs.values()) if isinstance(inputs, dict) else list(inputs)
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        return chainer_outputs((forward or (lambda c, *a: c(*a)))(chain, *args))


# ---- the models -----------------------------------------------------------------------------------

def _image_functions():
    import chainer
    import chainer.functions as F
    import chainer.links as L

    class ImageFunctions(chainer.Chain):
        """A CNN encoder's functions: pooling of several sizes (global too), reductions over axes,
        LRN, clip and the squashing functions, reshaping and splitting."""

        def __init__(self):
            super().__init__()
            with self.init_scope():
                self.conv = L.Convolution2D(3, 6, 3, pad=1)
                self.bn = L.BatchNormalization(6)
                self.fc = L.Linear(6, 4)
            self.keep = np.arange(12).reshape(2, 6) % 3 != 0                   # a constant condition

        def __call__(self, image):
            h = F.relu(self.bn(self.conv(image)))                               # [2, 6, 7, 7]
            pooled = F.max_pooling_2d(h, 3, stride=2)                           # cover_all: 3x3
            avg = F.average_pooling_2d(h, 7)                                    # global: 1x1
            lrn = F.local_response_normalization(h, n=3, k=1.5, alpha=0.3, beta=0.6)
            feature = F.average(lrn, axis=(2, 3))                               # [2, 6]
            parts = F.split_axis(pooled, [2, 4], axis=1)
            rows = F.separate(pooled, axis=2)
            return {
                "mean_keep": F.mean(h, axis=(2, 3), keepdims=True),
                "mean_axis1": F.mean(h, axis=1),
                "weighted": F.average(h, axis=1, weights=np.linspace(0.5, 2.0, 6).astype(np.float32)),
                "max_axes": F.max(pooled, axis=(1, 3)), "min_keep": F.min(h, axis=2, keepdims=True),
                "sum_all": F.sum(avg), "global_avg": avg,
                "feature": F.tanh(self.fc(feature)),
                "clip_sig": F.clip(F.sigmoid(feature), 0.3, 0.7) + F.hard_sigmoid(feature * 3.0),
                "where": F.where(self.keep, feature, F.exp(feature * 30.0)),
                "softplus": F.softplus(feature * 4.0) + F.softplus(feature, beta=2.5),
                "stack": F.stack([parts[0], parts[2]], axis=2),
                "rows": F.swapaxes(rows[1] * 2.0 + rows[2], 1, 2),
                "flat": F.flatten(parts[1]),
                "broadcast": F.broadcast_to(feature[:, None, 2:5], (2, 3, 3)),
                "index": pooled[1, ..., -1] * pooled[0, :, :, 0],
                "index2": pooled[:, 2:5, 1:, None, 0],
            }

    chain = _randomize(ImageFunctions(), 11)
    rng = np.random.RandomState(12)
    chain.bn.avg_mean[...] = rng.uniform(-0.5, 0.5, 6)
    chain.bn.avg_var[...] = rng.uniform(0.5, 2.0, 6)
    image = rng.uniform(-2, 2, (2, 3, 7, 7)).astype(np.float32)
    return chain, {"image": image}, None


def _nstep(cls_names, layers: int, lengths, with_hx: bool, seed: int):
    import chainer
    import chainer.links as L

    class Stack(chainer.Chain):
        """Several NStep links over the same list (the first feeds the second), returning every result."""

        def __init__(self):
            super().__init__()
            with self.init_scope():
                self.first = getattr(L, cls_names[0])(layers, 5, 6, 0.0)
                self.second = getattr(L, cls_names[1])(1, 6 * self.first.direction, 4, 0.0)

        def __call__(self, *args):
            hx, xs = args if with_hx else (None, args[0])
            outs = {}
            if "LSTM" in cls_names[0]:
                outs["hy"], outs["cy"], ys = self.first(hx, hx * 0.5 if with_hx else None, xs)
            else:
                outs["hy"], ys = self.first(hx, xs)
            result = self.second(None, None, ys) if "LSTM" in cls_names[1] else self.second(None, ys)
            outs["hy2"], outs["ys2"] = result[0], result[-1]
            outs["ys"] = ys
            return outs

    chain = _randomize(Stack(), seed)
    rng = np.random.RandomState(seed + 1)
    xs = [rng.uniform(-2, 2, (n, 5)).astype(np.float32) for n in lengths]
    if not with_hx:
        return chain, {"xs": xs}, None
    dirs = chain.first.direction
    hx = rng.uniform(-1, 1, (layers * dirs, len(lengths), 6)).astype(np.float32)
    return chain, {"hx": hx, "xs": xs}, None


def _sequence_functions():
    import chainer
    import chainer.functions as F
    import chainer.links as L

    class Tagger(chainer.Chain):
        """Ids per sequence through EmbedID (ignore_label) and Linear before a BiLSTM; a list output
        through per-step functions, F.pad_sequence, and the last layer's hy indexed."""

        def __init__(self):
            super().__init__()
            with self.init_scope():
                self.embed = L.EmbedID(9, 5, ignore_label=-1)
                self.embed0 = L.EmbedID(9, 5, ignore_label=0)
                self.proj = L.Linear(5, 5)
                self.rnn = L.NStepBiLSTM(1, 5, 3, 0.0)
                self.out = L.Linear(6, 4)

        def __call__(self, ids, words):
            xs = [F.tanh(self.proj(self.embed(x) + 0.0)) for x in ids]
            hy, _, ys = self.rnn(None, None, xs)
            return {"tags": [F.sigmoid(self.out(y)) for y in ys],
                    "padded": F.pad_sequence(ys, padding=-1.0),
                    "last": hy[-1] * 2.0,
                    "embed0": F.pad_sequence([self.embed0(x) for x in words])}

    chain = _randomize(Tagger(), 21)
    rng = np.random.RandomState(22)
    ids = [rng.randint(-1, 9, n).astype(np.int32) for n in (7, 4, 6)]
    ids[1][1] = -1
    words = [rng.randint(0, 9, n).astype(np.int32) for n in (2, 3, 1)]
    words[0][1] = 0
    return chain, {"ids": ids, "words": words}, None


CASES = [
    ChainerCase("image_functions", _image_functions),
    ChainerCase("nstep_lstm_gru_746", lambda: _nstep(("NStepLSTM", "NStepGRU"), 2, (7, 4, 6), False, 31)),
    ChainerCase("nstep_bi_hx_15", lambda: _nstep(("NStepBiLSTM", "NStepBiRNNTanh"), 2, (1, 5), True, 41)),
    ChainerCase("nstep_bigru_relu_746",
                lambda: _nstep(("NStepBiGRU", "NStepRNNReLU"), 1, (7, 4, 6), True, 51)),
    ChainerCase("sequence_functions", _sequence_functions),
]
