"""SQL API formats written from the rows: SVG, TopoJSON and arraybuffer (reference §9.1).

SVG follows ``lib/models/formats/pg/svg.js``: every geometry is translated to the extent's
top-left corner and scaled to fit 1024x768, written with ``ST_AsSVG`` rules (points as
``<circle r="5" cx=".." cy=".." />``, lines and polygons as ``<path d=".." />``, y pointing
down), points first, then lines, then polygons, in a ``viewBox`` grown by 6 pixels.
TopoJSON follows ``pg/topojson.js`` (topojson 1.x, quantization 1e4): one object per row,
keyed by its position, with the row's other columns as properties. Where LocalCarto knowingly
differs: arcs are not shared between geometries (each line or ring is its own arc).
Geometries arrive as GeoJSON objects (the engine's ``ST_AsGeoJSON``). The arraybuffer
layout is ``lib/models/bin-encoder.js`` byte for byte (:func:`arraybuffer_document`).
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Sequence
from typing import Any

__all__ = ["ArrayBufferError", "arraybuffer_document", "svg_document", "topojson_document"]

_WIDTH, _HEIGHT = 1024.0, 768.0
_RADIUS, _STROKE = 5, 1
_QUANTIZATION = 10_000


def _js(value: float) -> str:
    """A number as JavaScript's ``String(n)`` writes it (enough for these documents)."""
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def _num(value: float, dp: int) -> str:
    text = f"{value:.{dp}f}".rstrip("0").rstrip(".") if dp > 0 else f"{value:.0f}"
    return "0" if text in ("-0", "") else text


Geom = dict[str, Any]


def _dimension(geom: Geom) -> int:
    kind = geom["type"]
    if kind in ("Point", "MultiPoint"):
        return 0
    if kind in ("LineString", "MultiLineString"):
        return 1
    if kind in ("Polygon", "MultiPolygon"):
        return 2
    return max((_dimension(part) for part in geom.get("geometries", [])), default=0)


def _points(coords: Any) -> list[tuple[float, float]]:
    if not coords:
        return []
    if isinstance(coords[0], int | float):
        return [(float(coords[0]), float(coords[1]))]
    return [p for part in coords for p in _points(part)]


def _all_points(geom: Geom) -> list[tuple[float, float]]:
    if geom["type"] == "GeometryCollection":
        return [p for part in geom.get("geometries", []) for p in _all_points(part)]
    return _points(geom.get("coordinates"))


def _bbox(geom: Geom) -> tuple[float, float, float, float] | None:
    points = _all_points(geom)
    if not points:
        return None
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return (min(xs), min(ys), max(xs), max(ys))


def _map(coords: Any, fn: Any) -> Any:
    if coords and isinstance(coords[0], int | float):
        return list(fn(float(coords[0]), float(coords[1])))
    return [_map(part, fn) for part in coords]


def _moved(geom: Geom, fn: Any) -> Geom:
    if geom["type"] == "GeometryCollection":
        return {"type": geom["type"], "geometries": [_moved(g, fn) for g in geom["geometries"]]}
    return {"type": geom["type"], "coordinates": _map(geom["coordinates"], fn)}


def _svg_path(points: Sequence[tuple[float, float]], dp: int, *, ring: bool) -> str:
    if ring and len(points) > 1 and points[0] == points[-1]:
        points = points[:-1]
    coords = [f"{_num(x, dp)} {_num(-y, dp)}" for x, y in points]
    if not coords:
        return ""
    text = "M " + coords[0] + (" L " + " ".join(coords[1:]) if len(coords) > 1 else "")
    return text + (" Z" if ring else "")


def _as_svg(geom: Geom, dp: int) -> str:
    """``ST_AsSVG(geom, 0, dp)``: absolute coordinates, y negated."""
    kind: str = geom["type"]
    coords: Any = geom.get("coordinates")
    if kind == "Point":
        x, y = coords
        return f'cx="{_num(x, dp)}" cy="{_num(-y, dp)}"'
    if kind == "MultiPoint":
        return ",".join(f'cx="{_num(x, dp)}" cy="{_num(-y, dp)}"' for x, y in coords)
    if kind == "LineString":
        return _svg_path(coords, dp, ring=False)
    if kind == "MultiLineString":
        return " ".join(_svg_path(line, dp, ring=False) for line in coords)
    if kind == "Polygon":
        return " ".join(_svg_path(r, dp, ring=True) for r in coords)
    if kind == "MultiPolygon":
        return " ".join(_svg_path(r, dp, ring=True) for poly in coords for r in poly)
    return ";".join(_as_svg(part, dp) for part in geom.get("geometries", []))


def _scale(ew: float, eh: float) -> float:
    if eh == 0:
        return _WIDTH / (ew or _WIDTH)
    if ew / eh >= _WIDTH / _HEIGHT:
        return _WIDTH / ew
    return _HEIGHT / eh


def svg_document(geometries: Sequence[Geom | None], dp: int) -> str:
    """The SVG document of a query's ``the_geom`` values (GeoJSON objects or ``None``)."""
    geoms = [g for g in geometries if g and _all_points(g)]
    boxes = [b for b in (_bbox(g) for g in geoms) if b is not None]
    header = [
        '<?xml version="1.0" standalone="no"?>',
        '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">',
    ]
    root = "<svg "
    body: list[str] = []
    if boxes:
        x0 = min(b[0] for b in boxes)
        y0 = max(b[3] for b in boxes)
        ew = max(b[2] for b in boxes) - x0
        eh = y0 - min(b[1] for b in boxes)
        s = _scale(ew, eh)
        grow = _RADIUS + _STROKE
        xmin, ymin, xmax, ymax = -grow, -eh * s - grow, ew * s + grow, grow
        root += f'viewBox="{_js(xmin)} {_js(-ymax)} {_js(xmax - xmin)} {_js(ymax - ymin)}" '

        def moved(x: float, y: float) -> tuple[float, float]:
            return (x - x0) * s, (y - y0) * s

        ordered = sorted(geoms, key=_dimension)
        for geom in ordered:
            g = _as_svg(_moved(geom, moved), dp)
            if _dimension(geom) == 0:
                body.append(f'<circle r="{_RADIUS}" {g} />\n')
            else:
                body.append(f'<path d="{g}" />\n')
    root += (
        f'style="fill-opacity:0.5; stroke:black; stroke-width:{_STROKE}; fill:none" '
        'xmlns="http://www.w3.org/2000/svg" version="1.1">\n'
    )
    header.append(root)
    return "\n".join(header) + "".join(body) + "</svg>\n"


# --------------------------------------------------------------------------- TopoJSON


class _Topology:
    def __init__(self, box: tuple[float, float, float, float]) -> None:
        x0, y0, x1, y1 = box
        self.x0, self.y0 = x0, y0
        self.kx = (x1 - x0) / (_QUANTIZATION - 1) if x1 > x0 else 1.0
        self.ky = (y1 - y0) / (_QUANTIZATION - 1) if y1 > y0 else 1.0
        self.arcs: list[list[list[int]]] = []

    def point(self, x: float, y: float) -> list[int]:
        return [round((x - self.x0) / self.kx), round((y - self.y0) / self.ky)]

    def arc(self, points: Sequence[tuple[float, float]]) -> int:
        points = list(points)
        quantized = [self.point(x, y) for x, y in points]
        deltas: list[list[int]] = []
        last: list[int] | None = None
        for q in quantized:
            if last is not None and q == last:
                continue  # a repeated quantized point adds nothing
            deltas.append(q if last is None else [q[0] - last[0], q[1] - last[1]])
            last = q
        if len(deltas) < 2:
            deltas.append([0, 0])
        self.arcs.append(deltas)
        return len(self.arcs) - 1

    def geometry(self, geom: Geom) -> dict[str, Any]:
        kind: str = geom["type"]
        coords: Any = geom.get("coordinates")
        if kind == "Point":
            return {"type": kind, "coordinates": self.point(coords[0], coords[1])}
        if kind == "MultiPoint":
            return {"type": kind, "coordinates": [self.point(p[0], p[1]) for p in coords]}
        if kind == "LineString":
            return {"type": kind, "arcs": [self.arc(_points(coords))]}
        if kind in ("MultiLineString", "Polygon"):
            return {"type": kind, "arcs": [[self.arc(_points(part))] for part in coords]}
        if kind == "MultiPolygon":
            return {
                "type": kind,
                "arcs": [[[self.arc(_points(r))] for r in poly] for poly in coords],
            }
        return {"type": kind, "geometries": [self.geometry(g) for g in geom["geometries"]]}


def topojson_document(geometries: Sequence[Any], properties: Sequence[dict[str, Any]]) -> str:
    """The TopoJSON topology of the rows with a geometry (``properties`` are the other
    columns of each row, as JSON-ready values)."""
    rows = [(g, p) for g, p in zip(geometries, properties, strict=True) if g is not None]
    boxes = [b for b in (_bbox(g) for g, _ in rows) if b is not None]
    box = (
        (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
        if boxes
        else (0.0, 0.0, 0.0, 0.0)
    )
    topology = _Topology(box)
    objects = {}
    for index, (geom, props) in enumerate(rows):
        obj = topology.geometry(geom)
        obj["properties"] = props
        objects[str(index)] = obj
    document = {
        "type": "Topology",
        "transform": {
            "scale": [topology.kx, topology.ky],
            "translate": [_integral(topology.x0), _integral(topology.y0)],
        },
        "objects": objects,
        "arcs": topology.arcs,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _integral(value: float) -> float | int:
    """JavaScript writes ``0``, not ``0.0``."""
    return int(value) if float(value).is_integer() else value


def finite(value: Any) -> Any:
    """A JSON-ready value (NaN and infinities as JavaScript's ``JSON.stringify`` writes them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --------------------------------------------------------------------------- arraybuffer

# lib/models/bin-encoder.js: type codes, element sizes and the Buffer write each type uses
# (INT32 is written with writeUInt32LE there: negative int32 values are out of range).
INT8, UINT8, UINT8_CLAMP, INT16, UINT16, INT32, UINT32, FLOAT32, STRING, BUFFER = (
    1, 2, 3, 4, 5, 6, 7, 8, 10, 11,
)  # fmt: skip
_TYPE_NAMES = {
    "int8": INT8,
    "uint8": UINT8,
    "uintclamp": UINT8_CLAMP,
    "int16": INT16,
    "uint16": UINT16,
    "int32": INT32,
    "uint32": UINT32,
    "float32": FLOAT32,
    "string": STRING,
    "buffer": BUFFER,
}
# type -> (struct format, lowest, highest); None bounds: a float
_WRITES: dict[int, tuple[str, float | None, float | None]] = {
    INT8: ("<b", -128, 127),
    UINT8: ("<B", 0, 255),
    UINT8_CLAMP: ("<B", 0, 255),
    INT16: ("<h", -32768, 32767),
    UINT16: ("<H", 0, 65535),
    INT32: ("<I", 0, 4294967295),
    UINT32: ("<I", 0, 4294967295),
    FLOAT32: ("<f", None, None),
}
_NAME_TYPE = re.compile(r".*__(uintclamp|uint|int|float)(8|16|32)", re.I)
_FLOAT32_MAX = 3.4028234663852886e38


class ArrayBufferError(Exception):
    """What the arraybuffer encoder throws (the SQL API answers it as a 400)."""


def _js_number(value: Any) -> float:
    """JavaScript's unary ``+`` on a value (``null`` is 0, what cannot be read is NaN)."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip() or 0)
    except ValueError:
        return math.nan


def _header(kind: int, size: int) -> bytes:
    return struct.pack(">II", kind, size)


def _numbers(kind: int, values: Sequence[Any]) -> bytes:
    fmt, low, high = _WRITES[kind]
    out = bytearray()
    for value in values:
        number = _js_number(value)
        if kind == UINT8_CLAMP:
            number = min(255.0, number)
        if low is None:
            if math.isfinite(number) and abs(number) > _FLOAT32_MAX:
                number = math.copysign(math.inf, number)
            out += struct.pack(fmt, number)
            continue
        if math.isnan(number):
            number = 0.0
        elif not low <= number <= (high or 0):
            raise ArrayBufferError(
                f'The value of "value" is out of range. It must be >= {low} and <= {high}.'
                f" Received {_js_text(number)}"
            )
        out += struct.pack(fmt, int(number))
    return _header(kind, len(out)) + bytes(out)


def _js_text(number: float) -> str:
    return str(int(number)) if number.is_integer() else repr(number)


def _children(parts: Sequence[bytes]) -> bytes:
    """A STRING or BUFFER payload: each part aligned to 4 bytes from the buffer's start."""
    out = bytearray(8)
    for part in parts:
        out += b"\0" * (-len(out) % 4)
        out += part
    return bytes(out[8:])


def _string(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ArrayBufferError(_no_length(value))
    units = value.encode("utf-16-le")
    return _header(UINT16, len(units)) + units


def _no_length(value: Any) -> str:
    """What Node 10 throws encoding a value without a ``length`` as an array."""
    if value is None:
        return "Cannot read property 'length' of null"
    # Buffer.alloc(NaN) is an empty buffer, and writing the header into it fails.
    return "Attempt to write outside buffer bounds"


def _typed_array(kind: int, value: Any) -> bytes:
    if isinstance(value, list | tuple):
        return _numbers(kind, list(value))
    if isinstance(value, bytes | bytearray | memoryview):
        return _numbers(kind, list(bytes(value)))
    raise ArrayBufferError(_no_length(value))


def _js_typeof(value: Any, pgtype: str) -> str:
    """``typeof`` of the value node-postgres gives for a column of type ``pgtype``."""
    if value is None:
        return "object"
    if pgtype == "bool":
        return "boolean"
    if re.search(r"int|float|numeric", pgtype) and not pgtype.startswith("_"):
        return "number"
    if pgtype in ("date", "timestamp", "timestamptz", "json", "jsonb", "bytea", "interval"):
        return "object"
    if pgtype.startswith("_") or isinstance(value, list | dict | bytes):
        return "object"
    return "string"


def arraybuffer_document(
    names: Sequence[str], pgtypes: Sequence[str], rows: Sequence[Sequence[Any]], rowcount: int
) -> bytes:
    """The ``arraybuffer`` body of rows (``lib/models/formats/pg/arraybuffer.js``).

    One BUFFER holding a STRING buffer of the column names and one buffer per column: a
    string column as UTF-16 strings, a number column as FLOAT32 unless its name ends in a
    type (``n__uint8``, ``v__int16``), an array column as one typed buffer per row. The types
    are guessed from the first row, as the server does. No rows: an empty body. A ``the_geom``
    column is refused (``geometry types are not supported``). ``names``/``pgtypes`` describe
    the columns of ``rows`` (skipfields already left out, repeated names already merged).
    """
    if not rowcount:
        return b""
    if not rows:
        raise ArrayBufferError("Cannot convert undefined or null to object")
    if "the_geom" in names:
        raise ArrayBufferError("geometry types are not supported")
    kinds = []
    for index, (name, pgtype) in enumerate(zip(names, pgtypes, strict=True)):
        typeof = _js_typeof(rows[0][index], pgtype)
        match = _NAME_TYPE.match(name)
        named = _TYPE_NAMES.get((match.group(1) + match.group(2)).lower()) if match else None
        if typeof == "string":
            kinds.append(STRING)
        elif typeof == "object":
            kinds.append(BUFFER + (named or FLOAT32))
        else:
            kinds.append(named or FLOAT32)
    parts = [_strings(names)]
    for index, kind in enumerate(kinds):
        values = [row[index] for row in rows]
        if kind == STRING:
            payload = _children([_string(v) for v in values])
            parts.append(_header(STRING, len(payload)) + payload)
        elif kind > BUFFER:
            payload = _children([_typed_array(kind - BUFFER, v) for v in values])
            parts.append(_header(BUFFER, len(payload)) + payload)
        else:
            parts.append(_numbers(kind, values))
    payload = _children(parts)
    return _header(BUFFER, len(payload)) + payload


def _strings(values: Sequence[str]) -> bytes:
    payload = _children([_string(v) for v in values])
    return _header(STRING, len(payload)) + payload
