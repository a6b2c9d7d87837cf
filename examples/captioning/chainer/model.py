"""The captioning example's model written for Chainer: the same CNN encoder and LSTM decoder as the
Keras version (plus a batch normalization after the first convolution), as one ``chainer.Chain``.

As in WebDNN's captioning demo, the image feature *primes* the LSTM: it is the LSTM's input at the
step before the first word (from a zero state), and the words follow, one ``step()`` per word, with
``L.LSTM`` carrying the state between calls. The three methods become three bundles (see README.md):

- ``encode(image)``: [B, 3, 32, 32] float (pixels / 255, NCHW) -> the image feature [B, EMBED];
- ``prime(feature)``: feeds the feature into the LSTM and returns nothing; its bundle's outputs are
  the LSTM state (``lstm_h_next``, ``lstm_c_next``), the decoder's starting state;
- ``step(word)``: [B] int32 word ids -> next-word probabilities [B, V].

``build()`` is the factory ``convert_chainer`` calls (``model.py:build``).
"""

import sys
from pathlib import Path

import chainer
import chainer.functions as F
import chainer.links as L
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pictures import END, MAX_WORDS, START, WORDS  # noqa: E402  (examples/captioning/pictures.py)

UNITS, EMBED = 64, 32


class Captioner(chainer.Chain):
    def __init__(self, n_words: int = len(WORDS), units: int = UNITS, embed: int = EMBED):
        super().__init__()
        with self.init_scope():
            self.conv1 = L.Convolution2D(3, 16, 3, pad=1)
            self.bn1 = L.BatchNormalization(16)
            self.conv2 = L.Convolution2D(16, 32, 3, pad=1)
            self.conv3 = L.Convolution2D(32, 48, 3, pad=1)
            self.image_feature = L.Linear(48, embed)
            self.word_embed = L.EmbedID(n_words, embed)
            self.lstm = L.LSTM(embed, units)
            self.next_word = L.Linear(units, n_words)

    def encode(self, image):
        h = F.max_pooling_2d(F.relu(self.bn1(self.conv1(image))), 2)
        h = F.max_pooling_2d(F.relu(self.conv2(h)), 2)
        h = F.relu(self.conv3(h))
        return self.image_feature(F.average(h, axis=(2, 3)))

    def prime(self, feature):
        self.lstm(feature)         # only the state matters: its bundle's outputs are the LSTM state

    def logits(self, word):
        return self.next_word(self.lstm(self.word_embed(word)))

    def step(self, word):
        return F.softmax(self.logits(word))


def greedy_captions(model: Captioner, images: np.ndarray) -> list:
    """Chainer's own greedy decoding, the loop the page runs: encode, reset + prime, then one step per
    word until <end>. Returns (caption, smallest gap between the two most likely words) per image."""
    results = []
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        features = model.encode(images)
        for k in range(len(images)):
            model.lstm.reset_state()
            model.prime(features[k:k + 1])
            word, words, gap = START, [], 1.0
            while len(words) < MAX_WORDS:
                p = model.step(np.array([word], np.int32)).array[0]
                top = np.sort(p)[-2:]
                gap = min(gap, float(top[1] - top[0]))
                word = int(np.argmax(p))
                if word == END:
                    break
                words.append(WORDS[word])
            results.append((" ".join(words), gap))
    return results


def build() -> Captioner:
    return Captioner()
