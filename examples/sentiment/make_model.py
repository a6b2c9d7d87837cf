"""Train the shipped example: a small sentiment LSTM (seed 000's shape) on a synthetic task.

Reviews are sequences of word ids (0 = padding); ids 1..499 are "positive" words and 500..999 "negative"
ones; the label says whether positive words outnumber negative ones. Real data sets can't be downloaded
here, and this keeps the example self-contained while still giving a trained model with masks and
padding. Writes model.keras and expected.json (sample inputs and Keras' own outputs).

    .venv/bin/python examples/sentiment/make_model.py
"""

import json
import os
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).parent
VOCAB, MAXLEN = 1000, 40


def make_data(n, rng):
    lengths = rng.integers(5, MAXLEN + 1, size=n)
    x = np.zeros((n, MAXLEN), dtype="int32")
    for i, n_words in enumerate(lengths):
        x[i, MAXLEN - n_words:] = rng.integers(1, VOCAB, size=n_words)  # pre-padding, like Keras' default
    pos = ((x > 0) & (x < 500)).sum(axis=1)
    neg = (x >= 500).sum(axis=1)
    return x, (pos > neg).astype("float32")


def main():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = make_data(4000, rng)
    model = keras.Sequential([
        keras.Input(shape=(None,), dtype="int32", name="words"),
        keras.layers.Embedding(VOCAB, 32, mask_zero=True, name="embed"),
        keras.layers.LSTM(32, dropout=0.2, recurrent_dropout=0.2, name="lstm"),
        keras.layers.Dense(1, activation="sigmoid", name="score"),
    ], name="sentiment")
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=64, epochs=10, validation_split=0.1, verbose=2)
    # Ship the inference model only (no optimizer state): an uncompiled twin with the trained weights.
    shipped = keras.models.clone_model(model)
    shipped.set_weights(model.get_weights())
    shipped.save(HERE / "model.keras")
    x_test, y_test = make_data(4, np.random.default_rng(1))
    pred = shipped.predict(x_test, verbose=0)
    (HERE / "expected.json").write_text(json.dumps({
        "inputs": {"words": {"shape": list(x_test.shape), "data": x_test.ravel().tolist()}},
        "outputs": {"score": {"shape": list(pred.shape), "data": pred.ravel().tolist()}},
        "labels": y_test.tolist(),
    }, indent=1) + "\n")
    print("saved", HERE / "model.keras", "predictions", pred.ravel(), "labels", y_test)


if __name__ == "__main__":
    main()
