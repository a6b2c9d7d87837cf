"""Train the captioning example: a small CNN encoder and an LSTM decoder on synthetic pictures of one
colored shape ("a big red circle"), the two-runner setup of WebDNN's image captioning demo.

The encoder maps a 32x32 RGB image to the decoder's initial LSTM state (h0, c0); the decoder reads one
word id per step and predicts the next word. Keras trains them jointly (teacher forcing over the whole
caption); the shipped decoder is a stateful single-step twin (batch 1, T=1) with the same weights, so
the page sets its state inputs from the encoder's outputs once per image and then calls runner.step()
per word until <end>.

Writes, next to this file: encoder.keras (`image` [batch,32,32,3] -> `init_h`, `init_c`),
decoder_step.keras (`word` [1,1] int32 -> `next_word` [1,V], state lstm_h/lstm_c), vocab.json and
samples.json (sample images as 0..255 pixels, their true captions and Keras' greedy captions).

    .venv/bin/python examples/captioning/make_model.py [--samples-only]
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

from pictures import END, MAX_WORDS, SIZE, START, WORDS, make_data, to_float  # noqa: E402

HERE = Path(__file__).resolve().parent

UNITS, EMBED = 64, 32


def build_encoder() -> keras.Model:
    image = keras.Input(shape=(SIZE, SIZE, 3), name="image")
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(image)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool2")(x)
    x = keras.layers.Conv2D(48, 3, padding="same", activation="relu", name="conv3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(64, activation="relu", name="embed")(x)
    h0 = keras.layers.Dense(UNITS, activation="tanh", name="init_h")(x)
    c0 = keras.layers.Dense(UNITS, name="init_c")(x)
    return keras.Model(image, [h0, c0], name="encoder")


def decoder_layers():
    return (keras.layers.Embedding(len(WORDS), EMBED, name="word_embed"),
            keras.layers.LSTM(UNITS, return_sequences=True, name="lstm"),
            keras.layers.Dense(len(WORDS), activation="softmax", name="next_word"))


def build_joint(encoder: keras.Model) -> keras.Model:
    """Image + caption prefix -> next-word probabilities at every position (teacher forcing)."""
    image = keras.Input(shape=(SIZE, SIZE, 3), name="image")
    words = keras.Input(shape=(None,), dtype="int32", name="words")
    h0, c0 = encoder(image)
    embed, lstm, dense = decoder_layers()
    y = dense(lstm(embed(words), initial_state=[h0, c0]))
    return keras.Model([image, words], y, name="captioner")


def build_step_decoder() -> keras.Model:
    word = keras.Input(batch_shape=(1, 1), dtype="int32", name="word")
    x = keras.layers.Embedding(len(WORDS), EMBED, name="word_embed")(word)
    x = keras.layers.LSTM(UNITS, stateful=True, name="lstm")(x)
    y = keras.layers.Dense(len(WORDS), activation="softmax", name="next_word")(x)
    return keras.Model(word, y, name="decoder_step")


def greedy_caption(joint: keras.Model, image: np.ndarray) -> tuple[str, float]:
    """Keras' own greedy decoding: re-run the joint model on the growing prefix, take the last argmax.
    Returns the caption and the smallest gap between the two most likely words along the way."""
    ids, gap = [START], 1.0
    while len(ids) <= MAX_WORDS:
        p = joint([image[None], np.array([ids], dtype="int32")], training=False).numpy()[0, -1]
        top = np.sort(p)[-2:]
        gap = min(gap, float(top[1] - top[0]))
        ids.append(int(np.argmax(p)))
        if ids[-1] == END:
            break
    return " ".join(WORDS[i] for i in ids[1:] if i != END), gap


def train() -> None:
    images, ids, _ = make_data(6000, np.random.default_rng(0))
    encoder = build_encoder()
    joint = build_joint(encoder)
    joint.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy", metrics=["accuracy"])
    started = time.perf_counter()
    joint.fit([to_float(images), ids[:, :-1]], ids[:, 1:], batch_size=64, epochs=12, verbose=2,
              validation_split=0.1)
    print(f"trained in {time.perf_counter() - started:.0f} s")
    step = build_step_decoder()
    for name in ("word_embed", "lstm", "next_word"):
        step.get_layer(name).set_weights(joint.get_layer(name).get_weights())
    shipped_encoder = keras.models.clone_model(encoder)    # uncompiled, no optimizer state
    shipped_encoder.set_weights(encoder.get_weights())
    shipped_encoder.save(HERE / "encoder.keras")
    step.save(HERE / "decoder_step.keras")


def write_samples(count: int = 8, min_gap: float = 0.05) -> None:
    """Captions held-out images with the shipped files (the joint model rebuilt from them) and keeps
    samples whose greedy choices are clear, so float differences cannot flip a word in the tests."""
    encoder = keras.models.load_model(HERE / "encoder.keras")
    step = keras.models.load_model(HERE / "decoder_step.keras")
    joint = build_joint(encoder)
    for name in ("word_embed", "lstm", "next_word"):
        joint.get_layer(name).set_weights(step.get_layer(name).get_weights())
    images, _, truths = make_data(200, np.random.default_rng(1))
    results = [greedy_caption(joint, im) for im in to_float(images)]
    accuracy = float(np.mean([cap == t for (cap, _), t in zip(results, truths)]))
    print(f"held-out greedy caption accuracy {accuracy:.3f}")
    chosen = [i for i, (_, gap) in enumerate(results) if gap >= min_gap][:count]
    samples = [{"pixels": images[i].ravel().tolist(), "truth": truths[i], "keras": results[i][0],
                "min_top2_gap": results[i][1]} for i in chosen]
    (HERE / "vocab.json").write_text(json.dumps({"words": WORDS, "start": START, "end": END,
                                                 "max_words": MAX_WORDS, "image_size": SIZE}) + "\n")
    (HERE / "samples.json").write_text(json.dumps({"held_out_accuracy": accuracy, "samples": samples})
                                       + "\n")
    for s in samples:
        print(f"truth {s['truth']!r:28} keras {s['keras']!r:28} gap {s['min_top2_gap']:.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples-only", action="store_true",
                        help="keep the shipped models, only rewrite vocab.json and samples.json")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    if not args.samples_only:
        train()
    write_samples()


if __name__ == "__main__":
    main()
