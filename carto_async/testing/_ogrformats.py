"""SQL API formats written by GDAL: ``kml``, ``shp`` (zipped), ``spatialite``, ``gpkg`` (§9.1).

The real server shells out to ``ogr2ogr`` (``lib/models/formats/ogr.js`` and ``ogr/*.js``);
LocalCarto uses the same library through DuckDB spatial's ``COPY ... (FORMAT GDAL)``. What is
kept from ``ogr.js``:

* the columns are the query's, minus ``skipfields``, with ``the_geom`` moved first;
* the feature geometry is the first geometry column (``the_geom`` when there is one); its SRS
  is the SRID and its layer type the type of the first non-null geometry (``-a_srs``,
  ``-nlt``); other geometry columns (``the_geom_webmercator``) are not written, as the single
  geometry drivers drop them;
* the layer is named after the ``filename`` parameter (``-nln``); a shapefile's ``.shp``,
  ``.shx``, ``.dbf``, ``.prj`` and ``.cpg`` are zipped under that name; layer options
  ``RESIZE=YES`` and ``ENCODING=UTF-8`` (shapefile);
* a query without a geometry column gives an attribute-only layer (a shapefile zip holds only
  the ``.dbf``); a shapefile refuses geometries of another kind than its first one with
  GDAL's words (``Attempt to write non-point (LINESTRING) geometry to point shapefile.``).

Memory: the rows are in memory once, as for every format (the engine hands them over whole),
plus their Arrow copy while GDAL writes; the file itself is streamed back from disk.

Safety: the user's SQL never runs here. The rows arrive already computed by the guarded engine
(:meth:`Database.run_statements`) and travel as Arrow into a private DuckDB that no request can
reach; only this module's own ``COPY`` statement writes, into a fresh private
temporary directory under fixed file names. The ``filename`` parameter only names the layer
and the zip entries, never a path. :meth:`OgrFile.cleanup` removes the directory. The private
DuckDB (one per server thread, as loading spatial costs half a second) runs nothing else.

Where LocalCarto knowingly differs: the bundled GDAL has no SpatiaLite library, so
``spatialite`` is an OGR SQLite database with WKB geometries (as we read ``ogr/spatialite.js``,
also what the real ``ogr2ogr`` call writes: ``SPATIALITE=yes`` reaches it as a stray argument,
not as ``-dsco``);
a GeoPackage keeps GDAL's ``fid`` key beside ``cartodb_id`` (DuckDB's writer cannot map the
FID to a column as ``-lco FID=cartodb_id`` does); a GeoPackage or SQLite file of a query
without geometry still has an (empty) geometry column, DuckDB's writer having no
geometry-less layers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import itertools
import os
import shutil
import struct
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs
import duckdb

from carto_async.testing.engine import QueryError, open_engine
from carto_async.testing.engine._errors import pg_message

__all__ = ["OGR_FORMATS", "OgrColumn", "OgrFile", "OgrFormat", "write_ogr"]


@attrs.frozen
class OgrFormat:
    """One GDAL-written format: its driver, the file's extension and the response's type."""

    driver: str
    extension: str
    content_type: str
    layer_options: tuple[str, ...] = ()


OGR_FORMATS = {
    "kml": OgrFormat("KML", "kml", "application/kml; charset=utf-8"),
    "shp": OgrFormat(
        "ESRI Shapefile", "zip", "application/zip; charset=utf-8", ("RESIZE=YES", "ENCODING=UTF-8")
    ),
    "spatialite": OgrFormat("SQLite", "sqlite", "application/x-sqlite3; charset=utf-8"),
    "gpkg": OgrFormat("GPKG", "gpkg", "application/x-sqlite3; charset=utf-8"),
}

#: Geometry columns (what ``field_descriptor`` calls them).
GEOMETRY_TYPES = frozenset(("geometry", "geography"))
_KINDS = (
    "POINT",
    "LINESTRING",
    "POLYGON",
    "MULTIPOINT",
    "MULTILINESTRING",
    "MULTIPOLYGON",
    "GEOMETRYCOLLECTION",
)
# A shapefile's shape type, from the first geometry, and the kinds it accepts (GDAL's
# SHPWriteOGRObject): (layer type to declare, accepted kinds, GDAL's refusal).
_SHAPES = {
    "POINT": ("POINT", {"POINT"}, "Attempt to write non-point ({}) geometry to point shapefile."),
    "MULTIPOINT": (
        "MULTIPOINT",
        {"POINT", "MULTIPOINT"},
        "Attempt to write non-multipoint ({}) geometry to multipoint shapefile.",
    ),
    "LINESTRING": (
        "MULTILINESTRING",
        {"LINESTRING", "MULTILINESTRING"},
        "Attempt to write non-linestring ({}) geometry to ARC type shapefile.",
    ),
    "POLYGON": (
        "MULTIPOLYGON",
        {"POLYGON", "MULTIPOLYGON"},
        "Attempt to write non-polygon ({}) geometry to POLYGON type shapefile.",
    ),
}
_SHAPES["MULTILINESTRING"] = _SHAPES["LINESTRING"]
_SHAPES["MULTIPOLYGON"] = _SHAPES["POLYGON"]
_SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
_FILE_STEM = "cartodb-query"  # every file this module writes is named so: never user text
_VIEWS = itertools.count(1)


@attrs.frozen
class OgrColumn:
    """One output column: its name, its position in the rows, its PostgreSQL type name."""

    name: str
    index: int
    pgtype: str


@attrs.frozen
class OgrFile:
    """A written file (``path``) inside a private directory removed by :meth:`cleanup`."""

    path: str
    directory: str

    @property
    def size(self) -> int:
        """The file's size in bytes."""
        return os.path.getsize(self.path)

    def cleanup(self) -> None:
        """Remove the file and its directory (idempotent)."""
        shutil.rmtree(self.directory, ignore_errors=True)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _ewkb_head(value: Any) -> tuple[str, int] | None:
    """The kind and SRID of a hex EWKB value (None when it is not one)."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        head = bytes.fromhex(value[:18] if len(value) >= 18 else value[:10])
    except ValueError:
        return None
    fmt = "<" if head[0] == 1 else ">"
    (code,) = struct.unpack_from(fmt + "I", head, 1)
    srid = 0
    if code & 0x20000000 and len(head) >= 9:
        (srid,) = struct.unpack_from(fmt + "I", head, 5)
    base = (code & 0x0FFFFFFF) % 1000
    if not 1 <= base <= len(_KINDS):
        return None
    return _KINDS[base - 1], srid


def _arrow_column(values: list[Any], pgtype: str, text: Callable[[Any, str], str]) -> Any:
    """An Arrow array for one column, typed as ``ogr2ogr`` reads the PostgreSQL type."""
    import pyarrow as pa  # noqa: PLC0415 - LocalCarto's extra; loaded with the first export

    candidates: list[tuple[Any, Callable[[Any], Any]]] = []
    if pgtype in ("int2", "int4"):
        candidates.append((pa.int32(), int))
    elif pgtype == "int8":
        candidates.append((pa.int64(), int))
    elif pgtype in ("float4", "float8", "numeric"):
        candidates.append((pa.float64(), float))
    elif pgtype == "bool":
        candidates.append((pa.bool_(), lambda v: text(v, "bool") == "true"))
    elif pgtype == "date":
        candidates.append((pa.date32(), lambda v: v if isinstance(v, dt.date) else None))
    elif pgtype == "timestamp":
        candidates.append((pa.timestamp("us"), _naive))
    elif pgtype == "timestamptz":
        candidates.append((pa.timestamp("us", tz="UTC"), _aware))
    for arrow_type, convert in candidates:
        try:
            converted = [None if v is None else convert(v) for v in values]
            if all(c is not None for c, v in zip(converted, values, strict=True) if v is not None):
                return pa.array(converted, type=arrow_type)
        except (TypeError, ValueError, OverflowError, decimal.InvalidOperation, pa.ArrowException):
            pass
    if pgtype in GEOMETRY_TYPES:
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())
    return pa.array([None if v is None else text(v, pgtype) for v in values], type=pa.string())


def _naive(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    return None


def _aware(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return None


# One private writer per server thread: loading the spatial extension costs about half a
# second, far more than writing a small file. Only this module's COPY ever runs on them.
_WRITERS = threading.local()


@contextlib.contextmanager
def _writer(timeout: float | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """This thread's writer; interrupted after ``timeout`` seconds (then not reused)."""
    conn: duckdb.DuckDBPyConnection | None = getattr(_WRITERS, "conn", None)
    if conn is None:
        conn = open_engine(None, lock=False)
        _WRITERS.conn = conn
    rang = threading.Event()

    def ring() -> None:
        rang.set()
        conn.interrupt()

    alarm = None if timeout is None else threading.Timer(timeout, ring)
    if alarm is not None:
        alarm.start()
    try:
        yield conn
    finally:
        if alarm is not None:
            alarm.cancel()
            alarm.join()
        if rang.is_set():
            _WRITERS.conn = None
            conn.close()


def _geometry_plan(
    fmt: str, rows: Sequence[Sequence[Any]], geom: OgrColumn | None
) -> tuple[str | None, str | None, bool]:
    """(SRS, layer geometry type, promote to multi) from the geometries, as ``ogr.js`` does."""
    if geom is None:
        return None, None, False
    heads = [h for h in (_ewkb_head(row[geom.index]) for row in rows) if h is not None]
    if not heads:
        return None, None, False
    first_kind, srid = heads[0]
    srs = f"EPSG:{srid}" if srid else None
    kinds = {kind for kind, _ in heads}
    if fmt != "shp":
        # -nlt of the first geometry; DuckDB's writer insists every geometry matches it, so a
        # mixed query is written as a layer of any type (GPKG, KML and SQLite accept them).
        return srs, first_kind if kinds == {first_kind} else None, False
    if first_kind not in _SHAPES:
        raise QueryError(f"Geometry type of `{first_kind}' not supported in shapefiles.")
    layer_kind, accepted, refusal = _SHAPES[first_kind]
    stray = next((kind for kind, _ in heads if kind not in accepted), None)
    if stray is not None:
        raise QueryError(refusal.format(stray))
    return srs, layer_kind, layer_kind != first_kind or kinds != {first_kind}


def write_ogr(
    fmt: str,
    columns: Sequence[OgrColumn],
    rows: Sequence[Sequence[Any]],
    layer_name: str,
    text: Callable[[Any, str], str],
    *,
    timeout: float | None = None,
) -> OgrFile:
    """Write ``rows`` as ``fmt`` (a key of :data:`OGR_FORMATS`) into a private temporary file.

    ``columns`` are the output columns in the query's order (skipfields already left out);
    ``text`` gives PostgreSQL's text output of a value of a type GDAL has no field for
    (arrays, json, intervals...). Raises :class:`QueryError` with GDAL's or PostgreSQL's
    words (a duplicate column name is ``column reference "x" is ambiguous``, as the outer
    ``SELECT`` of ``ogr.js`` makes it). ``timeout`` (seconds) bounds the writing as the
    server's ``export_command_timeout`` bounds ``ogr2ogr``: past it, the write is interrupted
    with ``statement timeout``.
    """
    if timeout is not None and timeout <= 0:
        raise QueryError("statement timeout")
    spec = OGR_FORMATS[fmt]
    ordered = sorted(columns, key=lambda c: c.name != "the_geom")
    geometry = next((c for c in ordered if c.pgtype in GEOMETRY_TYPES), None)
    kept = [c for c in ordered if c.pgtype not in GEOMETRY_TYPES or c is geometry]
    seen: set[str] = set()
    for column in kept:
        if column.name in seen:
            raise QueryError(f'column reference "{column.name}" is ambiguous')
        seen.add(column.name)
    srs, layer_type, promote = _geometry_plan(fmt, rows, geometry)

    import pyarrow as pa  # noqa: PLC0415 - LocalCarto's extra; loaded with the first export

    arrays = [_arrow_column([row[c.index] for row in rows], c.pgtype, text) for c in kept]
    table = pa.table(arrays, names=[f"c{i}" for i in range(len(kept))])
    select = []
    for position, column in enumerate(kept):
        source = f"c{position}"
        if column is geometry:
            expr = f"ST_GeomFromHEXEWKB({source})"
            if promote:
                expr = f"ST_Multi({expr})"
            select.append(f"{expr} AS {_quote(column.name)}")
        else:
            select.append(f"{source} AS {_quote(column.name)}")
    options = [f"DRIVER {_literal(spec.driver)}"]
    options.append(f"LAYER_NAME {_literal('layer' if fmt == 'shp' else layer_name)}")
    if srs and not (fmt == "kml" and srs == "EPSG:4326"):
        # KML is always WGS84 longitude/latitude: GDAL would read EPSG:4326 in its authority
        # axis order (latitude first) and swap the coordinates while "reprojecting".
        options.append(f"SRS {_literal(srs)}")
    if layer_type:
        options.append(f"GEOMETRY_TYPE {_literal(layer_type)}")
    layer_options = list(spec.layer_options)
    if fmt in ("gpkg", "spatialite"):
        if geometry is not None:
            layer_options.append(f"GEOMETRY_NAME={geometry.name}")
        # GDAL's own key column must not take a column of the query's name (GDAL would read
        # that column as the key and refuse the rows).
        taken = {c.name.lower() for c in kept}
        base = "fid" if fmt == "gpkg" else "ogc_fid"
        names = itertools.chain([base], (f"{base}_{n}" for n in itertools.count(1)))
        layer_options.append("FID=" + next(name for name in names if name not in taken))
    if layer_options:
        options.append(f"LAYER_CREATION_OPTIONS ({', '.join(map(_literal, layer_options))})")

    directory = tempfile.mkdtemp(prefix="localcarto-sqlapi-")
    written = OgrFile(os.path.join(directory, f"{_FILE_STEM}.{spec.extension}"), directory)
    target = os.path.join(directory, f"{_FILE_STEM}.shp") if fmt == "shp" else written.path
    try:
        with _writer(timeout) as conn:
            view = f"rows_{next(_VIEWS)}"
            conn.register(view, table)
            try:
                conn.execute(
                    f"COPY (SELECT {', '.join(select) or 'NULL AS _'} FROM {view})"  # noqa: S608
                    f" TO {_literal(target)} (FORMAT GDAL, {', '.join(options)})"
                )
            except duckdb.InterruptException:
                raise QueryError("statement timeout") from None
            finally:
                conn.unregister(view)
        if fmt == "shp":
            _zip_shapefile(directory, written.path, layer_name, has_geometry=geometry is not None)
    except duckdb.Error as exc:
        written.cleanup()
        raise QueryError(_gdal_message(str(exc)), str(exc)) from None
    except BaseException:
        written.cleanup()
        raise
    return written


def _gdal_message(raw: str) -> str:
    for prefix in ("IO Error: ", "Invalid Input Error: ", "Not implemented Error: "):
        if raw.startswith(prefix):
            return raw[len(prefix) :].strip()
    return pg_message(raw)


def _zip_shapefile(directory: str, zip_path: str, name: str, *, has_geometry: bool) -> None:
    """Zip the shapefile's parts as ``<name>.<ext>`` (``zip -j``: no directories)."""
    # The entry name is the sanitized filename parameter; it never reaches the file system here
    # (and may not smuggle a directory into an unzip either).
    entry = name.replace("/", "_").replace("\\", "_").replace("\0", "_") or _FILE_STEM
    parts = _SHAPEFILE_PARTS if has_geometry else (".dbf", ".cpg")
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for ext in parts:
            part = os.path.join(directory, _FILE_STEM + ext)
            if os.path.exists(part):
                archive.write(part, arcname=entry + ext)
                os.remove(part)
