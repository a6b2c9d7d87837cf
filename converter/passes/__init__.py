"""Graph optimization passes and the memory plan (docs/design.md section 3).

Each pass is ``pass_fn(graph) -> changed`` and rewrites in place. ``optimize`` runs the default
pipeline until no pass changes the graph.
"""

from __future__ import annotations

from converter.passes.fold_constants import fold_constants
from converter.passes.fuse_elementwise import fuse_elementwise
from converter.passes.fuse_gates import fuse_gates
from converter.passes.hoist import hoist_input_projection
from converter.passes.memory_plan import MemoryPlan, memory_plan, peak_bytes  # noqa: F401
from converter.passes.remove_identity import remove_identity
from converter.passes.rewrite import eliminate_dead_code

# Order matters within a round: gates are canonical before hoisting (hoisting needs the canonical
# layout), and activations are absorbed into the hoisted MatMuls before elementwise chains form.
PIPELINE = (
    eliminate_dead_code,
    remove_identity,
    fold_constants,
    fuse_gates,
    hoist_input_projection,
    fuse_elementwise,
)
MAX_ROUNDS = 10


def optimize(graph, verify: bool = False, passes=PIPELINE):
    """Run ``passes`` in order, repeatedly, until none changes the graph; returns the graph.

    With ``verify``, the IR verifier runs after every pass that changed something, so a broken
    rewrite is reported by the pass that made it.
    """
    for _ in range(MAX_ROUNDS):
        changed = False
        for pass_fn in passes:
            if pass_fn(graph):
                changed = True
                if verify:
                    _verify_after(graph, pass_fn.__name__)
        if not changed:
            return graph
    raise RuntimeError(f"optimize: the passes still change the graph after {MAX_ROUNDS} rounds; "
                       "two passes undo each other's rewrites")


def _verify_after(graph, pass_name: str) -> None:
    try:
        graph.verify()
    except (AssertionError, ValueError) as e:
        raise AssertionError(f"graph invalid after pass {pass_name}: {e}") from e
