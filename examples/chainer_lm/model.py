"""Seed 004's language model, exactly as the seed writes it (Chainer's ptb example: EmbedID -> L.LSTM ->
L.LSTM -> Linear, dropout between), and the factory ``convert_chainer`` calls (``model.py:build``).

The vocabulary comes from fable.txt (seed 003's Aesop fable, words and punctuation split on spaces,
ordered by frequency as the seed's ``build_dataset`` does).
"""

import collections
from pathlib import Path

import numpy as np
import chainer
import chainer.functions as F
import chainer.links as L

HERE = Path(__file__).resolve().parent
N_UNITS = 96


# Copied from chainer examples code
class RNNForLM(chainer.Chain):
    """Definition of a recurrent net for language modeling"""
    def __init__(self, n_vocab, n_units):
        super(RNNForLM, self).__init__()
        with self.init_scope():
            self.embed = L.EmbedID(n_vocab, n_units)
            self.l1 = L.LSTM(n_units, n_units)
            self.l2 = L.LSTM(n_units, n_units)
            self.l3 = L.Linear(n_units, n_vocab)
        for param in self.params():
            param.data[...] = np.random.uniform(-0.1, 0.1, param.data.shape)

    def reset_state(self):
        self.l1.reset_state()
        self.l2.reset_state()

    def __call__(self, x):
        h0 = self.embed(x)
        h1 = self.l1(F.dropout(h0))
        h2 = self.l2(F.dropout(h1))
        y = self.l3(F.dropout(h2))
        return y


def corpus() -> tuple[list, list]:
    """(the fable's words, the vocabulary: most frequent first, ties in order of first appearance)."""
    words = (HERE / "fable.txt").read_text().split()
    return words, [w for w, _ in collections.Counter(words).most_common()]


def build() -> RNNForLM:
    return RNNForLM(len(corpus()[1]), N_UNITS)
