"""Train the text generation example: seed 001's character model (LSTM(128) over a window of MAXLEN
one-hot characters, Dense softmax over the next character) on a slice of Tiny Shakespeare.

Writes, next to this file:
- model.keras       the window model, input `chars` [batch, MAXLEN, V] -> `next_char` [batch, V];
- model_step.keras  its stateful single-step twin (batch 1, T=1, stateful=True, the same weights), which
                    the converter turns into a bundle with state inputs/outputs for runner.step();
- vocab.json        the characters in id order and MAXLEN;
- expected.json     a seed text and what Keras generates from it greedily in both modes, so the tests
                    compare the page with Keras without retraining.

Training is deliberately short (a few minutes on 2 CPU cores): the text is Shakespeare-shaped, not good.

    .venv/bin/python examples/text_generation/make_model.py [--corpus PATH] [--epochs N]
"""

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = Path("/work/shared/data/tinyshakespeare.txt")
# Seed 001 reduces the text to lower case letters and a few punctuation marks (36 characters).
CHARS = sorted(set("abcdefghijklmnopqrstuvwxyz") | set(" \n,.?!:;-'"))
MAXLEN, UNITS = 40, 128
TRAIN_CHARS, STRIDE = 300_000, 3
GENERATE = 80              # characters Keras generates for expected.json
SEED_CANDIDATES = 40       # seed texts tried; the one whose greedy path is least ambiguous is kept


def reduce_text(text: str) -> str:
    """Lower case; any character outside CHARS becomes a space (as seed 001 does)."""
    allowed = set(CHARS)
    return "".join(c if c in allowed else " " for c in text.lower())


def dataset(ids: np.ndarray, batch: int) -> tf.data.Dataset:
    starts = np.arange(0, len(ids) - MAXLEN - 1, STRIDE)
    windows = np.stack([ids[s:s + MAXLEN] for s in starts])
    targets = ids[starts + MAXLEN]
    ds = tf.data.Dataset.from_tensor_slices((windows, targets)).shuffle(len(starts), seed=0)
    # one-hot per batch: the whole one-hot training set would not fit in memory comfortably
    return ds.batch(batch).map(lambda x, y: (tf.one_hot(x, len(CHARS)), y)).prefetch(2)


def window_model() -> keras.Model:
    return keras.Sequential([
        keras.Input(shape=(MAXLEN, len(CHARS)), name="chars"),
        keras.layers.LSTM(UNITS, name="lstm"),
        keras.layers.Dense(len(CHARS), activation="softmax", name="next_char"),
    ], name="char_window")


def step_model() -> keras.Model:
    """Batch 1, one character per call; the LSTM keeps h and c between calls."""
    return keras.Sequential([
        keras.Input(batch_shape=(1, 1, len(CHARS)), name="char"),
        keras.layers.LSTM(UNITS, stateful=True, name="lstm"),
        keras.layers.Dense(len(CHARS), activation="softmax", name="next_char"),
    ], name="char_step")


def one_hot(ids) -> np.ndarray:
    return np.eye(len(CHARS), dtype="float32")[np.asarray(ids)]


def greedy_window(model, seed_ids: list, n: int) -> tuple[list, float]:
    """Re-feeds the last MAXLEN characters each step; returns (ids, smallest top-2 probability gap)."""
    ids, gap = list(seed_ids), 1.0
    for _ in range(n):
        p = model(one_hot(ids[-MAXLEN:])[None], training=False).numpy()[0]
        ids.append(int(np.argmax(p)))
        gap = min(gap, top2_gap(p))
    return ids[len(seed_ids):], gap


def greedy_step(model, seed_ids: list, n: int) -> tuple[list, float]:
    """Feeds the seed one character at a time, then its own choices; state carries over throughout."""
    model.get_layer("lstm").reset_state()
    p = None
    for i in seed_ids:
        p = model(one_hot([[i]]), training=False).numpy()[0]
    out, gap = [], 1.0
    for _ in range(n):
        out.append(int(np.argmax(p)))
        gap = min(gap, top2_gap(p))
        p = model(one_hot([[out[-1]]]), training=False).numpy()[0]
    return out, gap


def top2_gap(p: np.ndarray) -> float:
    top = np.sort(p)[-2:]
    return float(top[1] - top[0])


def pick_seed(text: str, window, step) -> dict:
    """Among seed windows from held-out text, keep the one whose greedy choices are clearest in both
    modes, so float differences between Keras and a backend cannot flip an argmax."""
    rng = np.random.default_rng(1)
    best = None
    for start in rng.integers(0, len(text) - MAXLEN, size=SEED_CANDIDATES):
        seed = text[start:start + MAXLEN]
        ids = [CHARS.index(c) for c in seed]
        w_ids, w_gap = greedy_window(window, ids, GENERATE)
        s_ids, s_gap = greedy_step(step, ids, GENERATE)
        gap = min(w_gap, s_gap)
        if best is None or gap > best["min_top2_gap"]:
            best = {"seed": seed, "window_greedy": "".join(CHARS[i] for i in w_ids),
                    "step_greedy": "".join(CHARS[i] for i in s_ids), "min_top2_gap": gap}
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="Tiny Shakespeare text file")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    text = reduce_text(args.corpus.read_text())
    ids = np.array([CHARS.index(c) for c in text[:TRAIN_CHARS]], dtype="int32")
    model = window_model()
    model.compile(keras.optimizers.Adam(0.005, clipnorm=1.0), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    started = time.perf_counter()
    model.fit(dataset(ids, 128), epochs=args.epochs, verbose=2)
    print(f"trained in {time.perf_counter() - started:.0f} s")
    shipped = window_model()          # uncompiled twin: no optimizer state in the shipped file
    shipped.set_weights(model.get_weights())
    step = step_model()
    step.set_weights(model.get_weights())
    shipped.save(HERE / "model.keras")
    step.save(HERE / "model_step.keras")
    held_out = text[TRAIN_CHARS:TRAIN_CHARS + 50_000]
    expected = pick_seed(held_out, shipped, step)
    first = shipped(one_hot([CHARS.index(c) for c in expected["seed"]])[None], training=False).numpy()[0]
    expected["first_probs"] = first.tolist()
    expected["generate"] = GENERATE
    (HERE / "vocab.json").write_text(json.dumps({"chars": CHARS, "maxlen": MAXLEN}) + "\n")
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"seed {expected['seed']!r}\nwindow: {expected['window_greedy']!r}\n"
          f"step:   {expected['step_greedy']!r}\nmin top-2 gap {expected['min_top2_gap']:.4f}")


if __name__ == "__main__":
    main()
