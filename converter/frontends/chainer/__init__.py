"""The Chainer frontend: ``trace`` runs a live chainer.Chain once and keeps its graph, ``builder`` (with
the per-function handlers in ``functions``/``arrays``, the NStep links in ``nstep`` and lists of
sequences in ``sequences``) turns that graph into IR."""

from converter.frontends.chainer.builder import build_graph, chainer_function  # noqa: F401
from converter.frontends.chainer.trace import Sequences, trace  # noqa: F401
