"""fuse_elementwise: one kernel for a chain of elementwise ops, and activations into MatMul/Conv.

A producer is merged into its consumer only when the consumer is its single user (otherwise the
producer's result would be computed twice). Fused nodes are bounded: WebGPU guarantees only 8 storage
buffers per shader stage (inputs + the output), and long programs make slow shaders to compile.
"""

from __future__ import annotations

from converter.passes.rewrite import Context, Rule, apply_rules

MAX_FUSED_INPUTS = 6
MAX_FUSED_STEPS = 32
_ELEMENTWISE = ("Unary", "Binary", "FusedElementwise")


def program_of(node) -> tuple:
    """A node's computation as FusedElementwise steps over its own inputs."""
    if node.op == "Unary":
        alpha, beta = node.attrs["alpha"], node.attrs.get("beta", 0.0)
        params = (alpha, beta) if beta else ((alpha,) if alpha else ())
        return ((node.attrs["fn"], "in0") + params,)
    if node.op == "Binary":
        return ((node.attrs["fn"], "in0", "in1"),)
    return tuple(tuple(s) for s in node.attrs["program"])


def _remap(step, mapping) -> tuple:
    """Rewrite a step's argument names (not its fn or alpha) through ``mapping``."""
    fn, rest = step[0], step[1:]
    return (fn,) + tuple(mapping(a) if isinstance(a, str) else a for a in rest)


def merge_programs(consumer, producer, value) -> tuple[tuple, list]:
    """Inline ``producer`` (whose only output is ``value``) into ``consumer``: (program, inputs)."""
    inputs = []

    def slot(v) -> str:
        for k, u in enumerate(inputs):
            if u is v:
                return f"in{k}"
        inputs.append(v)
        return f"in{len(inputs) - 1}"

    for v in consumer.inputs:
        if v is not value:
            slot(v)
    steps = [_remap(s, lambda a: slot(producer.inputs[int(a[2:])]) if a.startswith("in") else a)
             for s in program_of(producer)]
    shift, result = len(steps), f"t{len(steps) - 1}"

    def consumer_arg(a: str) -> str:
        if a.startswith("t"):
            return f"t{int(a[1:]) + shift}"
        v = consumer.inputs[int(a[2:])]
        return result if v is value else slot(v)

    steps += [_remap(s, consumer_arg) for s in program_of(consumer)]
    return tuple(steps), inputs


def _fusable_elementwise(node) -> bool:
    return node.op in _ELEMENTWISE and all(v.dtype == "float32" for v in node.inputs + node.outputs)


def elementwise_chain(ctx: Context, node):
    """The first input of an elementwise node that a single-user elementwise producer computes."""
    if not _fusable_elementwise(node):
        return None
    for v in node.inputs:
        producer = v.producer
        if v.is_const or producer is None or not _fusable_elementwise(producer):
            continue
        if ctx.single_user(v) is not node:
            continue
        program, inputs = merge_programs(node, producer, v)
        if len(inputs) <= MAX_FUSED_INPUTS and len(program) <= MAX_FUSED_STEPS:
            return program, inputs
    return None


def _fuse_chain(ctx: Context, node, match):
    program, inputs = match
    out = ctx.insert(node, "FusedElementwise", inputs, {"program": program}, node.name + "_fused")[0]
    ctx.replace(node.outputs[0], out)


def activation_into_linear(ctx: Context, node):
    """The single-user Unary that follows a MatMul/Conv without an activation."""
    if node.op not in ("MatMul", "Conv") or node.attrs["activation"] != "linear":
        return None
    user = ctx.single_user(node.outputs[0])
    if user is None or user.op != "Unary" or user.attrs.get("beta", 0.0):
        return None     # MatMul/Conv carry alpha only
    return user if ctx.can_replace(user.outputs[0], node.outputs[0]) else None


def _absorb_activation(ctx: Context, node, unary):
    out = ctx.rebuild(node, attrs={"activation": unary.attrs["fn"], "alpha": unary.attrs["alpha"]})[0]
    ctx.replace(unary.outputs[0], out)


RULES = [
    Rule(activation_into_linear, _absorb_activation),  # Unary{f}(MatMul(x, w, b)) -> MatMul{f}(x, w, b)
    Rule(elementwise_chain, _fuse_chain),  # g(f(a, b), c) -> FusedElementwise{f(in0,in1); g(t0,in2)}
]


def fuse_elementwise(graph) -> bool:
    return apply_rules(graph, RULES)
