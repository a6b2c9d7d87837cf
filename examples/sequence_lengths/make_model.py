"""Train the sequence lengths example: the LSTM language model of the "LSTM Output" lesson, where a batch
of padded sentences runs through `tf.keras.layers.RNN(StackedRNNCells([LSTMCell(7), LSTMCell(7)]),
return_sequences=True)` over an `Embedding(vocab_size + 1, int(vocab_size ** 0.25), mask_zero=True)`.

The lesson passes the true lengths (`input_length=lens`) so that padded steps are skipped; in Keras the
same information travels as the embedding's mask (id 0 = padding). A masked step leaves the state alone
and repeats the previous output, so a row's outputs at and after its last real word are all equal, and
equal to running that row alone without padding. The page shows exactly that for the lesson's batch
(lengths [4, 9, 10, 5, 10]).

The words come from Aesop's fable in ../word_generation/fable.txt, tokenized like Keras' Tokenizer
(lower case, punctuation dropped, ids by frequency from 1). A small next-word head (Dense softmax) makes
it trainable; the shipped model outputs both the LSTM outputs and the next-word probabilities.

Writes model.keras (`words` [batch, 10] int32 -> `lstm_outputs` [batch, 10, 7], `next_word`
[batch, 10, V+1]), vocab.json and expected.json (the lesson's batch and Keras' outputs for it).

    .venv/bin/python examples/sequence_lengths/make_model.py
"""

import collections
import json
import os
import re
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
TEXT = HERE.parent / "word_generation" / "fable.txt"
MAX_LENGTH, UNITS, LAYERS = 10, 7, 2
LENGTHS = [4, 9, 10, 5, 10]           # the lesson's batch


def tokenize(text: str) -> list[str]:
    """Keras Tokenizer's defaults: lower case, punctuation dropped, split on whitespace."""
    return re.findall(r"[a-z']+", text.lower())


def build_vocab(words: list[str]) -> list[str]:
    """Index 0 is padding; then words by frequency (ties: first appearance), as Tokenizer numbers them."""
    return ["<pad>"] + [w for w, _ in collections.Counter(words).most_common()]


def build_model(vocab_size: int) -> keras.Model:
    words = keras.Input(shape=(MAX_LENGTH,), dtype="int32", name="words")
    embedding_dim = int(vocab_size ** 0.25)
    x = keras.layers.Embedding(vocab_size + 1, embedding_dim, mask_zero=True, name="embedding")(words)
    cells = [keras.layers.LSTMCell(UNITS) for _ in range(LAYERS)]
    outputs = keras.layers.RNN(keras.layers.StackedRNNCells(cells), return_sequences=True,
                               name="lstm_outputs")(x)
    probs = keras.layers.Dense(vocab_size + 1, activation="softmax", name="next_word")(outputs)
    return keras.Model(words, [outputs, probs], name="language_model")


def batches(ids: list[int], rng, n: int):
    """n windows of random length 3..MAX_LENGTH, post-padded; target: the next word at every step."""
    x = np.zeros((n, MAX_LENGTH), "int32")
    y = np.zeros((n, MAX_LENGTH), "int32")
    for row in range(n):
        length = int(rng.integers(3, MAX_LENGTH + 1))
        start = int(rng.integers(0, len(ids) - length - 1))
        x[row, :length] = ids[start:start + length]
        y[row, :length] = ids[start + 1:start + length + 1]
    return x, y


def lesson_batch(ids: list[int]) -> np.ndarray:
    """Five post-padded rows with the lesson's lengths, cut from the story at fixed places."""
    x = np.zeros((len(LENGTHS), MAX_LENGTH), "int32")
    for row, (length, start) in enumerate(zip(LENGTHS, (3, 30, 61, 95, 150))):
        x[row, :length] = ids[start:start + length]
    return x


def main():
    keras.utils.set_random_seed(0)
    words = tokenize(TEXT.read_text())
    vocab = build_vocab(words)
    index = {w: i for i, w in enumerate(vocab)}
    ids = [index[w] for w in words]
    vocab_size = len(vocab) - 1
    model = build_model(vocab_size)
    x, y = batches(ids, np.random.default_rng(0), 3000)
    model.compile(keras.optimizers.Adam(0.02), loss=[None, "sparse_categorical_crossentropy"])
    model.fit(x, [np.zeros((len(x), MAX_LENGTH, UNITS), "float32"), y], batch_size=64, epochs=15, verbose=2)
    shipped = build_model(vocab_size)
    shipped.set_weights(model.get_weights())
    shipped.save(HERE / "model.keras")
    batch = lesson_batch(ids)
    outputs, probs = shipped.predict(batch, verbose=0)
    (HERE / "vocab.json").write_text(json.dumps({"words": vocab, "max_length": MAX_LENGTH}) + "\n")
    (HERE / "expected.json").write_text(json.dumps({
        "lengths": LENGTHS,
        "inputs": {"words": {"shape": list(batch.shape), "data": batch.ravel().tolist()}},
        "outputs": {"lstm_outputs": {"shape": list(outputs.shape), "data": outputs.ravel().tolist()},
                    "next_word": {"shape": list(probs.shape), "data": probs.ravel().tolist()}},
    }) + "\n")
    for row, n in enumerate(LENGTHS):
        nxt = vocab[int(np.argmax(probs[row, n - 1]))]
        print(n, " ".join(vocab[i] for i in batch[row, :n]), "->", nxt)


if __name__ == "__main__":
    main()
