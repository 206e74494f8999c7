"""LocalCarto's importer: files (CSV/TSV/TXT, GeoJSON, zip archives) and queries into CARTO tables.

It follows CARTO's importer (``services/importer`` in CartoDB/cartodb) where that is cheap:

* table names come from the file name via ``Carto::DB::Sanitize`` rules
  (:func:`normalize_table_name`), with ``_1``, ``_2``... appended on collision;
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
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import importlib.resources
import io
import itertools
import json
import os
import re
import shutil
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Collection, Iterator, Sequence
from typing import Any

import attrs

from carto_async.testing import _geometry
from carto_async.testing._db import (
    CARTO_NAMES,
    Database,
    QueryError,
    parse_timestamp,
    quote_ident,
)

__all__ = [
    "ImportFailure",
    "LoadOptions",
    "LoadResult",
    "copy_table",
    "load_file",
    "normalize_column_name",
    "normalize_table_name",
    "supported_extensions",
    "table_from_query",
]

# CARTO exports put whole polygons (hundreds of KB of hex) in one CSV field; the csv
# module's default 128 KiB limit would reject them. Only ever raised, never lowered.
csv.field_size_limit(max(csv.field_size_limit(), 64 * 1024 * 1024))

_CHUNK_ROWS = 5000
_SAMPLE_CHARS = 64 * 1024
_MALFORMED_RATIO = 0.1

MAX_IDENTIFIER_LENGTH = 63


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


RESERVED_WORDS = _words(
    """all analyse analyze and any array as asc asymmetric authorization binary both case cast
    check collate collation column concurrently constraint create cross current_catalog
    current_date current_role current_schema current_time current_timestamp current_user
    default deferrable desc distinct do else end except false fetch for foreign freeze from
    full grant group having ilike in initially inner intersect into is isnull join lateral
    leading left like limit localtime localtimestamp natural not notnull null offset on only
    or order outer overlaps placing primary references returning right select session_user
    similar some symmetric table tablesample then to trailing true union unique user using
    variadic verbose when where window with"""
)
SYSTEM_TABLE_NAMES = _words(
    """spatial_ref_sys geography_columns geometry_columns raster_columns raster_overviews
    cdb_tablemetadata geometry raster"""
)
RESERVED_TABLE_NAMES = frozenset(("layergroup", "all", "public"))
_ADDITIONAL_WORDS = frozenset(("between", "new", "off", "old", "format", "controller", "action"))
_SYSTEM_COLUMNS = frozenset(("tableoid", "xmin", "cmin", "xmax", "cmax", "ctid", "oid", "ogc_fid"))

LATITUDE_NAMES = _words("latitude lat latitudedecimal latitud lati decimallatitude decimallat")
LONGITUDE_NAMES = _words(
    "longitude lon lng longitudedecimal longitud long decimallongitude decimallong"
)
GEOMETRY_NAMES = ("geometry", "the_geom", "wkb_geometry", "geom", "geojson", "wkt")
# The georeferencer's own validation of latitude/longitude text.
_LON_RE = re.compile(r"[-+]?(?:\d|[1-9]\d|1[0-7]\d)(?:\.\d+)?|[-+]?180")
_LAT_RE = re.compile(r"[-+]?(?:\d|[1-8]\d)(?:\.\d+)?|[-+]?90")

_EXTENSIONS = (".csv", ".tsv", ".txt", ".geojson", ".json", ".zip")


class ImportFailure(Exception):
    """An import failed with one of CARTO's importer error codes (see ``get_error_text``)."""

    def __init__(self, code: int, message: str = "") -> None:
        self.code = code
        self.message = message or _error_title(code)
        super().__init__(f"{code}: {self.message}")


@functools.cache
def _error_titles() -> dict[str, Any]:
    source = importlib.resources.files("carto_async.data").joinpath("import_error_codes.json")
    try:
        loaded: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded


def _error_title(code: int) -> str:
    entry = _error_titles().get(str(code))
    return str(entry.get("title", "")) if isinstance(entry, dict) else ""


@attrs.frozen
class LoadOptions:
    """Import options and limits, as the Import API receives them.

    ``content_guessing`` (CARTO's country and IP geocoding) is accepted and ignored.
    """

    type_guessing: bool = True
    quoted_fields_guessing: bool = True
    content_guessing: bool = False
    collision_strategy: str | None = None
    max_file_size: int = 157286400
    max_rows: int = 500000
    max_columns: int = 250


@attrs.frozen
class LoadResult:
    """Tables an import created."""

    table_names: list[str]
    rows: int
    skipped: bool


def supported_extensions() -> tuple[str, ...]:
    """File extensions LocalCarto can import (lower case, with the dot)."""
    return _EXTENSIONS


# --------------------------------------------------------------------------- names


def normalize_table_name(name: str) -> str:
    """CARTO's table name for ``name`` (``Carto::DB::Sanitize.sanitize_identifier``).

    Lower case; a name not starting with a letter gets a ``table_`` prefix; characters
    other than ``[a-z0-9_]`` become ``_``; runs of ``_`` collapse; at most 63 characters;
    reserved words get a ``_t`` suffix. An empty name becomes ``untitled_table``.
    """
    text = name.lower().strip()
    if not text:
        return "untitled_table"
    if not re.match(r"[a-z]", text):
        text = "table_" + text
    text = re.sub(r"[^a-z0-9_]", "_", text)
    text = re.sub(r"_{2,}", "_", text)[:MAX_IDENTIFIER_LENGTH]
    if text in RESERVED_WORDS | RESERVED_TABLE_NAMES | SYSTEM_TABLE_NAMES | _ADDITIONAL_WORDS:
        text += "_t"
    return text


def _with_suffix(base: str, suffix: str) -> str:
    if len(base) + len(suffix) > MAX_IDENTIFIER_LENGTH:
        base = base[: MAX_IDENTIFIER_LENGTH - len(suffix)]
    return normalize_table_name(base + suffix)


def unique_table_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base_1``, ``base_2``... whichever is free (case-insensitive)."""
    unavailable = {t.lower() for t in taken} | SYSTEM_TABLE_NAMES | RESERVED_TABLE_NAMES
    proposal = base
    for n in itertools.count(1):
        if proposal.lower() not in unavailable:
            return proposal
        proposal = _with_suffix(base, f"_{n}")
    raise AssertionError("unreachable")


def _fold_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    return folded.replace("æ", "ae").replace("Æ", "AE").replace("œ", "oe").replace("Œ", "OE")


def normalize_column_name(name: str, position: int = 1) -> str:
    """CARTO importer's column name for a header (``StringSanitizer`` + ``Column``).

    An empty header becomes ``field_<position>`` as ogr2ogr names it.
    """
    text = re.sub(r"<[^>]+>", "", name, flags=re.S)
    text = _fold_accents(text).lower()
    text = re.sub(r"&.+?;", "-", text)
    text = re.sub(r"[^a-z0-9 _-]", "-", text).strip()
    text = re.sub(r"-+", "-", re.sub(r"\s+", "-", text))
    text = text.replace("-", " ").strip().replace(" ", "_")
    if not text:
        return f"field_{position}"
    if (
        text in RESERVED_WORDS
        or text in _ADDITIONAL_WORDS
        or text in _SYSTEM_COLUMNS
        or not re.match(r"[a-z_]", text)
    ):
        text = "_" + text
    return text[:MAX_IDENTIFIER_LENGTH]


# --------------------------------------------------------------------------- staging


@attrs.define
class _Source:
    """One table's rows, staged in a TEMP table and waiting to be committed."""

    base: str
    stage: str
    columns: list[tuple[str, str, str]]  # (column, declared type, expression over the stage)
    rows: int
    id_expr: str | None = None
    geom_expr: str = "NULL"
    merc_expr: str = "NULL"


_stage_names = itertools.count(1)


def _create_stage(db: Database, width: int) -> str:
    name = f"_carto_stage_{next(_stage_names)}"
    columns = ", ".join([f"c{i}" for i in range(width)] + ["gc", "mc", "gl", "ml"])
    db.execute_native(f"CREATE TEMP TABLE {name} ({columns})")
    return name


def _drop_stage(db: Database, stage: str) -> None:
    with contextlib.suppress(QueryError):  # the database may already be closed
        db.execute_native(f"DROP TABLE IF EXISTS temp.{stage}")


def _insert_stage(db: Database, stage: str, rows: Sequence[Sequence[Any]], width: int) -> None:
    marks = ", ".join("?" * (width + 4))
    with db.transaction():
        db.executemany(f"INSERT INTO temp.{stage} VALUES ({marks})", rows)  # noqa: S608


def _geometry_value(text: str) -> _geometry.Geometry:
    """A CSV geometry cell as cartodbfy reads it (SRID 0 means 4326, 3857 is reprojected)."""
    stripped = text.strip()
    if stripped.startswith("{"):
        geom = _geometry.from_geojson(stripped)
    else:
        parsed = _geometry.parse_geometry(stripped)
        assert parsed is not None
        geom = parsed
    if geom.srid in (0, 4326):
        return geom.with_srid(4326)
    return _geometry.transform(geom, 4326)


def _geometry_pair(geom: _geometry.Geometry) -> tuple[str, str | None]:
    if geom.kind == "GeometryCollection":
        raise ImportFailure(3201)
    return _geometry.to_hex(geom), _geometry.webmercator_hex(geom)


def _latlon_pair(lat_text: str, lon_text: str) -> tuple[str | None, str | None]:
    lat_text = lat_text.strip().replace(",", ".")
    lon_text = lon_text.strip().replace(",", ".")
    if not (_LAT_RE.fullmatch(lat_text) and _LON_RE.fullmatch(lon_text)):
        return None, None
    lon, lat = float(lon_text), float(lat_text)
    x, y = _geometry.lonlat_to_mercator(lon, lat)
    return _geometry.point_hex(lon, lat, 4326), _geometry.point_hex(x, y, 3857)


# --------------------------------------------------------------------------- CSV


def _sniff_encoding(path: str) -> tuple[str, bool]:
    """(codec, whether the file has an odd number of ``"``); NUL bytes or bad bytes -> 2003."""
    with open(path, "rb") as handle:
        head = handle.read(4)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16", False
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        quotes = 0
        utf8 = True
        for block in iter(lambda: handle.read(1 << 20), b""):
            if b"\x00" in block:
                raise ImportFailure(2003)
            quotes += block.count(b'"')
            if utf8:
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    utf8 = False
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
        if utf8:
            return "utf-8-sig", quotes % 2 == 1
        handle.seek(0)
        fallback = codecs.getincrementaldecoder("cp1252")()
        try:
            for block in iter(lambda: handle.read(1 << 20), b""):
                fallback.decode(block)
        except UnicodeDecodeError:
            raise ImportFailure(2003) from None
        return "cp1252", quotes % 2 == 1


def _detect_delimiter(sample: str, ext: str) -> str:
    """The delimiter that splits the first lines most consistently (ties: more columns)."""
    lines = sample.splitlines(keepends=True)
    if len(sample) >= _SAMPLE_CHARS and len(lines) > 1:
        lines = lines[:-1]
    text = "".join(lines[:100])
    order = ("\t", ",", ";", "|") if ext == ".tsv" else (",", ";", "\t", "|")
    best = order[0] if ext == ".tsv" else ","
    best_score: tuple[float, int] | None = None
    for delimiter in order:
        try:
            rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if r]
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        body = rows[1:]
        ratio = sum(len(r) == width for r in body) / len(body) if body else 1.0
        score = (ratio, width)
        if best_score is None or score > best_score:
            best, best_score = delimiter, score
    return best


class _Tap:
    """Line iterator that remembers the raw text the csv reader consumed for a record."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.raw: list[str] = []

    def __iter__(self) -> _Tap:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.raw.append(line)
        return line

    def take(self) -> str:
        """The raw text read since the last call."""
        text = "".join(self.raw)
        self.raw.clear()
        return text


@functools.cache
def _field_pattern(delimiter: str) -> re.Pattern[str]:
    return re.compile(r'[ \t]*("(?:[^"]|"")*"?)?[^' + re.escape(delimiter) + r"\r\n]*")


def _quoted_fields(raw: str, delimiter: str) -> list[bool]:
    """Which fields of one raw CSV record were quoted (the csv module does not say)."""
    flags: list[bool] = []
    pos = 0
    field = _field_pattern(delimiter)
    while True:
        match = field.match(raw, pos)
        assert match is not None
        flags.append(match.group(1) is not None)
        pos = match.end()
        if pos >= len(raw) or raw[pos] != delimiter:
            return flags
        pos += 1


_NUMBER = r"[ \t]*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[ \t]*"
# Each pattern finds a line that is neither empty nor of the type.
_NOT_TYPE = {
    "int": re.compile(r"^(?!(?:[ \t]*[-+]?\d+[ \t]*)?$)", re.M),
    "real": re.compile(r"^(?!(?:" + _NUMBER + r")?$)", re.M),
    "bool": re.compile(r"^(?!(?:[ \t]*(?i:true|false)[ \t]*)?$)", re.M),
    "date": re.compile(r"^(?!(?:[ \t]*\d{4}-\d{2}-\d{2}[ \t]*)?$)", re.M),
    "datetime": re.compile(
        r"^(?!(?:[ \t]*\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
        r"(?:Z|[+-]\d{2}(?::?\d{2})?)?)?[ \t]*)?$)",
        re.M,
    ),
}
_ALL_TYPES = frozenset(_NOT_TYPE)


class _Guesser:
    """Narrows each column's possible types chunk by chunk (ogr2ogr ``AUTODETECT_TYPE``)."""

    def __init__(self, width: int, enabled: bool) -> None:
        self.candidates = [set(_ALL_TYPES) if enabled else set() for _ in range(width)]
        self.seen = [False] * width
        self.big = [False] * width

    def force_text(self, index: int) -> None:
        """Column ``index`` is text whatever its values (a quoted field was seen)."""
        self.candidates[index].clear()

    def update(self, chunk: Sequence[Sequence[str]]) -> None:
        """Rule out, per column, the types some value of ``chunk`` does not fit."""
        for index, candidates in enumerate(self.candidates):
            if not candidates:
                continue
            values = [row[index] for row in chunk]
            blob = "\n".join(values)
            if not blob.strip():
                continue
            self.seen[index] = True
            if blob.count("\n") != len(values) - 1 or "\r" in blob:
                candidates.clear()  # multi-line values are text
                continue
            for kind in list(candidates):
                if _NOT_TYPE[kind].search(blob):
                    candidates.discard(kind)
            if "int" in candidates:
                for value in values:
                    if len(value) > 9 and value.strip():
                        number = int(value)
                        if not -(2**63) <= number < 2**63:
                            candidates.discard("int")
                            break
                        if not -(2**31) <= number < 2**31:
                            self.big[index] = True
            if candidates & {"date", "datetime"} and any(
                parse_timestamp(v) is None for v in values if v.strip()
            ):
                candidates.discard("date")
                candidates.discard("datetime")

    def decl(self, index: int) -> str:
        """Declared type for column ``index`` once every row has been seen."""
        candidates = self.candidates[index]
        if not self.seen[index] or not candidates:
            return "TEXT"
        if "int" in candidates:
            return "BIGINT" if self.big[index] else "INTEGER"
        for kind, decl in (
            ("real", "DOUBLE PRECISION"),
            ("bool", "BOOLEAN"),
            ("date", "DATE"),
            ("datetime", "TIMESTAMPTZ"),
        ):
            if kind in candidates:
                return decl
        return "TEXT"


def _convert_expr(column: str, decl: str) -> str:
    value = f"NULLIF(TRIM({column}), '')"
    if decl in ("INTEGER", "BIGINT"):
        return f"CAST({value} AS INTEGER)"
    if decl == "DOUBLE PRECISION":
        return f"CAST({value} AS REAL)"
    if decl == "BOOLEAN":
        return f"CASE lower(TRIM({column})) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END"
    if decl == "DATE":
        return value  # already checked to be YYYY-MM-DD
    if decl == "TIMESTAMPTZ":
        return f"_carto_timestamptz({value})"
    return column


def _first_named(names: Sequence[str], wanted: Collection[str]) -> int | None:
    for index, name in enumerate(names):
        if name.lower() in wanted:
            return index
    return None


def _column_names(header: Sequence[str], options: LoadOptions) -> list[str]:
    if len(header) > options.max_columns:
        raise ImportFailure(2004)
    names = [normalize_column_name(h, i) for i, h in enumerate(header, start=1)]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ImportFailure(2005, f"Duplicated column: {sorted(duplicates)[0]}")
    return names


def _stage_csv(db: Database, path: str, ext: str, base: str, options: LoadOptions) -> _Source:
    encoding, odd_quotes = _sniff_encoding(path)
    with open(path, encoding=encoding, newline="") as handle:
        delimiter = _detect_delimiter(handle.read(_SAMPLE_CHARS), ext)
        handle.seek(0)
        detect_quotes = options.type_guessing and not options.quoted_fields_guessing
        tap = _Tap(iter(handle)) if detect_quotes else None
        reader = csv.reader(tap if tap is not None else handle, delimiter=delimiter)
        try:
            header = next((row for row in reader if row and any(c.strip() for c in row)), None)
            if header is None:
                raise ImportFailure(1005)
            if tap is not None:
                tap.take()
            stager = _CsvStager(db, _column_names(header, options), base, options)
            try:
                for row in reader:
                    quoted = _quoted_fields(tap.take(), delimiter) if tap is not None else None
                    stager.add(row, quoted)
                return stager.finish(odd_quotes)
            except BaseException:
                _drop_stage(db, stager.source.stage)
                raise
        except csv.Error as exc:
            raise ImportFailure(2003, str(exc)) from None


class _CsvStager:
    """Streams CSV records into a staging table, guessing types and geometry on the way."""

    def __init__(self, db: Database, names: list[str], base: str, options: LoadOptions) -> None:
        self.db = db
        self.names = names
        self.width = len(names)
        self.options = options
        self.guesser = _Guesser(self.width, options.type_guessing)
        self.geom_index = _first_named(names, GEOMETRY_NAMES)
        lat, lon = _first_named(names, LATITUDE_NAMES), _first_named(names, LONGITUDE_NAMES)
        self.latlon = (lat, lon) if lat is not None and lon is not None else None
        self.geom_values = 0
        self.geom_failed = False
        self.malformed = 0
        self.chunk: list[list[Any]] = []
        self.last: list[str] = []
        self.source = _Source(base, _create_stage(db, self.width), [], 0)

    def add(self, row: list[str], quoted: list[bool] | None) -> None:
        """Take one record (``quoted`` says which fields were quoted, when that matters)."""
        width = self.width
        if not row or (len(row) == 1 and width > 1 and not row[0].strip()):
            return  # blank line
        if len(row) < width:
            row.extend([""] * (width - len(row)))
        elif len(row) > width:
            if any(cell.strip() for cell in row[width:]):
                self.malformed += 1
            del row[width:]
        if quoted is not None:
            for index, was_quoted in enumerate(quoted[:width]):
                if was_quoted:
                    self.guesser.force_text(index)
        self.last = row[:]
        self.chunk.append(row)
        self.source.rows += 1
        if self.source.rows > self.options.max_rows:
            raise ImportFailure(6668)
        if len(self.chunk) >= _CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        """Guess types and geometry for the pending rows and write them to the stage."""
        if not self.chunk:
            return
        self.guesser.update(self.chunk)
        index = self.geom_index
        for row in self.chunk:
            gc: str | None = None
            mc: str | None = None
            if index is not None and not self.geom_failed and row[index].strip():
                try:
                    gc, mc = _geometry_pair(_geometry_value(row[index]))
                    self.geom_values += 1
                except _geometry.GeometryError:
                    self.geom_failed = True
            gl: str | None = None
            ml: str | None = None
            if self.latlon is not None:
                gl, ml = _latlon_pair(row[self.latlon[0]], row[self.latlon[1]])
            row.extend((gc, mc, gl, ml))
        _insert_stage(self.db, self.source.stage, self.chunk, self.width)
        self.chunk = []

    def finish(self, odd_quotes: bool) -> _Source:
        """Check the file as a whole and decide the table's columns."""
        self.flush()
        source = self.source
        if source.rows == 0:
            raise ImportFailure(1005)
        # A quote opened and never closed swallows the rest of the file into one field.
        runaway = odd_quotes and any("\n" in cell or "\r" in cell for cell in self.last)
        if self.malformed > source.rows * _MALFORMED_RATIO or runaway:
            raise ImportFailure(2003)
        skip: set[int] = set()
        renamed: dict[int, str] = {}
        use_latlon = self.latlon is not None
        if self.geom_index is not None:
            if self.geom_values and not self.geom_failed:
                source.geom_expr, source.merc_expr = "gc", "mc"
                skip.add(self.geom_index)
                use_latlon = False
            elif self.geom_failed:
                renamed[self.geom_index] = "invalid_the_geom"
            else:
                skip.add(self.geom_index)  # an empty geometry column is dropped
        if use_latlon:
            source.geom_expr, source.merc_expr = "gl", "ml"
        for index, name in enumerate(self.names):
            if index in skip or name == "the_geom_webmercator":
                continue
            column = f"c{index}"
            decl = self.guesser.decl(index)
            if name == "cartodb_id":
                source.id_expr = _cartodb_id_expr(self.db, source.stage, column)
                continue
            final = renamed.get(index, name)
            if final in CARTO_NAMES:
                final += "_1"
            source.columns.append((final, decl, _convert_expr(column, decl)))
        return source


def _cartodb_id_expr(db: Database, stage: str, column: str) -> str:
    """Keep a source ``cartodb_id`` only if it is a usable key (else 2011, as cartodbfy)."""
    total, distinct, bad, lowest = db.execute_native(
        f"SELECT count(*), count(DISTINCT CAST(TRIM({column}) AS INTEGER)),"  # noqa: S608
        f" coalesce(sum(CAST(CAST(TRIM({column}) AS INTEGER) AS TEXT) IS NOT TRIM({column})), 0),"
        f" min(CAST(TRIM({column}) AS INTEGER)) FROM temp.{stage}"
    ).rows[0]
    if total != distinct or bad or (lowest is not None and lowest < 0):
        raise ImportFailure(2011)
    return f"CAST(TRIM({column}) AS INTEGER)"


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
    elif kind in _geometry.KINDS:
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


def _json_cell(value: Any, decl: str) -> Any:
    if value is None:
        return None
    if decl == "BOOLEAN":
        return int(value)
    if decl == "DOUBLE PRECISION":
        return float(value)
    if decl == "TEXT" and not isinstance(value, str):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return value


def _stage_geojson(db: Database, path: str, base: str, options: LoadOptions) -> _Source:
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
    file_srid = _geometry.srid_from_crs(document.get("crs")) or 4326
    keys: dict[str, None] = {}
    for properties, _ in features:
        keys.update(dict.fromkeys(properties))
    header = list(keys)
    names = _column_names(header, options)
    decls = [_json_decl([p.get(k) for p, _ in features]) for k in header]
    rows: list[list[Any]] = []
    for properties, geometry in features:
        row = [_json_cell(properties.get(k), d) for k, d in zip(header, decls, strict=True)]
        gc: str | None = None
        mc: str | None = None
        if geometry is not None:
            if isinstance(geometry, dict) and geometry.get("type") == "GeometryCollection":
                raise ImportFailure(3201)
            try:
                geom = _geometry.from_geojson(geometry, file_srid)
            except _geometry.GeometryError:
                raise ImportFailure(3007) from None
            try:
                geom = _geometry.transform(geom, 4326)
            except _geometry.GeometryError:
                raise ImportFailure(3008) from None
            gc, mc = _geometry_pair(geom)
        rows.append([*row, gc, mc, None, None])
    stage = _create_stage(db, len(header))
    source = _Source(base, stage, [], len(rows), geom_expr="gc", merc_expr="mc")
    try:
        for start in range(0, len(rows), _CHUNK_ROWS):
            _insert_stage(db, stage, rows[start : start + _CHUNK_ROWS], len(header))
        for index, (name, decl) in enumerate(zip(names, decls, strict=True)):
            if name == "the_geom_webmercator":
                continue
            if name == "cartodb_id":
                source.id_expr = _cartodb_id_expr(db, stage, f"c{index}")
                continue
            final = name + "_1" if name in CARTO_NAMES else name
            source.columns.append((final, decl, f"c{index}"))
        return source
    except BaseException:
        _drop_stage(db, stage)
        raise


# --------------------------------------------------------------------------- files


def _extension(filename: str) -> str:
    return os.path.splitext(filename)[1].lower()


def _stage_path(db: Database, path: str, ext: str, base: str, options: LoadOptions) -> _Source:
    if os.path.getsize(path) == 0:
        raise ImportFailure(1005)
    if ext in (".geojson", ".json"):
        return _stage_geojson(db, path, base, options)
    return _stage_csv(db, path, ext, base, options)


def _zip_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    members = []
    for info in archive.infolist():
        name = info.filename
        leaf = os.path.basename(name.rstrip("/"))
        if info.is_dir() or name.startswith("__MACOSX/") or leaf.startswith("."):
            continue
        if _extension(leaf) in _EXTENSIONS and _extension(leaf) != ".zip":
            members.append(info)
    return members


def _stage_zip(db: Database, path: str, options: LoadOptions) -> list[_Source]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise ImportFailure(1003) from None
    sources: list[_Source] = []
    failures: list[ImportFailure] = []
    with archive, tempfile.TemporaryDirectory(prefix="carto-unzip-") as workdir:
        members = _zip_members(archive)
        if not members:
            raise ImportFailure(1002)
        try:
            for number, info in enumerate(members):
                if info.flag_bits & 0x1:
                    raise ImportFailure(1018)
                if info.file_size > options.max_file_size:
                    raise ImportFailure(6666)
                leaf = os.path.basename(info.filename)
                ext = _extension(leaf)
                target = os.path.join(workdir, f"member{number}{ext}")
                try:
                    with archive.open(info) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError):
                    raise ImportFailure(1003) from None
                try:
                    sources.append(_stage_path(db, target, ext, os.path.splitext(leaf)[0], options))
                except ImportFailure as exc:
                    failures.append(exc)  # like the runner: other files still import
                finally:
                    os.unlink(target)
        except BaseException:
            for source in sources:
                _drop_stage(db, source.stage)
            raise
    if not sources:
        raise failures[0]
    return sources


def load_file(db: Database, filename: str, path: str, options: LoadOptions) -> LoadResult:
    """Import the file at ``path`` (uploaded as ``filename``) into new CARTO tables.

    The extension of ``filename`` picks the reader; a zip archive imports every
    supported file inside it, one table each. The size limit is checked before anything
    is read or unpacked. Raises :class:`ImportFailure` with CARTO's error code.
    """
    ext = _extension(filename)
    if ext not in _EXTENSIONS:
        raise ImportFailure(1002)
    size = os.path.getsize(path)
    if size > options.max_file_size:
        raise ImportFailure(6666)
    if size == 0:
        raise ImportFailure(1005)
    if ext == ".zip":
        sources = _stage_zip(db, path, options)
    else:
        base = os.path.splitext(os.path.basename(filename))[0]
        sources = [_stage_path(db, path, ext, base, options)]
    return _commit(db, sources, options)


def _commit(db: Database, sources: list[_Source], options: LoadOptions) -> LoadResult:
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
            _drop_stage(db, source.stage)
    skipped = not created and options.collision_strategy == "skip"
    return LoadResult(created, total, skipped)


def _create_from_stage(db: Database, name: str, source: _Source) -> None:
    db.create_carto_table(name, [(column, decl) for column, decl, _ in source.columns])
    targets = ["the_geom", "the_geom_webmercator"] + [quote_ident(c) for c, _, _ in source.columns]
    values = [source.geom_expr, source.merc_expr] + [expr for _, _, expr in source.columns]
    if source.id_expr is not None:
        targets.insert(0, "cartodb_id")
        values.insert(0, source.id_expr)
    db.execute_native(
        f"INSERT INTO {quote_ident(name)} ({', '.join(targets)})"  # noqa: S608
        f" SELECT {', '.join(values)} FROM temp.{source.stage} ORDER BY rowid"
    )
    db.install_carto_triggers(name)


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
    scratch = f"_carto_query_{next(_stage_names)}"
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
        db.execute_native(f"DROP TRIGGER {quote_ident(scratch + '__carto_insert')}")
        db.execute_native(f"DROP TRIGGER {quote_ident(scratch + '__carto_update')}")
        db.rename_table(scratch, name)
        db.install_carto_triggers(name)
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
