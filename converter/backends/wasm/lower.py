"""The wasm legalization table: one kernel generator per catalogue op (or the reason there is none).

Generators compute every shape, stride and offset here and hand them to the templates as C
expressions; kernels never recompute shapes. Weight layouts chosen here (the kernels are bound by
cache bandwidth, so weights are stored in the order the kernels stream them): MatMul weights blocked
[N8/8][K][8] (columns zero-padded to a multiple of 8); Conv weights and biases zero-padded to a
multiple of 4 output columns; recurrent U blocked per group of hidden units (see _block_pack).
Reshape is lowered as a copy (not an alias): the memory plan gives every value its own slot, and a copy
keeps that plan valid without aliasing rules.
"""

from __future__ import annotations

import numpy as np

from converter.backends.dialect import CDIALECT as C
from converter.backends.lowering import (Legalization, LoweringContext, cell_functions, layer_norm_start,
                                         recurrence_flags, window_of)
from converter.backends.wasm.emit import CKernel
from converter.ir import dims
from converter.ir.graph import Node
from converter.ops.elementwise import parse_step
from converter.ops.recurrent import cell_of


def _cdiv4(n: int) -> int:
    return -(-n // 4) * 4


def _static(ctx: LoweringContext, d, what: str) -> int:
    if not dims.is_static(d):
        ctx.fail(f"{what} must be static for the wasm kernels, got {d}")
    return dims.evaluate(d, {})


def _pad_cols(a: np.ndarray, groups: int = 1) -> np.ndarray:
    """Zero-pad the last axis, split into ``groups`` equal parts, each to a multiple of 4 columns."""
    parts = np.split(a, groups, axis=-1)
    width = _cdiv4(parts[0].shape[-1])
    pad = [(0, 0)] * (a.ndim - 1) + [(0, width - parts[0].shape[-1])]
    return np.concatenate([np.pad(p, pad) for p in parts], axis=-1).astype(np.float32)


def _step(ctx: LoweringContext, k: CKernel, **context) -> None:
    kernel, tensors, symbols = k.render(**context)
    ctx.add_step(kernel, tensors, symbols)


def _contiguous_strides(shape) -> list:
    out, acc = [], 1
    for d in reversed(shape):
        out.append(acc)
        acc = dims.mul(acc, d)
    return out[::-1]


# ---- elementwise ---------------------------------------------------------------------------------

def _expr_lines(program) -> tuple[list, str]:
    """C lines for parsed steps (fn, args, params); operands in<k> and t<j> are the template's names."""
    lines = [f"f4 t{j} = {C.step(step, str)};" for j, step in enumerate(program)]
    return lines, f"t{len(program) - 1}"


def _broadcast_axes(out_shape, in_shapes) -> list:
    """Collapsed [(dim, [stride per input])] of the output, dropping size-1 axes, merging contiguous ones."""
    rank = len(out_shape)
    axes = []
    for i, d in enumerate(out_shape):
        if dims.normalize(d) == 1:
            continue
        strides = []
        for s in in_shapes:
            j = i - rank + len(s)
            own = j >= 0 and dims.normalize(s[j]) != 1
            strides.append(_contiguous_strides(s)[j] if own else 0)
        axes.append((dims.normalize(d), strides))
    merged = []
    for d, strides in axes:
        if merged:
            pd, ps = merged[-1]
            if all(dims.normalize(p) == dims.normalize(dims.mul(s, d)) for p, s in zip(ps, strides)):
                merged[-1] = (dims.mul(pd, d), strides)
                continue
        merged.append((d, strides))
    return merged or [(1, [0] * len(in_shapes))]


def _elementwise(node: Node, ctx: LoweringContext, program, bits: bool = False) -> None:
    """The elementwise kernel over parsed steps, or over ``(lines, result)`` when ``bits`` (a select:
    lanes carry raw bits, so int32 tensors pass through unchanged)."""
    out = node.outputs[0]
    if not bits and (out.dtype != "float32" or any(v.dtype != "float32" for v in node.inputs)):
        ctx.fail("the wasm elementwise kernel handles float32 only (int32 in Binary alone)")
    k = CKernel(node.op, "elementwise.c.j2")
    for i, v in enumerate(node.inputs):
        k.ptr(f"x{i}", ctx.tensor(v))
    k.ptr("y", ctx.tensor(out), access="read_write")
    axes = _broadcast_axes(out.shape, [v.shape for v in node.inputs])
    inner_dim, inner_strides = axes[-1]
    lines, result = program if bits else _expr_lines(program)
    outer = [{"dim": k.dim(d), "strides": [k.dim(s) if s != 0 else "0" for s in st]}
             for d, st in axes[:-1]]
    outer_size = k.dim(dims.size([d for d, _ in axes[:-1]]))
    _step(ctx, k, n_in=len(node.inputs), inner=k.dim(inner_dim), outer=outer_size, outer_axes=outer,
          splat=[s == 0 for s in inner_strides], body=lines, result=result)


def lower_unary(node: Node, ctx: LoweringContext) -> None:
    _elementwise(node, ctx, [(node.attrs["fn"], ("in0",), (node.attrs["alpha"], node.attrs["beta"]))])


def lower_binary(node: Node, ctx: LoweringContext) -> None:
    fn, dtype = node.attrs["fn"], node.outputs[0].dtype
    if dtype == "int32":      # the IR allows int32 add, sub, mul, max, min (Binary.infer)
        _elementwise(node, ctx, ([f"f4 t0 = {C.binary(fn, 'in0', 'in1', dtype)};"], "t0"), bits=True)
    else:
        _elementwise(node, ctx, [(fn, ("in0", "in1"), ())])


def lower_where(node: Node, ctx: LoweringContext) -> None:
    expr = C.where("in0", "in1", "in2", node.input("cond").dtype)
    _elementwise(node, ctx, ([f"f4 t0 = {expr};"], "t0"), bits=True)


def lower_length_mask(node: Node, ctx: LoweringContext) -> None:
    lengths, like = node.inputs
    k = CKernel("LengthMask", "length_mask.c.j2")
    k.ptr("lengths", ctx.tensor(lengths), "int32").ptr("y", ctx.tensor(node.outputs[0]), access="read_write")
    _step(ctx, k, B=k.dim(like.shape[0]), T=k.dim(like.shape[1]))


def lower_fused(node: Node, ctx: LoweringContext) -> None:
    n = len(node.inputs)
    _elementwise(node, ctx, [parse_step(step, n, i) for i, step in enumerate(node.attrs["program"])])


# ---- linear / lookup -----------------------------------------------------------------------------

# When kernels are split over threads (prelude.c.j2), measured with tools/bench (docs/design.md section 5):
# a recurrence when a step has at least RNN_SPLIT_MACS multiply-adds per batch row (H * gates * H: LSTM 256
# gained 1.5x on 2 cores, LSTM 128 and 64 did not pay for a barrier per step); a MatMul with at least
# MIN_SPLIT_BLOCKS 8-column blocks (two per thread of two) when the call has MM_SPLIT_MACS (the kernel checks
# M at run time: M is batch * time); and only in models with a split recurrence (model_splits).
RNN_SPLIT_MACS = 1 << 17
MIN_SPLIT_BLOCKS = 4
MM_SPLIT_MACS = 1 << 20


def _rnn_splits(node: Node) -> bool:
    U = node.named_inputs().get("U")
    if U is None:
        return False
    H = U.shape[0]
    return U.is_const and isinstance(H, int) and H * cell_of(node.op).n_gates * H >= RNN_SPLIT_MACS


def model_splits(graph) -> bool:
    """Whether any recurrence of `graph` is split over threads: MatMuls split only then (a barrier per
    step is what threads pay for; a model without one runs its kernels on one thread)."""
    return any(cell_of(n.op) and _rnn_splits(n) for n in graph.nodes)


def lower_matmul(node: Node, ctx: LoweringContext) -> None:
    x, w, b = node.inputs
    if not w.is_const or (b is not None and not b.is_const):
        ctx.fail("the weight and bias must be constants for the wasm MatMul kernel")
    K, N = (_static(ctx, d, "MatMul w dims") for d in w.shape)
    n8 = -(-N // 8) * 8
    blocked = np.pad(w.data, [(0, 0), (0, n8 - N)]).reshape(K, n8 // 8, 8).transpose(1, 0, 2)
    k = CKernel("MatMul", "matmul.c.j2").threads(n8 // 8 >= MIN_SPLIT_BLOCKS and model_splits(ctx.graph))
    k.ptr("x", ctx.tensor(x)).ptr("w", ctx.weight(w, np.ascontiguousarray(blocked), "blocked8"))
    if b is not None:
        k.ptr("b", ctx.weight(b, np.pad(b.data, (0, n8 - N)), "n8"))
    k.ptr("y", ctx.tensor(node.outputs[0]), access="read_write")
    _step(ctx, k, M=k.dim(dims.size(x.shape[:-1])), K=K, N=N, N8=n8, has_b=b is not None,
          act=node.attrs["activation"], min_split=MM_SPLIT_MACS,
          act_params=C.params(node.attrs["activation"], node.attrs["alpha"], 0.0))


def lower_gather(node: Node, ctx: LoweringContext) -> None:
    table, idx = node.inputs
    V, E = (_static(ctx, d, "Gather table dims") for d in table.shape)
    k = CKernel("Gather", "gather.c.j2")
    k.ptr("table", ctx.tensor(table), "int32").ptr("idx", ctx.tensor(idx), "int32")
    k.ptr("y", ctx.tensor(node.outputs[0]), "int32", "read_write")
    _step(ctx, k, N=k.dim(dims.size(idx.shape)), V=V, E=E)


# ---- recurrent -----------------------------------------------------------------------------------

def _block_pack(u: np.ndarray, gates: int, hp: int, nu: int) -> np.ndarray:
    """U[H, gates*H] -> [HP/(4*nu) blocks, H, nu*gates*4]: block b holds, for each of its nu groups of 4
    units, the `gates` gate vectors, so the kernel streams U once per step, contiguously."""
    h = u.shape[0]
    parts = u.reshape(h, gates, -1)
    parts = np.pad(parts, [(0, 0), (0, 0), (0, hp - parts.shape[-1])])
    blocked = parts.reshape(h, gates, hp // (4 * nu), nu, 4).transpose(2, 0, 3, 1, 4)
    return np.ascontiguousarray(blocked.reshape(hp // (4 * nu), h, nu * gates * 4)).astype(np.float32)


# Unit groups (of 4) per U block: LSTM 2 (8 gate vectors: 8 independent accumulators for one batch row,
# and two groups' cell updates to overlap), GRU 1 (3), SimpleRNN 4 (recurrence.c.j2 splits the k loop
# where a row has fewer than 8 and takes two rows' groups one at a time where 16 would not fit).
_GROUPS_PER_BLOCK = {"lstm": 2, "gru": 1, "rnn": 4}


def lower_recurrence(node: Node, ctx: LoweringContext) -> None:
    cell = cell_of(node.op)
    ins, a, gates = node.named_inputs(), node.attrs, cell.n_gates
    U = ins["U"]
    if not U.is_const:
        ctx.fail("the recurrent kernel U must be a constant")
    H = _static(ctx, U.shape[0], "hidden size")
    two_pass = cell.kind == "gru" and not a.get("reset_after", True)
    nu = 4 if two_pass else _GROUPS_PER_BLOCK[cell.kind]
    hp = -(-H // (4 * nu)) * 4 * nu
    k = CKernel(node.op, "recurrence.c.j2").threads(_rnn_splits(node))
    k.ptr("xw", ctx.tensor(ins["xw"]))
    if two_pass:       # z and r from U[:, :2H] @ h, then the candidate from (r*h) @ U[:, 2H:]
        k.ptr("U", ctx.weight(U, _block_pack(U.data[:, :2 * H], 2, hp, 2), "blocked_zr"))
        k.ptr("Uh", ctx.weight(U, _block_pack(U.data[:, 2 * H:], 1, hp, 4), "blocked_h"))
    else:
        k.ptr("U", ctx.weight(U, _block_pack(U.data, gates, hp, nu), "blocked"))
    rb = ins.get("rb")
    if rb is not None:
        if not rb.is_const:
            ctx.fail("the recurrent bias rb must be a constant")
        padded = np.pad(rb.data.reshape(gates, H), [(0, 0), (0, hp - H)]).ravel()
        k.ptr("rb", ctx.weight(rb, padded, "padded"))
    for name in ("h0", "c0", "mask"):
        if ins.get(name) is not None:
            k.ptr(name, ctx.tensor(ins[name]))
    p = ins.get("p")
    if p is not None:          # peepholes [3H] (i, f, o), each gate padded to HP like rb
        if not p.is_const:
            ctx.fail("the peephole weights p must be a constant")
        k.ptr("p", ctx.weight(p, np.pad(p.data.reshape(3, H), [(0, 0), (0, hp - H)]).ravel(), "padded"))
    outs = ["y", "h_out", "c_out"][:len(node.outputs)]
    for name, v in zip(outs, node.outputs):
        k.ptr(name, ctx.tensor(v), access="read_write")
    B, T = ins["xw"].shape[:2]
    ns = 5 if two_pass else max(gates, 3)     # scratch rows per batch row (see recurrence.c.j2)
    k.ptr("scratch", ctx.add_temp(f"{node.name}#state", "float32", (B, ns * hp)), access="read_write")
    _step(ctx, k, **recurrence_flags(node), **cell_functions(node, C), HP=hp, NU=nu, NS=ns, B=k.dim(B),
          T=k.dim(T))


# ---- masks and reductions ------------------------------------------------------------------------

def lower_not_equal_mask(node: Node, ctx: LoweringContext) -> None:
    x = node.inputs[0]
    k = CKernel("NotEqualMask", "not_equal_mask.c.j2")
    k.ptr("x", ctx.tensor(x), x.dtype).ptr("y", ctx.tensor(node.outputs[0]), access="read_write")
    inner = x.shape[-1] if node.attrs["reduce_last"] else 1
    value = node.attrs["value"]
    cvalue = C.lit(value) if x.dtype == "float32" else str(int(value))
    _step(ctx, k, outer=k.dim(dims.size(node.outputs[0].shape)), inner=k.dim(inner), value=cvalue)


def lower_reduce(node: Node, ctx: LoweringContext) -> None:
    x, mask = node.inputs
    if x.dtype != "float32":
        ctx.fail("the wasm Reduce kernel handles float32 only")
    rank = len(x.shape)
    axes = sorted({a % rank for a in node.attrs["axes"]})
    strides = _contiguous_strides(x.shape)
    k = CKernel("Reduce", "reduce.c.j2")
    k.ptr("x", ctx.tensor(x))
    if mask is not None:
        k.ptr("mask", ctx.tensor(mask))
    k.ptr("y", ctx.tensor(node.outputs[0]), access="read_write")
    kept = [{"dim": k.dim(x.shape[i]), "stride": k.dim(strides[i])} for i in range(rank) if i not in axes]
    red = [{"dim": k.dim(x.shape[i]), "stride": k.dim(strides[i])} for i in axes]
    _step(ctx, k, fn=node.attrs["fn"], has_mask=mask is not None, kept=kept, red=red,
          out_size=k.dim(dims.size([x.shape[i] for i in range(rank) if i not in axes])),
          red_size=k.dim(dims.size([x.shape[i] for i in axes])),
          rest=k.dim(dims.size(x.shape[2:])), T=k.dim(x.shape[1]) if rank > 1 else "1")


def lower_softmax(node: Node, ctx: LoweringContext) -> None:
    x = node.inputs[0]
    axis = node.attrs["axis"] % len(x.shape)
    k = CKernel("Softmax", "softmax.c.j2")
    k.ptr("x", ctx.tensor(x)).ptr("y", ctx.tensor(node.outputs[0]), access="read_write")
    _step(ctx, k, outer=k.dim(dims.size(x.shape[:axis])), L=k.dim(x.shape[axis]),
          inner=k.dim(dims.size(x.shape[axis + 1:])))


def lower_cast(node: Node, ctx: LoweringContext) -> None:
    x, y = node.inputs[0], node.outputs[0]
    if x.dtype == y.dtype:
        return _copy_step(ctx, node.op, ctx.tensor(x), ctx.tensor(y), [(d, (1, s), (1, s)) for d, s in
                          zip(x.shape, _contiguous_strides(x.shape))], "0", "0")
    k = CKernel("Cast", "cast.c.j2")
    k.ptr("x", ctx.tensor(x), x.dtype).ptr("y", ctx.tensor(y), y.dtype, "read_write")
    _step(ctx, k, n=k.dim(dims.size(x.shape)), to=y.dtype)


# ---- shape ops: one strided-copy kernel ------------------------------------------------------------
# An axis is (dim, src stride, dst stride); a stride is (sign, dim) so that Reverse can walk backwards.

def _copy_axes_merge(axes: list) -> list:
    merged = []
    for d, ss, ds in axes:
        if dims.normalize(d) == 1:
            continue
        if merged:
            pd, pss, pds = merged[-1]
            if all(p[0] == s[0] and dims.normalize(p[1]) == dims.normalize(dims.mul(s[1], d))
                   for p, s in ((pss, ss), (pds, ds))):
                merged[-1] = (dims.mul(pd, d), ss, ds)
                continue
        merged.append((d, ss, ds))
    return merged or [(1, (1, 1), (1, 1))]


def _copy_step(ctx, op: str, src: int, dst: int, axes: list, src_off: str, dst_off: str) -> None:
    k = CKernel(op, "copy.c.j2")
    k.ptr("src", src, "int32").ptr("dst", dst, "int32", "read_write")
    axes = _copy_axes_merge(axes)

    def stride(s):
        return ("-" if s[0] < 0 else "") + f"({k.dim(s[1])})"

    outer = [{"dim": k.dim(d), "src": stride(ss), "dst": stride(ds)} for d, ss, ds in axes[:-1]]
    inner, iss, ids = axes[-1]
    offs = [o if isinstance(o, str) else o(k) for o in (src_off, dst_off)]
    _step(ctx, k, outer=k.dim(dims.size([a[0] for a in axes[:-1]])), outer_axes=outer,
          inner=k.dim(inner), inner_src=stride(iss), inner_dst=stride(ids), src_off=offs[0], dst_off=offs[1])


def _plain_axes(shape, src_strides=None, dst_strides=None) -> list:
    cs = _contiguous_strides(shape)
    src_strides = src_strides or [(1, s) for s in cs]
    dst_strides = dst_strides or [(1, s) for s in cs]
    return list(zip(shape, src_strides, dst_strides))


def lower_reshape(node: Node, ctx: LoweringContext) -> None:
    x = node.inputs[0]
    _copy_step(ctx, "Reshape", ctx.tensor(x), ctx.tensor(node.outputs[0]),
               [(dims.size(x.shape), (1, 1), (1, 1))], "0", "0")


def output_copy(node: Node, ctx: LoweringContext, dst: int) -> None:
    """Copy a graph input or constant into its own output tensor (see lowering.lower)."""
    x = node.inputs[0]
    _copy_step(ctx, "Copy", ctx.tensor(x), dst, [(dims.size(x.shape), (1, 1), (1, 1))], "0", "0")


def lower_identity(node: Node, ctx: LoweringContext) -> None:
    lower_reshape(node, ctx)


def lower_transpose(node: Node, ctx: LoweringContext) -> None:
    x, y = node.inputs[0], node.outputs[0]
    xs = _contiguous_strides(x.shape)
    src = [(1, xs[p]) for p in node.attrs["perm"]]
    _copy_step(ctx, "Transpose", ctx.tensor(x), ctx.tensor(y), _plain_axes(y.shape, src), "0", "0")


def lower_reverse(node: Node, ctx: LoweringContext) -> None:
    x = node.inputs[0]
    axis = node.attrs["axis"] % len(x.shape)
    xs = _contiguous_strides(x.shape)
    src = [(-1 if i == axis else 1, s) for i, s in enumerate(xs)]

    def src_off(k):
        return f"(({k.dim(x.shape[axis])}) - 1) * ({k.dim(xs[axis])})"

    _copy_step(ctx, "Reverse", ctx.tensor(x), ctx.tensor(node.outputs[0]), _plain_axes(x.shape, src),
               src_off, "0")


def lower_slice(node: Node, ctx: LoweringContext) -> None:
    x, y = node.inputs[0], node.outputs[0]
    axis = node.attrs["axis"] % len(x.shape)
    start = node.attrs["start"] or 0
    if dims.is_static(x.shape[axis]):
        start = slice(node.attrs["start"], node.attrs["end"]).indices(dims.evaluate(x.shape[axis], {}))[0]
    xs = _contiguous_strides(x.shape)
    src = [(1, s) for s in xs]

    def src_off(k):
        return f"{start} * ({k.dim(xs[axis])})"

    _copy_step(ctx, "Slice", ctx.tensor(x), ctx.tensor(y), _plain_axes(y.shape, src), src_off, "0")


def lower_tile(node: Node, ctx: LoweringContext) -> None:
    # y viewed as [r0, d0, r1, d1, ...]: the repeat axes read the source with stride 0
    x, y = node.inputs[0], node.outputs[0]
    xs, ys = _contiguous_strides(x.shape), _contiguous_strides(y.shape)
    axes = []
    for d, r, s, t in zip(x.shape, node.attrs["repeats"], xs, ys):
        axes += [(int(r), (1, 0), (1, dims.mul(d, t))), (d, (1, s), (1, t))]
    axes = [(d, ss, ds) if ss[1] != 0 else (d, (1, 0), ds) for d, ss, ds in axes]
    _copy_step(ctx, "Tile", ctx.tensor(x), ctx.tensor(y), axes, "0", "0")


def lower_concat(node: Node, ctx: LoweringContext) -> None:
    y = node.outputs[0]
    axis = node.attrs["axis"] % len(y.shape)
    ys = _contiguous_strides(y.shape)
    offset = 0
    for x in node.inputs:
        dst = [(1, s) for s in ys]

        def dst_off(k, offset=offset):
            return f"{k.dim(offset)} * ({k.dim(ys[axis])})"

        _copy_step(ctx, "Concat", ctx.tensor(x), ctx.tensor(y), _plain_axes(x.shape, None, dst), "0", dst_off)
        offset = dims.add(offset, x.shape[axis])


def lower_pad(node: Node, ctx: LoweringContext) -> None:
    x, y = node.inputs[0], node.outputs[0]
    value = np.array([node.attrs["value"]], dtype=y.dtype).view(np.int32)[0]
    k = CKernel("Pad", "fill.c.j2")
    k.ptr("dst", ctx.tensor(y), "int32", "read_write")
    _step(ctx, k, n=k.dim(dims.size(y.shape)), bits=f"(int32_t){int(value)}")
    ys = _contiguous_strides(y.shape)
    dst = [(1, s) for s in ys]

    def dst_off(k):
        return " + ".join(f"{lo} * ({k.dim(s)})" for (lo, _), s in zip(node.attrs["pads"], ys)) or "0"

    _copy_step(ctx, "Pad", ctx.tensor(x), ctx.tensor(y), _plain_axes(x.shape, None, dst), "0", dst_off)


# ---- conv / pool / norm --------------------------------------------------------------------------

def _window(k: CKernel, node: Node) -> dict:
    """Template dims of a Conv/Pool window as C expressions (1D: H = OH = 1)."""
    win, x = window_of(node), node.inputs[0]
    (KH, KW), (SH, SW), (DH, DW), (PT, PL) = win.size, win.strides, win.dilations, win.pads
    return dict(B=k.dim(x.shape[0]), H=k.dim(win.h), W=k.dim(win.w), OH=k.dim(win.oh), OW=k.dim(win.ow),
                KH=KH, KW=KW, SH=SH, SW=SW, DH=DH, DW=DW, PT=PT, PL=PL)


def lower_conv(node: Node, ctx: LoweringContext) -> None:
    x, w, b = node.inputs
    y = node.outputs[0]
    if not w.is_const or (b is not None and not b.is_const):
        ctx.fail("the wasm Conv kernel needs constant weights")
    wdata = w.data if len(x.shape) == 4 else w.data[None]
    C_in, F = wdata.shape[2:]
    k = CKernel("Conv", "conv.c.j2")
    k.ptr("x", ctx.tensor(x)).ptr("w", ctx.weight(w, _pad_cols(wdata), "f4"))
    if b is not None:
        k.ptr("bias", ctx.weight(b, _pad_cols(b.data), "f4"))
    k.ptr("y", ctx.tensor(y), access="read_write")
    act = node.attrs["activation"]
    _step(ctx, k, **_window(k, node), C=C_in, F=F, F4=_cdiv4(F), NF=_cdiv4(F) // 4, has_b=b is not None,
          act=act, act_params=C.params(act, node.attrs["alpha"], 0.0))


def lower_pool(node: Node, ctx: LoweringContext) -> None:
    x, y = node.inputs[0], node.outputs[0]
    k = CKernel("Pool", "pool.c.j2")
    k.ptr("x", ctx.tensor(x)).ptr("y", ctx.tensor(y), access="read_write")
    geo = _window(k, node)
    del geo["DH"], geo["DW"]
    _step(ctx, k, **geo, C=_static(ctx, x.shape[-1], "channels"), fn=node.attrs["fn"])


def lower_layer_norm(node: Node, ctx: LoweringContext) -> None:
    x, gamma, beta = node.inputs
    start = layer_norm_start(node, ctx)
    k = CKernel("LayerNorm", "layer_norm.c.j2")
    k.ptr("x", ctx.tensor(x))
    for name, v in (("gamma", gamma), ("beta", beta)):
        if v is not None:
            k.ptr(name, ctx.tensor(v))
    k.ptr("y", ctx.tensor(node.outputs[0]), access="read_write")
    _step(ctx, k, rows=k.dim(dims.size(x.shape[:start])), n=k.dim(dims.size(x.shape[start:])),
          epsilon=C.lit(node.attrs["epsilon"]), has_gamma=gamma is not None, has_beta=beta is not None)


_HOISTED = "rewritten by passes.hoist_input_projection into MatMul + {}Recurrence, which has a kernel"

TABLE: Legalization = {
    "Unary": lower_unary,
    "Binary": lower_binary,
    "FusedElementwise": lower_fused,
    "Where": lower_where,
    "LengthMask": lower_length_mask,
    "Softmax": lower_softmax,
    "Cast": lower_cast,
    "Identity": lower_identity,
    "MatMul": lower_matmul,
    "Gather": lower_gather,
    "LSTM": _HOISTED.format("LSTM"),
    "GRU": _HOISTED.format("GRU"),
    "SimpleRNN": _HOISTED.format("SimpleRNN"),
    "LSTMRecurrence": lower_recurrence,
    "GRURecurrence": lower_recurrence,
    "SimpleRNNRecurrence": lower_recurrence,
    "NotEqualMask": lower_not_equal_mask,
    "Reduce": lower_reduce,
    "Reshape": lower_reshape,
    "Transpose": lower_transpose,
    "Concat": lower_concat,
    "Reverse": lower_reverse,
    "Tile": lower_tile,
    "Slice": lower_slice,
    "Pad": lower_pad,
    "Conv": lower_conv,
    "Pool": lower_pool,
    "LayerNorm": lower_layer_norm,
}
