"""COPY against LocalCarto's database: rows of text into a table, a query's rows out as text.

Values are converted as PostgreSQL's input and output functions do for the column types
LocalCarto stores: booleans ``t``/``f``, numbers, timestamps, geometries from hex EWKB or
(E)WKT (SRID 0 read as 4326) and out as hex EWKB in CSV and ``SRID=4326;POINT(...)`` in
text. The whole load is one transaction: a bad row leaves the table as it was.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from carto_async.testing import _geometry
from carto_async.testing._copysql import CopyError, CopyStatement, encode_rows
from carto_async.testing._db import Database, QueryError, quote_ident
from carto_async.testing._sqlapi import _csv_value, field_descriptor

__all__ = ["copy_in", "copy_out"]

#: Rows inserted per ``executemany``.
BATCH_ROWS = 5_000
#: Rows encoded per chunk of COPY TO output.
OUT_ROWS = 5_000

_TRUE = frozenset({"t", "true", "y", "yes", "on", "1"})
_FALSE = frozenset({"f", "false", "n", "no", "off", "0"})


def _converter(name: str, decl: str) -> Callable[[str], Any]:
    field = field_descriptor(decl)
    kind = field.get("type")
    pgtype = field.get("pgtype", "")
    if kind in ("geometry", "geography"):
        srid = int(field.get("srid") or 4326)

        def geometry(text: str) -> Any:
            try:
                geom = _geometry.parse_geometry(text.strip())
            except _geometry.GeometryError:
                geom = None
            if geom is None:
                raise CopyError(f"parse error - invalid geometry (column {name}: {text[:40]!r})")
            if geom.srid in (0, srid):
                geom = geom.with_srid(srid)
            else:
                geom = _geometry.transform(geom, srid)
            return _geometry.to_hex(geom)

        return geometry
    if pgtype == "bool":

        def boolean(text: str) -> Any:
            low = text.strip().lower()
            if low in _TRUE:
                return 1
            if low in _FALSE:
                return 0
            raise CopyError(f'invalid input syntax for type boolean: "{text}"')

        return boolean
    if pgtype.startswith("int"):

        def integer(text: str) -> Any:
            try:
                return int(text)
            except ValueError:
                raise CopyError(
                    f'invalid input syntax for type {_int_name(pgtype)}: "{text}"'
                ) from None

        return integer
    if pgtype.startswith(("float", "numeric")):

        def number(text: str) -> Any:
            try:
                return float(text)
            except ValueError:
                raise CopyError(
                    f'invalid input syntax for type double precision: "{text}"'
                ) from None

        return number
    return str


def _int_name(pgtype: str) -> str:
    return {"int2": "smallint", "int4": "integer", "int8": "bigint"}.get(pgtype, "integer")


def copy_in(db: Database, statement: CopyStatement, rows: Iterable[list[str | None]]) -> int:
    """Load ``rows`` into the statement's table in one transaction; the number loaded."""
    table = statement.table
    assert table is not None
    columns = db.table_columns(table)
    if not columns:
        raise QueryError(f'relation "{table}" does not exist')
    decls = dict(columns)
    targets = list(statement.columns) if statement.columns else [c for c, _ in columns]
    for name in targets:
        if name not in decls:
            raise QueryError(f'column "{name}" of relation "{table}" does not exist')
    converters = [_converter(n, decls[n]) for n in targets]
    width = len(targets)
    sql = (
        f"INSERT INTO {quote_ident(table)} ({', '.join(map(quote_ident, targets))}) "  # noqa: S608
        f"VALUES ({', '.join('?' * width)})"
    )
    total = 0
    line = 0

    def converted(batch: Sequence[list[str | None]]) -> list[list[Any]]:
        nonlocal line
        out = []
        for row in batch:
            line += 1
            if len(row) < width:
                raise CopyError(f'missing data for column "{targets[len(row)]}" (line {line})')
            if len(row) > width:
                raise CopyError(f"extra data after last expected column (line {line})")
            out.append([None if v is None else f(v) for f, v in zip(converters, row, strict=True)])
        return out

    iterator = iter(rows)
    with db.transaction():
        while batch := list(itertools.islice(iterator, BATCH_ROWS)):
            db.executemany(sql, converted(batch))
            total += len(batch)
    return total


def _text_value(value: Any, pgtype: str, kind: str, fmt: str) -> str | None:
    if value is None:
        return None
    if kind in ("geometry", "geography"):
        hex_text = value.hex().upper() if isinstance(value, bytes) else str(value)
        if fmt == "csv":
            return hex_text
        return _geometry.to_ewkt(_geometry.from_hex(hex_text))
    if pgtype == "bool":
        return "t" if value in (1, True, "t", "true") else "f"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return repr(value)[:-2]
    return _csv_value(value, pgtype)


def copy_out(
    db: Database,
    statement: CopyStatement,
    *,
    read_only: bool,
    timeout: float | None,
) -> Iterator[str]:
    """The COPY TO output of the statement, in chunks of text (the query runs first, so an
    error is raised before anything is written)."""
    if statement.query is not None:
        sql = statement.query
    else:
        assert statement.table is not None
        names = ", ".join(map(quote_ident, statement.columns)) if statement.columns else "*"
        sql = f"SELECT {names} FROM {quote_ident(statement.table)}"  # noqa: S608
    result = db.run_statements(sql, read_only=read_only, timeout=timeout)
    fields = [field_descriptor(d) for d in result.decl_types]
    kinds = [(str(f.get("pgtype", "")), str(f.get("type", ""))) for f in fields]
    fmt = statement.format
    header: Sequence[str] | None = result.columns
    rows = iter(result.rows)
    while True:
        batch = list(itertools.islice(rows, OUT_ROWS))
        if not batch and header is None:
            return
        text = [
            [_text_value(v, p, k, fmt) for v, (p, k) in zip(row, kinds, strict=True)]
            for row in batch
        ]
        yield encode_rows(text, statement, header)
        header = None
        if not batch:
            return
