"""Values and types as PostgreSQL reports them: hex EWKB geometries, ``box2d`` text, type names.

DuckDB returns a geometry as ISO WKB bytes and keeps its SRID in the column type
(``GEOMETRY('EPSG:4326')``); PostGIS's JSON output is hex EWKB with the SRID inside
(:func:`ewkb_hex`). Result types are described with PostgreSQL-style declarations
(:func:`decl_for`): ``INTEGER``, ``TIMESTAMPTZ``, ``GEOMETRY_TEXT(0,4326)`` (a geometry table
column: type code and SRID, like PostGIS's type modifier) or ``GEOMETRY_TEXT`` (an expression).
"""

from __future__ import annotations

import re
import struct
from typing import Any

__all__ = ["GEOMETRY_KINDS", "decl_for", "ewkb_hex", "python_value", "srid_of"]

GEOMETRY_KINDS = (
    "Point",
    "LineString",
    "Polygon",
    "MultiPoint",
    "MultiLineString",
    "MultiPolygon",
    "GeometryCollection",
)

_DECLS = {
    "INTEGER": "INTEGER",
    "BIGINT": "BIGINT",
    "SMALLINT": "SMALLINT",
    "TINYINT": "SMALLINT",
    "UTINYINT": "SMALLINT",
    "USMALLINT": "INTEGER",
    "UINTEGER": "BIGINT",
    "UBIGINT": "NUMERIC",
    "HUGEINT": "NUMERIC",
    "DOUBLE": "DOUBLE PRECISION",
    "FLOAT": "REAL",
    "VARCHAR": "TEXT",
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
    "TIME": "TIME",
    "TIMESTAMP": "TIMESTAMP",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ",
    "TIMESTAMP_S": "TIMESTAMP",
    "TIMESTAMP_MS": "TIMESTAMP",
    "TIMESTAMP_NS": "TIMESTAMP",
    "INTERVAL": "INTERVAL",
    "JSON": "JSON",
    "BLOB": "BYTEA",
    "UUID": "UUID",
    "BOX_2D": "BOX2D",
    "GEOMETRY": "GEOMETRY_TEXT",
}


def srid_of(duck_type: str) -> int | None:
    """The SRID of a DuckDB geometry type (0 without a CRS), None for another type."""
    if not duck_type.startswith("GEOMETRY"):
        return None
    match = re.search(r"EPSG:(\d+)", duck_type)
    return int(match.group(1)) if match else 0


def decl_for(duck_type: str) -> str:
    """PostgreSQL-style declared type for a DuckDB type name."""
    if duck_type.startswith("GEOMETRY"):
        return "GEOMETRY_TEXT"
    if duck_type.startswith("DECIMAL"):
        return duck_type.replace("DECIMAL", "NUMERIC").replace(" ", "")
    if duck_type.endswith("[]"):
        return decl_for(duck_type[:-2]) + "[]"
    return _DECLS.get(duck_type, duck_type)


def _read_geometry(data: bytes, pos: int, out: bytearray, srid: int | None) -> int:
    order = data[pos]
    fmt = "<" if order == 1 else ">"
    (code,) = struct.unpack_from(fmt + "I", data, pos + 1)
    base = code % 1000
    flavour = code // 1000
    has_z = flavour in (1, 3)
    has_m = flavour in (2, 3)
    ewkb = base | (0x80000000 if has_z else 0) | (0x40000000 if has_m else 0)
    if srid:
        ewkb |= 0x20000000
    out += bytes([order]) + struct.pack(fmt + "I", ewkb)
    if srid:
        out += struct.pack(fmt + "I", srid)
    pos += 5
    dims = 2 + has_z + has_m
    if base == 1:
        out += data[pos : pos + 8 * dims]
        return pos + 8 * dims
    count: int = struct.unpack_from(fmt + "I", data, pos)[0]
    if base == 2:
        end = pos + 4 + count * 8 * dims
        out += data[pos:end]
        return end
    if base == 3:
        out += data[pos : pos + 4]
        pos += 4
        for _ in range(count):
            points: int = struct.unpack_from(fmt + "I", data, pos)[0]
            end = pos + 4 + points * 8 * dims
            out += data[pos:end]
            pos = end
        return pos
    out += data[pos : pos + 4]
    pos += 4
    for _ in range(count):
        pos = _read_geometry(data, pos, out, None)
    return pos


def ewkb_hex(wkb: bytes, srid: int) -> str:
    """Hex EWKB (upper case, with ``srid`` when not 0) of ISO WKB bytes."""
    if len(wkb) >= 5:
        order = wkb[0]
        (code,) = struct.unpack_from("<I" if order == 1 else ">I", wkb, 1)
        if code < 1000:  # 2D: nested parts are already EWKB; only the head changes
            if not srid:
                return wkb.hex().upper()
            fmt = "<" if order == 1 else ">"
            head = bytes([order]) + struct.pack(fmt + "II", code | 0x20000000, srid)
            return (head + wkb[5:]).hex().upper()
    out = bytearray()
    _read_geometry(wkb, 0, out, srid)
    return bytes(out).hex().upper()


def _number(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def python_value(value: Any, duck_type: str, srid: int | None) -> Any:
    """A DuckDB value as LocalCarto's rows hold it (geometries as hex EWKB, boxes as text)."""
    if value is None:
        return None
    if srid is not None and isinstance(value, bytes | bytearray):
        return ewkb_hex(bytes(value), srid)
    if duck_type == "BOX_2D" and isinstance(value, dict):
        return (
            f"BOX({_number(value['min_x'])} {_number(value['min_y'])},"
            f"{_number(value['max_x'])} {_number(value['max_y'])})"
        )
    return value
