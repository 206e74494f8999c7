"""An independent EWKB, WKT and GeoJSON codec: the tests' reference for what PostGIS prints.

LocalCarto's engine (DuckDB + spatial) does geometry itself; this pure-Python codec, which
LocalCarto used before, stays with the tests as an oracle: it decodes the hex EWKB the SQL API
returns and builds the values PostGIS would. Geometries are stored the way CARTO's SQL API
prints them in JSON: hex EWKB text such as ``0101000020E6100000...`` (little endian, SRID
flag set when the SRID is not 0). Only 2D geometries are produced; Z and M ordinates found in
input are dropped.

A :class:`Geometry` holds its coordinates as nested tuples, GeoJSON-style:

* ``Point``: ``(x, y)``, or ``()`` when empty
* ``LineString``: tuple of points; ``Polygon``: tuple of rings (tuples of points)
* ``MultiPoint`` / ``MultiLineString`` / ``MultiPolygon``: tuple of the parts' coordinates
* ``GeometryCollection``: tuple of :class:`Geometry`
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

import attrs

__all__ = [
    "KINDS",
    "Geometry",
    "GeometryError",
    "bbox",
    "box_text",
    "from_ewkb",
    "from_geojson",
    "from_hex",
    "from_wkt",
    "geometry_column_value",
    "lonlat_to_mercator",
    "normalize_carto_geom",
    "parse_geometry",
    "srid_from_crs",
    "to_ewkt",
    "to_geojson",
    "to_hex",
    "to_wkt",
    "transform",
    "webmercator_hex",
]

KINDS = (
    "Point",
    "LineString",
    "Polygon",
    "MultiPoint",
    "MultiLineString",
    "MultiPolygon",
    "GeometryCollection",
)
_CODE = {kind: code for code, kind in enumerate(KINDS, start=1)}
_BY_UPPER = {kind.upper(): kind for kind in KINDS}

_SRID_FLAG = 0x20000000
_Z_FLAG = 0x80000000
_M_FLAG = 0x40000000

EARTH_RADIUS = 6378137.0
# Web Mercator is undefined at the poles; CARTO's CDB_TransformToWebmercator clips here.
MAX_MERCATOR_LAT = 85.0511287798066


class GeometryError(ValueError):
    """A value that is not a valid geometry, or an operation PostGIS would refuse."""


@attrs.frozen
class Geometry:
    """One 2D geometry with its SRID (0 when unknown)."""

    kind: str
    coords: Any
    srid: int = 0

    def with_srid(self, srid: int) -> Geometry:
        """The same shape tagged with another SRID (no reprojection)."""
        return Geometry(self.kind, self.coords, srid)

    @property
    def is_empty(self) -> bool:
        """True for ``POINT EMPTY``, ``LINESTRING EMPTY``, and so on."""
        return len(self.coords) == 0


# --------------------------------------------------------------------------- EWKB


def to_ewkb(geom: Geometry) -> bytes:
    """Little-endian EWKB; the SRID is written only on the outer geometry and only if set."""
    out = bytearray()
    _write_wkb(out, geom, geom.srid)
    return bytes(out)


def to_hex(geom: Geometry) -> str:
    """Upper-case hex EWKB, the form PostGIS prints for ``geometry::text``."""
    return to_ewkb(geom).hex().upper()


def _write_wkb(out: bytearray, geom: Geometry, srid: int) -> None:
    code = _CODE[geom.kind]
    if srid:
        out += struct.pack("<BII", 1, code | _SRID_FLAG, srid)
    else:
        out += struct.pack("<BI", 1, code)
    kind, coords = geom.kind, geom.coords
    if kind == "Point":
        out += struct.pack("<dd", *(coords or (math.nan, math.nan)))
    elif kind == "LineString":
        _write_points(out, coords)
    elif kind == "Polygon":
        out += struct.pack("<I", len(coords))
        for ring in coords:
            _write_points(out, ring)
    elif kind == "GeometryCollection":
        out += struct.pack("<I", len(coords))
        for part in coords:
            _write_wkb(out, part, 0)
    else:
        part_kind = kind[5:]
        out += struct.pack("<I", len(coords))
        for part in coords:
            _write_wkb(out, Geometry(part_kind, part), 0)


def _write_points(out: bytearray, points: tuple[tuple[float, float], ...]) -> None:
    out += struct.pack("<I", len(points))
    for x, y in points:
        out += struct.pack("<dd", x, y)


def from_ewkb(data: bytes) -> Geometry:
    """Decode EWKB or ISO WKB (either byte order, Z/M dropped)."""
    try:
        geom, _ = _read_wkb(memoryview(data), 0, True)
    except (struct.error, IndexError) as exc:
        raise GeometryError("Invalid WKB: truncated data") from exc
    return geom


@lru_cache(maxsize=4096)
def from_hex(text: str) -> Geometry:
    """Decode hex EWKB text (cached: the same stored value is often decoded repeatedly)."""
    try:
        data = bytes.fromhex(text)
    except ValueError as exc:
        raise GeometryError("Invalid hex string, length must be even") from exc
    return from_ewkb(data)


def _read_wkb(buf: memoryview, pos: int, outer: bool) -> tuple[Geometry, int]:
    order = buf[pos]
    if order not in (0, 1):
        raise GeometryError("Invalid WKB: bad byte order")
    endian = "<" if order == 1 else ">"
    (code,) = struct.unpack_from(endian + "I", buf, pos + 1)
    pos += 5
    srid = 0
    if code & _SRID_FLAG:
        (srid,) = struct.unpack_from(endian + "i", buf, pos)
        pos += 4
    dims = 2 + bool(code & _Z_FLAG) + bool(code & _M_FLAG)
    base = code & 0x0FFFFFFF
    iso, base = divmod(base, 1000)
    dims += {0: 0, 1: 1, 2: 1, 3: 2}.get(iso, 0)
    if not 1 <= base <= 7:
        raise GeometryError(f"Invalid WKB: unknown geometry type {base}")
    kind = KINDS[base - 1]
    point_fmt = endian + "d" * dims
    step = 8 * dims
    coords: Any
    if kind == "Point":
        values = struct.unpack_from(point_fmt, buf, pos)
        pos += step
        coords = () if math.isnan(values[0]) and math.isnan(values[1]) else values[:2]
    elif kind == "LineString":
        coords, pos = _read_points(buf, pos, endian, point_fmt, step)
    elif kind == "Polygon":
        (nrings,) = struct.unpack_from(endian + "I", buf, pos)
        pos += 4
        rings = []
        for _ in range(nrings):
            ring, pos = _read_points(buf, pos, endian, point_fmt, step)
            rings.append(ring)
        coords = tuple(rings)
    else:
        (nparts,) = struct.unpack_from(endian + "I", buf, pos)
        pos += 4
        parts = []
        for _ in range(nparts):
            part, pos = _read_wkb(buf, pos, False)
            parts.append(part if kind == "GeometryCollection" else part.coords)
        coords = tuple(parts)
    return Geometry(kind, coords, srid if outer else 0), pos


def _read_points(
    buf: memoryview, pos: int, endian: str, point_fmt: str, step: int
) -> tuple[tuple[tuple[float, float], ...], int]:
    (count,) = struct.unpack_from(endian + "I", buf, pos)
    pos += 4
    points = []
    for _ in range(count):
        values = struct.unpack_from(point_fmt, buf, pos)
        points.append((values[0], values[1]))
        pos += step
    return tuple(points), pos


_POINT_HEADERS: dict[int, str] = {}


def point_hex(x: float, y: float, srid: int) -> str:
    """Fast path for the loader: hex EWKB of one point."""
    header = _POINT_HEADERS.get(srid)
    if header is None:
        header = struct.pack("<BII", 1, 1 | _SRID_FLAG, srid).hex().upper()
        _POINT_HEADERS[srid] = header
    return header + struct.pack("<dd", x, y).hex().upper()


# --------------------------------------------------------------------------- WKT

_WKT_TOKEN = re.compile(
    r"\s*(?:(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(?P<word>[A-Za-z]+)|(?P<p>[(),;=]))"
)


class _WktReader:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            match = _WKT_TOKEN.match(text, pos)
            if match is None:
                raise GeometryError("parse error - invalid geometry")
            kind = match.lastgroup or "p"
            self.tokens.append((kind, match.group(kind)))
            pos = match.end()
        self.pos = 0

    def peek(self) -> str:
        return self.tokens[self.pos][1].upper() if self.pos < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> str:
        if self.pos >= len(self.tokens):
            raise GeometryError("parse error - invalid geometry")
        value = self.tokens[self.pos][1]
        if expected is not None and value.upper() != expected:
            raise GeometryError("parse error - invalid geometry")
        self.pos += 1
        return value

    def number(self) -> float:
        if self.pos >= len(self.tokens) or self.tokens[self.pos][0] != "num":
            raise GeometryError("parse error - invalid geometry")
        return float(self.take())

    def point(self) -> tuple[float, float]:
        x, y = self.number(), self.number()
        while self.pos < len(self.tokens) and self.tokens[self.pos][0] == "num":
            self.pos += 1  # Z / M ordinates are dropped
        return (x, y)

    def points(self) -> tuple[tuple[float, float], ...]:
        self.take("(")
        pts = [self.point()]
        while self.peek() == ",":
            self.take()
            pts.append(self.point())
        self.take(")")
        return tuple(pts)

    def listof(self, item: Callable[[], Any]) -> tuple[Any, ...]:
        if self.peek() == "EMPTY":
            self.take()
            return ()
        self.take("(")
        items = [item()]
        while self.peek() == ",":
            self.take()
            items.append(item())
        self.take(")")
        return tuple(items)

    def geometry(self) -> Geometry:
        word = self.take().upper()
        kind = _BY_UPPER.get(word)
        if kind is None:
            raise GeometryError("parse error - invalid geometry")
        if self.peek() in ("Z", "M", "ZM"):
            self.take()
        if self.peek() == "EMPTY":
            self.take()
            return Geometry(kind, ())
        coords: Any
        if kind == "Point":
            self.take("(")
            coords = self.point()
            self.take(")")
        elif kind == "LineString":
            coords = self.points()
        elif kind == "Polygon":
            coords = self.listof(self.points)
        elif kind == "MultiPoint":
            coords = tuple(p for p in self.listof(self._multipoint_member) if p)
        elif kind == "MultiLineString":
            coords = self.listof(self.points)
        elif kind == "MultiPolygon":
            coords = self.listof(lambda: self.listof(self.points))
        else:
            coords = self.listof(self.geometry)
        return Geometry(kind, coords)

    def _multipoint_member(self) -> tuple[float, ...]:
        if self.peek() == "EMPTY":
            self.take()
            return ()
        if self.peek() == "(":
            self.take()
            point = self.point()
            self.take(")")
            return point
        return self.point()


def from_wkt(text: str, srid: int = 0) -> Geometry:
    """Parse WKT or EWKT (``SRID=4326;POINT(1 2)``); an EWKT SRID wins over ``srid``."""
    reader = _WktReader(text)
    if reader.peek() == "SRID":
        reader.take()
        reader.take("=")
        srid = int(reader.number())
        reader.take(";")
    geom = reader.geometry()
    if reader.pos != len(reader.tokens):
        raise GeometryError("parse error - invalid geometry")
    return geom.with_srid(srid)


def _num(value: float, max_decimals: int = 15) -> str:
    """Shortest round-trip decimal, capped at ``max_decimals`` places, as PostGIS 3 prints."""
    if not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    text = repr(value)
    if "e" in text or "E" in text:
        if abs(value) >= 1e15:
            return text
        text = f"{value:.{max_decimals}f}"
    elif "." in text and len(text) - text.index(".") - 1 > max_decimals:
        text = f"{value:.{max_decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _wkt_points(points: tuple[tuple[float, float], ...], dp: int) -> str:
    return ",".join(f"{_num(x, dp)} {_num(y, dp)}" for x, y in points)


def _wkt_body(geom: Geometry, dp: int) -> str:
    kind, coords = geom.kind, geom.coords
    if not coords:
        return " EMPTY"
    if kind == "Point":
        return f"({_num(coords[0], dp)} {_num(coords[1], dp)})"
    if kind in ("LineString", "MultiPoint"):
        return f"({_wkt_points(coords, dp)})"
    if kind in ("Polygon", "MultiLineString"):
        return "(" + ",".join(f"({_wkt_points(r, dp)})" for r in coords) + ")"
    if kind == "MultiPolygon":
        polys = ("(" + ",".join(f"({_wkt_points(r, dp)})" for r in p) + ")" for p in coords)
        return "(" + ",".join(polys) + ")"
    return "(" + ",".join(to_wkt(part, dp) for part in coords) + ")"


def to_wkt(geom: Geometry, max_decimals: int = 15) -> str:
    """WKT as ``ST_AsText`` prints it: ``POINT(1 2)``, ``MULTIPOINT(1 2,3 4)``."""
    return geom.kind.upper() + _wkt_body(geom, max_decimals)


def to_ewkt(geom: Geometry) -> str:
    """EWKT as ``ST_AsEWKT`` prints it (no ``SRID=`` prefix when the SRID is 0)."""
    prefix = f"SRID={geom.srid};" if geom.srid else ""
    return prefix + to_wkt(geom)


# --------------------------------------------------------------------------- GeoJSON


def srid_from_crs(crs: Any) -> int | None:
    """SRID named by a (legacy) GeoJSON ``crs`` member, or None."""
    if not isinstance(crs, dict):
        return None
    props = crs.get("properties")
    name = props.get("name") if isinstance(props, dict) else None
    if not isinstance(name, str):
        return None
    if name.upper().endswith("CRS84"):
        return 4326
    match = re.search(r"EPSG:+(\d+)$", name, re.I)
    return int(match.group(1)) if match else None


def _gj_point(value: Any) -> tuple[float, float]:
    if (
        not isinstance(value, list | tuple)
        or len(value) < 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise GeometryError("Invalid GeoJSON coordinates")
    return (float(value[0]), float(value[1]))


def _gj_list(value: Any, item: Callable[[Any], Any]) -> tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise GeometryError("Invalid GeoJSON coordinates")
    return tuple(item(v) for v in value)


def _gj_points(value: Any) -> tuple[tuple[float, float], ...]:
    return _gj_list(value, _gj_point)


def from_geojson(value: Any, default_srid: int = 4326) -> Geometry:
    """Parse a GeoJSON geometry (a dict or its JSON text), as ``ST_GeomFromGeoJSON`` does."""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise GeometryError("unable to parse GeoJSON string") from exc
    if not isinstance(value, dict):
        raise GeometryError("unable to parse GeoJSON string")
    kind = value.get("type")
    if kind not in _CODE:
        raise GeometryError(f"Unknown GeoJSON type: {kind}")
    srid = srid_from_crs(value.get("crs"))
    if srid is None:
        srid = default_srid
    coords: Any
    if kind == "GeometryCollection":
        members = value.get("geometries")
        coords = _gj_list(members, lambda g: from_geojson(g, 0))
        return Geometry(kind, coords, srid)
    raw = value.get("coordinates")
    if raw is None:
        raise GeometryError("Unable to find 'coordinates' in GeoJSON string")
    if kind == "Point":
        coords = () if raw == [] else _gj_point(raw)
    elif kind in ("LineString", "MultiPoint"):
        coords = _gj_points(raw)
    elif kind in ("Polygon", "MultiLineString"):
        coords = _gj_list(raw, _gj_points)
    else:
        coords = _gj_list(raw, lambda p: _gj_list(p, _gj_points))
    return Geometry(kind, coords, srid)


def _gj_coords(geom: Geometry, dp: int) -> str:
    def pt(p: tuple[float, float]) -> str:
        return f"[{_num(p[0], dp)},{_num(p[1], dp)}]"

    def pts(ps: tuple[tuple[float, float], ...]) -> str:
        return "[" + ",".join(pt(p) for p in ps) + "]"

    kind, coords = geom.kind, geom.coords
    if kind == "Point":
        return pt(coords) if coords else "[]"
    if kind in ("LineString", "MultiPoint"):
        return pts(coords)
    if kind in ("Polygon", "MultiLineString"):
        return "[" + ",".join(pts(r) for r in coords) + "]"
    return "[" + ",".join("[" + ",".join(pts(r) for r in p) + "]" for p in coords) + "]"


def to_geojson(geom: Geometry, dp: int = 9) -> str:
    """Compact GeoJSON as ``ST_AsGeoJSON(g, dp)`` prints it (short CRS unless 0 or 4326)."""
    crs = ""
    if geom.srid not in (0, 4326):
        crs = f',"crs":{{"type":"name","properties":{{"name":"EPSG:{geom.srid}"}}}}'
    if geom.kind == "GeometryCollection":
        members = ",".join(to_geojson(g.with_srid(0), dp) for g in geom.coords)
        return f'{{"type":"GeometryCollection"{crs},"geometries":[{members}]}}'
    return f'{{"type":"{geom.kind}"{crs},"coordinates":{_gj_coords(geom, dp)}}}'


# --------------------------------------------------------------------------- helpers

_HEX_RE = re.compile(r"[0-9A-Fa-f]+")


def parse_geometry(value: Any) -> Geometry | None:
    """Read a value the way PostgreSQL casts text to geometry: hex EWKB, EWKT or WKT.

    ``None`` stays ``None``; bytes are read as (E)WKB.
    """
    if value is None:
        return None
    if isinstance(value, Geometry):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return from_ewkb(bytes(value))
    if not isinstance(value, str):
        raise GeometryError("parse error - invalid geometry")
    text = value.strip()
    if len(text) >= 18 and _HEX_RE.fullmatch(text):
        return from_hex(text.upper())
    return from_wkt(text)


def iter_points(geom: Geometry) -> Iterator[tuple[float, float]]:
    """Every vertex of the geometry, in order."""
    kind, coords = geom.kind, geom.coords
    if kind == "Point":
        if coords:
            yield coords
    elif kind in ("LineString", "MultiPoint"):
        yield from coords
    elif kind in ("Polygon", "MultiLineString"):
        for ring in coords:
            yield from ring
    elif kind == "MultiPolygon":
        for poly in coords:
            for ring in poly:
                yield from ring
    else:
        for part in coords:
            yield from iter_points(part)


def bbox(geom: Geometry) -> tuple[float, float, float, float] | None:
    """``(xmin, ymin, xmax, ymax)``, or None for an empty geometry."""
    xs: list[float] = []
    ys: list[float] = []
    for x, y in iter_points(geom):
        xs.append(x)
        ys.append(y)
    if not xs:
        return None
    return (min(xs), min(ys), max(xs), max(ys))


def box_text(box: tuple[float, float, float, float]) -> str:
    """PostGIS's text of a ``box2d``: ``BOX(xmin ymin,xmax ymax)``."""
    return f"BOX({_num(box[0])} {_num(box[1])},{_num(box[2])} {_num(box[3])})"


def _map_points(geom: Geometry, fn: Callable[[float, float], tuple[float, float]]) -> Any:
    kind, coords = geom.kind, geom.coords
    if kind == "Point":
        return fn(*coords) if coords else ()
    if kind in ("LineString", "MultiPoint"):
        return tuple(fn(x, y) for x, y in coords)
    if kind in ("Polygon", "MultiLineString"):
        return tuple(tuple(fn(x, y) for x, y in ring) for ring in coords)
    if kind == "MultiPolygon":
        return tuple(tuple(tuple(fn(x, y) for x, y in r) for r in poly) for poly in coords)
    return tuple(Geometry(p.kind, _map_points(p, fn)) for p in coords)


def _to_mercator(lon: float, lat: float, clamp: bool) -> tuple[float, float]:
    if clamp:
        lat = max(-MAX_MERCATOR_LAT, min(MAX_MERCATOR_LAT, lat))
    elif abs(lat) >= 90.0:
        raise GeometryError(
            f"transform: couldn't project point ({_num(lon)} {_num(lat)} 0): "
            "tolerance condition error (-20)"
        )
    x = math.radians(lon) * EARTH_RADIUS
    y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * EARTH_RADIUS
    return (x, y)


def lonlat_to_mercator(lon: float, lat: float) -> tuple[float, float]:
    """EPSG:3857 coordinates of a lon/lat pair, latitude clipped to Web Mercator's range."""
    return _to_mercator(lon, lat, True)


def _from_mercator(x: float, y: float) -> tuple[float, float]:
    lon = math.degrees(x / EARTH_RADIUS)
    lat = math.degrees(2 * math.atan(math.exp(y / EARTH_RADIUS)) - math.pi / 2)
    return (lon, lat)


def transform(geom: Geometry, srid: int, *, clamp: bool = False) -> Geometry:
    """Reproject between EPSG:4326 and EPSG:3857, the only pair LocalCarto knows."""
    if geom.srid == srid:
        return geom
    if geom.srid == 0:
        raise GeometryError("ST_Transform: Input geometry has unknown (0) SRID")
    if (geom.srid, srid) == (4326, 3857):
        coords = _map_points(geom, lambda x, y: _to_mercator(x, y, clamp))
    elif (geom.srid, srid) == (3857, 4326):
        coords = _map_points(geom, _from_mercator)
    else:
        raise GeometryError(
            f"transform: LocalCarto only reprojects between 4326 and 3857 "
            f"(asked {geom.srid} -> {srid})"
        )
    return Geometry(geom.kind, coords, srid)


def webmercator_hex(geom: Geometry | None) -> str | None:
    """``CDB_TransformToWebmercator``: the_geom_webmercator for a 4326 geometry."""
    if geom is None:
        return None
    return to_hex(transform(geom, 3857, clamp=True))


def normalize_carto_geom(
    value: Any, *, column_srid: int = 4326, lenient: bool = False
) -> str | None:
    """Value stored in a CARTO ``the_geom`` column.

    Strict mode mirrors PostGIS typmod checks (an SRID other than the column's is an
    error). Lenient mode is cartodbfy's: SRID 0 is taken as 4326 and 3857 is reprojected.
    """
    geom = parse_geometry(value)
    if geom is None:
        return None
    if geom.srid != column_srid:
        if lenient and geom.srid == 0:
            geom = geom.with_srid(column_srid)
        elif lenient:
            geom = transform(geom, column_srid)
        else:
            raise GeometryError(
                f"Geometry SRID ({geom.srid}) does not match column SRID ({column_srid})"
            )
    return to_hex(geom)


def geometry_column_value(value: Any, code: int, srid: int) -> str | None:
    """What a ``geometry(<type>,<srid>)`` column stores for ``value`` (PostGIS typmod checks)."""
    geom = parse_geometry(value)
    if geom is None:
        return None
    if srid and geom.srid != srid:
        raise GeometryError(f"Geometry SRID ({geom.srid}) does not match column SRID ({srid})")
    if code and KINDS[code - 1] != geom.kind:
        raise GeometryError(
            f"Geometry type ({geom.kind}) does not match column type ({KINDS[code - 1]})"
        )
    return to_hex(geom)
