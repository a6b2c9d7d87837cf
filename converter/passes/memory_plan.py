"""The buffer reuse plan: which non-constant values share a memory slot.

Steps are the graph's nodes in order; graph inputs are written before step 0 and graph outputs are read
after the last step. A value is live from the step that writes it to the last step that reads it
(inclusive). Two values may share a slot only when their live ranges do not overlap; because kernels
are not assumed to work in place, a node's outputs never share a slot with its own inputs.

Slots are assigned greedily in step order. Sizes are symbolic, so a slot is a list of byte-size
expressions and its bytes are their maximum once the symbols are bound; the greedy choice compares
sizes at a probe binding (every symbol = ``PROBE``), which only affects how well slots are packed,
never correctness.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from converter.ir import dims
from converter.ir.graph import Graph, Value

BYTES_PER_ELEMENT = 4   # float32 and int32 alike
PROBE = 64              # the symbol value used to rank candidate slots


@dataclass
class MemoryPlan:
    """``slots[k]`` lists the values stored in slot k; ``slot_of[id(value)]`` is the value's slot.

    ``live[id(value)]`` is its ``(first, last)`` step range; -1 is "before the first step" (graph
    inputs) and ``len(graph.nodes)`` is "after the last step" (graph outputs).
    """
    slots: list = field(default_factory=list)
    slot_of: dict = field(default_factory=dict)
    live: dict = field(default_factory=dict)

    def slot_sizes(self, slot: int) -> list:
        """Distinct byte sizes (dim expressions) of the values in slot ``slot``; bytes = their max."""
        out = []
        for v in self.slots[slot]:
            size = value_bytes(v)
            if size not in out:
                out.append(size)
        return out


def value_bytes(value: Value):
    return dims.mul(dims.size(value.shape), BYTES_PER_ELEMENT)


def lifetimes(graph: Graph, keep_inputs: bool = False) -> tuple[list[Value], dict]:
    """Every non-constant value in definition order, and id(value) -> (first step, last step).

    With ``keep_inputs`` the graph inputs stay live to the end (a runtime that runs again without
    uploading the inputs anew needs them intact). State inputs (``graph.meta["states"]``) always do: the
    GPU backends keep the carried state in its input's slot between runs (runtime-js state residency), so
    no later value may reuse it — a run() between two step()s would otherwise overwrite the state.
    """
    end = len(graph.nodes)
    order, live = [], {}

    def define(v, step):
        if v is not None and not v.is_const and id(v) not in live:
            order.append(v)
            live[id(v)] = [step, step]

    for v in graph.inputs:
        define(v, -1)
    for step, node in enumerate(graph.nodes):
        for v in node.inputs:
            if v is not None and not v.is_const:
                live[id(v)][1] = max(live[id(v)][1], step)
        for v in node.outputs:
            define(v, step)
    states = {p.get("input") for p in graph.meta.get("states", []) or []}
    kept = list(graph.outputs) + [v for v in graph.inputs if keep_inputs or v.name in states]
    for v in kept:
        if not v.is_const:
            live[id(v)][1] = end
    return order, {k: tuple(r) for k, r in live.items()}


def memory_plan(graph: Graph, keep_inputs: bool = False) -> MemoryPlan:
    order, live = lifetimes(graph, keep_inputs)
    plan = MemoryPlan(live=live)
    slot_end: list[int] = []          # last live step of the slot's current occupant
    probe_bytes: list[int] = []       # the slot's size at the probe binding
    for v in order:
        first, last = live[id(v)]
        need = _probe(value_bytes(v))
        free = [k for k, e in enumerate(slot_end) if e < first]
        k = _best_fit(free, probe_bytes, need)
        if k is None:
            k = len(plan.slots)
            plan.slots.append([])
            slot_end.append(last)
            probe_bytes.append(need)
        plan.slots[k].append(v)
        plan.slot_of[id(v)] = k
        slot_end[k] = last
        probe_bytes[k] = max(probe_bytes[k], need)
    return plan


def _best_fit(free: list, probe_bytes: list, need: int):
    """The smallest free slot that holds ``need`` bytes, else the largest free one (least growth)."""
    if not free:
        return None
    fitting = [k for k in free if probe_bytes[k] >= need]
    if fitting:
        return min(fitting, key=lambda k: (probe_bytes[k], k))
    return max(free, key=lambda k: (probe_bytes[k], -k))


def _probe(size) -> int:
    return dims.evaluate(size, {s: PROBE for s in dims.symbols(size)})


def slot_bytes(plan: MemoryPlan, slot: int, bindings: Mapping[str, int]) -> int:
    return max(dims.evaluate(s, bindings) for s in plan.slot_sizes(slot))


def peak_bytes(plan: MemoryPlan, bindings: Mapping[str, int]) -> int:
    """Bytes of all slots together for a symbol binding (every slot is allocated for the whole run)."""
    return sum(slot_bytes(plan, k, bindings) for k in range(len(plan.slots)))
