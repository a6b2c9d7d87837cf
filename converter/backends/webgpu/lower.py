"""The WebGPU legalization table: one kernel generator per catalogue op (or the reason there is none).

Generators get a node and the shared ``LoweringContext`` (converter/backends/lowering.py) and add
kernels rendered by ``emit.render`` plus steps whose params and dispatch sizes are expressions over the
program's symbols. Shapes are computed here and handed to kernels as u32 params; kernels never
recompute them.

Recurrences run in one of two modes (lowering option ``recurrence``): ``sequence`` is one dispatch for the
whole
sequence (one workgroup per batch row, h in workgroup memory); ``step`` is one dispatch per time step,
repeated by the runtime inside one command buffer (KernelSpec.meta["loop"]). ``auto`` picks sequence
when the state fits one workgroup (H <= SEQUENCE_MAX_UNITS). LSTM recurrent weights are repacked so a
unit's four gates for one h[k] are one vec4 (one 16-byte load per k, coalesced across units).

Shape-chosen paths: MatMul runs as a GEMV (K split over slices, each weight read serving GEMV_ROWS
rows) when M <= SKINNY_MAX_ROWS, else as a register-blocked tiled matmul; when M is symbolic both are
emitted and their dispatch sizes carry a 0/1 gate over M, so exactly one runs (the runtime skips
dispatches of size 0). Softmax, Reduce and LayerNorm split each line over a workgroup dimension and
combine partials in workgroup memory; the workgroup shape follows the line length and layout.
"""

from __future__ import annotations

import numpy as np

from converter.backends.dialect import WGSL_DIALECT as WGSL
from converter.backends.lowering import (Legalization, LoweringContext, cell_functions, layer_norm_start,
                                         recurrence_flags, window_of)
from converter.backends.webgpu import emit
from converter.backends.webgpu.emit import Buf
from converter.ir import dims
from converter.ir.graph import Node
from converter.ops.elementwise import parse_step
from converter.ops.recurrent import cell_of

LINEAR_WG = 256          # invocations per workgroup of the one-invocation-per-element kernels
MATMUL_WG = (16, 16)     # tiled matmul: each invocation computes a MATMUL_BLOCK x MATMUL_BLOCK block
MATMUL_BLOCK = 4
MATMUL_BK = 16           # K depth of the shared-memory tiles
GEMV_ROWS = 4            # rows of x per GEMV workgroup: each weight read serves this many rows
GEMV_WG = 256            # GEMV invocations per workgroup: columns x K slices
SKINNY_MAX_ROWS = 16     # M up to this runs as GEMV; a 64-row tile would be mostly idle
ROW_WG = 256             # invocations per workgroup of the line reductions (softmax, reduce, layernorm)
ROW_STRIDED_WG = (32, 8) # lines spaced apart (inner > 1): 32 neighbouring lines (coalesced) x 8 slices
GROUP_OPS = {"sum": "a + b", "max": "wl_max(a, b)"}   # how _group_reduce.wgsl.j2 combines partials
STEP_WG = 64
SEQUENCE_MAX_UNITS = 1024  # 3*H floats of workgroup memory must fit the 16 KiB WebGPU guarantees
MAX_GROUPS = 65535       # WebGPU's guaranteed maxComputeWorkgroupsPerDimension
MAX_STORAGE_BUFFERS = 8  # WebGPU's guaranteed maxStorageBuffersPerShaderStage


def d(dim) -> str:
    """An IR dim as a bundle expression."""
    return str(dims.normalize(dim))


def prod(shape) -> str:
    return d(dims.size(tuple(shape)))


def linear_dispatch(n: str, wg: int = LINEAR_WG) -> tuple:
    """Workgroup counts covering n invocations; past 65535 groups the rest spills into y."""
    groups = f"cdiv({n},{wg})"
    return (f"min({groups},{MAX_GROUPS})", f"cdiv({groups},{MAX_GROUPS})", "1")


def wgsl_type(dtype: str) -> str:
    return emit.WGSL_TYPES[dtype]


def _render(ctx: LoweringContext, name: str, template: str, bufs: list, params: list, workgroup,
            meta=None, **context):
    if len(bufs) > MAX_STORAGE_BUFFERS:
        ctx.fail(f"needs {len(bufs)} storage buffers, WebGPU guarantees {MAX_STORAGE_BUFFERS}")
    return emit.render(name, template, bufs, params, workgroup, meta, **context)


# ---- elementwise ----------------------------------------------------------------------------------

def _broadcast_index(in_shape, out_shape, j: int) -> tuple[str, list]:
    """WGSL index of input j for output coords c0..c{R-1}, and the stride params it needs."""
    rank = len(out_shape)
    padded = (1,) * (rank - len(in_shape)) + tuple(in_shape)
    if tuple(padded) == tuple(out_shape):
        return "i", []
    if dims.size(padded) == 1:
        return "0u", []
    terms, params = [], []
    for k in range(rank):
        if padded[k] == 1 and out_shape[k] != 1:
            continue                                   # a broadcast axis: stride 0
        name = f"s{j}_{k}"
        terms.append(f"c{k} * P.{name}")
        params.append((name, prod(padded[k + 1:])))
    return (" + ".join(terms) or "0u"), params


def elementwise(ctx: LoweringContext, name: str, inputs: list, out, steps: list, result: str,
                out_tid=None, flat: bool = False) -> None:
    """y = result over loaded inputs v0.. (and named intermediate steps t0..) with broadcasting.

    ``flat``: every input has the output's element count and is read at the same flat index (copies).
    """
    out_shape = tuple(out.shape)
    bufs, params, values, loads, strided = [], ["n"], [prod(out_shape)], [], False
    for j, v in enumerate(inputs):
        index, stride_params = ("i", []) if flat else _broadcast_index(v.shape, out_shape, j)
        bufs.append(Buf(f"x{j}", wgsl_type(v.dtype)))
        loads.append({"name": f"x{j}", "index": index})
        params += [p for p, _ in stride_params]
        values += [e for _, e in stride_params]
        strided = strided or bool(stride_params)
    rank = len(out_shape) if strided else 0
    dim_params = [f"d{k}" for k in range(rank)]
    bufs.append(Buf("y", wgsl_type(out.dtype), "read_write"))
    kernel = _render(ctx, name, "elementwise.wgsl.j2", bufs, params[:1] + dim_params + params[1:],
                     (LINEAR_WG,), inputs=loads, steps=steps, result=result, rank=rank)
    tensors = [ctx.tensor(v) for v in inputs] + [ctx.tensor(out) if out_tid is None else out_tid]
    ctx.add_step(kernel, tensors, values[:1] + [d(x) for x in out_shape[:rank]] + values[1:],
                 linear_dispatch(values[0]))


def lower_unary(node: Node, ctx: LoweringContext) -> None:
    expr = WGSL.unary(node.attrs["fn"], "v0", node.attrs["alpha"], node.attrs["beta"])
    elementwise(ctx, f"unary_{node.attrs['fn']}", node.inputs, node.outputs[0], [], expr)


def lower_binary(node: Node, ctx: LoweringContext) -> None:
    expr = WGSL.binary(node.attrs["fn"], "v0", "v1", node.outputs[0].dtype)
    elementwise(ctx, f"binary_{node.attrs['fn']}", node.inputs, node.outputs[0], [], expr)


def lower_where(node: Node, ctx: LoweringContext) -> None:
    expr = WGSL.where("v0", "v1", "v2", node.input("cond").dtype)
    elementwise(ctx, "where", node.inputs, node.outputs[0], [], expr)


def lower_length_mask(node: Node, ctx: LoweringContext) -> None:
    lengths, like = node.inputs
    y = node.outputs[0]
    n = prod(y.shape)
    kernel = _render(ctx, "length_mask", "length_mask.wgsl.j2",
                     [Buf("lengths", "i32"), Buf("y", access="read_write")], ["n", "t"], (LINEAR_WG,))
    ctx.add_step(kernel, [ctx.tensor(lengths), ctx.tensor(y)], [n, d(like.shape[1])], linear_dispatch(n))


def _operand(arg: str) -> str:
    return f"v{arg[2:]}" if arg.startswith("in") else arg


def lower_fused(node: Node, ctx: LoweringContext) -> None:
    n = len(node.inputs)
    steps = [WGSL.step(parse_step(step, n, i), _operand) for i, step in enumerate(node.attrs["program"])]
    elementwise(ctx, "fused", node.inputs, node.outputs[0], steps, f"t{len(steps) - 1}")


def lower_cast(node: Node, ctx: LoweringContext) -> None:
    to = wgsl_type(node.attrs["to"])
    elementwise(ctx, f"cast_{to}", node.inputs, node.outputs[0], [], f"{to}(v0)")


def lower_copy(node: Node, ctx: LoweringContext) -> None:
    """Identity and Reshape: a reshape of a contiguous tensor is a copy into the output's slot."""
    elementwise(ctx, "copy", node.inputs[:1], node.outputs[0], [], "v0", flat=True)


def lower_not_equal_mask(node: Node, ctx: LoweringContext) -> None:
    x = node.inputs[0]
    value = WGSL.lit(node.attrs["value"]) if x.dtype == "float32" else str(int(node.attrs["value"]))
    if node.attrs["reduce_last"]:
        rows = prod(x.shape[:-1])
        ne = WGSL.not_equal("v", value, x.dtype)
        _reduce(ctx, node, "any_ne", [x], [rows, d(x.shape[-1]), "1"], ne=ne)
        return
    elementwise(ctx, "not_equal", [x], node.outputs[0], [],
                f"select(0.0, 1.0, {WGSL.not_equal('v0', value, x.dtype)})")


# ---- linear, lookup, reductions, norms ------------------------------------------------------------

def _matmul_kernel(ctx, path: str, bufs: list, n, bias: bool, act: str):
    """The ``tiled`` (register-blocked) or ``gemv`` (skinny) matmul kernel and its grid's tile sizes."""
    if path == "tiled":
        kernel = _render(ctx, "matmul", "matmul.wgsl.j2", bufs, ["m", "k", "n"], MATMUL_WG,
                         {"matmul": "tiled"}, bias=bias, activation=act, block=MATMUL_BLOCK, bk=MATMUL_BK)
        return kernel, MATMUL_WG[0] * MATMUL_BLOCK, MATMUL_WG[1] * MATMUL_BLOCK
    # a narrow N (a Dense head) gets fewer columns and more K slices, so the workgroup stays busy
    cols = 64 if not dims.is_static(n) else next((c for c in (64, 32) if int(n) >= c), 16)
    kernel = _render(ctx, "matmul_gemv", "gemv.wgsl.j2", bufs, ["m", "k", "n"], (cols, GEMV_WG // cols),
                     {"matmul": "gemv"}, bias=bias, activation=act, rows=GEMV_ROWS)
    return kernel, cols, GEMV_ROWS


def _matmul_paths(m_dim) -> list[tuple[str, str]]:
    """(path, dispatch gate) pairs: one path when M is static; both when symbolic, gated at run time.

    A gate is an expression that is 1 when its path should run and 0 otherwise; the runtime skips
    dispatches with a zero size, so exactly one of the two steps runs once the symbols are bound.
    """
    if dims.is_static(m_dim):
        return [("gemv" if int(m_dim) <= SKINNY_MAX_ROWS else "tiled", "")]
    m = d(m_dim)
    return [("gemv", f"min(max({SKINNY_MAX_ROWS + 1}-({m}),0),1)*"),
            ("tiled", f"min(max(({m})-{SKINNY_MAX_ROWS},0),1)*")]


def lower_matmul(node: Node, ctx: LoweringContext) -> None:
    x, w, b = node.inputs
    y = node.outputs[0]
    m_dim = dims.size(tuple(x.shape[:-1]))
    m, k, n = d(m_dim), d(x.shape[-1]), d(w.shape[1])
    act = WGSL.unary(node.attrs["activation"], "acc", node.attrs["alpha"], 0.0)
    bufs = [Buf("x"), Buf("w")] + ([Buf("b")] if b is not None else []) + [Buf("y", access="read_write")]
    tensors = [ctx.tensor(v) for v in node.inputs if v is not None] + [ctx.tensor(y)]
    for path, gate in _matmul_paths(m_dim):
        kernel, tile_n, tile_m = _matmul_kernel(ctx, path, bufs, w.shape[1], b is not None, act)
        ctx.add_step(kernel, tensors, [m, k, n], (f"{gate}cdiv({n},{tile_n})", f"cdiv({m},{tile_m})", "1"))


def lower_gather(node: Node, ctx: LoweringContext) -> None:
    table, idx = node.inputs
    y = node.outputs[0]
    bufs = [Buf("table", wgsl_type(table.dtype)), Buf("idx", "i32"),
            Buf("y", wgsl_type(y.dtype), "read_write")]
    kernel = _render(ctx, "gather", "gather.wgsl.j2", bufs, ["n", "e", "v"], (LINEAR_WG,))
    n = prod(y.shape)
    ctx.add_step(kernel, [ctx.tensor(table), ctx.tensor(idx), ctx.tensor(y)],
                 [n, d(table.shape[1]), d(table.shape[0])], linear_dispatch(n))


def _split(shape, first: int, last: int) -> list:
    """[outer, middle, inner] sizes of shape around axes first..last (inclusive)."""
    return [prod(shape[:first]), prod(shape[first:last + 1]), prod(shape[last + 1:])]


def _row_group(length: str, inner: str) -> tuple[int, int]:
    """(lines, slices) per workgroup for reducing lines of ``length`` elements spaced ``inner`` apart.

    Contiguous lines are split over a power-of-two number of slices near their length (short lines
    share a workgroup); strided lines keep neighbouring lines on neighbouring invocations.
    """
    if inner != "1":
        return ROW_STRIDED_WG
    if not length.isdigit():
        return (1, ROW_WG)
    slices = min(ROW_WG, max(4, 1 << max(int(length) - 1, 0).bit_length()))
    return (ROW_WG // slices, slices)


def _group_ops(*ops: str) -> list:
    return [(op, GROUP_OPS[op]) for op in dict.fromkeys(ops)]


def lower_softmax(node: Node, ctx: LoweringContext) -> None:
    x, y = node.inputs[0], node.outputs[0]
    axis = node.attrs["axis"] % len(x.shape)
    outer, length, inner = _split(x.shape, axis, axis)
    group = _row_group(length, inner)
    kernel = _render(ctx, "softmax", "softmax.wgsl.j2", [Buf("x"), Buf("y", access="read_write")],
                     ["rows", "l", "inner"], group, group_ops=_group_ops("max", "sum"))
    rows = d(dims.mul(dims.size(x.shape[:axis]), dims.size(x.shape[axis + 1:])))
    ctx.add_step(kernel, [ctx.tensor(x), ctx.tensor(y)], [rows, length, inner],
                 linear_dispatch(rows, group[0]))


def _reduce(ctx, node, fn: str, inputs: list, split: list, ne: str = "") -> None:
    outer, length, inner = split
    x, mask = inputs[0], (inputs[1] if len(inputs) > 1 else None)
    bufs = [Buf("x", wgsl_type(x.dtype))] + ([Buf("mask")] if mask is not None else [])
    bufs.append(Buf("y", access="read_write"))
    ops = _group_ops("max" if fn in ("max", "any_ne") else "sum",
                     *(["sum"] if mask is not None and fn == "mean" else []))
    group = _row_group(length, inner)
    kernel = _render(ctx, f"reduce_{fn}", "reduce.wgsl.j2", bufs, ["rows", "l", "inner"], group,
                     fn=fn, mask=mask is not None, ne=ne, group_ops=ops)
    rows = f"({outer})*({inner})"
    tensors = [ctx.tensor(v) for v in inputs if v is not None] + [ctx.tensor(node.outputs[0])]
    ctx.add_step(kernel, tensors, [rows, length, inner], linear_dispatch(rows, group[0]))


def lower_reduce(node: Node, ctx: LoweringContext) -> None:
    x, mask = node.inputs
    axes = sorted({a % len(x.shape) for a in node.attrs["axes"]})
    if axes != list(range(axes[0], axes[-1] + 1)):
        ctx.fail(f"axes {tuple(axes)} are not contiguous; the webgpu reduce kernel needs one axis range")
    _reduce(ctx, node, node.attrs["fn"], [x, mask], _split(x.shape, axes[0], axes[-1]))


def lower_layer_norm(node: Node, ctx: LoweringContext) -> None:
    x, gamma, beta = node.inputs
    start = layer_norm_start(node, ctx)
    bufs = [Buf("x")] + [Buf(n) for n, v in (("gamma", gamma), ("beta", beta)) if v is not None]
    length = prod(x.shape[start:])
    group = _row_group(length, "1")
    kernel = _render(ctx, "layer_norm", "layer_norm.wgsl.j2", bufs + [Buf("y", access="read_write")],
                     ["rows", "l"], group, gamma=gamma is not None, beta=beta is not None,
                     epsilon=WGSL.lit(node.attrs["epsilon"]), group_ops=_group_ops("sum"))
    rows = prod(x.shape[:start])
    tensors = [ctx.tensor(v) for v in node.inputs if v is not None] + [ctx.tensor(node.outputs[0])]
    ctx.add_step(kernel, tensors, [rows, length], linear_dispatch(rows, group[0]))


# ---- shape ops ------------------------------------------------------------------------------------

def _remap(ctx, node: Node, kinds: list, in_axes: list, offsets: list, pad_value: str = "0.0") -> None:
    """y[c] = x[src(c)]: output axis k reads x's axis in_axes[k] as kinds[k] says."""
    x, y = node.inputs[0], node.outputs[0]
    params, values = ["n"], [prod(y.shape)]
    for k, kind in enumerate(kinds):
        axis = in_axes[k]
        params += [f"od{k}", f"id{k}", f"is{k}", f"off{k}"]
        values += [d(y.shape[k]), d(x.shape[axis]), prod(x.shape[axis + 1:]), str(offsets[k])]
    ty = wgsl_type(x.dtype)
    bufs = [Buf("x", ty), Buf("y", ty, "read_write")]
    kernel = _render(ctx, node.op.lower(), "remap.wgsl.j2", bufs, params, (LINEAR_WG,), kinds=kinds,
                     pad_value=pad_value if ty == "f32" else str(int(float(pad_value))))
    ctx.add_step(kernel, [ctx.tensor(x), ctx.tensor(y)], values, linear_dispatch(values[0]))


def lower_transpose(node: Node, ctx: LoweringContext) -> None:
    perm = [p % len(node.inputs[0].shape) for p in node.attrs["perm"]]
    _remap(ctx, node, ["copy"] * len(perm), perm, [0] * len(perm))


def _axis_kinds(node: Node, axis: int, kind: str, offset) -> None:
    rank = len(node.inputs[0].shape)
    kinds = [kind if k == axis else "copy" for k in range(rank)]
    offsets = [offset if k == axis else 0 for k in range(rank)]
    return kinds, list(range(rank)), offsets


def lower_slice(node: Node, ctx: LoweringContext) -> None:
    x = node.inputs[0]
    axis = node.attrs["axis"] % len(x.shape)
    start = node.attrs["start"] or 0
    if start < 0:
        if not dims.is_static(x.shape[axis]):
            ctx.fail(f"negative start {start} on symbolic dim {x.shape[axis]}")
        start += dims.evaluate(x.shape[axis], {})
    _remap(ctx, node, *_axis_kinds(node, axis, "slice", max(start, 0)))


def lower_reverse(node: Node, ctx: LoweringContext) -> None:
    axis = node.attrs["axis"] % len(node.inputs[0].shape)
    _remap(ctx, node, *_axis_kinds(node, axis, "reverse", 0))


def lower_tile(node: Node, ctx: LoweringContext) -> None:
    kinds = ["tile" if int(r) > 1 else "copy" for r in node.attrs["repeats"]]
    _remap(ctx, node, kinds, list(range(len(kinds))), [0] * len(kinds))


def lower_pad(node: Node, ctx: LoweringContext) -> None:
    pads = [tuple(p) for p in node.attrs["pads"]]
    kinds = ["pad" if sum(p) else "copy" for p in pads]
    _remap(ctx, node, kinds, list(range(len(pads))), [p[0] for p in pads], WGSL.lit(node.attrs["value"]))


def lower_concat(node: Node, ctx: LoweringContext) -> None:
    y = node.outputs[0]
    axis = node.attrs["axis"] % len(y.shape)
    ty = wgsl_type(y.dtype)
    kernel = _render(ctx, "concat_place", "place.wgsl.j2", [Buf("x", ty), Buf("y", ty, "read_write")],
                     ["n", "row_in", "row_out", "off"], (LINEAR_WG,))
    inner, offset = prod(y.shape[axis + 1:]), 0
    for x in node.inputs:
        n = prod(x.shape)
        params = [n, prod(x.shape[axis:]), prod(y.shape[axis:]), f"({d(offset)})*({inner})"]
        ctx.add_step(kernel, [ctx.tensor(x), ctx.tensor(y)], params, linear_dispatch(n))
        offset = dims.add(offset, x.shape[axis])


# ---- conv and pool (1D runs as 2D with height 1) ----------------------------------------------------

def _window(node: Node) -> dict:
    """u32 params of a channels-last window op (1D as 2D with height 1)."""
    win = window_of(node)
    return {"oh": d(win.oh), "ow": d(win.ow), "h": d(win.h), "w": d(win.w),
            "kh": str(win.size[0]), "kw": str(win.size[1]), "sh": str(win.strides[0]),
            "sw": str(win.strides[1]), "dh": str(win.dilations[0]), "dw": str(win.dilations[1]),
            "pt": str(win.pads[0]), "pl": str(win.pads[1])}


def lower_conv(node: Node, ctx: LoweringContext) -> None:
    x, w, b = node.inputs
    y = node.outputs[0]
    geo = _window(node)
    geo.update(n=prod(y.shape), f=d(y.shape[-1]), c=d(x.shape[-1]))
    bufs = [Buf("x"), Buf("w")] + ([Buf("b")] if b is not None else []) + [Buf("y", access="read_write")]
    act = WGSL.unary(node.attrs["activation"], "acc", node.attrs["alpha"], 0.0)
    kernel = _render(ctx, "conv", "conv.wgsl.j2", bufs, list(geo), (LINEAR_WG,), bias=b is not None,
                     activation=act)
    tensors = [ctx.tensor(v) for v in node.inputs if v is not None] + [ctx.tensor(y)]
    ctx.add_step(kernel, tensors, list(geo.values()), linear_dispatch(geo["n"]))


def lower_pool(node: Node, ctx: LoweringContext) -> None:
    x, y = node.inputs[0], node.outputs[0]
    geo = _window(node)
    del geo["dh"], geo["dw"]
    geo.update(n=prod(y.shape), c=d(x.shape[-1]))
    bufs = [Buf("x"), Buf("y", access="read_write")]
    kernel = _render(ctx, f"pool_{node.attrs['fn']}", "pool.wgsl.j2", bufs, list(geo), (LINEAR_WG,),
                     fn=node.attrs["fn"])
    ctx.add_step(kernel, [ctx.tensor(x), ctx.tensor(y)], list(geo.values()), linear_dispatch(geo["n"]))


# ---- recurrences ----------------------------------------------------------------------------------

def _cell_context(node: Node) -> dict:
    return {**recurrence_flags(node), **cell_functions(node, WGSL)}


def _gate_vectors(cell: str, U) -> bool:
    """LSTM weights are repacked so each unit's four gates are one vec4 (needs U constant)."""
    return cell == "lstm" and U.is_const


def _recurrence_bufs(cell: str, ins: dict, extra: list) -> list:
    bufs = [Buf("xw"), Buf("U", "vec4<f32>" if _gate_vectors(cell, ins["U"]) else "f32")]
    bufs += [Buf(n) for n in ("rb", "h0", "c0", "mask") if ins.get(n) is not None]
    bufs += [Buf("y", access="read_write"), Buf("h_out", access="read_write")]
    if cell == "lstm":
        bufs.append(Buf("c_out", access="read_write"))
    return bufs + extra


def lower_recurrence(node: Node, ctx: LoweringContext) -> None:
    desc = cell_of(node.op)
    cell, gates, mode = desc.kind, desc.n_gates, ctx.options.get("recurrence", "auto")
    ins = node.named_inputs()
    hidden = ins["U"].shape[0]
    if not isinstance(hidden, int):
        ctx.fail(f"the state size {hidden} must be static")
    if mode == "auto":
        mode = "sequence" if hidden <= SEQUENCE_MAX_UNITS else "step"
    c = _cell_context(node)
    c["u4"] = _gate_vectors(cell, ins["U"])
    p = ins.get("p")
    if p is not None and not (c["u4"] and p.is_const):
        ctx.fail("peepholes need constant U and p on webgpu (they are packed into U's buffer)")

    def tensor_of(v):
        if v is ins["U"] and c["u4"]:
            # U[k, g*H + u] -> U4[k, u, g]; only the packed copy goes into the bundle. Peepholes ride
            # along as row H, (p_i, p_f, 0, p_o) per unit: WebGPU guarantees only 8 storage buffers.
            packed = v.data.reshape(hidden, gates, hidden).transpose(0, 2, 1)
            if p is not None:
                pi, pf, po = p.data.reshape(3, hidden)
                packed = np.concatenate([packed, np.stack([pi, pf, np.zeros_like(pi), po], -1)[None]])
            return ctx.weight(v, packed, "gates_vec4_p" if p is not None else "gates_vec4")
        return ctx.tensor(v)
    tensors = [tensor_of(v) for v in node.inputs if v is not None and v is not p]
    tensors += [ctx.tensor(v) for v in node.outputs]
    batch, time = d(ins["xw"].shape[0]), d(ins["xw"].shape[1])
    name = f"{cell}_{mode}"
    if mode == "sequence":
        wg = min(256, max(32, -(-hidden // 32) * 32))
        kernel = _render(ctx, name, "recurrence_sequence.wgsl.j2", _recurrence_bufs(cell, ins, []), ["time"],
                         (wg,), {"recurrence": "sequence"}, upt=-(-hidden // wg),
                         hload=lambda k: f"hbuf[cur + {k}]", cload="c[j]", rhload=lambda k: f"rh[{k}]",
                         zload="zg[j]", **c)
        ctx.add_step(kernel, tensors, [time], (batch, "1", "1"))
        return
    if mode != "step":
        ctx.fail(f"unknown recurrence mode {mode!r}; use auto, sequence or step")
    rows = 4 if c["reset_before"] else 2
    state = ctx.add_temp(f"{node.name}#state", "float32", (rows, ins["xw"].shape[0], hidden))
    bufs = _recurrence_bufs(cell, ins, [Buf("state", access="read_write")])
    phases = ["reset", "main"] if c["reset_before"] else ["main"]
    for phase in phases:
        loop = {"index": "s", "count": "steps", "span": len(phases) if phase == phases[0] else 1}
        kernel = _render(ctx, f"{name}_{phase}", "recurrence_step.wgsl.j2", bufs,
                         ["batch", "time", "s", "steps"], (STEP_WG,), {"recurrence": "step", "loop": loop},
                         phase=phase, hload=lambda k: f"hprev(b, {k}, s)", cload="cprev(b, u, s)",
                         rhload=lambda k: f"state[(2u * P.batch + b) * H + {k}]",
                         zload="state[(3u * P.batch + b) * H + u]", **c)
        ctx.add_step(kernel, tensors + [state], [batch, time, "0", time],
                     (f"cdiv({hidden},{STEP_WG})", batch, "1"))


_HOISTED = "hoist_input_projection rewrites it into MatMul + {}Recurrence before lowering"

TABLE: Legalization = {
    "Unary": lower_unary, "Binary": lower_binary, "FusedElementwise": lower_fused,
    "Where": lower_where, "LengthMask": lower_length_mask, "Cast": lower_cast, "Identity": lower_copy,
    "Reshape": lower_copy,
    "NotEqualMask": lower_not_equal_mask, "MatMul": lower_matmul, "Gather": lower_gather,
    "Softmax": lower_softmax, "Reduce": lower_reduce, "LayerNorm": lower_layer_norm,
    "Transpose": lower_transpose, "Slice": lower_slice, "Reverse": lower_reverse,
    "Tile": lower_tile, "Pad": lower_pad, "Concat": lower_concat,
    "Conv": lower_conv, "Pool": lower_pool,
    "LSTMRecurrence": lower_recurrence, "GRURecurrence": lower_recurrence,
    "SimpleRNNRecurrence": lower_recurrence,
    "LSTM": _HOISTED.format("LSTM"), "GRU": _HOISTED.format("GRU"), "SimpleRNN": _HOISTED.format("SimpleRNN"),
}


def output_copy(node: Node, ctx: LoweringContext, out_tid: int) -> None:
    """Copies a graph output that no step writes (a graph input or a constant) into its own slot."""
    src = node.inputs[0]
    elementwise(ctx, "copy", [src], src, [], "v0", out_tid, flat=True)
