"""The WebGL2 legalization table: one fragment-shader generator per catalogue op (or why there is none).

Generators get a node and the shared ``LoweringContext`` (converter/backends/lowering.py), render a
kernel with ``emit.GlKernel`` and add one step (dispatch is always (1, 1, 1): one draw). Loops are
encoded as on every backend (docs/design.md section 4): the first kernel of a loop body carries
``meta.loop``, and the runtime draws the body ``loop_count`` times with ``u_iter`` = 0, 1, ....
Backend facts for the runtime (packed weights, history slots) are collected in ``ctx.state``.

Recurrences (after hoist_input_projection, so xw = x @ W + b is one MatMul over all steps): each time
step is one draw (LSTM with two render targets h and c; GRU reset_after; SimpleRNN), or two for GRU with
reset_before (r * h_prev first, then the update). States go into two history textures per state
(even and odd steps) that ping-pong: step s reads block s-1 of one and writes block s of the other, as a
texture cannot be sampled and rendered in the same draw. Masks and go_backwards are handled in the
shaders; after the loop, one draw per result assembles y, h_T (and c_T) from the histories.
"""

from __future__ import annotations

import numpy as np

from converter.backends.dialect import GLSL_DIALECT as GLSL
from converter.backends.lowering import (Legalization, LoweringContext, cell_functions, layer_norm_start,
                                         recurrence_flags, window_of)
from converter.backends.webgl.emit import GlKernel
from converter.ir import dims
from converter.ir.graph import Node
from converter.ops.elementwise import parse_step
from converter.ops.recurrent import cell_of

ONE = ("1", "1", "1")
lit = GLSL.lit


def texture_state(ctx: LoweringContext) -> dict:
    """Texture facts for the runtime, kept on the context: packed weights and history (blocked) slots."""
    return ctx.state.setdefault("webgl", {"rgba_weights": [], "blocked_slots": {}})


def d(dim) -> str:
    """An IR dim as a bundle expression."""
    return str(dims.normalize(dim))


def _same(a, b) -> bool:
    return [d(x) for x in a] == [d(x) for x in b]


def _step(ctx: LoweringContext, k: GlKernel, **context) -> None:
    kernel, tensors, params = k.render(**context)
    ctx.add_step(kernel, tensors, params, ONE)


def _read(ctx: LoweringContext, node: Node, k: GlKernel, *names: str) -> None:
    """Bind the node's named inputs that are present, each under its own name."""
    for name in names:
        if node.input(name) is not None:
            k.read(name, ctx.tensor(node.input(name)))


def _out(ctx: LoweringContext, node: Node, k: GlKernel, index: int = 0, tid=None) -> None:
    k.write("y", ctx.tensor(node.outputs[index]) if tid is None else tid)


# ---- elementwise ----------------------------------------------------------------------------------

def _broadcast_index(k: GlKernel, in_shape, out_shape) -> str:
    """The index of an input broadcast (numpy rules) to the output at coords c0..c{R-1}."""
    rank = len(out_shape)
    padded = (1,) * (rank - len(in_shape)) + tuple(in_shape)
    if _same(padded, out_shape):
        return "idx"
    if dims.size(padded) == 1:
        return "0"
    terms = [f"c{i}" if not (padded[i] == 1 and out_shape[i] != 1) else "0" for i in range(rank)]
    return k.index.linear(terms, padded)


def _elementwise(ctx: LoweringContext, node: Node, step_lines, result: str) -> None:
    out = node.outputs[0]
    k = GlKernel(node.op, "elementwise.glsl.j2")
    loads = []
    for j, v in enumerate(node.inputs):
        loads.append((k.read(f"x{j}", ctx.tensor(v)), _broadcast_index(k, v.shape, out.shape)))
    index_lines = k.index.coords(out.shape) if any(ix not in ("idx", "0") for _, ix in loads) else []
    _out(ctx, node, k)
    _step(ctx, k, index_lines=index_lines, loads=loads, steps=step_lines, result=result)


def lower_unary(node: Node, ctx: LoweringContext) -> None:
    expr = GLSL.unary(node.attrs["fn"], "v_x0", node.attrs["alpha"], node.attrs["beta"])
    _elementwise(ctx, node, [], expr)


def lower_binary(node: Node, ctx: LoweringContext) -> None:
    _elementwise(ctx, node, [], GLSL.binary(node.attrs["fn"], "v_x0", "v_x1"))


def lower_where(node: Node, ctx: LoweringContext) -> None:
    _elementwise(ctx, node, [], GLSL.where("v_x0", "v_x1", "v_x2", node.input("cond").dtype))


def lower_length_mask(node: Node, ctx: LoweringContext) -> None:
    lengths, like = node.inputs
    k = GlKernel(node.op, "length_mask.glsl.j2")
    k.read("lengths", ctx.tensor(lengths))
    _out(ctx, node, k)
    _step(ctx, k, T=k.dim(like.shape[1]))


def _operand(arg: str) -> str:
    return f"v_x{arg[2:]}" if arg.startswith("in") else arg


def lower_fused(node: Node, ctx: LoweringContext) -> None:
    n = len(node.inputs)
    lines = [f"float t{i} = {GLSL.step(parse_step(step, n, i), _operand)};"
             for i, step in enumerate(node.attrs["program"])]
    _elementwise(ctx, node, lines, f"t{len(lines) - 1}")


def lower_cast(node: Node, ctx: LoweringContext) -> None:
    # int32 lives in float textures, so only float -> int changes values (truncation toward zero)
    to_int = node.attrs["to"] == "int32" and node.inputs[0].dtype == "float32"
    _elementwise(ctx, node, [], "trunc(v_x0)" if to_int else "v_x0")


def lower_not_equal_mask(node: Node, ctx: LoweringContext) -> None:
    x = node.inputs[0]
    k = GlKernel(node.op, "not_equal_mask.glsl.j2")
    k.read("x", ctx.tensor(x))
    _out(ctx, node, k)
    _step(ctx, k, reduce_last=node.attrs["reduce_last"], L=k.dim(x.shape[-1]) if x.shape else "1",
          value=lit(node.attrs["value"]))


# ---- linear / lookup / normalization --------------------------------------------------------------

def lower_matmul(node: Node, ctx: LoweringContext) -> None:
    x, w, b = node.inputs
    k = GlKernel(node.op, "matmul.glsl.j2")
    _read(ctx, node, k, "x", "w", "b")
    _out(ctx, node, k)
    _step(ctx, k, K=k.dim(w.shape[0]), N=k.dim(w.shape[1]), bias=b is not None,
          activation=GLSL.unary(node.attrs["activation"], "acc", node.attrs["alpha"], 0.0))


def lower_gather(node: Node, ctx: LoweringContext) -> None:
    table, ids = node.inputs
    k = GlKernel(node.op, "gather.glsl.j2")
    k.read("table", ctx.tensor(table))
    k.read("ids", ctx.tensor(ids))
    _out(ctx, node, k)
    _step(ctx, k, V=k.dim(table.shape[0]), E=k.dim(table.shape[1]))


def lower_softmax(node: Node, ctx: LoweringContext) -> None:
    x = node.inputs[0]
    axis = node.attrs["axis"] % len(x.shape)
    k = GlKernel(node.op, "softmax.glsl.j2")
    k.read("x", ctx.tensor(x))
    _out(ctx, node, k)
    _step(ctx, k, L=k.dim(x.shape[axis]), inner=k.size(x.shape[axis + 1:]))


def lower_layer_norm(node: Node, ctx: LoweringContext) -> None:
    x, gamma, beta = node.inputs
    start = layer_norm_start(node, ctx)
    k = GlKernel(node.op, "layer_norm.glsl.j2")
    _read(ctx, node, k, "x", "gamma", "beta")
    _out(ctx, node, k)
    _step(ctx, k, L=k.size(x.shape[start:]), epsilon=lit(node.attrs["epsilon"]),
          gamma=gamma is not None, beta=beta is not None)


def lower_reduce(node: Node, ctx: LoweringContext) -> None:
    x, mask = node.inputs
    rank = len(x.shape)
    axes = sorted({a % rank for a in node.attrs["axes"]})
    kept = [a for a in range(rank) if a not in axes]
    k = GlKernel(node.op, "reduce.glsl.j2")
    _read(ctx, node, k, "x", "mask")
    _out(ctx, node, k)
    index_lines = k.index.coords([x.shape[a] for a in kept], prefix="o")
    inner_lines = k.index.coords([x.shape[a] for a in axes], var="q", prefix="r")
    names = {a: f"o{i}" for i, a in enumerate(kept)}
    names.update({a: f"r{i}" for i, a in enumerate(axes)})
    x_index = k.index.linear([names[a] for a in range(rank)], x.shape)
    mask_index = f"{names[0]} * {k.dim(x.shape[1])} + {names[1]}" if mask is not None else ""
    _step(ctx, k, index_lines=index_lines, inner_lines=inner_lines, x_index=x_index,
          mask_index=mask_index, masked=mask is not None, fn=node.attrs["fn"],
          count=k.size([x.shape[a] for a in axes]))


# ---- conv / pool ----------------------------------------------------------------------------------

def _window(k: GlKernel, node: Node) -> dict:
    """Template dims of a channels-last 1D (as height 1) or 2D window op."""
    win = window_of(node)
    return dict(H=k.dim(win.h), W=k.dim(win.w), OH=k.dim(win.oh), OW=k.dim(win.ow), KH=win.size[0],
                KW=win.size[1], SH=win.strides[0], SW=win.strides[1], DH=win.dilations[0],
                DW=win.dilations[1], PT=win.pads[0], PL=win.pads[1])


def lower_conv(node: Node, ctx: LoweringContext) -> None:
    x, w, b = node.inputs
    k = GlKernel(node.op, "conv.glsl.j2")
    _read(ctx, node, k, "x", "w", "b")
    _out(ctx, node, k)
    _step(ctx, k, C=k.dim(x.shape[-1]), F=k.dim(w.shape[-1]), bias=b is not None,
          activation=GLSL.unary(node.attrs["activation"], "acc", node.attrs["alpha"], 0.0),
          **_window(k, node))


def lower_pool(node: Node, ctx: LoweringContext) -> None:
    x = node.inputs[0]
    k = GlKernel(node.op, "pool.glsl.j2")
    k.read("x", ctx.tensor(x))
    _out(ctx, node, k)
    _step(ctx, k, C=k.dim(x.shape[-1]), fn=node.attrs["fn"], **_window(k, node))


# ---- data movement --------------------------------------------------------------------------------

def _remap(ctx: LoweringContext, node: Node, sources, index_lines, default="0.0", tid=None) -> None:
    k = GlKernel(node.op, "remap.glsl.j2")
    rendered = []
    for cond, value, index in sources(k):
        rendered.append((cond, k.read(f"x{len(rendered)}", ctx.tensor(value)), index))
    _out(ctx, node, k, tid=tid)
    lines = index_lines(k) if index_lines else []
    _step(ctx, k, index_lines=lines, sources=rendered, default=default)


def _out_coords(node: Node):
    return lambda k: k.index.coords(node.outputs[0].shape)


def lower_copy(node: Node, ctx: LoweringContext, tid=None) -> None:
    """Reshape, Identity, and the copy of graph outputs no step writes: textures are linear, a plain copy."""
    _remap(ctx, node, lambda k: [("true", node.inputs[0], "idx")], None, tid=tid)


def output_copy(node: Node, ctx: LoweringContext, tid: int) -> None:
    lower_copy(node, ctx, tid)


def lower_transpose(node: Node, ctx: LoweringContext) -> None:
    x, perm = node.inputs[0], node.attrs["perm"]
    src = [""] * len(perm)
    for i, p in enumerate(perm):
        src[p] = f"c{i}"
    _remap(ctx, node, lambda k: [("true", x, k.index.linear(src, x.shape))], _out_coords(node))


def _axis_remap(ctx: LoweringContext, node: Node, source) -> None:
    """y = x except along ``axis``, where output coordinate c reads x at ``source(k, dim, c)``."""
    x = node.inputs[0]
    axis = node.attrs["axis"] % len(x.shape)

    def sources(k):
        c = [f"c{i}" for i in range(len(x.shape))]
        c[axis] = source(k, x.shape[axis], c[axis])
        return [("true", x, k.index.linear(c, x.shape))]
    _remap(ctx, node, sources, _out_coords(node))


def lower_reverse(node: Node, ctx: LoweringContext) -> None:
    _axis_remap(ctx, node, lambda k, dim, c: f"({k.dim(dim)} - 1 - {c})")


def lower_tile(node: Node, ctx: LoweringContext) -> None:
    x = node.inputs[0]

    def sources(k):
        c = [f"(c{i} % {k.dim(x.shape[i])})" for i in range(len(x.shape))]
        return [("true", x, k.index.linear(c, x.shape))]
    _remap(ctx, node, sources, _out_coords(node))


def _slice_start(k: GlKernel, dim, start) -> str:
    if start is None:
        return "0"
    if dims.is_static(dim):
        return str(slice(start, None).indices(int(dim))[0])
    # symbolic dim: Python slice semantics clamp a negative start at 0
    return str(start) if start >= 0 else f"max({k.dim(dim)} + ({start}), 0)"


def lower_slice(node: Node, ctx: LoweringContext) -> None:
    start = node.attrs["start"]
    _axis_remap(ctx, node, lambda k, dim, c: f"({c} + {_slice_start(k, dim, start)})")


def lower_concat(node: Node, ctx: LoweringContext) -> None:
    axis = node.attrs["axis"] % len(node.outputs[0].shape)

    def sources(k):
        out, offset = [], 0
        for v in node.inputs:
            end = dims.add(offset, v.shape[axis])
            c = [f"c{i}" for i in range(len(v.shape))]
            c[axis] = f"(c{axis} - {k.dim(offset)})"
            out.append((f"c{axis} < {k.dim(end)}", v, k.index.linear(c, v.shape)))
            offset = end
        return out
    _remap(ctx, node, sources, _out_coords(node))


def lower_pad(node: Node, ctx: LoweringContext) -> None:
    x, pads = node.inputs[0], node.attrs["pads"]

    def sources(k):
        c, inside = [], []
        for i, (before, _after) in enumerate(pads):
            c.append(f"(c{i} - {int(before)})")
            inside.append(f"c{i} >= {int(before)} && c{i} < {int(before)} + {k.dim(x.shape[i])}")
        return [(" && ".join(inside) or "true", x, k.index.linear(c, x.shape))]
    _remap(ctx, node, sources, _out_coords(node), default=lit(node.attrs["value"]))


# ---- recurrences ----------------------------------------------------------------------------------

def _packed_gates(U: np.ndarray, gates: int) -> np.ndarray:
    """U[H, G*H] -> [H, H, 4] with the G gates of unit j in one RGBA texel (unused channels zero)."""
    hidden = U.shape[0]
    out = np.zeros((hidden, hidden, 4), np.float32)
    for g in range(gates):
        out[:, :, g] = U[:, g * hidden:(g + 1) * hidden]
    return out


def _history(ctx: LoweringContext, name: str, time, batch, hidden: int) -> tuple[int, int]:
    """The even/odd history textures of one state: block s holds the state after step s."""
    blocked = texture_state(ctx)["blocked_slots"]
    out = []
    for parity in ("even", "odd"):
        tid = ctx.add_temp(f"{name}#{parity}", "float32", (time, batch, hidden))
        blocked[str(ctx.tensors[tid].slot)] = {"blocks": d(time), "block_elems": d(dims.mul(batch, hidden))}
        out.append(tid)
    return out[0], out[1]


def lower_recurrence(node: Node, ctx: LoweringContext) -> None:
    desc = cell_of(node.op)
    cell, gates, extra = desc.kind, desc.n_gates, node.named_inputs()
    xw, U = extra["xw"], extra["U"]
    batch, time = xw.shape[0], xw.shape[1]
    hidden = int(U.shape[0])
    reset_before = cell == "gru" and not node.attrs.get("reset_after", True)
    hist = {"h": _history(ctx, f"{node.name}#h", time, batch, hidden)}
    if cell == "lstm":
        hist["c"] = _history(ctx, f"{node.name}#c", time, batch, hidden)
    if cell == "rnn":
        u_tid = ctx.tensor(U)
    else:
        u_tid = ctx.weight(U, _packed_gates(U.data, gates), tag="rgba")
        texture_state(ctx)["rgba_weights"].append(u_tid)
    rh = ctx.add_temp(f"{node.name}#rh", "float32", (batch, hidden)) if reset_before else None
    phases = ["reset", "update"] if reset_before else [""]
    for i, phase in enumerate(phases):
        loop = (d(time), len(phases)) if i == 0 else None     # one loop over the time steps
        _recurrence_step(ctx, node, cell, gates, phase, xw, u_tid, extra, hist, rh, loop)
    _recurrence_outputs(ctx, node, cell, extra, hist)


def _recurrence_step(ctx, node, cell, gates, phase, xw, u_tid, extra, hist, rh, loop) -> None:
    k = GlKernel(node.op, "recurrence_step.glsl.j2")
    if loop is not None:
        k.loop(*loop)
    batch, time, hidden = xw.shape[0], xw.shape[1], int(node.inputs[1].shape[0])
    k.read("xw", ctx.tensor(xw))
    k.read("U", u_tid, "R32F" if cell == "rnn" else "RGBA32F")
    for name in ("rb", "h0", "c0", "mask", "p"):
        if extra.get(name) is not None:
            k.read(name, ctx.tensor(extra[name]))
    even_h, odd_h = hist["h"]
    k.read("hp", odd_h)
    if cell == "lstm":
        k.read("cp", hist["c"][1])
    if phase == "update":
        k.read("rh", rh)
    if phase == "reset":
        k.read("hp_other", even_h)          # unused by the shader: only the partner of hp's ping-pong
        k.write("rh", rh)
        k.meta["swap"] = [[k.index_of("hp"), k.index_of("hp_other")]]
    else:
        k.write("h", even_h)
        k.meta["swap"] = [[k.index_of("hp"), k.index_of("h")]]
        if cell == "lstm":
            k.write("c", hist["c"][0])
            k.meta["swap"].append([k.index_of("cp"), k.index_of("c")])
        k.meta["region"] = "block"
    _step(ctx, k, **recurrence_flags(node), **cell_functions(node, GLSL), phase=phase, T=k.dim(time),
          BH=k.size((batch, hidden)))


def _recurrence_outputs(ctx, node, cell, extra, hist) -> None:
    results = [("y", "sequence" if node.attrs["return_sequences"] else "last", "h", None),
               ("h", "state", "h", extra.get("h0"))]
    if cell == "lstm":
        results.append(("c", "state", "c", extra.get("c0")))
    xw = node.inputs[0]
    batch, time, hidden = xw.shape[0], xw.shape[1], int(node.inputs[1].shape[0])
    for index, (_, mode, state, init) in enumerate(results):
        k = GlKernel(node.op, "recurrence_output.glsl.j2")
        k.read("even", hist[state][0])
        k.read("odd", hist[state][1])
        mask = extra.get("mask")
        if mask is not None and mode != "state":
            k.read("mask", ctx.tensor(mask))
        if init is not None:
            k.read("init", ctx.tensor(init))
        _out(ctx, node, k, index)
        _step(ctx, k, mode=mode, H=hidden, T=k.dim(time), BH=k.size((batch, hidden)),
              has_mask=mask is not None and mode != "state", has_init=init is not None,
              go_backwards=node.attrs["go_backwards"], zero_output=node.attrs["zero_output_for_mask"])


# ---- the table --------------------------------------------------------------------------------------

HOISTED = "hoist_input_projection always rewrites it to MatMul + {}Recurrence before lowering"

TABLE: Legalization = {
    "Unary": lower_unary, "Binary": lower_binary, "FusedElementwise": lower_fused, "Cast": lower_cast,
    "Where": lower_where, "LengthMask": lower_length_mask,
    "NotEqualMask": lower_not_equal_mask, "Softmax": lower_softmax, "MatMul": lower_matmul,
    "Gather": lower_gather, "Reduce": lower_reduce, "LayerNorm": lower_layer_norm, "Conv": lower_conv,
    "Pool": lower_pool, "Reshape": lower_copy, "Transpose": lower_transpose, "Concat": lower_concat,
    "Reverse": lower_reverse, "Tile": lower_tile, "Slice": lower_slice, "Pad": lower_pad,
    "LSTMRecurrence": lower_recurrence, "GRURecurrence": lower_recurrence,
    "SimpleRNNRecurrence": lower_recurrence,
    # remove_identity keeps an Identity only where a graph output is an input or a constant: a copy
    "Identity": lower_copy,
    "LSTM": HOISTED.format("LSTM"), "GRU": HOISTED.format("GRU"), "SimpleRNN": HOISTED.format("SimpleRNN"),
}
