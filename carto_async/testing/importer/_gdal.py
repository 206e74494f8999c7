"""Files read with GDAL (through DuckDB spatial's ``ST_Read``): KML, GPX, GeoPackage, Shapefile.

CARTO's importer is ogr2ogr; LocalCarto uses the same library. The main engine is locked (no
file access from SQL), so each file is read by a private, short-lived DuckDB instance that no
SQL API request can reach: ``ST_Read_Meta`` lists the layers, ``ST_Read`` reads each one with
its geometry reprojected to EPSG:4326 and passed as WKB, and the rows travel to the main
database as Arrow, into a TEMP staging table. One table per layer (at most 50, else 1019).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse
from collections.abc import Iterator
from typing import Any

import duckdb

from carto_async.testing._db import CARTO_NAMES, Database
from carto_async.testing._staging import (
    ImportFailure,
    LoadOptions,
    Source,
    cartodb_id_expr,
    column_names,
    drop_stage,
    stage_numbers,
)
from carto_async.testing.engine import open_engine
from carto_async.testing.engine._values import decl_for

__all__ = ["GDAL_EXTENSIONS", "stage_gdal"]

#: Extensions read with GDAL (``.shp`` needs its ``.dbf``, ``.shx`` and ``.prj`` beside it).
GDAL_EXTENSIONS = (".kml", ".gpx", ".gpkg", ".shp")
MAX_LAYERS = 50
_DROPPED = frozenset(("ogc_fid", "fid"))
_GPX_LAYERS = ("waypoints", "routes", "tracks", "route_points", "track_points")


@contextlib.contextmanager
def _reader() -> Iterator[duckdb.DuckDBPyConnection]:
    conn = open_engine(None, lock=False)
    try:
        yield conn
    finally:
        conn.close()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _check_shapefile(path: str) -> None:
    stem = os.path.splitext(path)[0]
    siblings = {os.path.splitext(n)[1].lower() for n in os.listdir(os.path.dirname(path) or ".")
                if os.path.splitext(n)[0] == os.path.basename(stem)}  # fmt: skip
    if ".prj" not in siblings:
        raise ImportFailure(3101)
    if not {".dbf", ".shx"} <= siblings:
        raise ImportFailure(1006)


def _check_geopackage(path: str) -> None:
    """A GeoPackage is a SQLite file: check it with SQLite first (GDAL may crash on a bad one)."""
    try:
        conn = sqlite3.connect(f"file:{urllib.parse.quote(path)}?mode=ro", uri=True)
    except sqlite3.Error:
        raise ImportFailure(1002) from None
    try:
        check = conn.execute("PRAGMA quick_check").fetchone()
        conn.execute("SELECT count(*) FROM gpkg_contents").fetchone()
    except sqlite3.Error:
        raise ImportFailure(1002) from None
    finally:
        conn.close()
    if not check or check[0] != "ok":
        raise ImportFailure(1002)


def _layers(conn: duckdb.DuckDBPyConnection, path: str, ext: str) -> list[dict[str, Any]]:
    try:
        found = conn.execute("SELECT layers FROM ST_Read_Meta(?)", (path,)).fetchall()
    except duckdb.Error:
        raise ImportFailure(1006 if ext == ".shp" else 1002) from None
    if not found:
        raise ImportFailure(1002)
    layers: list[dict[str, Any]] = list(found[0][0] or [])
    if ext == ".gpx":
        layers = [layer for layer in layers if layer["name"] in _GPX_LAYERS]
    return [layer for layer in layers if layer.get("feature_count")]


def _source_crs(layer: dict[str, Any]) -> str | None:
    fields = layer.get("geometry_fields") or []
    if not fields:
        return None
    crs = fields[0].get("crs") or {}
    if crs.get("auth_name") and crs.get("auth_code"):
        return f"{crs['auth_name']}:{crs['auth_code']}"
    wkt = crs.get("wkt")
    return str(wkt) if wkt else None


def stage_gdal(db: Database, path: str, ext: str, base: str, options: LoadOptions) -> list[Source]:
    """Stage every non-empty layer of a GDAL-readable file; one :class:`Source` each."""
    if ext == ".shp":
        _check_shapefile(path)
    if ext == ".gpkg":
        _check_geopackage(path)
    sources: list[Source] = []
    try:
        with _reader() as conn:
            layers = _layers(conn, path, ext)
            if not layers:
                raise ImportFailure(3202 if ext == ".kml" else 1005)
            if len(layers) > MAX_LAYERS:
                raise ImportFailure(1019)
            for number, layer in enumerate(layers):
                name = base if number == 0 else f"{base}_{layer['name']}"
                sources.append(
                    _stage_layer(db, conn, path=path, layer=layer, base=name, options=options)
                )
    except BaseException:
        for source in sources:
            drop_stage(db, source.stage)
        raise
    return sources


def _stage_layer(
    db: Database,
    conn: duckdb.DuckDBPyConnection,
    *,
    path: str,
    layer: dict[str, Any],
    base: str,
    options: LoadOptions,
) -> Source:
    if int(layer.get("feature_count") or 0) > options.max_rows:
        raise ImportFailure(6668)
    scan = f"ST_Read({_literal(path)}, layer := {_literal(layer['name'])})"
    try:
        described = conn.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()  # noqa: S608
    except duckdb.Error:
        raise ImportFailure(1002) from None
    geometry = next((c for c, t, *_ in described if str(t).startswith("GEOMETRY")), None)
    fields = [(c, str(t)) for c, t, *_ in described if c != geometry and c.lower() not in _DROPPED]
    header = [c for c, _ in fields]
    names = column_names(header, options)
    selects = [f"{_quote(c)} AS c{i}" for i, (c, _) in enumerate(fields)]
    crs = _source_crs(layer)
    if geometry is not None:
        geom = f"{_quote(geometry)}::GEOMETRY"
        if crs and crs != "EPSG:4326":
            geom = f"ST_Transform({geom}, {_literal(crs)}, 'EPSG:4326', always_xy := true)"
        selects.append(f"ST_AsWKB({geom}) AS gc")
    else:
        selects.append("NULL::BLOB AS gc")
    try:
        data = conn.execute(f"SELECT {', '.join(selects)} FROM {scan}").to_arrow_table()  # noqa: S608
    except duckdb.Error as exc:
        code = 3008 if "transform" in str(exc).lower() or "crs" in str(exc).lower() else 1002
        raise ImportFailure(code) from None
    stage = f"_carto_stage_{next(stage_numbers)}"
    db.stage_arrow(stage, data)
    source = Source(
        base,
        stage,
        [],
        data.num_rows,
        geom_expr="ST_SetCRS(ST_GeomFromWKB(gc), 'EPSG:4326')",
    )
    try:
        collections = db.execute_native(
            f"SELECT count(*) FROM {stage} WHERE gc IS NOT NULL AND"  # noqa: S608
            " ST_GeometryType(ST_GeomFromWKB(gc))::VARCHAR = 'GEOMETRYCOLLECTION'"
        ).rows[0][0]
        if collections:
            raise ImportFailure(3201)
        for index, ((_, duck_type), name) in enumerate(zip(fields, names, strict=True)):
            if name == "the_geom_webmercator":
                continue
            if name == "cartodb_id":
                source.id_expr = cartodb_id_expr(db, stage, f"c{index}::VARCHAR")
                continue
            final = name + "_1" if name in CARTO_NAMES else name
            source.columns.append((final, decl_for(duck_type), f"c{index}"))
        return source
    except BaseException:
        drop_stage(db, stage)
        raise
