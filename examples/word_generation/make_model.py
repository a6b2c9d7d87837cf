"""Train the word generation example: a next-word model over Aesop's fable "Belling the cat"
(fable.txt, 204 symbols: words and punctuation marks, 112 distinct).

As in Rowel Atienza's "LSTM by Example using Tensorflow": the dictionary numbers the symbols by frequency
(most frequent first, ties in order of first appearance: "," is 0, "the" is 1); the model reads 3
symbols and predicts the 4th: Embedding -> LSTM(512) -> LSTM(512) -> Dense(112, softmax). The article
feeds each id as one float; an embedding (one learned vector per symbol) avoids pretending that symbol 7
is "between" symbols 6 and 8 and learns the story in a few hundred full passes on a CPU.

Writes, next to this file: model.keras (`symbols` [batch, 3] int32 -> `next_symbol` [batch, 112]),
vocab.json (the symbols in id order) and expected.json (Keras' greedy continuations of a few 3-word
prompts and one seeded sampled continuation, for the tests).

    .venv/bin/python examples/word_generation/make_model.py [--epochs N] [--expected-only]
"""

import argparse
import collections
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import js_sampling  # noqa: E402  (examples/js_sampling.py: the runtime's sampler in Python)
N_INPUT, UNITS, EMBED = 3, 512, 32
GENERATE = 32                           # the article's story length
PROMPTS = ["had a general", "mouse mouse mouse", "the old mouse", "who is to"]
SAMPLED = {"prompt": "the mice had", "temperature": 0.7, "rng": 7}


def symbols() -> list[str]:
    return (HERE / "fable.txt").read_text().split()


def dictionary(words: list[str]) -> list[str]:
    """Symbols in id order: by frequency, ties in order of first appearance (Counter.most_common)."""
    return [w for w, _ in collections.Counter(words).most_common()]


def build_model(vocab: int) -> keras.Model:
    return keras.Sequential([
        keras.Input(shape=(N_INPUT,), dtype="int32", name="symbols"),
        keras.layers.Embedding(vocab, EMBED, name="embed"),
        keras.layers.LSTM(UNITS, return_sequences=True, name="lstm1"),
        keras.layers.LSTM(UNITS, name="lstm2"),
        keras.layers.Dense(vocab, activation="softmax", name="next_symbol"),
    ], name="word_window")


def train(ids: np.ndarray, vocab: int, epochs: int) -> keras.Model:
    x = np.stack([ids[i:i + N_INPUT] for i in range(len(ids) - N_INPUT)])
    y = ids[N_INPUT:]
    model = build_model(vocab)
    model.compile(keras.optimizers.RMSprop(0.001), "sparse_categorical_crossentropy", metrics=["accuracy"])
    started = time.perf_counter()
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=2, shuffle=True)
    print(f"trained in {time.perf_counter() - started:.0f} s")
    shipped = build_model(vocab)       # uncompiled twin: no optimizer state in the shipped file
    shipped.set_weights(model.get_weights())
    return shipped


def greedy(model, prompt_ids: list[int], n: int) -> tuple[list[int], float]:
    """Re-feeds the last N_INPUT ids per word (as the page does); returns ids and the smallest top-2 gap."""
    ids, gap = list(prompt_ids), 1.0
    for _ in range(n):
        p = model(np.array([ids[-N_INPUT:]], dtype="int32"), training=False).numpy()[0]
        top = np.sort(p)[-2:]
        gap = min(gap, float(top[1] - top[0]))
        ids.append(int(np.argmax(p)))
    return ids[N_INPUT:], gap


def sampled(model, prompt_ids: list[int], n: int, temperature: float, seed: int) -> list[int]:
    """What the page draws with createRng(seed): sample(log p, {temperature}) per word."""
    ids, random = list(prompt_ids), js_sampling.create_rng(seed)
    for _ in range(n):
        p = model(np.array([ids[-N_INPUT:]], dtype="int32"), training=False).numpy()[0]
        ids.append(js_sampling.sample(js_sampling.log_probs(p), temperature, random))
    return ids[N_INPUT:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--expected-only", action="store_true",
                        help="keep the shipped model, only rewrite vocab.json and expected.json")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    words = symbols()
    vocab = dictionary(words)
    index = {w: i for i, w in enumerate(vocab)}
    if not args.expected_only:
        train(np.array([index[w] for w in words], dtype="int32"), len(vocab), args.epochs).save(
            HERE / "model.keras")
    model = keras.models.load_model(HERE / "model.keras")
    (HERE / "vocab.json").write_text(json.dumps({"symbols": vocab, "n_input": N_INPUT}) + "\n")
    greedy_runs = []
    for prompt in PROMPTS:
        out, gap = greedy(model, [index[w] for w in prompt.split()], GENERATE)
        greedy_runs.append({"prompt": prompt, "text": " ".join(vocab[i] for i in out), "min_top2_gap": gap})
        print(f"{prompt!r} -> {greedy_runs[-1]['text']!r} (gap {gap:.3f})")
    prompt_ids = [index[w] for w in SAMPLED["prompt"].split()]
    first = model(np.array([prompt_ids], dtype="int32"), training=False).numpy()[0]
    drawn = sampled(model, prompt_ids, GENERATE, SAMPLED["temperature"], SAMPLED["rng"])
    print(f"sampled {SAMPLED}: {' '.join(vocab[i] for i in drawn)!r}")
    (HERE / "expected.json").write_text(json.dumps({
        "generate": GENERATE, "greedy": greedy_runs,
        "sampled": {**SAMPLED, "text": " ".join(vocab[i] for i in drawn)},
        "first_probs": {"prompt": SAMPLED["prompt"], "probs": first.tolist()}}, indent=1) + "\n")


if __name__ == "__main__":
    main()
