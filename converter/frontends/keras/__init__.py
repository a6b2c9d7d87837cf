"""The Keras frontend: ``loader`` reads a model into a ``KerasModelSpec``, ``builder`` turns it into IR."""

from converter.frontends.keras.builder import build_graph, keras_layer  # noqa: F401
