"""The op catalogue (docs/design.md section 1). Importing this package registers every op."""

from converter.ops import (  # noqa: F401  (imported for their @register side effects)
    conv,
    elementwise,
    linear,
    masks,
    norm,
    recurrent,
    shape,
)
