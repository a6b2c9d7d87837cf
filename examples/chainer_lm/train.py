"""Train seed 004's RNNForLM briefly on the fable (truncated backprop through time, as Chainer's ptb
example) and write, next to this file: params.npz (chainer.serializers.save_npz), vocab.json and
expected.json (a seed word, Chainer's greedy continuation of it word by word and the smallest gap
between the two largest logits along the way, so a test can tell a near tie).

    .venv/bin/python examples/chainer_lm/train.py [--expected-only]
"""

import argparse
import json
import sys
import time
from pathlib import Path

import chainer
import chainer.functions as F
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from model import N_UNITS, RNNForLM, corpus  # noqa: E402

GENERATE = 40          # words Chainer generates greedily for expected.json (the test checks the first 20)
SEED_WORD = "long"


def train(ids: np.ndarray, vocab_size: int, iterations: int, budget_s: float) -> RNNForLM:
    np.random.seed(0)
    model = RNNForLM(vocab_size, N_UNITS)
    optimizer = chainer.optimizers.Adam(alpha=0.003)
    optimizer.setup(model)
    batch, bprop = 8, 16
    offsets = np.arange(batch) * (len(ids) // batch)
    position, started = 0, time.perf_counter()
    for it in range(iterations):
        loss = 0
        for _ in range(bprop):
            x = ids[(offsets + position) % len(ids)]
            t = ids[(offsets + position + 1) % len(ids)]
            loss += F.softmax_cross_entropy(model(x), t)
            position += 1
        model.cleargrads()
        loss.backward()
        loss.unchain_backward()          # truncate the graph, keep the state
        optimizer.update()
        if (it + 1) % 100 == 0:
            print(f"iteration {it + 1}: loss {float(loss.array) / bprop:.3f}, "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
        if time.perf_counter() - started > budget_s:
            break
    chainer.serializers.save_npz(HERE / "params.npz", model)
    return model


def greedy(model: RNNForLM, seed_ids: list, count: int) -> tuple[list, float]:
    """Chainer's greedy generation, one word per call as the page does: reset, feed the seed, then
    feed back each argmax."""
    model.reset_state()
    out, gap = [], np.inf
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        for i in seed_ids:
            y = model(np.array([i], np.int32)).array[0]
        for _ in range(count):
            top = np.sort(y)[-2:]
            gap = min(gap, float(top[1] - top[0]))
            out.append(int(np.argmax(y)))
            y = model(np.array([out[-1]], np.int32)).array[0]
    return out, gap


def write_expected(model: RNNForLM, vocab: list) -> None:
    ids, gap = greedy(model, [vocab.index(SEED_WORD)], GENERATE)
    words = [vocab[i] for i in ids]
    print(f"{SEED_WORD} {' '.join(words)}\n(smallest top-2 logit gap {gap:.3f})")
    (HERE / "vocab.json").write_text(json.dumps({"words": vocab}) + "\n")
    (HERE / "expected.json").write_text(json.dumps({"seed": SEED_WORD, "greedy": words,
                                                    "min_top2_logit_gap": gap}, indent=1) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expected-only", action="store_true", help="keep params.npz, rewrite the json")
    parser.add_argument("--iterations", type=int, default=1200)
    parser.add_argument("--budget", type=float, default=1800,
                        help="a safety stop after this many seconds (the shipped run did all iterations)")
    args = parser.parse_args()
    words, vocab = corpus()
    if args.expected_only:
        model = RNNForLM(len(vocab), N_UNITS)
        chainer.serializers.load_npz(HERE / "params.npz", model)
    else:
        model = train(np.array([vocab.index(w) for w in words], np.int32), len(vocab), args.iterations,
                      args.budget)
    write_expected(model, vocab)


if __name__ == "__main__":
    main()
