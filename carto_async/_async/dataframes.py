"""pandas and GeoPandas in and out of CARTO through COPY (``carto.dataframes``; extra
``dataframes``).

Writing creates the table with PostgreSQL types from the dtypes, streams the rows through one
``COPY ... FROM STDIN`` (encoded in bulk, a chunk at a time, off the event loop), geometries as
hex EWKB in EPSG:4326, and cartodbfies the table. Reading asks the query's column types with a
``LIMIT 0`` query, then decodes ``COPY (query) TO STDOUT`` into DataFrames a chunk at a time.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs
import pandas as pd

from carto_async._async import _concurrency as cc
from carto_async._async._bodies import ProgressCallback
from carto_async._core.sql_template import Identifier, quote_literal
from carto_async.dataframes import (
    GEOMETRY_TYPE,
    Column,
    CopyCsvReader,
    columns_from_fields,
    copy_from_dataframe_statement,
    copy_to_dataframe_statement,
    create_table_statement,
    iter_csv,
    table_columns,
)
from carto_async.errors import BadRequestError, NoRowsCopiedError, ValidationError
from carto_async.models.sql import SQLField

if TYPE_CHECKING:
    from carto_async._async.client import AsyncCarto

__all__ = ["AsyncDataFrames", "IfExists"]

IfExists = Literal["fail", "replace", "append"]

#: Bytes of COPY TO output gathered before one decode (in a worker thread).
DECODE_SIZE = 1024 * 1024

#: Columns cartodbfy adds, which a DataFrame does not carry.
_CARTO_COLUMNS = frozenset({"cartodb_id", "the_geom_webmercator"})

#: Our column types as the SQL API's ``pgtype`` names them.
_PGTYPE_NAMES: Mapping[str, str] = {
    "bigint": "int8",
    "integer": "int4",
    "smallint": "int2",
    "double precision": "float8",
    "real": "float4",
    "boolean": "bool",
    GEOMETRY_TYPE: "geometry",
}


def _target(table: str | Identifier) -> Identifier:
    if isinstance(table, Identifier):
        return table
    if not isinstance(table, str) or not table or "." in table:
        raise ValidationError(
            f"table must be a name (use Identifier(schema, name) to qualify it), not {table!r}"
        )
    return Identifier(table)


def _field_type(field: SQLField) -> str:
    if field.type in ("geometry", "geography"):
        return "geometry"
    return (field.pgtype or field.type).lower()


def same_columns(existing: Mapping[str, SQLField], columns: Sequence[Column]) -> bool:
    """Whether a table with ``existing`` fields takes ``columns`` as they are (same names and
    types, leaving aside the columns cartodbfy adds)."""
    theirs = {n: _field_type(f) for n, f in existing.items() if n not in _CARTO_COLUMNS}
    ours = {c.name: _PGTYPE_NAMES.get(c.pg_type, c.pg_type) for c in columns}
    if "the_geom" not in ours:
        theirs.pop("the_geom", None)  # cartodbfy adds an empty one
    return theirs == ours


def _frames(data: pd.DataFrame | Iterable[pd.DataFrame]) -> tuple[pd.DataFrame, Iterator[Any]]:
    """The first DataFrame and an iterator over the rest."""
    if isinstance(data, pd.DataFrame):
        return data, iter(())
    if isinstance(data, str | bytes) or not isinstance(data, Iterable):
        raise ValidationError(
            f"expected a DataFrame or an iterable of DataFrames, not {type(data).__name__}"
        )
    frames = iter(data)
    first = next(frames, None)
    if not isinstance(first, pd.DataFrame):
        raise ValidationError(
            "the iterable of DataFrames was empty"
            if first is None
            else f"expected DataFrames, got a {type(first).__name__}"
        )
    return first, frames


def _copy_chunks(
    first: pd.DataFrame, rest: Iterator[Any], columns: Sequence[Column], chunk_rows: int
) -> Iterator[bytes]:
    """COPY CSV bytes of every frame; each later frame must have the first one's columns.
    Runs in a worker thread (the body reads it there), so encoding never blocks the loop."""
    names = [c.name for c in columns]
    yield from iter_csv(first, columns, chunk_rows=chunk_rows)
    for frame in rest:
        if not isinstance(frame, pd.DataFrame):
            raise ValidationError(f"expected DataFrames, got a {type(frame).__name__}")
        if [c.name for c in table_columns(frame)] != names:
            raise ValidationError(
                f"a later DataFrame has the columns {list(frame.columns)!r}, not {names!r}"
            )
        yield from iter_csv(frame, columns, chunk_rows=chunk_rows)


@attrs.frozen
class _Load:
    """The rows of one write: the first frame, the rest, and how to send them."""

    first: pd.DataFrame
    rest: Iterator[Any]
    columns: Sequence[Column]
    chunk_rows: int
    gzip: bool
    progress: ProgressCallback | None
    timeout: float | None


def reload_statement(target: Identifier, staging: Identifier, columns: Sequence[Column]) -> str:
    """Truncate ``target`` and fill it from ``staging`` in one transaction, then drop
    ``staging`` (every name quoted)."""
    names = ", ".join(Identifier(c.name).sql() for c in columns)
    insert = f"INSERT INTO {target.sql()} ({names}) SELECT {names} FROM {staging.sql()}"  # noqa: S608 - quoted names
    return f"BEGIN; TRUNCATE {target.sql()}; {insert}; DROP TABLE {staging.sql()}; COMMIT;"


class AsyncDataFrames:
    """DataFrames to and from CARTO tables (needs the ``dataframes`` extra).

    Example::

        await carto.dataframes.write(gdf, "stores", if_exists="replace")
        df = await carto.dataframes.read("select * from stores where pop > 1000")
    """

    def __init__(self, client: AsyncCarto) -> None:
        self._client = client

    async def _existing(self, target: Identifier) -> dict[str, SQLField] | None:
        """The fields of ``target``, or ``None`` when there is no such table."""
        error: BadRequestError | None = None
        try:
            result = await self._client.sql.query(f"select * from {target.sql()} limit 0")  # noqa: S608 - quoted
        except BadRequestError as exc:
            error = exc
        if error is not None:
            if "does not exist" in error.message:
                return None
            raise error
        return dict(result.fields)

    async def write(
        self,
        data: pd.DataFrame | Iterable[pd.DataFrame],
        table: str | Identifier,
        *,
        if_exists: IfExists = "fail",
        chunk_rows: int = 100_000,
        geometry_name: str | None = "the_geom",
        cartodbfy: bool = True,
        gzip: bool = True,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> int:
        """Write ``data`` (a DataFrame, a GeoDataFrame, or an iterable of them with the same
        columns) to ``table``; returns the number of rows written.

        The table is created with PostgreSQL types from the dtypes (a GeoDataFrame's active
        geometry becomes ``the_geom``, reprojected to EPSG:4326), the rows stream through one
        COPY, ``chunk_rows`` rows encoded at a time, and the table is cartodbfied (so it has
        ``cartodb_id`` and can be mapped). ``if_exists`` decides what happens to an existing
        table: ``"fail"`` raises :class:`~carto_async.ValidationError`, ``"append"`` adds the
        rows, ``"replace"`` swaps its rows for these, in one transaction when the columns
        match, so the table (and the maps that use it) stays; otherwise the table is dropped
        and created anew. An iterable of DataFrames is read one frame at a time: memory stays
        flat whatever the number of rows.

        Example::

            n = await carto.dataframes.write(gdf, "stores", if_exists="replace")
        """
        if if_exists not in ("fail", "replace", "append"):
            raise ValidationError(
                f"if_exists must be 'fail', 'replace' or 'append', not {if_exists!r}"
            )
        if not isinstance(chunk_rows, int) or isinstance(chunk_rows, bool) or chunk_rows < 1:
            raise ValidationError(f"chunk_rows must be a positive integer, not {chunk_rows!r}")
        target = _target(table)
        first, rest = _frames(data)
        columns = table_columns(first, geometry_name=geometry_name)
        load = _Load(first, rest, columns, chunk_rows, gzip, progress, timeout)
        existing = await self._existing(target)
        sql = self._client.sql
        if existing is not None and if_exists == "fail":
            raise ValidationError(
                f"table {target.sql()} exists: pass if_exists='replace' or 'append'"
            )
        if existing is not None and if_exists == "append":
            missing = [c.name for c in columns if c.name not in existing]
            if missing:
                raise ValidationError(f"table {target.sql()} has no columns {missing!r}")
            return await self._copy(target, load)
        if existing is not None and same_columns(existing, columns):
            return await self._reload(target, load)
        if existing is not None:
            await sql.query(f"DROP TABLE {target.sql()}", timeout=timeout)
        await sql.query(create_table_statement(target, columns), timeout=timeout)
        rows = await self._copy(target, load)
        if cartodbfy:
            await self._cartodbfy(target, timeout)
        return rows

    async def _copy(self, target: Identifier, load: _Load) -> int:
        error: NoRowsCopiedError | None = None
        try:
            result = await self._client.sql.copy_from(
                copy_from_dataframe_statement(target, load.columns),
                _copy_chunks(load.first, load.rest, load.columns, load.chunk_rows),
                gzip=load.gzip,
                progress=load.progress,
                timeout=load.timeout,
            )
        except NoRowsCopiedError as exc:
            error = exc
        if error is not None:
            return 0  # an empty DataFrame: the table stays (empty)
        return result.total_rows

    async def _reload(self, target: Identifier, load: _Load) -> int:
        """Load into a staging table, then truncate and fill ``target`` in one transaction:
        readers never see it empty, and the table keeps its id, so its maps keep working."""
        last = target.parts[-1]
        staging = Identifier(*target.parts[:-1], f"{last[:40]}_staging_{uuid.uuid4().hex[:12]}")
        sql = self._client.sql
        await sql.query(create_table_statement(staging, load.columns), timeout=load.timeout)
        try:
            rows = await self._copy(staging, load)
            await sql.query(reload_statement(target, staging, load.columns), timeout=load.timeout)
        except Exception:
            # The target was not touched; the staging table goes (a cancelled write may
            # leave it behind: its name says what it is).
            await sql.query(f"DROP TABLE IF EXISTS {staging.sql()}", max_retries=0)
            raise
        return rows

    async def _cartodbfy(self, target: Identifier, timeout: float | None) -> None:
        schema = (
            quote_literal(target.parts[0]) if len(target.parts) > 1 else "current_schema()::text"
        )
        name = quote_literal(Identifier(target.parts[-1]).sql())
        await self._client.sql.query(
            f"SELECT CDB_CartodbfyTable({schema}, {name})", timeout=timeout
        )

    async def _columns(self, query: str) -> list[Column]:
        inner = query.strip().rstrip(";")
        result = await self._client.sql.query(f"select * from (\n{inner}\n) as _q limit 0")  # noqa: S608 - the caller's query
        return columns_from_fields(result.fields)

    async def read_chunks(self, query: str, *, rows: int = 100_000) -> AsyncIterator[pd.DataFrame]:
        """DataFrames of ``rows`` rows (GeoDataFrames when the query has a geometry) read
        through ``COPY (query) TO STDOUT`` as it streams: at most one chunk is held.

        Example::

            async for df in carto.dataframes.read_chunks("select * from trips", rows=50_000):
                total += df["fare"].sum()
        """
        columns = await self._columns(query)
        reader = CopyCsvReader(columns, rows=rows)
        pending = bytearray()
        async for chunk in self._client.sql.iter_copy_to(copy_to_dataframe_statement(query)):
            pending += chunk
            if len(pending) >= DECODE_SIZE:
                data = bytes(pending)
                pending.clear()
                for frame in await cc.blocking(reader.feed, data):
                    yield frame
        frames = await cc.blocking(reader.feed, bytes(pending))
        frames += await cc.blocking(reader.close)
        for frame in frames:
            yield frame

    async def read(self, query: str) -> pd.DataFrame:
        """The whole result of ``query`` as one DataFrame (a GeoDataFrame when it has a
        geometry column; ``the_geom`` is the active one), with dtypes from the PostgreSQL
        types: nullable integers and booleans, timestamps, shapely geometries.

        Example::

            gdf = await carto.dataframes.read("select * from stores")
        """
        frames = []
        async for frame in self.read_chunks(query):
            frames.append(frame)
        if len(frames) == 1:
            return frames[0]
        return pd.concat(frames, ignore_index=True)
