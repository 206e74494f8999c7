"""LocalCarto's importer: files (CSV/TSV/TXT, GeoJSON, zip archives) and queries into CARTO tables.

It follows CARTO's importer (``services/importer`` in CartoDB/cartodb) where that is cheap:

* table names come from the file name via ``Carto::DB::Sanitize`` rules
  (``_staging.normalize_table_name``), with ``_1``, ``_2``... appended on collision;
* column names follow the importer's ``StringSanitizer`` (accents folded, lower case,
  runs of other characters become ``_``, reserved words and leading digits get a ``_``
  prefix);
* with type guessing (ogr2ogr's ``AUTODETECT_TYPE``) integer columns become ``integer``
  (``bigint`` past 32 bits), decimals ``double precision``, ``true``/``false`` columns
  ``boolean``, ``YYYY-MM-DD`` columns ``date`` and ISO timestamps ``timestamptz`` (naive
  ones read as UTC); everything else, and everything when guessing is off, is ``text``;
  with ``quoted_fields_guessing`` off a column with any quoted value stays ``text``;
* ``the_geom`` comes from a geometry column (``the_geom``, ``geometry``, ``wkt``, ``geojson``
  ... holding hex (E)WKB, (E)WKT or GeoJSON) or else from latitude/longitude columns
  (``lat``/``latitude``/... and ``lon``/``lng``/``long``/``longitude``/...), validated
  with the georeferencer's own patterns; those columns are kept;
* a ``cartodb_id`` column of unique non-negative integers is kept as the id; any other
  ``cartodb_id`` fails with 2011, as ``CDB_CartodbfyTable`` does.

Rows are streamed into a temporary staging table in chunks (the database lock is taken
per chunk, so SQL queries keep being served), then copied into the final table in one
transaction.

This module reads GeoJSON, unpacks zip archives, commits staged tables and imports queries;
CSV files are read by ``_csvload``, and what every reader shares (options, failures, naming
rules, staging tables) is in ``_staging``.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from typing import Any

import attrs

from carto_async.testing._csvload import stage_csv
from carto_async.testing._db import CARTO_NAMES, Database, QueryError, quote_ident
from carto_async.testing._staging import (
    CHUNK_ROWS,
    ImportFailure,
    LoadOptions,
    Source,
    cartodb_id_expr,
    column_names,
    create_stage,
    drop_stage,
    insert_stage,
    normalize_column_name,
    normalize_table_name,
    stage_numbers,
    unique_table_name,
)
from carto_async.testing.importer._gdal import GDAL_EXTENSIONS, stage_gdal

__all__ = [
    "LoadResult",
    "copy_table",
    "load_file",
    "supported_extensions",
    "table_from_query",
]

_EXTENSIONS = (
    ".csv",
    ".tsv",
    ".txt",
    ".geojson",
    ".json",
    ".zip",
    ".kml",
    ".kmz",
    ".gpx",
    ".gpkg",
    ".shp",
)
_GEOMETRY_KINDS = frozenset(
    (
        "Point",
        "LineString",
        "Polygon",
        "MultiPoint",
        "MultiLineString",
        "MultiPolygon",
        "GeometryCollection",
    )
)


def _srid_from_crs(crs: Any) -> int | None:
    """The EPSG code of a GeoJSON ``crs`` member (``EPSG:3857``, ``urn:ogc:def:crs:EPSG::3857``)."""
    if not isinstance(crs, dict):
        return None
    name = (
        (crs.get("properties") or {}).get("name")
        if isinstance(crs.get("properties"), dict)
        else None
    )
    if not isinstance(name, str):
        return None
    if "CRS84" in name.upper():
        return 4326
    digits = name.rsplit(":", 1)[-1]
    return int(digits) if digits.isdigit() else None


@attrs.frozen
class LoadResult:
    """Tables an import created."""

    table_names: list[str]
    rows: int
    skipped: bool


def supported_extensions() -> tuple[str, ...]:
    """File extensions LocalCarto can import (lower case, with the dot)."""
    return _EXTENSIONS


# --------------------------------------------------------------------------- GeoJSON


def _features(document: Any) -> list[tuple[dict[str, Any], Any]]:
    if not isinstance(document, dict):
        raise ImportFailure(3007)
    kind = document.get("type")
    if kind == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list):
            raise ImportFailure(3007)
    elif kind == "Feature":
        features = [document]
    elif kind in _GEOMETRY_KINDS:
        features = [{"type": "Feature", "properties": {}, "geometry": document}]
    else:
        raise ImportFailure(3007)
    out: list[tuple[dict[str, Any], Any]] = []
    for feature in features:
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise ImportFailure(3007)
        properties = feature.get("properties") or {}
        if not isinstance(properties, dict):
            raise ImportFailure(3007)
        out.append((properties, feature.get("geometry")))
    return out


def _json_decl(values: Sequence[Any]) -> str:
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return "TEXT"
    if kinds == {bool}:
        return "BOOLEAN"
    if kinds == {int}:
        if any(not -(2**63) <= v < 2**63 for v in values if v is not None):
            return "DOUBLE PRECISION"
        big = any(not -(2**31) <= v < 2**31 for v in values if v is not None)
        return "BIGINT" if big else "INTEGER"
    if kinds <= {int, float}:
        return "DOUBLE PRECISION"
    return "TEXT"


def _json_text(value: Any, decl: str) -> str | None:
    """A property as staged text."""
    if value is None:
        return None
    if decl == "BOOLEAN":
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float) and decl != "TEXT":
        return repr(value) if isinstance(value, float) else str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _json_convert(column: str, decl: str) -> str:
    if decl in ("INTEGER", "BIGINT", "BOOLEAN"):
        return f"CAST({column} AS {decl})"
    if decl == "DOUBLE PRECISION":
        return f"CAST({column} AS DOUBLE)"
    return column


def _stage_geojson(db: Database, path: str, base: str, options: LoadOptions) -> Source:
    try:
        with open(path, encoding="utf-8-sig") as handle:
            document = json.load(handle)
    except (ValueError, UnicodeDecodeError):
        raise ImportFailure(3007) from None
    features = _features(document)
    if not features:
        raise ImportFailure(1005)
    if len(features) > options.max_rows:
        raise ImportFailure(6668)
    file_srid = _srid_from_crs(document.get("crs")) or 4326
    keys: dict[str, None] = {}
    for properties, _ in features:
        keys.update(dict.fromkeys(properties))
    header = list(keys)
    names = column_names(header, options)
    decls = [_json_decl([p.get(k) for p, _ in features]) for k in header]
    rows: list[list[Any]] = []
    for properties, geometry in features:
        row = [_json_text(properties.get(k), d) for k, d in zip(header, decls, strict=True)]
        text: str | None = None
        if geometry is not None:
            if not isinstance(geometry, dict) or geometry.get("type") not in _GEOMETRY_KINDS:
                raise ImportFailure(3007)
            if geometry.get("type") == "GeometryCollection":
                raise ImportFailure(3201)
            text = json.dumps(geometry, separators=(",", ":"))
        rows.append([*row, text, None, None])
    stage = create_stage(db, len(header))
    parsed = "TRY(ST_GeomFromGeoJSON(gc))"
    if file_srid != 4326:
        parsed = f"TRY(ST_Transform({parsed}, 'EPSG:{file_srid}', 'EPSG:4326', always_xy := true))"
    source = Source(base, stage, [], len(rows), geom_expr=f"ST_SetCRS({parsed}, 'EPSG:4326')")
    try:
        for start in range(0, len(rows), CHUNK_ROWS):
            insert_stage(db, stage, rows[start : start + CHUNK_ROWS], len(header), start)
        bad = db.execute_native(
            f"SELECT count(*) FROM {stage} WHERE gc IS NOT NULL AND {parsed} IS NULL"  # noqa: S608
        ).rows[0][0]
        if bad:
            raise ImportFailure(3008 if file_srid != 4326 else 3007)
        for index, (name, decl) in enumerate(zip(names, decls, strict=True)):
            if name == "the_geom_webmercator":
                continue
            if name == "cartodb_id":
                source.id_expr = cartodb_id_expr(db, stage, f"c{index}")
                continue
            final = name + "_1" if name in CARTO_NAMES else name
            source.columns.append((final, decl, _json_convert(f"c{index}", decl)))
        return source
    except BaseException:
        drop_stage(db, stage)
        raise


# --------------------------------------------------------------------------- files


def _extension(filename: str) -> str:
    return os.path.splitext(filename)[1].lower()


def _stage_path(db: Database, path: str, ext: str, base: str, options: LoadOptions) -> list[Source]:
    if os.path.getsize(path) == 0:
        raise ImportFailure(1005)
    if ext in (".geojson", ".json"):
        return [_stage_geojson(db, path, base, options)]
    if ext in GDAL_EXTENSIONS:
        return stage_gdal(db, path, ext, base, options)
    return [stage_csv(db, path, ext, base, options)]


_SIDECARS = frozenset((".dbf", ".shx", ".prj", ".cpg", ".qix", ".sbn", ".sbx"))


def _zip_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    members = []
    for info in archive.infolist():
        name = info.filename
        leaf = os.path.basename(name.rstrip("/"))
        if info.is_dir() or name.startswith("__MACOSX/") or leaf.startswith("."):
            continue
        ext = _extension(leaf)
        if (ext in _EXTENSIONS and ext not in (".zip", ".kmz")) or ext in _SIDECARS:
            members.append(info)
    return members


def _extract(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: str, options: LoadOptions
) -> None:
    """Stream one member to disk, never past ``max_file_size`` whatever its header says."""
    if info.flag_bits & 0x1:
        raise ImportFailure(1018)
    if info.file_size > options.max_file_size:
        raise ImportFailure(6666)
    written = 0
    try:
        with archive.open(info) as src, open(target, "wb") as dst:
            for block in iter(lambda: src.read(1 << 20), b""):
                written += len(block)
                if written > options.max_file_size:
                    raise ImportFailure(6666)
                dst.write(block)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError):
        raise ImportFailure(1003) from None


def _stage_zip(db: Database, path: str, options: LoadOptions) -> list[Source]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise ImportFailure(1003) from None
    sources: list[Source] = []
    failures: list[ImportFailure] = []
    with archive, tempfile.TemporaryDirectory(prefix="carto-unzip-") as workdir:
        members = _zip_members(archive)
        main = [m for m in members if _extension(m.filename) not in _SIDECARS]
        if not main:
            raise ImportFailure(1002)
        folders: dict[str, str] = {}
        try:
            # Members keep their names, one folder per archive folder, so that a Shapefile
            # finds its .dbf/.shx/.prj; the names never leave the scratch folder.
            for info in members:
                folder = os.path.dirname(info.filename)
                local = folders.setdefault(folder, os.path.join(workdir, f"d{len(folders)}"))
                os.makedirs(local, exist_ok=True)
                leaf = os.path.basename(info.filename)
                _extract(archive, info, os.path.join(local, leaf), options)
            for info in main:
                leaf = os.path.basename(info.filename)
                target = os.path.join(folders[os.path.dirname(info.filename)], leaf)
                ext = _extension(leaf)
                try:
                    sources.extend(_stage_path(db, target, ext, os.path.splitext(leaf)[0], options))
                except ImportFailure as exc:
                    failures.append(exc)  # like the runner: other files still import
        except BaseException:
            for source in sources:
                drop_stage(db, source.stage)
            raise
    if not sources:
        raise failures[0]
    return sources


def load_file(db: Database, filename: str, path: str, options: LoadOptions) -> LoadResult:
    """Import the file at ``path`` (uploaded as ``filename``) into new CARTO tables.

    The extension of ``filename`` picks the reader; a zip archive (or a KMZ) imports every
    supported file inside it, one table each (a Shapefile with its sidecar files). The size
    limit is checked before anything is read or unpacked, and again while unpacking.
    Raises :class:`ImportFailure` with CARTO's error code.
    """
    ext = _extension(filename)
    if ext not in _EXTENSIONS:
        raise ImportFailure(1002)
    size = os.path.getsize(path)
    if size > options.max_file_size:
        raise ImportFailure(6666)
    if size == 0:
        raise ImportFailure(1005)
    if ext in (".zip", ".kmz"):
        sources = _stage_zip(db, path, options)
    else:
        base = os.path.splitext(os.path.basename(filename))[0]
        sources = _stage_path(db, path, ext, base, options)
    return _commit(db, sources, options)


def _commit(db: Database, sources: list[Source], options: LoadOptions) -> LoadResult:
    created: list[str] = []
    total = 0
    try:
        with db.transaction():
            taken = set(db.list_tables())
            for source in sources:
                base = normalize_table_name(source.base)
                exists = db.table_exists(base)
                if exists and options.collision_strategy == "skip":
                    continue
                if exists and options.collision_strategy == "overwrite":
                    db.drop_table(base)
                    taken.discard(base)
                    name = base
                else:
                    name = unique_table_name(base, taken | set(created))
                _create_from_stage(db, name, source)
                created.append(name)
                taken.add(name)
                total += source.rows
    finally:
        for source in sources:
            drop_stage(db, source.stage)
    skipped = not created and options.collision_strategy == "skip"
    return LoadResult(created, total, skipped)


def _create_from_stage(db: Database, name: str, source: Source) -> None:
    # Ids are given here (file order, from 1), not drawn from the sequence row by row: the
    # sequence starts after them.
    id_expr = source.id_expr or "rn + 1"
    highest = db.execute_native(f"SELECT max({id_expr}) FROM {source.stage}").rows  # noqa: S608
    first_id = int(highest[0][0] or 0) + 1
    db.create_carto_table(
        name, [(column, decl) for column, decl, _ in source.columns], first_id=first_id
    )
    targets = ["cartodb_id", "the_geom"] + [quote_ident(c) for c, _, _ in source.columns]
    values = [id_expr, source.geom_expr] + [expr for _, _, expr in source.columns]
    try:
        db.execute_native(
            f"INSERT INTO {quote_ident(name)} ({', '.join(targets)})"  # noqa: S608
            f" SELECT {', '.join(values)} FROM {source.stage}"
        )
    except QueryError as exc:
        raise ImportFailure(99999, str(exc)) from None


# --------------------------------------------------------------------------- queries


def table_from_query(
    db: Database, sql: str, target_name: str | None, options: LoadOptions
) -> LoadResult:
    """Create a CARTO table from a SELECT, as an Import API ``sql`` import does.

    The table is named after ``target_name`` (``untitled_table`` when None) with the
    usual collision rules; the result is cartodbfied (``cartodb_id`` added when the
    query has none, ``the_geom`` converted). A failing query raises 8003, like the
    real importer's ``from_table``; an unusable ``cartodb_id`` 2011; too many rows 6668.
    """
    base = normalize_table_name(target_name or "untitled_table")
    if options.collision_strategy == "skip" and db.table_exists(base):
        return LoadResult([], 0, True)
    query = sql.strip().rstrip(";")
    scratch = f"_carto_query_{next(stage_numbers)}"
    with db.transaction():
        try:
            db.execute(f"CREATE TABLE {quote_ident(scratch)} AS {query}")
        except QueryError as exc:
            raise ImportFailure(8003, str(exc)) from None
        try:
            db.cartodbfy(scratch)
        except QueryError as exc:
            code = 2011 if "cartodb_id" in str(exc) else 8003
            raise ImportFailure(code, str(exc)) from None
        rows = db.row_count(scratch)
        if rows > options.max_rows:
            raise ImportFailure(6668)
        _sanitize_columns(db, scratch)
        if options.collision_strategy == "overwrite" and db.table_exists(base):
            db.drop_table(base)
            name = base
        else:
            name = unique_table_name(base, set(db.list_tables()) - {scratch})
        db.rename_table(scratch, name)
    return LoadResult([name], rows, False)


def _sanitize_columns(db: Database, table: str) -> None:
    names = [c for c, _ in db.table_columns(table)]
    final = {
        c: c if c in CARTO_NAMES else normalize_column_name(c, i) for i, c in enumerate(names, 1)
    }
    if len(set(final.values())) != len(final):
        raise ImportFailure(2005)
    for old, new in final.items():
        if old != new:
            column, renamed = quote_ident(old), quote_ident(new)
            db.execute_native(
                f"ALTER TABLE {quote_ident(table)} RENAME COLUMN {column} TO {renamed}"
            )


def copy_table(
    db: Database, source_table: str, target_name: str | None, options: LoadOptions
) -> LoadResult:
    """Duplicate a table, as an Import API ``table_copy`` import does.

    The real importer runs ``SELECT * FROM <table_copy>`` through the same path as a
    ``sql`` import, so a missing source fails with 8003 and the copy is named after
    ``target_name`` (``untitled_table`` when None), not after the source.
    """
    return table_from_query(db, f"SELECT * FROM {quote_ident(source_table)}", target_name, options)  # noqa: S608
