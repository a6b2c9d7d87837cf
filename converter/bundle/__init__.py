"""Bundle files: the Program a backend produces, as one file the JS runtime loads (docs/design.md sec. 4)."""

from converter.bundle.expr import ExprError, evaluate, validate  # noqa: F401
from converter.bundle.format import BundleError  # noqa: F401
from converter.bundle.reader import decode_bundle, read_bundle  # noqa: F401
from converter.bundle.writer import bundle_name, encode_bundle, save_bundle, write_bundle  # noqa: F401
