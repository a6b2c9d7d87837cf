"""The bundle file layout, shared by writer.py and reader.py (and mirrored by runtime-js/src/bundle/).

    offset  size  field
    0       8     magic "WLOOMBND"
    8       4     u32 format version (FORMAT_VERSION)
    12      4     u32 flags (none are defined in version 1; must be 0)
    16      4     u32 CRC32 (zlib's) of every byte after the header, up to the end of the file
    20      4     u32 FlatBuffers payload length (the payload starts at HEADER_SIZE)
    24      8     u64 weights offset (a multiple of WEIGHTS_ALIGN)
    32      8     u64 weights length (the file ends right after the weights)
    40      24    zeros (reserved)

All integers are little-endian. The payload (webloom.fbs, file identifier "WLM1") is followed by zero
padding up to the weights offset, so the runtime can view the weights as a Float32Array in place.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"WLOOMBND"
FORMAT_VERSION = 1
HEADER_SIZE = 64
WEIGHTS_ALIGN = 64
FILE_IDENTIFIER = b"WLM1"
_HEADER = struct.Struct("<8sIIIIQQ24x")


class BundleError(ValueError):
    """A file that is not a bundle this reader can load, or a Program that cannot be written."""

    def __init__(self, message: str):
        from converter.bundle.expr import printable      # messages quote the file: keep them one line
        super().__init__(printable(message))


@dataclass(frozen=True)
class Header:
    version: int
    flags: int
    crc32: int
    payload_length: int
    weights_offset: int
    weights_length: int

    @property
    def file_size(self) -> int:
        return self.weights_offset + self.weights_length


def align(n: int, to: int = WEIGHTS_ALIGN) -> int:
    return (n + to - 1) // to * to


def pack_header(h: Header) -> bytes:
    return _HEADER.pack(MAGIC, h.version, h.flags, h.crc32, h.payload_length, h.weights_offset,
                        h.weights_length)


def crc32(data) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def _truncated(expected: int, got: int) -> BundleError:
    return BundleError(f"bundle is truncated: expected {expected} bytes, got {got}")


def unpack_header(data) -> Header:
    """The checked header of a whole bundle file ``data``; checks magic, version, sizes and CRC."""
    got = len(data)
    if bytes(data[:8]) != MAGIC:
        if got < len(MAGIC) and MAGIC.startswith(bytes(data)) and got:
            raise _truncated(HEADER_SIZE, got)
        raise BundleError("not a Webloom bundle (bad magic)")
    if got < HEADER_SIZE:
        raise _truncated(HEADER_SIZE, got)
    _, version, flags, crc, fb_len, w_off, w_len = _HEADER.unpack_from(data, 0)
    if version > FORMAT_VERSION:
        raise BundleError(f"bundle format version {version} is newer than this reader ({FORMAT_VERSION}): "
                          f"update webloom")
    if version < 1 or flags:
        raise BundleError(f"bundle is corrupted (version {version}, flags {flags:#x} in the header)")
    h = Header(version, flags, crc, fb_len, w_off, w_len)
    if w_off % WEIGHTS_ALIGN or w_off < HEADER_SIZE + fb_len:
        raise BundleError(f"bundle is corrupted (weights offset {w_off} does not follow a "
                          f"{fb_len}-byte payload)")
    if got < h.file_size:
        raise _truncated(h.file_size, got)
    if crc32(memoryview(data)[HEADER_SIZE:]) != crc:
        raise BundleError("bundle is corrupted (checksum mismatch)")
    return h
