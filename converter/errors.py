"""The one exception type users of the converter see.

A ConversionError carries a single-line message naming what failed (file, layer, weight), why, and what
to do about it. The CLI prints it as-is, so messages never span lines.
"""


class ConversionError(Exception):
    """A model cannot be converted; `str(err)` is one line for the user."""

    def __init__(self, message: str):
        # Multi-line causes (h5py, json) are folded so the CLI can print exactly one line.
        super().__init__(" ".join(str(message).split()))
