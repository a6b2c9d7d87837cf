"""Smaller weights in a bundle: ``--weights float16`` (IEEE half) or ``int8`` (symmetric, one float32
scale per slice along one axis), expanded back to float32 by the readers at load (docs/design.md).

Only float32 weights of rank >= 2 (matrices, embeddings, kernels and their repacks) are encoded;
vectors (biases, norm scales) and int32 tables stay as they are. The stored weights are the backend's
own layouts (blocked, vec4-packed): for int8 the encoder tries as the axis one scale covers each axis of
at least MIN_AXIS values (the longest when none is) and keeps the one with the smallest squared error;
for the matrices and their repacks that is the input axis, i.e. one scale per output channel.
"""

from __future__ import annotations

import numpy as np

from converter.bundle import format as fmt

ENCODINGS = ("float32", "float16", "int8")
MIN_AXIS = 16          # shorter slices would spend more on scales than int8 saves
INT8_MAX = 127


def int8_encode(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(codes, scales, axis): w ~= codes * scales broadcast along ``axis`` (scales: w's shape without it)."""
    best = None
    axes = [a for a in range(w.ndim) if w.shape[a] >= MIN_AXIS] or [int(np.argmax(w.shape))]
    for axis in axes:
        peak = np.max(np.abs(w), axis=axis, keepdims=True)
        scale = (peak / INT8_MAX).astype(np.float32)
        safe = np.where(scale > 0, scale, 1).astype(np.float32)
        q = np.clip(np.rint(w / safe), -INT8_MAX, INT8_MAX).astype(np.int8)
        err = float(np.sum((q.astype(np.float32) * scale - w) ** 2))
        if best is None or err < best[0]:
            best = (err, q, np.squeeze(scale, axis=axis), axis)
    return best[1], best[2], best[3]


def int8_decode(q: np.ndarray, scales: np.ndarray, axis: int) -> np.ndarray:
    return q.astype(np.float32) * np.expand_dims(scales.astype(np.float32), axis)


def _static_shape(t) -> tuple:
    return tuple(int(d) for d in t.shape)


def _encodable(t, w: np.ndarray, encoding: str) -> bool:
    return encoding != "float32" and t.dtype == "float32" and w.ndim >= 2 and bool(np.all(np.isfinite(w)))


def pack(p, encoding: str) -> tuple[bytes, list]:
    """(stored weights blob, [WeightEncodingT]) of Program ``p`` with its float32 weights in ``encoding``."""
    from converter.bundle.vendor.fb.WeightEncoding import WeightEncodingT
    blob = bytearray()
    entries, done = [], {}

    def put(data: bytes) -> int:
        at = fmt.align(len(blob))
        blob.extend(bytes(at - len(blob)))
        blob.extend(data)
        return at

    for t in p.tensors:
        if t.kind != "weight":
            continue
        shape = _static_shape(t)
        n = int(np.prod(shape)) if shape else 1
        key = (t.weight_offset, n, t.dtype)
        if key not in done:      # a region two tensors share is stored once
            raw = p.weights[t.weight_offset:t.weight_offset + 4 * n]
            w = np.frombuffer(raw, np.float32).reshape(shape) if t.dtype == "float32" else None
            if w is not None and _encodable(t, w, encoding) and encoding == "float16":
                done[key] = dict(encoding="float16", offset=put(w.astype("<f2").tobytes()))
            elif w is not None and _encodable(t, w, encoding) and encoding == "int8":
                q, scales, axis = int8_encode(w)
                offset = put(q.tobytes())
                done[key] = dict(encoding="int8", offset=offset, axis=axis,
                                 scaleOffset=put(scales.astype("<f4").tobytes()))
            else:
                done[key] = dict(encoding="none", offset=put(bytes(raw)))
        entries.append(WeightEncodingT(tensor=t.id, **done[key]))
    return bytes(blob), entries



def unpack(stored: bytes, entries, length: int, tensors) -> bytes:
    """The float32 weights blob (``length`` bytes) from the stored blob and its WeightEncoding entries.
    Raises ValueError naming the entry that does not fit."""
    if not 0 <= length <= 0x7FFFFFFF:     # the JS reader's limit too
        raise ValueError(f"weights_length {length} is out of range")
    out = bytearray(length)
    for e in entries:
        if not 0 <= e.tensor < len(tensors) or tensors[e.tensor].kind != "weight":
            raise ValueError(f"weight encoding names tensor {e.tensor}, which is not a weight")
        t = tensors[e.tensor]
        shape = _static_shape(t)
        n = int(np.prod(shape)) if shape else 1
        values = _decode(stored, e, shape, n, t.name)
        if t.weight_offset < 0 or t.weight_offset + 4 * n > length:
            raise ValueError(f"weight '{t.name}' does not fit the {length}-byte weights")
        out[t.weight_offset:t.weight_offset + 4 * n] = values
    return bytes(out)


def _slice(stored: bytes, offset: int, nbytes: int, name: str) -> bytes:
    if offset < 0 or offset + nbytes > len(stored):
        raise ValueError(f"weight '{name}': stored bytes [{offset}, {offset + nbytes}) are outside the "
                         f"{len(stored)}-byte weights blob")
    return stored[offset:offset + nbytes]


def _decode(stored: bytes, e, shape: tuple, n: int, name: str) -> bytes:
    encoding = e.encoding.decode() if isinstance(e.encoding, bytes) else e.encoding
    if encoding == "none":
        return _slice(stored, e.offset, 4 * n, name)
    if encoding == "float16":
        return np.frombuffer(_slice(stored, e.offset, 2 * n, name), "<f2").astype("<f4").tobytes()
    if encoding == "int8":
        if not 0 <= e.axis < max(len(shape), 1):
            raise ValueError(f"weight '{name}': int8 axis {e.axis} is outside its rank {len(shape)}")
        q = np.frombuffer(_slice(stored, e.offset, n, name), np.int8).reshape(shape)
        scale_shape = shape[:e.axis] + shape[e.axis + 1:]
        count = int(np.prod(scale_shape)) if scale_shape else 1
        scales = np.frombuffer(_slice(stored, e.scaleOffset, 4 * count, name), "<f4").reshape(scale_shape)
        return int8_decode(q, scales, e.axis).astype("<f4").tobytes()
    raise ValueError(f"weight '{name}' has unknown encoding '{encoding}'")
