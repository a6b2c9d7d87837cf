"""Keras layer handlers, one module per family; importing this package registers them all."""

from converter.frontends.keras.layers import (  # noqa: F401  (imported for their @keras_layer side effects)
    activation, conv, core, merge, norm, ops, recurrent)
