"""What LocalCarto's import readers share: options, failures, CARTO's names, staging tables.

* :class:`LoadOptions` are the Import API's options and limits; :class:`ImportFailure` carries
  one of the CARTO importer's error codes, titled from ``carto_async/data``.
* Table names follow ``Carto::DB::Sanitize`` (:func:`normalize_table_name`, with
  :func:`unique_table_name` for collisions), column names the importer's ``StringSanitizer``
  (:func:`normalize_column_name`, :func:`column_names` for a whole header).
* A reader streams rows into a TEMP staging table of text cells (:func:`create_stage`,
  :func:`insert_stage`: :data:`CHUNK_ROWS` rows at a time, one Arrow batch each, so the
  database lock is taken per chunk and SQL queries keep being served) and describes the
  table to make as a :class:`Source`; ``_loader`` then
  copies every source into its CARTO table in one transaction.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.resources
import itertools
import json
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import attrs
import pyarrow as pa

from carto_async.testing._db import Database, QueryError

__all__ = [
    "CHUNK_ROWS",
    "ImportFailure",
    "LoadOptions",
    "Source",
    "cartodb_id_expr",
    "column_names",
    "create_stage",
    "drop_stage",
    "insert_stage",
    "latlon_expr",
    "normalize_column_name",
    "normalize_table_name",
    "stage_numbers",
    "unique_table_name",
]

CHUNK_ROWS = 5000

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


def column_names(header: Sequence[str], options: LoadOptions) -> list[str]:
    """Column names for a file's header: 2004 past ``max_columns``, 2005 on a duplicate."""
    if len(header) > options.max_columns:
        raise ImportFailure(2004)
    names = [normalize_column_name(h, i) for i, h in enumerate(header, start=1)]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ImportFailure(2005, f"Duplicated column: {sorted(duplicates)[0]}")
    return names


# --------------------------------------------------------------------------- staging


@attrs.define
class Source:
    """One table's rows, staged in a TEMP table and waiting to be committed."""

    base: str
    stage: str
    columns: list[tuple[str, str, str]]  # (column, declared type, expression over the stage)
    rows: int
    id_expr: str | None = None
    geom_expr: str = "NULL"


# Numbers the TEMP staging tables and the scratch tables of query imports.
stage_numbers = itertools.count(1)

#: Staged geometry cells: ``gc`` a geometry column's text (hex (E)WKB, (E)WKT or GeoJSON),
#: ``gl``/``gn`` latitude and longitude text; ``rn`` keeps the file's order.
STAGE_EXTRA = ("gc", "gl", "gn")


def create_stage(db: Database, width: int) -> str:
    """Create a TEMP staging table of text cells: ``c0``... then ``gc``, ``gl``, ``gn``, ``rn``."""
    name = f"_carto_stage_{next(stage_numbers)}"
    columns = ", ".join(
        [f"c{i} VARCHAR" for i in range(width)] + [f"{c} VARCHAR" for c in STAGE_EXTRA]
    )
    db.execute_native(f"CREATE TEMP TABLE {name} ({columns}, rn BIGINT)")
    return name


def drop_stage(db: Database, stage: str) -> None:
    """Drop a staging table, if it and the database are still there."""
    with contextlib.suppress(QueryError):  # the database may already be closed
        db.execute_native(f"DROP TABLE IF EXISTS {stage}")


def insert_stage(
    db: Database, stage: str, rows: Sequence[Sequence[Any]], width: int, first: int = 0
) -> None:
    """Append rows (``width`` text cells, then ``gc``, ``gl``, ``gn``) as one Arrow batch."""
    names = [f"c{i}" for i in range(width)] + list(STAGE_EXTRA)
    columns: dict[str, Any] = {
        name: pa.array([row[i] for row in rows], type=pa.string()) for i, name in enumerate(names)
    }
    columns["rn"] = pa.array(range(first, first + len(rows)), type=pa.int64())
    db.insert_arrow(stage, pa.table(columns))


_LON_RE = r"[-+]?(?:\d|[1-9]\d|1[0-7]\d)(?:\.\d+)?|[-+]?180"
_LAT_RE = r"[-+]?(?:\d|[1-8]\d)(?:\.\d+)?|[-+]?90"


def latlon_expr() -> str:
    """SQL making the_geom from staged latitude/longitude text (the georeferencer's patterns)."""
    lat = "replace(trim(gl), ',', '.')"
    lon = "replace(trim(gn), ',', '.')"
    return (
        f"CASE WHEN regexp_full_match({lat}, '{_LAT_RE}') AND regexp_full_match({lon}, '{_LON_RE}')"
        f" THEN ST_SetCRS(ST_Point(CAST({lon} AS DOUBLE), CAST({lat} AS DOUBLE)), 'EPSG:4326') END"
    )


def cartodb_id_expr(db: Database, stage: str, column: str) -> str:
    """Keep a source ``cartodb_id`` only if it is a usable key (else 2011, as cartodbfy)."""
    value = f"TRY_CAST(trim({column}) AS BIGINT)"
    total, distinct, bad, lowest = db.execute_native(
        f"SELECT count(*), count(DISTINCT {value}),"  # noqa: S608
        f" count(*) FILTER (WHERE {value} IS NULL OR {value}::VARCHAR <> trim({column})),"
        f" min({value}) FROM {stage}"
    ).rows[0]
    if total != distinct or bad or (lowest is not None and lowest < 0):
        raise ImportFailure(2011)
    return f"CAST(trim({column}) AS INTEGER)"
