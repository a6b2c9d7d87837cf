"""Train the shipped example: a small sentiment LSTM (WebDNN's LSTM example shape: Embedding -> LSTM(32)
-> Dense(1, sigmoid)) on synthetic English reviews.

Real review data sets can't be downloaded here, so the reviews are generated from a small vocabulary
(vocab.json): neutral words, positive and negative words, negations ("not", "never", ...) and
intensifiers. A clause's sentiment word counts +1 or -1, flipped by a negation right before it (an
intensifier may sit between); the label says whether the review's sum is positive (ties are left out).
Negation makes word order matter, which is what the LSTM is for. Reviews are tokenized as the page does
it (tokenize() below), pre-padded with 0 to MAXLEN words; unknown words map to the OOV id.

Writes vocab.json, model.keras and expected.json (sample reviews, their ids and Keras' own scores).

    .venv/bin/python examples/sentiment/make_model.py
"""

import json
import os
import re
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).parent
MAXLEN = 40
PAD, OOV = 0, 1
POSITIVE = ("good great excellent wonderful brilliant amazing superb enjoyable fun funny beautiful moving "
            "charming clever delightful fantastic fresh gripping lovely loved love like liked enjoyed best "
            "perfect touching smart solid strong memorable impressive masterpiece recommend entertaining "
            "stunning sweet warm witty pleasant").split()
NEGATIVE = ("bad awful terrible boring dull poor weak worst horrible stupid hated hate dislike disliked "
            "waste mess lame annoying pointless predictable ugly slow bland cheap clumsy disappointing "
            "forgettable painful ridiculous silly tedious tired unfunny wooden flat confusing shallow messy "
            "awkward mediocre").split()
NEGATIONS = "not never no hardly isn't wasn't didn't don't".split()
INTENSIFIERS = "very really so quite truly extremely pretty too".split()
NEUTRAL = ("the a an this that it its film movie story plot acting actors actor actress cast director "
           "script ending beginning scenes scene music score characters character dialogue camera effects "
           "was is were are be been i we they he she you my our their his her of in on at to for with and "
           "but or as about from by all some one two three hours hour minutes time end start whole part "
           "watched saw felt thought seemed made found looked did does had has have would could "
           "first second last half after before during then also just even still again lead role "
           "performance performances show series book version sequel theater night family friends kids "
           "people audience everyone here there what how when which who").split()
CONNECTORS = ("and", "but", "and", "also")
WORDS = ["<pad>", "<unk>"] + sorted(set(POSITIVE + NEGATIVE + NEGATIONS + INTENSIFIERS + NEUTRAL))
INDEX = {w: i for i, w in enumerate(WORDS)}
# (text, label) pairs shown on the page and checked by the tests: every one must come out right.
SAMPLES = [
    ("a wonderful film with brilliant acting and a moving story", 1),
    ("the plot was boring and the dialogue was awful", 0),
    ("i did not like the ending but the music was beautiful and the cast was great", 1),
    ("not funny, never clever, a waste of two hours", 0),
]


def tokenize(text: str) -> list[int]:
    """Lower case, words are runs of letters and apostrophes; unknown words -> OOV. The page's
    tokenizer (index.html) is the same regular expression."""
    return [INDEX.get(w, OOV) for w in re.findall(r"[a-z']+", text.lower())]


def pad(ids: list[int]) -> list[int]:
    """Keep the last MAXLEN ids and pre-pad with PAD (Keras pad_sequences' defaults)."""
    ids = ids[-MAXLEN:]
    return [PAD] * (MAXLEN - len(ids)) + ids


def clause(rng) -> tuple[list[str], int]:
    words = list(rng.choice(NEUTRAL, size=rng.integers(1, 6)))
    if rng.random() < 0.15:               # some clauses carry no sentiment at all
        return words, 0
    polarity = 1 if rng.random() < 0.5 else -1
    negated = rng.random() < 0.3
    phrase = [rng.choice(NEGATIONS)] if negated else []
    if rng.random() < 0.3:
        phrase.append(rng.choice(INTENSIFIERS))
    phrase.append(rng.choice(POSITIVE if polarity > 0 else NEGATIVE))
    score = -polarity if negated else polarity
    tail = list(rng.choice(NEUTRAL, size=rng.integers(0, 3)))
    return words + phrase + tail, score


def review(rng) -> tuple[list[str], int]:
    words, total = [], 0
    for i in range(int(rng.integers(1, 4))):
        if i:
            words.append(rng.choice(CONNECTORS))
        w, s = clause(rng)
        words += w
        total += s
    if rng.random() < 0.1:                # unknown words appear in real reviews
        words.insert(int(rng.integers(0, len(words) + 1)), "<unk>")
    return words, total


def make_data(n: int, rng):
    xs, ys = [], []
    while len(xs) < n:
        words, total = review(rng)
        if total == 0:
            continue
        xs.append(pad([INDEX[w] for w in words]))
        ys.append(float(total > 0))
    return np.array(xs, dtype="int32"), np.array(ys, dtype="float32")


def main():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = make_data(12000, rng)
    model = keras.Sequential([
        keras.Input(shape=(None,), dtype="int32", name="words"),
        keras.layers.Embedding(len(WORDS), 32, mask_zero=True, name="embed"),
        keras.layers.LSTM(32, dropout=0.2, recurrent_dropout=0.2, name="lstm"),
        keras.layers.Dense(1, activation="sigmoid", name="score"),
    ], name="sentiment")
    model.compile(keras.optimizers.Adam(0.005), "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=64, epochs=8, validation_split=0.1, verbose=2)
    x_test, y_test = make_data(1000, np.random.default_rng(1))
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    # Ship the inference model only (no optimizer state): an uncompiled twin with the trained weights.
    shipped = keras.models.clone_model(model)
    shipped.set_weights(model.get_weights())
    shipped.save(HERE / "model.keras")
    ids = np.array([pad(tokenize(t)) for t, _ in SAMPLES], dtype="int32")
    pred = shipped.predict(ids, verbose=0)
    (HERE / "vocab.json").write_text(json.dumps({
        "words": WORDS, "pad": PAD, "oov": OOV, "maxlen": MAXLEN, "token_pattern": "[a-z']+",
        "lowercase": True}) + "\n")
    (HERE / "expected.json").write_text(json.dumps({
        "inputs": {"words": {"shape": list(ids.shape), "data": ids.ravel().tolist()}},
        "outputs": {"score": {"shape": list(pred.shape), "data": pred.ravel().tolist()}},
        "texts": [t for t, _ in SAMPLES], "labels": [label for _, label in SAMPLES],
        "held_out_accuracy": float(accuracy),
    }, indent=1) + "\n")
    print(f"saved {HERE / 'model.keras'}; held-out accuracy {accuracy:.3f}")
    for (text, label), p in zip(SAMPLES, pred.ravel()):
        print(f"{p:.3f} label {label}  {text}")


if __name__ == "__main__":
    main()
