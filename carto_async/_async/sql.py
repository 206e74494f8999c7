"""The SQL API (``carto.sql``): queries, bounds, formats streamed to files, and COPY.

Everything that moves many bytes streams: :meth:`AsyncSQL.download` writes a format into a
path or a file object, :meth:`AsyncSQL.iter_geojson` and :meth:`AsyncSQL.iter_csv` hand out
features and rows as they arrive, :meth:`AsyncSQL.copy_from` sends a file, a file object or an
iterator of bytes or rows, and :meth:`AsyncSQL.copy_to` / :meth:`AsyncSQL.iter_copy_to` read
``COPY ... TO STDOUT``. Memory stays flat whatever the size.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, Protocol

from carto_async._async import _downloads
from carto_async._async._bodies import BodySource, ProgressCallback, raw_body
from carto_async._async.batch import AsyncBatchJob, AsyncBatchJobs
from carto_async._async.transport import AsyncStreamedResponse, Downloaded
from carto_async._core import copy as copy_core
from carto_async._core import sql as core
from carto_async._core import sql_formats as formats
from carto_async._core.batch import BatchInput
from carto_async._core.http import RequestSpec
from carto_async._core.sql_template import Identifier
from carto_async.errors import APIStatusError, ValidationError
from carto_async.models.sql import Bounds, CopyResult, SQLResult

if TYPE_CHECKING:
    from carto_async._async.client import AsyncCarto

__all__ = ["AsyncSQL", "CopySource", "Destination"]

#: Where a download goes: a path (written under a temporary name, renamed when complete) or a
#: binary file object.
Destination = str | os.PathLike[str] | IO[bytes]

#: What :meth:`AsyncSQL.copy_from` sends: a path, a binary file object, bytes, or a (sync or
#: async) iterable of bytes or of rows (sequences of values, encoded as COPY CSV).
CopySource = BodySource | Iterable[Sequence[Any]] | AsyncIterable[Sequence[Any]]

#: Rows encoded together into one chunk of a COPY FROM body.
ROWS_PER_CHUNK = 10_000

#: The timeout of a COPY (seconds) unless ``timeout=`` says otherwise: CARTO's own COPY
#: timeout, 5 hours. The server answers a COPY FROM only when every row is loaded, and may
#: take long before the first byte of a COPY TO; the client's usual 60 s would cut them.
COPY_TIMEOUT = 5 * 3600.0


class _Reader(Protocol):
    def feed(self, chunk: bytes) -> Any: ...

    def close(self) -> Any: ...


class _Checked:
    """The chunks of a streamed response passed through a detector that may raise at the end
    (an error the server appended to a 200 body). A class, not a generator: nothing is left
    for the garbage collector when a download is cancelled."""

    def __init__(self, response: AsyncStreamedResponse, detector: _Reader) -> None:
        self._response = response
        self._detector = detector
        self._done = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        while not self._done:
            try:
                chunk = await self._response.__anext__()
            except StopAsyncIteration:
                self._done = True
                out: bytes = self._detector.close()
            else:
                out = self._detector.feed(chunk)
            if out:
                return out
        raise StopAsyncIteration


def _format_for(destination: Destination, fmt: str | None) -> str:
    if fmt is not None:
        return fmt
    if isinstance(destination, str | os.PathLike):
        ext = os.path.splitext(os.fspath(destination))[1].lower().lstrip(".")
        by_ext = {v: k for k, v in formats.FORMAT_EXTENSIONS.items()}
        if ext in by_ext:
            return by_ext[ext]
    raise ValidationError(
        "give format= (one of " + ", ".join(core.VALID_FORMATS) + "): the destination's name "
        "does not tell it"
    )


def _encoded_rows(items: Iterable[Any], encoder: copy_core.CsvRowEncoder) -> Iterator[bytes]:
    """Bytes as they are, rows encoded as COPY CSV in batches of :data:`ROWS_PER_CHUNK`."""
    batch: list[Sequence[Any]] = []
    for item in items:
        if isinstance(item, bytes | bytearray | memoryview):
            if batch:
                yield encoder.encode(batch)
                batch = []
            yield bytes(item)
            continue
        batch.append(_row(item))
        if len(batch) >= ROWS_PER_CHUNK:
            yield encoder.encode(batch)
            batch = []
    if batch:
        yield encoder.encode(batch)


# async-only:start
async def _async_encoded_rows(
    items: AsyncIterable[Any], encoder: copy_core.CsvRowEncoder
) -> AsyncIterator[bytes]:
    """:func:`_encoded_rows` for an async iterable."""
    batch: list[Sequence[Any]] = []
    async for item in items:
        if isinstance(item, bytes | bytearray | memoryview):
            if batch:
                yield encoder.encode(batch)
                batch = []
            yield bytes(item)
            continue
        batch.append(_row(item))
        if len(batch) >= ROWS_PER_CHUNK:
            yield encoder.encode(batch)
            batch = []
    if batch:
        yield encoder.encode(batch)


# async-only:end
def _row(item: Any) -> Sequence[Any]:
    if isinstance(item, str) or not isinstance(item, Sequence):
        raise ValidationError(
            f"a COPY source yielded a {type(item).__name__}: yield bytes, or rows as lists or "
            "tuples of values"
        )
    return item


def _copy_body_source(source: Any, fmt: str, delimiter: str | None) -> Any:
    """``source`` as a body source: iterables (not bytes, not files) go through the row
    encoder, which passes bytes on and encodes rows."""
    if isinstance(source, str | os.PathLike | bytes | bytearray | memoryview) or hasattr(
        source, "read"
    ):
        return source
    encoder = copy_core.CsvRowEncoder(delimiter=delimiter or ",")
    rows_allowed = fmt == "csv"
    # async-only:start
    if hasattr(source, "__aiter__"):
        return _async_encoded_rows(source, encoder) if rows_allowed else source
    # async-only:end
    if isinstance(source, Iterable):
        return _encoded_rows(source, encoder) if rows_allowed else source
    return source


class AsyncSQL:
    """Run SQL on your CARTO database.

    Example::

        result = await carto.sql.query("select count(*) as n from stores")
        print(result.rows[0]["n"])
    """

    def __init__(self, client: AsyncCarto) -> None:
        self._client = client

    async def query(
        self,
        q: str,
        *,
        params: Mapping[str, Any] | None = None,
        skipfields: str | Sequence[str] | None = None,
        dp: int | None = None,
        page: int | None = None,
        rows_per_page: int | None = None,
        order_by: str | None = None,
        sort_order: str | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
    ) -> SQLResult:
        """Run ``q`` and return its rows and field types.

        ``params`` fills ``{{name}}`` placeholders with safely quoted literals (wrap table and
        column names in :class:`~carto_async.Identifier`); ``skipfields`` drops columns, ``dp``
        sets the decimal places of geometries, ``rows_per_page``/``page`` page the rows and
        ``order_by``/``sort_order`` sort them. Bad options raise
        :class:`~carto_async.ValidationError` before anything is sent.

        Short queries go as GET, long ones as a form POST. Read-only queries are retried on
        server errors; writes only where nothing could have been done twice. An ``error``
        member that arrives with HTTP 200 (a failure after rows began streaming) raises.

        Example::

            result = await carto.sql.query(
                "select name from {{table}} where pop > {{min}}",
                params={"table": Identifier("cities"), "min": 10_000},
                order_by="name",
                rows_per_page=50,
            )
        """
        spec = core.query_request(
            q,
            params=params,
            skipfields=skipfields,
            dp=dp,
            page=page,
            rows_per_page=rows_per_page,
            order_by=order_by,
            sort_order=sort_order,
        )
        response = await self._client._transport.request(
            spec, max_retries=max_retries, timeout=timeout
        )
        return core.parse_result(response.body())

    async def bounds(
        self,
        q: str,
        *,
        params: Mapping[str, Any] | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
    ) -> Bounds | None:
        """The extent of ``q``'s ``the_geom`` column, or ``None`` when it has no geometry.

        The same query CartoDB.js ``getBounds`` sends; ``params`` fills ``q``'s placeholders.

        Example::

            box = await carto.sql.bounds("select * from stores")
        """
        result = await self.query(
            core.bounds_query(q, params), max_retries=max_retries, timeout=timeout
        )
        return core.parse_bounds(result)

    # ------------------------------------------------------------------ formats

    def _format_spec(
        self,
        q: str,
        fmt: str,
        *,
        params: Mapping[str, Any] | None,
        skipfields: str | Sequence[str] | None,
        dp: int | None,
        page: int | None,
        rows_per_page: int | None,
        order_by: str | None,
        sort_order: str | None,
        filename: str | None = None,
    ) -> RequestSpec:
        return core.query_request(
            q,
            params=params,
            fmt=fmt,
            skipfields=skipfields,
            dp=dp,
            page=page,
            rows_per_page=rows_per_page,
            order_by=order_by,
            sort_order=sort_order,
            filename=filename,
        )

    async def download(
        self,
        q: str,
        dest: Destination,
        *,
        format: str | None = None,
        filename: str | None = None,
        params: Mapping[str, Any] | None = None,
        skipfields: str | Sequence[str] | None = None,
        dp: int | None = None,
        page: int | None = None,
        rows_per_page: int | None = None,
        order_by: str | None = None,
        sort_order: str | None = None,
        progress: ProgressCallback | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
    ) -> Downloaded:
        """Stream the result of ``q`` in ``format`` into ``dest``, a path or a binary file.

        ``format`` is one of ``json``, ``geojson``, ``topojson``, ``csv``, ``svg``, ``kml``,
        ``shp`` (a zip), ``spatialite``, ``gpkg`` or ``arraybuffer``; without it, the
        extension of a path destination tells it (``.csv``, ``.geojson``, ``.gpkg``, ``.zip``
        for ``shp``...). ``filename`` is the name the server gives the file (its
        ``Content-Disposition``); the query options are :meth:`query`'s.
        ``progress(received, total)`` is called as bytes arrive.

        The body is never held in memory. A path is written under a temporary name and
        renamed once complete; a query that fails after its rows began streaming (HTTP 200
        with an ``error`` appended to a JSON format) raises :class:`~carto_async.APIError`
        and leaves nothing under the final name.

        Example::

            done = await carto.sql.download("select * from stores", "stores.gpkg")
            print(done.size, done.path)
        """
        fmt = _format_for(dest, format)
        spec = self._format_spec(
            q,
            fmt,
            params=params,
            skipfields=skipfields,
            dp=dp,
            page=page,
            rows_per_page=rows_per_page,
            order_by=order_by,
            sort_order=sort_order,
            filename=filename,
        )
        target = _downloads.DownloadTarget(dest)
        transport = self._client._transport
        async with transport.stream(spec, max_retries=max_retries, timeout=timeout) as response:
            if fmt.lower() in formats.JSON_FORMATS:
                chunks: AsyncIterable[bytes] = _Checked(response, formats.JsonErrorDetector())
            else:
                chunks = response
            size = await target.write(chunks, response.total, progress)
        return Downloaded(size, target.path, response.status_code, response.headers)

    async def iter_geojson(
        self,
        q: str,
        *,
        params: Mapping[str, Any] | None = None,
        skipfields: str | Sequence[str] | None = None,
        dp: int | None = None,
        page: int | None = None,
        rows_per_page: int | None = None,
        order_by: str | None = None,
        sort_order: str | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """The GeoJSON features of ``q`` (``format=geojson``), each as soon as it arrives.

        The body is parsed incrementally: one feature at a time is held, never the whole
        collection. An error the server appends mid-stream raises
        :class:`~carto_async.APIError` after the features before it. Close the iterator
        (``contextlib.aclosing``) if you stop early.

        Example::

            async for feature in carto.sql.iter_geojson("select * from stores"):
                print(feature["geometry"], feature["properties"]["name"])
        """
        spec = self._format_spec(
            q,
            "geojson",
            params=params,
            skipfields=skipfields,
            dp=dp,
            page=page,
            rows_per_page=rows_per_page,
            order_by=order_by,
            sort_order=sort_order,
        )
        reader = formats.GeoJSONFeatureReader()
        transport = self._client._transport
        async with transport.stream(spec, max_retries=max_retries, timeout=timeout) as response:
            async for chunk in response:
                for feature in reader.feed(chunk):
                    yield feature
        for feature in reader.close():
            yield feature

    async def iter_csv(
        self,
        q: str,
        *,
        params: Mapping[str, Any] | None = None,
        skipfields: str | Sequence[str] | None = None,
        page: int | None = None,
        rows_per_page: int | None = None,
        order_by: str | None = None,
        sort_order: str | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[dict[str, str]]:
        """The rows of ``q`` as ``format=csv`` sends them: dicts of strings keyed by the
        header, each as soon as its record is complete (one incomplete record is held).

        Example::

            async for row in carto.sql.iter_csv("select name, pop from cities"):
                print(row["name"], int(row["pop"]))
        """
        spec = self._format_spec(
            q,
            "csv",
            params=params,
            skipfields=skipfields,
            dp=None,
            page=page,
            rows_per_page=rows_per_page,
            order_by=order_by,
            sort_order=sort_order,
        )
        reader = formats.CsvRowReader()
        transport = self._client._transport
        async with transport.stream(spec, max_retries=max_retries, timeout=timeout) as response:
            async for chunk in response:
                for row in reader.feed(chunk):
                    yield row
        for row in reader.close():
            yield row

    # ------------------------------------------------------------------ COPY

    async def copy_from(
        self,
        statement_or_table: str | Identifier,
        source: CopySource,
        *,
        columns: Sequence[str] | None = None,
        format: copy_core.CopyFormat = "csv",
        header: bool | None = None,
        delimiter: str | None = None,
        null: str | None = None,
        quote: str | None = None,
        escape: str | None = None,
        encoding: str | None = None,
        gzip: bool = True,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> CopyResult:
        """Load ``source`` into a table with ``COPY ... FROM STDIN``; returns the rows loaded.

        ``statement_or_table`` is a table name (``Identifier(schema, name)`` to qualify it),
        with ``columns`` and the COPY options (``format`` ``csv`` or ``text``, ``header``,
        ``delimiter``, ``null``...), or a whole ``COPY ... FROM STDIN`` statement. ``source``
        is a path, a binary file object, bytes, or a sync or async iterable of bytes or of
        rows (lists or tuples of values, encoded as COPY CSV: ``None`` is NULL).

        The body streams, gzipped on the fly unless ``gzip=False`` (a ``.gz`` path is sent
        as it is); ``progress(sent, total)`` follows it. ``timeout`` defaults to
        :data:`COPY_TIMEOUT` (5 hours, CARTO's own): the server answers only once every row
        is loaded. A COPY whose bytes went out is
        never repeated: the rows might be loaded already. The server's refusals raise
        :class:`~carto_async.CopyFailedError` subclasses (:class:`~carto_async.NoRowsCopiedError`,
        :class:`~carto_async.CopyGzipError`, :class:`~carto_async.QuotaExceededError`...).

        Example::

            result = await carto.sql.copy_from("stores", "stores.csv", header=True)
            print(result.total_rows)
        """
        statement = copy_core.resolve_copy_from(
            statement_or_table,
            columns,
            format=None if copy_core._is_statement(statement_or_table) else format,
            header=header,
            delimiter=delimiter,
            null=null,
            quote=quote,
            escape=escape,
            encoding=encoding,
        )
        pre_gzipped = isinstance(source, str | os.PathLike) and os.fspath(source).endswith(".gz")
        body = raw_body(
            _copy_body_source(source, str(format).lower(), delimiter),
            content_type="application/octet-stream",
            gzip=gzip and not pre_gzipped,
            progress=progress,
        )
        spec = copy_core.copy_from_request(statement, gzip=gzip or pre_gzipped)
        error: APIStatusError | None = None
        try:
            response = await self._client._transport.request(
                spec, body=body, timeout=COPY_TIMEOUT if timeout is None else timeout
            )
        except APIStatusError as exc:
            error = copy_core.copy_error(exc)
        if error is not None:
            raise error
        return copy_core.parse_copy_from(response.body())

    def _copy_to_spec(
        self,
        query: str | Identifier,
        columns: Sequence[str] | None,
        options: Mapping[str, Any],
        filename: str | None,
    ) -> RequestSpec:
        given = dict(options)
        if copy_core._is_statement(query):
            given.pop("format")  # the statement says it; the other options must be unset
        statement = copy_core.resolve_copy_to(query, columns, **given)
        return copy_core.copy_to_request(statement, filename=filename)

    async def copy_to(
        self,
        query: str | Identifier,
        dest: Destination,
        *,
        columns: Sequence[str] | None = None,
        format: copy_core.CopyFormat = "csv",
        header: bool | None = None,
        delimiter: str | None = None,
        null: str | None = None,
        quote: str | None = None,
        escape: str | None = None,
        encoding: str | None = None,
        filename: str | None = None,
        progress: ProgressCallback | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
    ) -> Downloaded:
        """Stream ``COPY (query) TO STDOUT`` into ``dest``, a path or a binary file object.

        ``query`` is a query, a table (:class:`~carto_async.Identifier`, with ``columns``) or a
        whole ``COPY ... TO STDOUT`` statement; the options are :meth:`copy_from`'s. A path is
        written under a temporary name and renamed once complete. An error the server
        appends to the 200 body (a statement timeout mid-way) raises
        :class:`~carto_async.CopyInterruptedError` and leaves nothing under the final name.

        Example::

            done = await carto.sql.copy_to("select * from stores", "stores.csv", header=True)
        """
        spec = self._copy_to_spec(
            query,
            columns,
            {
                "format": format,
                "header": header,
                "delimiter": delimiter,
                "null": null,
                "quote": quote,
                "escape": escape,
                "encoding": encoding,
            },
            filename,
        )
        target = _downloads.DownloadTarget(dest)
        async with self._copy_to_stream(spec, max_retries, timeout) as response:
            checked = _Checked(response, copy_core.CopyToErrorDetector())
            size = await target.write(checked, response.total, progress)
        return Downloaded(size, target.path, response.status_code, response.headers)

    async def iter_copy_to(
        self,
        query: str | Identifier,
        *,
        columns: Sequence[str] | None = None,
        format: copy_core.CopyFormat = "csv",
        header: bool | None = None,
        delimiter: str | None = None,
        null: str | None = None,
        quote: str | None = None,
        escape: str | None = None,
        encoding: str | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[bytes]:
        """The bytes of ``COPY (query) TO STDOUT`` as they arrive (see :meth:`copy_to`).

        An error appended by the server raises :class:`~carto_async.CopyInterruptedError`
        at the end; the few bytes that could be that error are held back until then.

        Example::

            async for chunk in carto.sql.iter_copy_to("select * from stores"):
                out.write(chunk)
        """
        spec = self._copy_to_spec(
            query,
            columns,
            {
                "format": format,
                "header": header,
                "delimiter": delimiter,
                "null": null,
                "quote": quote,
                "escape": escape,
                "encoding": encoding,
            },
            None,
        )
        async with self._copy_to_stream(spec, max_retries, timeout) as response:
            async for chunk in _Checked(response, copy_core.CopyToErrorDetector()):
                if chunk:  # _Checked hands out no empty chunk; this keeps the loop explicit
                    yield chunk

    @contextlib.asynccontextmanager
    async def _copy_to_stream(
        self, spec: RequestSpec, max_retries: int | None, timeout: float | None
    ) -> AsyncIterator[AsyncStreamedResponse]:
        error: APIStatusError | None = None
        transport = self._client._transport
        try:
            async with transport.stream(
                spec, max_retries=max_retries, timeout=COPY_TIMEOUT if timeout is None else timeout
            ) as response:
                yield response
        except APIStatusError as exc:
            error = copy_core.copy_error(exc)
        if error is not None:
            raise error

    async def batch(self, query: BatchInput) -> AsyncBatchJob:
        """Run ``query`` as a SQL Batch job in the background; returns its handle at once.

        ``query`` is one statement, a list of statements run in order, or a
        :class:`~carto_async.FallbackJob` (``onsuccess``/``onerror`` per query and per job,
        with the ``<%= job_id %>`` / ``<%= error_message %>`` templates). A job over the
        server's 16 KB limit, an empty statement or a misplaced template raises
        :class:`~carto_async.ValidationError` before anything is sent. Creating a job is never
        repeated after an ambiguous failure (the error then says the job may exist). Needs
        the master key.

        Example::

            job = await carto.sql.batch("UPDATE stores SET open = true")
            status = await job.wait(timeout=600)
        """
        return await self.batch_jobs.create(query)

    @property
    def batch_jobs(self) -> AsyncBatchJobs:
        """Single Batch requests by job id: ``get``, ``cancel``, ``list``, ``job``, ``resume``."""
        return AsyncBatchJobs(self._client)
