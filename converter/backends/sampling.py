"""The generation feed of a model (runtime-js Runner.generate, docs/design.md section 6): which input takes
the next token and which output scores it, when the signature has exactly one of each in a form the
GPU sampling kernels (kernels/<backend>/sample.*.j2) can feed on the device:

- the scores: the only data output, float32 [1 or batch, V] with a static V >= 2;
- the tokens: the only data input, int32 ids [1 or batch, T] (also [1 or batch] for T = 1), or float32
  one-hot rows [1 or batch, T, V]; T static. Each step the kernel shifts the window by one token.

The runtime checks a bundle's feed itself (a bundle is data); this only decides which bundles carry a
sampling kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Feed:
    input: str
    output: str
    window: int      # T
    vocab: int       # V
    onehot: bool
    int_ids: bool


def _batch_ok(d) -> bool:
    return d == 1 or isinstance(d, str)


def generation_feed(graph) -> Optional[Feed]:
    states = graph.meta.get("states", [])
    state_ins = {s["input"] for s in states}
    state_outs = {s["output"] for s in states}
    ins = [v for v in graph.inputs if v.name not in state_ins]
    outs = [v for v in graph.outputs if v.name not in state_outs]
    if len(ins) != 1 or len(outs) != 1:
        return None
    x, y = ins[0], outs[0]
    if y.dtype != "float32" or len(y.shape) != 2 or not _batch_ok(y.shape[0]):
        return None
    vocab = y.shape[1]
    if not isinstance(vocab, int) or vocab < 2 or not x.shape or not _batch_ok(x.shape[0]):
        return None
    rest = list(x.shape[1:])
    onehot = x.dtype == "float32" and len(rest) == 2 and rest[1] == vocab
    if onehot:
        rest = rest[:1]
    if len(rest) > 1 or not all(isinstance(d, int) and d >= 1 for d in rest):
        return None
    if x.dtype == "int32" and len(rest) == 0:
        rest = [1]
    if not onehot and x.dtype != "int32":
        return None
    return Feed(x.name, y.name, rest[0] if rest else 1, vocab, onehot, x.dtype == "int32")
