"""The SQL API query endpoint (``GET|POST /api/<version>/sql``) over LocalCarto's database.

Mirrors CartoDB-SQL-API's query controller: parameter parsing (``params.js``), the
formatters (``lib/models/formats``), ``Content-Disposition`` and ``Cache-Control`` headers,
error bodies and statuses, JSONP. Authentication and rate limiting are the server's job.
Every format of the real server is served: json, geojson and csv here; svg, topojson and
arraybuffer from the rows (:mod:`._rowformats`); kml, shp, spatialite and gpkg written by GDAL
into a private temporary file (:mod:`._ogrformats`) that the response streams, then removes.

Server memory stays bounded whatever the result's size (:func:`stream_sql`): the query runs
under the engine's lock with its rows written to a :class:`~.engine.RowSpool` on disk, then
json, geojson and csv are formatted one chunk at a time as the client reads (:class:`SQLStream`),
with no lock held. The formats that need the whole result (svg, topojson, arraybuffer and the
GDAL ones) read it back into memory only under a size cap (:class:`ResultLimits`).
"""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import email.utils
import json
import math
import os
import re
import time
from collections.abc import (
    Callable,
    Collection,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any

import attrs

from carto_async.testing import _ogrformats, _rowformats
from carto_async.testing._csvload import parse_timestamp
from carto_async.testing._db import Database, QueryError, QueryResult
from carto_async.testing.engine import DEFAULT_SPOOL_BYTES, MEMORY_BYTES, RowSpool
from carto_async.testing.engine._sqltext import split_statements, tokenize
from carto_async.testing.engine._values import GEOMETRY_KINDS

__all__ = [
    "ResultLimits",
    "SQLResponse",
    "SQLStream",
    "field_descriptor",
    "run_sql",
    "stream_sql",
]

VALID_FORMATS = (
    "json",
    "geojson",
    "topojson",
    "svg",
    "arraybuffer",
    "csv",
    "kml",
    "shp",
    "spatialite",
    "gpkg",
)
_CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "geojson": "application/json; charset=utf-8",
    "csv": "text/csv; charset=utf-8; header=present",
    "svg": "image/svg+xml; charset=utf-8",
    "topojson": "application/json; charset=utf-8",
    "arraybuffer": "application/octet-stream",
    **{name: spec.content_type for name, spec in _ogrformats.OGR_FORMATS.items()},
}
# The file extension in Content-Disposition when it is not the format's name.
_EXTENSIONS = {name: spec.extension for name, spec in _ogrformats.OGR_FORMATS.items()}
_JSON_TYPE = "application/json; charset=utf-8"
_TIMEOUT_MESSAGE = (
    "You are over platform's limits: SQL query timeout error. Refactor your query before "
    "running again or contact CARTO support for more details."
)
_MAY_WRITE = re.compile(
    r"\b(alter|insert|update|delete|create|drop|reindex|truncate|refresh)\b", re.I
)
_ONE_YEAR = 31536000


@attrs.frozen
class SQLResponse:
    """What the server sends back: status, content type, body and extra headers.

    A GDAL-written format has an empty ``body`` and its bytes in ``file``, a private
    temporary file to stream and then remove (``file.cleanup()``), whoever sends it.
    """

    status: int
    content_type: str
    body: bytes
    headers: dict[str, str]
    file: _ogrformats.OgrFile | None = None


@attrs.frozen
class ResultLimits:
    """How much of one SQL API (or COPY TO) result LocalCarto may hold.

    The streamed formats (json, geojson, csv; COPY TO) keep a result of up to
    ``memory_bytes`` (default 4 MiB) in memory and send it at once. A larger one is sent chunk
    by chunk, one chunk of about a MiB in memory, the rest waiting on disk in a private
    directory made under ``spool_dir`` (the system's temporary folder when None), at most
    ``max_spool_bytes`` (default 2 GiB) per response: past it the request fails with a 400
    before any byte is sent. The formats built whole in memory (svg, topojson, arraybuffer,
    kml, shp, spatialite, gpkg) refuse a result of more than ``max_whole_rows`` rows (default
    500,000) or ``max_whole_bytes`` bytes spooled (default 64 MiB) with a 400 that names the
    streamed formats.
    """

    spool_dir: str | None = None
    max_spool_bytes: int = DEFAULT_SPOOL_BYTES
    max_whole_rows: int = 500_000
    max_whole_bytes: int = 64 * 1024 * 1024
    memory_bytes: int = MEMORY_BYTES

    def spool(self) -> RowSpool:
        """A new spool within these limits (the caller closes it)."""
        return RowSpool(
            self.spool_dir, max_bytes=self.max_spool_bytes, memory_bytes=self.memory_bytes
        )


class SQLStream:
    """A 200 answer whose body is formatted chunk by chunk from a spooled result.

    Whoever sends it calls :meth:`next_chunk` until it returns None (one call at a time, from
    any thread), then :meth:`close`, also when the client went away: that removes the spool.
    An error while formatting a later chunk (the status is already sent) ends the body with
    the error, as CARTO appends it: ``,"error":[...]`` closing a JSON document.
    """

    def __init__(
        self,
        content_type: str,
        headers: dict[str, str],
        chunks: Iterator[str],
        spool: RowSpool,
        *,
        error_tail: Callable[[str], str] = lambda message: "",
    ) -> None:
        self.status = 200
        self.content_type = content_type
        self.headers = headers
        self._chunks = chunks
        self._spool = spool
        self._error_tail = error_tail
        self._done = False
        self._ready: collections.deque[bytes] | None = None

    def __repr__(self) -> str:
        return f"<SQLStream {self.content_type!r} {self._spool!r}>"

    @property
    def closed(self) -> bool:
        """Whether the spool is gone."""
        return self._spool.closed

    @property
    def ready(self) -> bool:
        """Whether the body is already formatted (:meth:`prefetch`): reading it is instant."""
        return self._ready is not None

    def prefetch(self) -> None:
        """Format the whole body now if its rows are in memory (a small result, which is most
        answers), so that sending it needs no worker thread per chunk; a result spilled to
        disk is left to be formatted chunk by chunk as it is sent. A failure closes the
        stream (its spool removed) before it propagates."""
        if self._ready is not None or self._spool.spilled:
            return
        parts: collections.deque[bytes] = collections.deque()
        try:
            while (chunk := self._format_next()) is not None:
                parts.append(chunk)
        except BaseException:
            self.close()  # nothing will send it: the spool goes now
            raise
        self._ready = parts

    def next_chunk(self) -> bytes | None:
        """The next piece of the body, None at its end."""
        if self._ready is not None:
            return self._ready.popleft() if self._ready else None
        return self._format_next()

    def _format_next(self) -> bytes | None:
        if self._done:
            return None
        try:
            return next(self._chunks).encode("utf-8")
        except StopIteration:
            self._done = True
            return None
        except QueryError as exc:
            self._done = True
            return self._error_tail(exc.message).encode("utf-8")

    def read_all(self) -> bytes:
        """The whole body (for callers that want it in memory), then :meth:`close`."""
        try:
            parts = []
            while (chunk := self.next_chunk()) is not None:
                parts.append(chunk)
            return b"".join(parts)
        finally:
            self.close()

    def close(self) -> None:
        """Stop and remove the spool (idempotent)."""
        self._done = True
        self._ready = None
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
        self._spool.close()


class _ParamError(Exception):
    """A request parameter the real server rejects before running anything."""


@attrs.frozen
class _Request:
    sql: str
    format: str
    skipfields: list[str]
    dp: int
    filename: str
    limit: int | None
    offset: int | None
    order_by: str | None
    sort_order: str | None


# --------------------------------------------------------------------------- parameters


def _last(value: str | list[str] | None) -> str | None:
    if isinstance(value, list):
        return value[-1] if value else None
    return value


def _parse_int(value: str | list[str] | None) -> int | None:
    """JavaScript's ``parseInt(value, 10)``, None for NaN."""
    match = re.match(r"\s*([-+]?\d+)", _last(value) or "")
    return int(match.group(1)) if match else None


def _sanitize_filename(name: str) -> str:
    base = os.path.basename(name)
    root, ext = os.path.splitext(base)
    base = root if ext and root else base
    return re.sub(r"[;()\[\]<>'\"\s]", "_", base)


def _parse(params: Mapping[str, str | list[str]]) -> _Request:
    sql = params.get("q")
    if not isinstance(sql, str):
        raise _ParamError("You must indicate a sql query")
    raw_format = params.get("format")
    if isinstance(raw_format, list):
        fmt = raw_format[-1] if raw_format else "undefined"
    elif not raw_format:
        fmt = "json"
    else:
        fmt = raw_format.lower()
    if fmt not in VALID_FORMATS:
        raise _ParamError(f"Invalid format: {fmt}")
    raw_skip = params.get("skipfields") or []
    skip_parts = [raw_skip] if isinstance(raw_skip, str) else raw_skip
    skipfields = [field for part in skip_parts for field in part.split(",")]
    raw_dp = _last(params.get("dp")) or "6"
    if not re.fullmatch(r"\s*\d+\s*", raw_dp):
        raise _ParamError(f'invalid input syntax for integer: "{raw_dp}"')
    raw_name = _last(params.get("filename"))
    filename = _sanitize_filename(raw_name) if raw_name else "cartodb-query"
    limit = _parse_int(params.get("rows_per_page"))
    page = _parse_int(params.get("page"))
    offset = None if page is None else page * (limit or 0)
    return _Request(
        sql=sql,
        format=fmt,
        skipfields=skipfields,
        dp=int(raw_dp),
        filename=filename,
        limit=limit,
        offset=offset,
        order_by=_last(params.get("order_by")) or None,
        sort_order=_last(params.get("sort_order")),
    )


def _is_select(sql: str) -> bool:
    """True when the (single) statement returns rows the way ``PSQLWrapper`` wraps them."""
    depth = 0
    words = []
    for kind, text in tokenize(sql):
        if kind == "op" and text == "(":
            depth += 1
        elif kind == "op" and text == ")":
            depth -= 1
        elif kind == "ident" and depth == 0:
            words.append(text.lower())
    if not words or words[0] not in ("select", "with"):
        return False
    if words[0] == "with":
        return (
            next((w for w in words if w in ("select", "insert", "update", "delete")), "")
            == "select"
        )
    return not re.search(r"\sINTO\s+([^\s]+|\"([^\"]|\"\")*\")\s*$", sql, re.I)


def _window(request: _Request) -> str:
    """The query as ``PSQLWrapper`` rewrites it for ``order_by`` and paging."""
    sql = re.sub(r";\s*$", "", request.sql)
    order = ""
    if request.order_by:
        order = f' ORDER BY "{request.order_by}"'
        if request.sort_order and request.sort_order.upper() in ("ASC", "DESC"):
            order += " " + request.sort_order.upper()
    window = ""
    if request.limit is not None and request.offset is not None:
        window = f" LIMIT {request.limit} OFFSET {request.offset}"
    if not order and not window:
        return sql
    sql = re.sub(r"(^|\n)\s*--.*\n", "", sql)
    if not _is_select(sql):
        return sql
    return f"SELECT * FROM ({sql}) AS cdbq_1{order}{window}"  # noqa: S608


# --------------------------------------------------------------------------- types and values

# Declared type (upper case, without arguments) -> PostgreSQL type name.
PG_TYPES = {
    **dict.fromkeys(("INTEGER", "INT", "INT4", "SERIAL"), "int4"),
    **dict.fromkeys(("SMALLINT", "INT2"), "int2"),
    **dict.fromkeys(("BIGINT", "INT8"), "int8"),
    **dict.fromkeys(("REAL", "FLOAT4"), "float4"),
    **dict.fromkeys(("DOUBLE", "DOUBLE PRECISION", "FLOAT", "FLOAT8"), "float8"),
    **dict.fromkeys(("NUMERIC", "DECIMAL"), "numeric"),
    "TEXT": "text",
    **dict.fromkeys(("VARCHAR", "CHARACTER VARYING"), "varchar"),
    **dict.fromkeys(("CHAR", "CHARACTER", "BPCHAR"), "bpchar"),
    **dict.fromkeys(("BOOLEAN", "BOOL"), "bool"),
    "TIMESTAMP": "timestamp",
    "BYTEA": "bytea",
    "DATE": "date",
    "TIMESTAMPTZ": "timestamptz",
    "TIME": "time",
    "JSON": "json",
    "JSONB": "jsonb",
    "BOX2D": "box2d",
    "INTERVAL": "interval",
    "UUID": "uuid",
    "GEOMETRY_TEXT": "geometry",
    "GEOGRAPHY_TEXT": "geography",
}


def pg_type(decl: str | None) -> str:
    """PostgreSQL type name for a declared type (``DOUBLE PRECISION`` -> ``float8``)."""
    if not decl:
        return "text"
    if decl.endswith("[]"):
        return "_" + pg_type(decl[:-2])
    base = " ".join(decl.upper().split("(")[0].split())
    if base in PG_TYPES:
        return PG_TYPES[base]
    first = base.split(" ")[0]
    return PG_TYPES.get(first, first.lower())


_GEOMETRY_DECL = re.compile(r"(GEOMETRY|GEOGRAPHY)_TEXT(?:_(Z|M|ZM))?(?:\((\d+),(-?\d+)\))?", re.I)


def field_descriptor(decl: str | None) -> dict[str, Any]:
    """The SQL API's ``fields`` entry for a column of declared type ``decl``.

    Geometry columns carry ``wkbtype``/``dims``/``srid`` decoded from the PostGIS type
    modifier (``the_geom`` of a CARTO table is ``geometry(Geometry,4326)``, whose type
    code is "Unknown"); an expression without a modifier has no ``wkbtype``, 4 dims and
    SRID -1, exactly as ``cartodb-psql``'s ``typeModInfo(-1)`` decodes it.
    """
    match = _GEOMETRY_DECL.fullmatch(decl or "")
    if match:
        kind = match.group(1).lower()
        if match.group(3) is None:
            return {"type": kind, "dims": 4, "srid": -1}
        code = int(match.group(3))
        wkbtype = "Unknown" if code == 0 else GEOMETRY_KINDS[code - 1]
        dims = 2 + len(match.group(2) or "")
        return {"type": kind, "wkbtype": wkbtype, "dims": dims, "srid": int(match.group(4))}
    pgtype = pg_type(decl)
    if pgtype == "raster":
        return {"type": "raster", "dims": 4, "srid": -1}
    if "bool" in pgtype:
        kind = "boolean"
    elif re.search(r"int|float|numeric", pgtype):
        kind = "number"
    elif re.search(r"text|char|unknown", pgtype):
        kind = "string"
    elif re.search(r"date|time", pgtype):
        kind = "date"
    else:
        kind = pgtype
    return {"type": kind, "pgtype": pgtype}


def _js_number(value: float) -> str:
    """A finite float as JavaScript's ``JSON.stringify`` prints it."""
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    power = int(exponent)
    if -7 < power < 21:
        return format(decimal.Decimal(text), "f")
    mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
    return f"{mantissa}e{'+' if power > 0 else '-'}{abs(power)}"


def _json_number(value: int | float) -> str:
    if isinstance(value, int) and abs(value) <= 2**53:
        return str(value)
    number = float(value)
    if math.isnan(number):
        return '"NaN"'
    if math.isinf(number):
        return '"Infinity"' if number > 0 else '"-Infinity"'
    return _js_number(number)


# JSON.stringify's escaping of strings (non-ASCII kept as is); the C version when available.
_json_text = json.encoder.encode_basestring


def _as_stamp(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    return parse_timestamp(value) if isinstance(value, str) else None


def _json_date(value: Any) -> str:
    stamp = _as_stamp(value)
    if stamp is None:
        return _json_text(value if isinstance(value, str) else str(value))
    # Date.prototype.toJSON as the SQL API overrides it (server in UTC): no milliseconds.
    return '"' + stamp.strftime("%Y-%m-%dT%H:%M:%S") + 'Z"'


def _json_value(value: Any, pgtype: str) -> str:
    if value is None:
        return "null"
    if pgtype == "bool":
        if isinstance(value, str):
            return "true" if value.strip().lower() in ("t", "true", "1", "yes", "on") else "false"
        return "true" if value else "false"
    if pgtype in ("date", "timestamp", "timestamptz"):
        return _json_date(value)
    if isinstance(value, bytes):
        if pgtype in ("geometry", "geography"):
            return _json_text(value.hex().upper())
        return '{"type":"Buffer","data":[' + ",".join(map(str, value)) + "]}"
    if pgtype in ("json", "jsonb") and isinstance(value, str):
        try:
            return json.dumps(json.loads(value), ensure_ascii=False, separators=(",", ":"))
        except ValueError:
            return _json_text(value)
    if isinstance(value, decimal.Decimal):
        value = int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, int | float):
        if pgtype in ("text", "varchar", "bpchar", "geometry", "geography"):
            return _json_text(str(value))
        return _json_number(value)
    if isinstance(value, dt.timedelta):
        return _json_text(str(value))
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return _json_text(value)


def _csv_value(value: Any, pgtype: str) -> str:
    """PostgreSQL's text output of a value (the CSV export casts every column to text)."""
    if value is None:
        return ""
    if pgtype == "bool":
        return "true" if _json_value(value, "bool") == "true" else "false"
    if pgtype in ("timestamp", "timestamptz", "date"):
        stamp = _as_stamp(value)
        if stamp is not None:
            return _pg_timestamp_text(stamp, pgtype)
    if isinstance(value, bytes):
        return value.hex().upper() if pgtype in ("geometry", "geography") else "\\x" + value.hex()
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)


def _pg_timestamp_text(stamp: dt.datetime, pgtype: str) -> str:
    if pgtype == "date":
        return stamp.strftime("%Y-%m-%d")
    text = stamp.strftime("%Y-%m-%d %H:%M:%S")
    if stamp.microsecond:
        text += f".{stamp.microsecond:06d}".rstrip("0")
    return text + ("+00" if pgtype == "timestamptz" else "")


_NEEDS_QUOTES = re.compile(r'[,"\r\n]|^ | $')


def _csv_field(text: str) -> str:
    # ogr2ogr's STRING_QUOTING=IF_NEEDED
    if _NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


# --------------------------------------------------------------------------- formats


@attrs.frozen
class _Columns:
    indexes: list[int]
    names: list[str]
    pgtypes: list[str]
    fields: dict[str, dict[str, Any]]


def _columns(result: QueryResult, skip: Sequence[str]) -> _Columns:
    indexes, names, pgtypes = [], [], []
    fields: dict[str, dict[str, Any]] = {}
    for index, (name, decl) in enumerate(zip(result.columns, result.decl_types, strict=True)):
        if name in skip:
            continue
        descriptor = field_descriptor(decl)
        indexes.append(index)
        names.append(name)
        pgtypes.append(descriptor.get("pgtype", descriptor["type"]))
        fields[name] = descriptor
    return _Columns(indexes, names, pgtypes, fields)


_PLAIN_TEXT = frozenset(("text", "varchar", "bpchar", "geometry", "geography"))
_PLAIN_NUMBERS = frozenset(("int2", "int4", "int8"))


def _row_objects(
    rows: Sequence[Sequence[Any]], cols: _Columns, leave_out: frozenset[str] = frozenset()
) -> list[str]:
    """Each row as a JSON object, as ``JSON.stringify`` writes a node-postgres row."""
    # A JavaScript object keeps a repeated name at its first position with its last value,
    # exactly what assigning to a Python dict does.
    positions: dict[str, int] = {}
    for position, name in enumerate(cols.names):
        if name not in leave_out:
            positions[name] = position
    members = [
        (cols.indexes[position], _json_text(name) + ":", cols.pgtypes[position])
        for name, position in positions.items()
    ]
    objects = []
    for row in rows:
        parts = []
        for index, key, pgtype in members:
            value = row[index]
            if value is None:
                parts.append(key + "null")
            elif pgtype in _PLAIN_TEXT and type(value) is str:
                parts.append(key + _json_text(value))
            elif pgtype in _PLAIN_NUMBERS and type(value) is int and abs(value) <= 2**53:
                parts.append(key + str(value))
            else:
                parts.append(key + _json_value(value, pgtype))
        objects.append("{" + ",".join(parts) + "}")
    return objects


# The streamed formats: each yields its opening with the first chunk of rows (an error there
# still gets its real status), then one piece per chunk, then its closing.


def _json_chunks(
    result: QueryResult,
    batches: Iterable[Sequence[Sequence[Any]]],
    request: _Request,
    elapsed: float,
) -> Generator[str, None, None]:
    cols = _columns(result, request.skipfields)
    opening, separator = '{"rows":[', ""
    for rows in batches:
        yield opening + separator + ",".join(_row_objects(rows, cols))
        opening, separator = "", ","
    fields = json.dumps(cols.fields, separators=(",", ":"), ensure_ascii=False)
    yield (
        f'{opening}],"time":{_js_number(round(elapsed, 3))},'
        f'"fields":{fields},"total_rows":{result.rowcount}}}'
    )


def _geojson_chunks(
    db: Database, result: QueryResult, batches: Iterable[Sequence[Sequence[Any]]], request: _Request
) -> Generator[str, None, None]:
    if "the_geom" not in result.columns:
        raise QueryError('column "the_geom" does not exist')
    geom_index = len(result.columns) - 1 - result.columns[::-1].index("the_geom")
    cols = _columns(result, request.skipfields)
    leave_out = frozenset(("the_geom", "the_geom_webmercator"))
    opening, separator = '{"type": "FeatureCollection", "features": [', ""
    for rows in batches:
        properties = _row_objects(rows, cols, leave_out)
        geometries = db.geojson([row[geom_index] for row in rows], request.dp)
        features = ",".join(
            f'{{"type":"Feature","geometry":{geometry or "null"},"properties":{props}}}'
            for geometry, props in zip(geometries, properties, strict=True)
        )
        yield opening + separator + features
        opening, separator = "", ","
    yield opening + "]}"


def _geometry_values(result: QueryResult) -> list[Any]:
    if "the_geom" not in result.columns:
        raise QueryError('column "the_geom" does not exist')
    index = len(result.columns) - 1 - result.columns[::-1].index("the_geom")
    return [row[index] for row in result.rows]


def _geojson_objects(db: Database, result: QueryResult, dp: int) -> list[Any]:
    return [None if g is None else json.loads(g) for g in db.geojson(_geometry_values(result), dp)]


def _format_svg(db: Database, result: QueryResult, request: _Request) -> str:
    return _rowformats.svg_document(_geojson_objects(db, result, 12), request.dp)


def _format_topojson(db: Database, result: QueryResult, request: _Request) -> str:
    geometries = _geojson_objects(db, result, 12)
    cols = _columns(result, request.skipfields)
    leave_out = frozenset(("the_geom", "the_geom_webmercator"))
    properties = [json.loads(p) for p in _row_objects(result.rows, cols, leave_out)]
    return _rowformats.topojson_document(geometries, properties)


def _csv_chunks(
    result: QueryResult, batches: Iterable[Sequence[Sequence[Any]]], request: _Request
) -> Generator[str, None, None]:
    cols = _columns(result, request.skipfields)
    order = sorted(range(len(cols.names)), key=lambda i: cols.names[i] != "the_geom")
    header = ",".join(_csv_field(cols.names[i]) for i in order) + "\r\n" if cols.names else ""
    columns = [(cols.indexes[i], cols.pgtypes[i]) for i in order]
    for rows in batches:
        lines = []
        for row in rows:
            cells = []
            for index, pgtype in columns:
                value = row[index]
                if type(value) is str and pgtype in _PLAIN_TEXT:
                    cells.append(_csv_field(value))
                elif type(value) is int and pgtype in _PLAIN_NUMBERS:
                    cells.append(str(value))
                else:
                    cells.append(_csv_field(_csv_value(value, pgtype)))
            lines.append(",".join(cells) + "\r\n")
        yield header + "".join(lines)
        header = ""
    yield header


def _format_arraybuffer(result: QueryResult, request: _Request) -> bytes:
    cols = _columns(result, request.skipfields)
    positions: dict[str, int] = {}  # a repeated name: first place, last value (a JS object)
    for position, name in enumerate(cols.names):
        positions[name] = position
    indexes = [cols.indexes[p] for p in positions.values()]
    rows = [[row[i] for i in indexes] for row in result.rows]
    pgtypes = [cols.pgtypes[p] for p in positions.values()]
    return _rowformats.arraybuffer_document(list(positions), pgtypes, rows, result.rowcount)


def _file_sql(request: _Request) -> str:
    """The query for a GDAL format: ``ogr.js`` selects from it as a subquery, so anything
    but one SELECT (a write, several statements) fails as it does there."""
    sql = re.sub(r";\s*$", "", _window(request))
    if len(split_statements(sql)) > 1:
        raise QueryError('syntax error at or near ";"')
    if _is_select(sql):
        return sql
    wrapped = f"SELECT * FROM ({sql}) AS cartodbsqlapi"  # noqa: S608
    if len(split_statements(wrapped)) > 1:
        raise QueryError('syntax error at or near ";"')
    return wrapped


def _format_file(
    result: QueryResult, request: _Request, timeout: float | None
) -> _ogrformats.OgrFile:
    cols = _columns(result, request.skipfields)
    columns = [
        _ogrformats.OgrColumn(name, index, pgtype)
        for name, index, pgtype in zip(cols.names, cols.indexes, cols.pgtypes, strict=True)
    ]
    return _ogrformats.write_ogr(
        request.format, columns, result.rows, request.filename, _csv_value, timeout=timeout
    )


# --------------------------------------------------------------------------- responses


def _error_response(
    message: str, status: int, callback: str | None, headers: dict[str, str]
) -> SQLResponse:
    body: dict[str, Any] = {"error": [message]}
    if status == 429:
        body.update(context="limit", detail="datasource")
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    headers = {**headers, "Content-Disposition": "inline"}
    if callback is not None:
        # Express's res.jsonp, which forces HTTP 200.
        name = re.sub(r"[^\[\]\w$.]", "", callback)
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
        text = f"/**/ typeof {name} === 'function' && {name}({text});"
        status = 200
    return SQLResponse(status, _JSON_TYPE, text.encode("utf-8"), headers)


def _status_for(message: str) -> tuple[str, int]:
    if "statement timeout" in message:
        return _TIMEOUT_MESSAGE, 429
    if "permission denied" in message:
        return message, 403
    return message, 400


def run_sql(
    db: Database,
    params: Mapping[str, str | list[str]],
    *,
    read_only: bool = False,
    timeout: float | None = None,
    authorize: Callable[[list[tuple[str, str]]], str | None] | None = None,
    visible: Collection[str] | None = None,
    limits: ResultLimits | None = None,
) -> SQLResponse:
    """Answer one SQL API request, as ``/api/v2/sql`` does, with the whole body in memory.

    ``params`` are the request's query-string and body parameters merged (body wins);
    ``api_key``/``map_key`` are ignored. ``read_only`` makes writes fail with
    ``permission denied`` (403), as for a request without a key that may write;
    ``timeout`` (seconds) turns a slow query into the 429 statement-timeout error;
    ``authorize`` and ``visible`` are a key's grants (see ``Database.run_statements``).
    Every outcome, error or not, is an :class:`SQLResponse`; nothing is raised for
    bad SQL or bad parameters. The server sends :func:`stream_sql`'s answer instead.
    """
    answer = stream_sql(
        db,
        params,
        read_only=read_only,
        timeout=timeout,
        authorize=authorize,
        visible=visible,
        limits=limits,
    )
    if isinstance(answer, SQLResponse):
        return answer
    body = answer.read_all()
    return SQLResponse(answer.status, answer.content_type, body, answer.headers)


def stream_sql(
    db: Database,
    params: Mapping[str, str | list[str]],
    *,
    read_only: bool = False,
    timeout: float | None = None,
    authorize: Callable[[list[tuple[str, str]]], str | None] | None = None,
    visible: Collection[str] | None = None,
    limits: ResultLimits | None = None,
) -> SQLResponse | SQLStream:
    """:func:`run_sql` with bounded memory: json, geojson and csv come back as an
    :class:`SQLStream` to send chunk by chunk (and close), the other formats and every error
    as an :class:`SQLResponse`. The query has run (and failed, if it does) when this returns,
    and a small result's body is already formatted (:meth:`SQLStream.prefetch`); the engine's
    lock is not held while the stream is read. ``limits``: :class:`ResultLimits`.
    """
    limits = limits if limits is not None else ResultLimits()
    callback = _last(params.get("callback")) or None
    try:
        request = _parse(params)
    except _ParamError as exc:
        return _error_response(str(exc), 400, callback, {})
    inline = not params.get("format") and not params.get("filename")
    stamp = email.utils.formatdate(usegmt=True)
    extension = _EXTENSIONS.get(request.format, request.format)
    headers = {
        "Content-Disposition": f"{'inline' if inline else 'attachment'}; "
        f'filename={request.filename}.{extension}; modification-date="{stamp}";',
        "Cache-Control": _cache_control(params, request.sql),
    }
    content_type = _CONTENT_TYPES[request.format]
    file_format = request.format in _ogrformats.OGR_FORMATS
    spool = limits.spool()
    owned: RowSpool | None = spool  # closed here unless a stream takes it
    try:
        started = time.perf_counter()
        result = db.run_statements(
            _file_sql(request) if file_format else _window(request),
            read_only=read_only,
            timeout=timeout,
            authorize=authorize,
            visible=visible,
            spool=spool,
        )
        elapsed = time.perf_counter() - started
        if request.format in _STREAMED:
            stream = _open_stream(db, result, spool, request, elapsed=elapsed, callback=callback)
            answer = SQLStream(
                content_type, headers, stream, spool, error_tail=_error_tail(request, callback)
            )
            owned = None
            answer.prefetch()  # a small result: formatted now, sent without a worker thread
            return answer
        whole = _whole_result(result, spool, request, limits)
        if file_format:
            left = None if timeout is None else timeout - elapsed
            written = _format_file(whole, request, left)
            return SQLResponse(200, content_type, b"", headers, file=written)
        if request.format == "arraybuffer":
            return SQLResponse(200, content_type, _format_arraybuffer(whole, request), headers)
        if request.format == "svg":
            body = _format_svg(db, whole, request)
        else:
            body = _format_topojson(db, whole, request)
    except QueryError as exc:
        message, status = _status_for(exc.message)
        return _error_response(message, status, callback, headers)
    except _rowformats.ArrayBufferError as exc:
        return _error_response(str(exc), 400, callback, headers)
    finally:
        if owned is not None:
            owned.close()
    if callback is not None and request.format != "svg":
        body = f"{callback}({body})"
    return SQLResponse(200, content_type, body.encode("utf-8"), headers)


_STREAMED = frozenset(("json", "geojson", "csv"))


def _open_stream(
    db: Database,
    result: QueryResult,
    spool: RowSpool,
    request: _Request,
    *,
    elapsed: float,
    callback: str | None,
) -> Iterator[str]:
    """The body's pieces, the first one already formatted (its errors are the request's)."""
    if request.format == "csv":
        pieces = _csv_chunks(result, spool.chunks(), request)
    elif request.format == "geojson":
        pieces = _geojson_chunks(db, result, spool.chunks(), request)
    else:
        pieces = _json_chunks(result, spool.chunks(), request, elapsed)
    try:
        first = next(pieces)
    except BaseException:
        pieces.close()
        raise
    if callback is not None and request.format != "csv":
        return _joined(f"{callback}({first}", pieces, ")")
    return _joined(first, pieces, "")


def _joined(first: str, rest: Iterator[str], last: str) -> Generator[str, None, None]:
    # A generator: closing it closes ``rest`` (and its read of the spool) too.
    yield first
    yield from rest
    if last:
        yield last


def _error_tail(request: _Request, callback: str | None) -> Callable[[str], str]:
    """How a body that fails mid-way ends: CARTO's ``"error"`` member closing the document."""

    def tail(message: str) -> str:
        if request.format == "csv":
            return ""
        error = json.dumps([message], ensure_ascii=False, separators=(",", ":"))
        return f'],"error":{error}}}' + (")" if callback is not None else "")

    return tail


def _whole_result(
    result: QueryResult, spool: RowSpool, request: _Request, limits: ResultLimits
) -> QueryResult:
    """The spooled rows in memory, for a format that needs them all, within the caps."""
    if spool.rows > limits.max_whole_rows or spool.size > limits.max_whole_bytes:
        raise QueryError(
            f"The result is too large for format={request.format}: {spool.rows} rows"
            f" ({spool.size} bytes); this server builds that format in memory up to"
            f" {limits.max_whole_rows} rows and {limits.max_whole_bytes} bytes. Use"
            " format=csv, json or geojson, which stream, or ask for fewer rows."
        )
    rows = [row for chunk in spool.chunks() for row in chunk]
    return attrs.evolve(result, rows=rows)


def _cache_control(params: Mapping[str, str | list[str]], sql: str) -> str:
    if _last(params.get("cache_policy")) == "persist":
        return f"public,max-age={_ONE_YEAR}"
    max_age = 0 if _MAY_WRITE.search(sql) else _ONE_YEAR
    return f"no-cache,max-age={max_age},must-revalidate,public"
