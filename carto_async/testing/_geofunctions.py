"""PostGIS-like SQL functions for LocalCarto's SQLite connection.

:func:`register_functions` adds the ``ST_*`` functions CARTO users call (``ST_AsGeoJSON``,
``ST_SetSRID``, ``ST_Transform``, ``ST_MakeEnvelope``...), CARTO's ``CDB_LatLng`` and
``CDB_TransformToWebmercator``, the ``ST_Extent`` aggregate, and the internal functions behind
geometry casts, CARTO tables' triggers and typed geometry columns (``_pg_geometry``,
``_carto_geom``, ``_carto_webmercator``, ``_geometry_column``). Like PostGIS's they are STRICT
(NULL in, NULL out). :data:`FUNCTION_DECL_TYPES` is each function's result type.

sqlite3 replaces the exception a function raises with a generic message, so functions wrapped
by :func:`sql_function` keep theirs aside (per thread) for :func:`pop_function_error`: that is
how the database reports what PostGIS would have said.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any, cast

from carto_async.testing._geometry import (
    Geometry,
    GeometryError,
    bbox,
    box_text,
    from_geojson,
    from_wkt,
    geometry_column_value,
    iter_points,
    normalize_carto_geom,
    parse_geometry,
    to_ewkt,
    to_geojson,
    to_hex,
    to_wkt,
    transform,
    webmercator_hex,
)

__all__ = [
    "FUNCTION_DECL_TYPES",
    "as_geometry",
    "pop_function_error",
    "register_functions",
    "sql_function",
]

_errors = threading.local()


def pop_function_error() -> str | None:
    """Message of the last exception raised inside one of our SQL functions (this thread)."""
    message: str | None = getattr(_errors, "message", None)
    _errors.message = None
    return message


def sql_function(func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a Python function for ``create_function``, remembering the error it raises."""

    # sqlite3 replaces a callback's exception with a generic message; keep ours aside so
    # the database layer can report what PostGIS would have said.
    def wrapper(*args: Any) -> Any:
        try:
            return func(*args)
        except Exception as exc:
            _errors.message = str(exc)
            raise

    return wrapper


def _strict(func: Callable[..., Any]) -> Callable[..., Any]:
    """PostGIS functions are STRICT: NULL in, NULL out."""

    def wrapper(*args: Any) -> Any:
        if any(a is None for a in args):
            return None
        return func(*args)

    return sql_function(wrapper)


def as_geometry(value: Any) -> Geometry:
    """``parse_geometry`` for a value known not to be NULL."""
    geom = parse_geometry(value)
    assert geom is not None
    return geom


def _point_only(name: str, value: Any) -> Geometry:
    geom = as_geometry(value)
    if geom.kind != "Point":
        raise GeometryError(f"Argument to {name}() must have type POINT")
    return geom


def _coord(name: str, index: int) -> Callable[[Any], float | None]:
    def fn(value: Any) -> float | None:
        geom = _point_only(name, value)
        return float(geom.coords[index]) if geom.coords else None

    return fn


def _extreme(index: int) -> Callable[[Any], float | None]:
    def fn(value: Any) -> float | None:
        box = bbox(as_geometry(value))
        return None if box is None else box[index]

    return fn


class _Extent:
    """``ST_Extent`` aggregate: the bounding box of all non-empty geometries."""

    def __init__(self) -> None:
        self.box: list[float] | None = None

    def step(self, value: Any) -> None:
        try:
            if value is None:
                return
            box = bbox(as_geometry(value))
            if box is None:
                return
            if self.box is None:
                self.box = list(box)
            else:
                self.box = [
                    min(self.box[0], box[0]),
                    min(self.box[1], box[1]),
                    max(self.box[2], box[2]),
                    max(self.box[3], box[3]),
                ]
        except Exception as exc:
            _errors.message = str(exc)
            raise

    def finalize(self) -> str | None:
        if self.box is None:
            return None
        return box_text((self.box[0], self.box[1], self.box[2], self.box[3]))


def _geom_type(value: Any) -> str:
    return "ST_" + as_geometry(value).kind


def _geometry_type(value: Any) -> str:
    return as_geometry(value).kind.upper()


def _make_envelope(xmin: float, ymin: float, xmax: float, ymax: float, srid: int = 0) -> str:
    ring = ((xmin, ymin), (xmin, ymax), (xmax, ymax), (xmax, ymin), (xmin, ymin))
    return to_hex(Geometry("Polygon", (ring,), int(srid)))


_FUNCTIONS: dict[str, tuple[int, Callable[..., Any]]] = {
    "st_asgeojson": (-1, lambda g, dp=9, _opts=8: to_geojson(as_geometry(g), int(dp))),
    "st_astext": (-1, lambda g, dp=15: to_wkt(as_geometry(g), int(dp))),
    "st_asewkt": (1, lambda g: to_ewkt(as_geometry(g))),
    "st_ashexewkb": (1, lambda g: to_hex(as_geometry(g))),
    "st_geomfromtext": (-1, lambda t, srid=0: to_hex(from_wkt(t, int(srid)))),
    "st_geometryfromtext": (-1, lambda t, srid=0: to_hex(from_wkt(t, int(srid)))),
    "st_geomfromewkt": (1, lambda t: to_hex(from_wkt(t))),
    "st_geomfromgeojson": (1, lambda t: to_hex(from_geojson(t))),
    "st_geometrytype": (1, _geom_type),
    "geometrytype": (1, _geometry_type),
    "st_x": (1, _coord("ST_X", 0)),
    "st_y": (1, _coord("ST_Y", 1)),
    "st_srid": (1, lambda g: as_geometry(g).srid),
    "st_setsrid": (2, lambda g, srid: to_hex(as_geometry(g).with_srid(int(srid)))),
    "st_makepoint": (2, lambda x, y: to_hex(Geometry("Point", (float(x), float(y))))),
    "st_point": (-1, lambda x, y, srid=0: to_hex(Geometry("Point", (float(x), float(y)), srid))),
    "cdb_latlng": (2, lambda lat, lng: to_hex(Geometry("Point", (float(lng), float(lat)), 4326))),
    "st_transform": (2, lambda g, srid: to_hex(transform(as_geometry(g), int(srid)))),
    "cdb_transformtowebmercator": (1, lambda g: webmercator_hex(as_geometry(g))),
    "st_xmin": (1, _extreme(0)),
    "st_ymin": (1, _extreme(1)),
    "st_xmax": (1, _extreme(2)),
    "st_ymax": (1, _extreme(3)),
    "st_isempty": (1, lambda g: int(as_geometry(g).is_empty)),
    "st_npoints": (1, lambda g: sum(1 for _ in iter_points(as_geometry(g)))),
    "st_makeenvelope": (-1, _make_envelope),
}

# Result type of each function, for the SQL API's "fields" (SQLite reports none for expressions).
FUNCTION_DECL_TYPES: dict[str, str] = {
    "st_asgeojson": "TEXT",
    "st_astext": "TEXT",
    "st_asewkt": "TEXT",
    "st_ashexewkb": "TEXT",
    "st_geometrytype": "TEXT",
    "geometrytype": "TEXT",
    "st_x": "DOUBLE PRECISION",
    "st_y": "DOUBLE PRECISION",
    "st_xmin": "DOUBLE PRECISION",
    "st_ymin": "DOUBLE PRECISION",
    "st_xmax": "DOUBLE PRECISION",
    "st_ymax": "DOUBLE PRECISION",
    "st_srid": "INTEGER",
    "st_npoints": "INTEGER",
    "st_isempty": "BOOLEAN",
    "st_extent": "BOX2D",
    **dict.fromkeys(
        (
            "st_geomfromtext",
            "st_geometryfromtext",
            "st_geomfromewkt",
            "st_geomfromgeojson",
            "st_setsrid",
            "st_makepoint",
            "st_point",
            "cdb_latlng",
            "st_transform",
            "cdb_transformtowebmercator",
            "st_makeenvelope",
        ),
        "GEOMETRY_TEXT",
    ),
}


def register_functions(conn: sqlite3.Connection) -> None:
    """Register the PostGIS-like functions and the ``ST_Extent`` aggregate on ``conn``."""
    for name, (nargs, func) in _FUNCTIONS.items():
        conn.create_function(name, nargs, _strict(func), deterministic=True)
    conn.create_aggregate("st_extent", 1, cast("Any", _Extent))
    conn.create_function(
        "_carto_geom",
        1,
        sql_function(lambda v: normalize_carto_geom(v, column_srid=4326)),
        deterministic=True,
    )
    conn.create_function(
        "_carto_geom_lenient",
        1,
        sql_function(lambda v: normalize_carto_geom(v, column_srid=4326, lenient=True)),
        deterministic=True,
    )
    conn.create_function(
        "_carto_webmercator",
        1,
        sql_function(lambda v: webmercator_hex(parse_geometry(v))),
        deterministic=True,
    )
    conn.create_function(
        "_geometry_column", 3, sql_function(geometry_column_value), deterministic=True
    )
    conn.create_function(
        "_pg_geometry",
        1,
        _strict(lambda v: to_hex(as_geometry(v))),
        deterministic=True,
    )
