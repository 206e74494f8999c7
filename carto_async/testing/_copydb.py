"""COPY against LocalCarto's engine: rows of text into a table, a query's rows out as text.

COPY FROM stages the rows as Arrow string columns and inserts them with one ``INSERT ...
SELECT`` per batch that casts each column to its type (geometries read from hex EWKB or (E)WKT,
SRID 0 read as 4326), all in one transaction: a bad row leaves the table as it was. COPY TO
writes PostgreSQL's text output: booleans ``t``/``f``, geometries as hex EWKB in CSV and
``SRID=4326;POINT(...)`` in text. COPY TO's rows wait in a spool on disk
(:func:`spool_copy_out`) and are encoded a chunk at a time as the client reads.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from carto_async.testing._copysql import CopyError, CopyStatement, encode_rows
from carto_async.testing._db import Database, QueryError, QueryResult, quote_ident
from carto_async.testing._sqlapi import _csv_value, field_descriptor
from carto_async.testing.engine import RowSpool, geometry_from_any

__all__ = ["copy_in", "copy_out", "spool_copy_out"]

#: Rows inserted per statement.
BATCH_ROWS = 50_000
#: Rows encoded per chunk of COPY TO output.
OUT_ROWS = 5_000


def _cast(index: int, decl: str) -> str:
    column = f'"c{index}"'
    kind = field_descriptor(decl).get("type")
    if kind in ("geometry", "geography"):
        return geometry_from_any(column, "VARCHAR")
    return f"CAST({column} AS {decl})"


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
    width = len(targets)
    into = f"{quote_ident(table)} ({', '.join(map(quote_ident, targets))})"
    select = ", ".join(_cast(i, decls[n]) for i, n in enumerate(targets))
    total = 0
    iterator = iter(rows)
    with db.transaction():
        while batch := list(itertools.islice(iterator, BATCH_ROWS)):
            for offset, row in enumerate(batch):
                if len(row) != width:
                    line = total + offset + 1
                    if len(row) < width:
                        raise CopyError(
                            f'missing data for column "{targets[len(row)]}" (line {line})'
                        )
                    raise CopyError(f"extra data after last expected column (line {line})")
            data = pa.table(
                {f"c{i}": pa.array([r[i] for r in batch], type=pa.string()) for i in range(width)}
            )
            db.insert_arrow(into, data, select)
            total += len(batch)
    return total


def _text_value(value: Any, pgtype: str, kind: str, fmt: str) -> str | None:
    if value is None:
        return None
    if kind in ("geometry", "geography"):
        return value.hex().upper() if isinstance(value, bytes) else str(value)
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
    authorize: Callable[[list[tuple[str, str]]], str | None] | None = None,
) -> Iterator[str]:
    """The COPY TO output of the statement, in chunks of text (the query runs first, so an
    error is raised before anything is written). ``authorize`` checks a non-master key's
    table accesses, as the SQL API does. The rows are held in memory: the server sends
    :func:`spool_copy_out`'s chunks instead."""
    result = db.run_statements(
        _copy_query(statement), read_only=read_only, timeout=timeout, authorize=authorize
    )
    yield from _encoded(db, statement, result, [result.rows])


def spool_copy_out(
    db: Database,
    statement: CopyStatement,
    spool: RowSpool,
    *,
    read_only: bool,
    timeout: float | None,
    authorize: Callable[[list[tuple[str, str]]], str | None] | None = None,
) -> Iterator[str]:
    """:func:`copy_out` with bounded memory: the query runs now (its errors are raised here),
    its rows go to ``spool`` (which the caller closes), and the returned iterator encodes them
    one spooled chunk at a time, with no engine lock held between chunks."""
    result = db.run_statements(
        _copy_query(statement),
        read_only=read_only,
        timeout=timeout,
        authorize=authorize,
        spool=spool,
    )
    return _encoded(db, statement, result, spool.chunks())


def _copy_query(statement: CopyStatement) -> str:
    if statement.query is not None:
        return statement.query
    assert statement.table is not None
    names = ", ".join(map(quote_ident, statement.columns)) if statement.columns else "*"
    return f"SELECT {names} FROM {quote_ident(statement.table)}"  # noqa: S608


def _encoded(
    db: Database,
    statement: CopyStatement,
    result: QueryResult,
    batches: Iterable[Sequence[Sequence[Any]]],
) -> Iterator[str]:
    """COPY TO text of ``batches`` of the result's rows, :data:`OUT_ROWS` rows a chunk; the
    header (when asked for) comes first, also for no rows."""
    fields = [field_descriptor(d) for d in result.decl_types]
    kinds = [(str(f.get("pgtype", "")), str(f.get("type", ""))) for f in fields]
    fmt = statement.format
    geometry_columns = [i for i, (_, k) in enumerate(kinds) if k in ("geometry", "geography")]
    if fmt == "text" and geometry_columns:
        kinds = [(p, "" if i in geometry_columns else k) for i, (p, k) in enumerate(kinds)]
    header: Sequence[str] | None = result.columns
    for rows_in in batches:
        rows: Sequence[Sequence[Any]] = rows_in
        if fmt == "text" and geometry_columns and rows:
            edited = [list(r) for r in rows]
            for i in geometry_columns:
                texts = _ewkt(db, [r[i] for r in edited])
                for r, t in zip(edited, texts, strict=True):
                    r[i] = t
            rows = edited
        for start in range(0, len(rows), OUT_ROWS):
            text = [
                [_text_value(v, p, k, fmt) for v, (p, k) in zip(row, kinds, strict=True)]
                for row in rows[start : start + OUT_ROWS]
            ]
            yield encode_rows(text, statement, header)
            header = None
    if header is not None:
        yield encode_rows([], statement, header)


def _ewkt(db: Database, values: Sequence[Any]) -> list[str | None]:
    """``ST_AsEWKT`` of hex EWKB values, through the engine (``None`` stays ``None``)."""
    texts = [None if v is None else (v.hex() if isinstance(v, bytes) else str(v)) for v in values]
    found = db.execute_native(
        "SELECT list_transform(?::VARCHAR[], h -> CASE WHEN h IS NULL THEN NULL ELSE"
        " 'SRID=4326;' || _cdb_astext(ST_GeomFromHEXEWKB(h)) END)",
        (texts,),
    )
    out: list[str | None] = found.rows[0][0]
    return out
