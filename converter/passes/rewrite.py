"""A small rewrite framework: rules as data, applied to a fixed point.

A rule is a ``(pattern, rewrite)`` pair. ``pattern(ctx, node)`` looks at one node and returns a match
(anything but ``None``) when the rule applies; ``rewrite(ctx, node, match)`` changes the graph through
the context helpers (``insert``, ``replace``, ``rebuild``) and never edits a node in place (a node's
inputs and attrs are fixed once it is built). Rewrites never delete nodes: a replaced node loses its
users and dead-code elimination drops it at the end of the sweep.

Graph outputs keep their names through rewrites (the runtime finds outputs by name), so a value can
only replace a graph output when it can take over that name: it must be produced by a node and not be
a graph input, a constant or another graph output (``can_replace``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from converter.ir.graph import Graph, Node, Value

# A pass may sweep this many times before it is declared non-terminating (a rule bug, not a big graph:
# each sweep applies every rule that matches anywhere).
MAX_SWEEPS = 100


@dataclass(frozen=True)
class Rule:
    pattern: Callable[["Context", Node], Any]
    rewrite: Callable[["Context", Node, Any], None]

    @property
    def name(self) -> str:
        return self.pattern.__name__


class Context:
    """The graph being rewritten plus cached use lists, invalidated by every change."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self._users: Optional[dict] = None

    def users(self, value: Value) -> list:
        """The ``(node, input index)`` pairs that read ``value``."""
        if self._users is None:
            self._users = self.graph.consumers()
        return self._users.get(id(value), [])

    def user_nodes(self, value: Value) -> list[Node]:
        seen, out = set(), []
        for node, _ in self.users(value):
            if id(node) not in seen:
                seen.add(id(node))
                out.append(node)
        return out

    def is_output(self, value: Value) -> bool:
        return any(v is value for v in self.graph.outputs)

    def single_user(self, value: Value) -> Optional[Node]:
        """The only node reading ``value`` when nothing else (graph outputs included) does."""
        nodes = self.user_nodes(value)
        if len(nodes) == 1 and not self.is_output(value):
            return nodes[0]
        return None

    def can_replace(self, old: Value, new: Value) -> bool:
        if old.dtype != new.dtype or tuple(old.shape) != tuple(new.shape):
            return False
        if not self.is_output(old):
            return True
        is_input = any(v is new for v in self.graph.inputs)
        return not (new.is_const or is_input or self.is_output(new))

    def insert(self, before: Node, op: str, inputs: Sequence[Optional[Value]], attrs=None,
               name: str = "") -> list[Value]:
        """Add a node just before ``before`` (its inputs are defined there, so order stays valid)."""
        index = self.graph.nodes.index(before)
        self.changed()
        return self.graph.add(op, inputs, attrs, name or before.name, index=index)

    def replace(self, old: Value, new: Value) -> None:
        """Point every use of ``old`` at ``new``; a graph output keeps its name on ``new``."""
        if not self.can_replace(old, new):
            raise ValueError(f"rewrite bug: {new!r} cannot replace {old!r}")
        if self.is_output(old):
            old.name, new.name = self.graph.unique(old.name + "_replaced"), old.name
        self.graph.replace_uses(old, new)
        self.changed()

    def rebuild(self, node: Node, inputs: Optional[dict] = None, attrs: Optional[dict] = None) -> list[Value]:
        """A copy of ``node`` with some named inputs and attrs changed, taking over its uses and its names
        (node and output names, so that a rebuilt node reads like the one it replaces)."""
        named = dict(node.named_inputs(), **(inputs or {}))
        new_attrs = dict(node.attrs, **(attrs or {}))
        outs = self.insert(node, node.op, list(named.values()), new_attrs, node.name)
        unique = self.graph.unique
        outs[0].producer.name, node.name = node.name, unique(node.name + "_old")
        for old, new in zip(node.outputs, outs):
            old.name, new.name = unique(old.name + "_old"), old.name
            self.graph.replace_uses(old, new)
        self.changed()
        return outs

    def const(self, name: str, array, dtype: Optional[str] = None) -> Value:
        return self.graph.const(name, array, dtype)

    def changed(self) -> None:
        self._users = None


def apply_rules(graph: Graph, rules: Sequence[Rule]) -> bool:
    """Sweep the nodes, applying the first matching rule to each, until a sweep changes nothing.

    Returns whether anything changed. Dead nodes are removed after every sweep that changed the graph.
    """
    ctx = Context(graph)
    changed_any = False
    for _ in range(MAX_SWEEPS):
        changed = False
        for node in list(graph.nodes):
            if not _alive(ctx, node):
                continue
            for rule in rules:
                match = rule.pattern(ctx, node)
                if match is not None:
                    rule.rewrite(ctx, node, match)
                    ctx.changed()
                    changed = True
                    break
        if not changed:
            return changed_any
        changed_any = True
        eliminate_dead_code(graph)
        ctx.changed()
    names = ", ".join(r.name for r in rules)
    raise RuntimeError(f"rewrite rules ({names}) still change the graph after {MAX_SWEEPS} sweeps; "
                       "a rule undoes another's rewrite")


def _alive(ctx: Context, node: Node) -> bool:
    """A node already replaced in this sweep is skipped: rewriting it again would be wasted work."""
    return any(ctx.users(o) or ctx.is_output(o) for o in node.outputs)


def eliminate_dead_code(graph: Graph) -> bool:
    """Drop nodes none of whose outputs reach a graph output. Returns whether any node was dropped."""
    live = {id(v) for v in graph.outputs}
    keep = []
    for node in reversed(graph.nodes):
        if any(id(o) in live for o in node.outputs):
            keep.append(node)
            live.update(id(v) for v in node.inputs if v is not None)
    removed = len(keep) != len(graph.nodes)
    graph.nodes = keep[::-1]
    return removed
