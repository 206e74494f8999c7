"""Normalise WKB to the 2D ISO WKB Mapnik reads: EWKB (PostGIS, with SRID and Z/M flags) and
ISO Z/M/ZM geometries become plain 2D, little-endian."""

from __future__ import annotations

import struct

__all__ = ["WKBError", "to_2d_wkb"]

_EWKB_Z = 0x80000000
_EWKB_M = 0x40000000
_EWKB_SRID = 0x20000000
_MAX_DEPTH = 32
_POINT_2D_LE = b"\x01\x01\x00\x00\x00"


class WKBError(ValueError):
    """The bytes are not a geometry in WKB or EWKB."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        end = self.pos + size
        if end > len(self.data):
            raise WKBError("truncated WKB")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk


def _geometry(reader: _Reader, out: bytearray, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise WKBError("WKB nested too deeply")
    order = reader.take(1)[0]
    if order not in (0, 1):
        raise WKBError(f"bad WKB byte order {order}")
    end = "<" if order == 1 else ">"
    (code,) = struct.unpack(end + "I", reader.take(4))
    has_z = bool(code & _EWKB_Z)
    has_m = bool(code & _EWKB_M)
    if code & _EWKB_SRID:
        reader.take(4)
    code &= 0x0FFFFFFF
    thousands, kind = divmod(code, 1000)
    if thousands in (1, 3):
        has_z = True
    if thousands in (2, 3):
        has_m = True
    if not 1 <= kind <= 7:
        raise WKBError(f"unsupported WKB geometry type {code}")
    dims = 2 + has_z + has_m
    out += struct.pack("<BI", 1, kind)

    def points(count: int) -> None:
        for _ in range(count):
            coords = struct.unpack(end + "d" * dims, reader.take(8 * dims))
            out.extend(struct.pack("<dd", coords[0], coords[1]))

    def count() -> int:
        (n,) = struct.unpack(end + "I", reader.take(4))
        if n > len(reader.data):
            raise WKBError("WKB count larger than the data")
        out.extend(struct.pack("<I", n))
        return int(n)

    if kind == 1:
        points(1)
    elif kind == 2:
        points(count())
    elif kind == 3:
        for _ in range(count()):
            points(count())
    else:
        for _ in range(count()):
            _geometry(reader, out, depth + 1)


def to_2d_wkb(data: bytes | bytearray | memoryview | str) -> bytes:
    """``data`` (WKB, ISO WKB with Z/M, or PostGIS EWKB, any byte order; bytes or hex text as
    the SQL API prints it) as 2D ISO WKB."""
    if isinstance(data, str):
        try:
            data = bytes.fromhex(data)
        except ValueError:
            raise WKBError("geometry text is not hex WKB") from None
    data = bytes(data)
    if len(data) == 21 and data[:5] == _POINT_2D_LE:
        return data  # the common case, a 2D little-endian point, is already what Mapnik reads
    reader = _Reader(data)
    out = bytearray()
    _geometry(reader, out, 0)
    return bytes(out)
