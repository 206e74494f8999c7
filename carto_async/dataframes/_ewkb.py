"""Hex EWKB for point columns, in numpy (sans-I/O).

Points are most of what CARTO tables hold, and shapely's generic WKB writer and reader cost
several microseconds a geometry. A 2D point's EWKB is fixed: byte order, type with the SRID
flag, SRID, x, y (25 bytes, 50 hex digits), so whole columns are converted with array
operations here; anything else (lines, polygons, 3D, empty points) returns ``None`` and the
caller uses shapely.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pa_compute
import shapely

__all__ = ["points_from_hex_ewkb", "points_to_hex_ewkb"]

_POINT_HEADER = np.array([1, 1, 0, 0, 0x20], dtype=np.uint8)  # little endian, Point | SRID flag
_HEX_DIGITS = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
_HEX_VALUES = np.full(256, 255, dtype=np.uint8)
_HEX_VALUES[np.frombuffer(b"0123456789", dtype=np.uint8)] = np.arange(10)
_HEX_VALUES[np.frombuffer(b"ABCDEF", dtype=np.uint8)] = np.arange(10, 16)
_HEX_VALUES[np.frombuffer(b"abcdef", dtype=np.uint8)] = np.arange(10, 16)
_POINT_HEX_LENGTH = 50


def points_to_hex_ewkb(geoms: np.ndarray[Any, Any], srid: int) -> pa.Array | None:
    """Hex EWKB strings of a column of 2D points (``None`` entries are NULL), as an Arrow
    string array; ``None`` when the column holds anything but non-empty 2D points."""
    present = geoms != None  # noqa: E711 - elementwise comparison on an object array
    values = geoms[present]
    if len(values) == 0:
        return None
    if not (shapely.get_type_id(values) == 0).all() or shapely.has_z(values).any():
        return None
    if shapely.is_empty(values).any():
        return None
    raw = np.empty((len(values), 25), dtype=np.uint8)
    raw[:, :5] = _POINT_HEADER
    raw[:, 5:9] = np.frombuffer(np.array([srid], dtype="<u4").tobytes(), dtype=np.uint8)
    raw[:, 9:17] = shapely.get_x(values).astype("<f8").view(np.uint8).reshape(-1, 8)
    raw[:, 17:25] = shapely.get_y(values).astype("<f8").view(np.uint8).reshape(-1, 8)
    text = np.empty((len(values), _POINT_HEX_LENGTH), dtype=np.uint8)
    text[:, 0::2] = _HEX_DIGITS[raw >> 4]
    text[:, 1::2] = _HEX_DIGITS[raw & 0x0F]
    fixed = text.view(f"S{_POINT_HEX_LENGTH}").ravel()
    out = np.empty(len(geoms), dtype=f"S{_POINT_HEX_LENGTH}")
    out[present] = fixed
    return pa.array(out, type=pa.binary(), mask=~present).cast(pa.string())


def points_from_hex_ewkb(column: pa.Array) -> tuple[np.ndarray[Any, Any], int] | None:
    """Shapely points from an Arrow string column of 2D point hex EWKB (NULL → ``None``) and
    the SRID of the first; ``None`` when any value is something else."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    valid = column.drop_null()
    if len(valid) == 0:
        return None
    lengths = pa_compute.utf8_length(valid).to_numpy(zero_copy_only=False)
    if not (lengths == _POINT_HEX_LENGTH).all():
        return None
    width = np.int64 if pa.types.is_large_string(valid.type) else np.int32
    offsets = np.frombuffer(valid.buffers()[1], dtype=width)[valid.offset :]
    start = int(offsets[0])
    data = np.frombuffer(valid.buffers()[2], dtype=np.uint8)[
        start : start + len(valid) * _POINT_HEX_LENGTH
    ]
    digits = _HEX_VALUES[data.reshape(-1, _POINT_HEX_LENGTH)]
    if (digits == 255).any():
        return None
    raw = (digits[:, 0::2] << 4) | digits[:, 1::2]
    if not (raw[:, :5] == _POINT_HEADER).all():
        return None
    srid = int(raw[0, 5:9].copy().view("<u4")[0])
    x = raw[:, 9:17].copy().view("<f8").ravel()
    y = raw[:, 17:25].copy().view("<f8").ravel()
    points = shapely.points(x, y)
    out = np.full(len(column), None, dtype=object)
    out[column.is_valid().to_numpy(zero_copy_only=False)] = points
    return out, srid
