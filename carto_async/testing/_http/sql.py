"""SQL API handlers: the query endpoint ``GET|POST /api/<version>/sql`` (reference §9.1).

json, geojson and csv arrive as an :class:`~carto_async.testing._sqlapi.SQLStream`. A small
result (its rows in memory) is formatted whole in the worker thread that ran the query and
sent at once; a large one, spooled to disk, is formatted chunk by chunk in a worker thread as
the client reads (no engine lock held, so a slow reader delays nobody else), and the spool is
removed when the body is sent, the client goes away or sending fails
(:class:`SpooledResponse`, also used by COPY TO). A GDAL-written format (kml, shp, spatialite,
gpkg) arrives as a private temporary file: it is streamed from disk in chunks (never read
whole into memory) and removed once sent, also when the client goes away mid-way.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from typing import Protocol

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from carto_async.testing._apikeys import StoredKey
from carto_async.testing._context import Context
from carto_async.testing._http.auth import sql_key
from carto_async.testing._http.bodies import BadBody, drain, express_params, read_sql_body
from carto_async.testing._http.routing import RouteMatch
from carto_async.testing._ogrformats import OgrFile
from carto_async.testing._sqlapi import SQLResponse, SQLStream, stream_sql
from carto_async.testing._wire import CORS_HEADERS, sql_error, user_not_found

__all__ = ["SpooledResponse", "key_limits", "privacy_check", "query"]


async def query(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """Authorize, then hand the parameters to the data layer."""
    if request.method == "OPTIONS":
        return Response(b"", status_code=200, headers=CORS_HEADERS)
    if match.user != ctx.username:
        await drain(request)
        return user_not_found(match.user, CORS_HEADERS)
    params_in_query = express_params(request.query_params.multi_items())
    try:
        body = await read_sql_body(request)
    except BadBody as exc:
        return sql_error(str(exc), 400, CORS_HEADERS)
    basic_user, key = sql_key(request.headers.get("authorization"), params_in_query, body)
    if basic_user is not None and basic_user != match.user:
        return sql_error("permission denied", 403, CORS_HEADERS)
    stored = ctx.keys.key(key)
    is_public = privacy_check(ctx)
    denial = ctx.keys.store.sql_denial(stored, (), is_public=is_public)
    if denial is not None:
        return sql_error(denial[1], denial[0], CORS_HEADERS)
    assert stored is not None
    params: dict[str, str | list[str]] = {**params_in_query, **body}
    for name in ("api_key", "map_key"):
        params.pop(name, None)
    # The master key does everything. Other keys read public tables and what they were
    # granted and write only what they were granted (PostgreSQL's "permission denied for
    # table"); no DDL. Queries are CPU-bound database work, run in the pool.
    if stored.is_master:
        run: Callable[[], SQLResponse | SQLStream] = functools.partial(
            stream_sql, ctx.db, params, timeout=ctx.sql_timeout, limits=ctx.sql_results
        )
    else:

        def run_limited() -> SQLResponse | SQLStream:
            authorize, visible = key_limits(ctx, stored, is_public)
            return stream_sql(
                ctx.db,
                params,
                read_only=True,
                timeout=ctx.sql_timeout,
                authorize=authorize,
                visible=visible,
                limits=ctx.sql_results,
            )

        run = run_limited
    result = await asyncio.get_running_loop().run_in_executor(ctx.sql_pool, run)
    headers = {**result.headers, **CORS_HEADERS}
    if isinstance(result, SQLStream):
        return SpooledResponse(result, headers=headers)
    if result.file is not None:
        return _TemporaryFileResponse(
            result.file, status_code=result.status, media_type=result.content_type, headers=headers
        )
    return Response(
        result.body, status_code=result.status, media_type=result.content_type, headers=headers
    )


class BodyStream(Protocol):
    """A body made chunk by chunk (:class:`~carto_async.testing._sqlapi.SQLStream`)."""

    status: int
    content_type: str

    @property
    def ready(self) -> bool:
        """Whether every chunk is already made (then read without a worker thread)."""

    def next_chunk(self) -> bytes | None:
        """The next piece (may be empty), None at the end; blocking work, run in a thread."""

    def close(self) -> None:
        """Release what the stream holds (its spool)."""


class SpooledResponse(Response):
    """Sends a :class:`BodyStream` chunk by chunk, then closes it, whatever happens.

    Each chunk is made in a worker thread and sent before the next is made, so memory holds
    one chunk. Waiting for a slow client holds no thread and no lock. When the client goes
    away (``http.disconnect``) sending stops; the stream is closed (its spool removed) after
    the last chunk, after a disconnect and after a failure alike.
    """

    def __init__(self, stream: BodyStream, *, headers: dict[str, str]) -> None:
        super().__init__(
            None, status_code=stream.status, media_type=stream.content_type, headers=headers
        )
        del self.headers["content-length"]  # the size is not known: chunked
        self._stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._stream.ready:  # a small body, already made, sent as is
            try:
                await self._send_body(send)
            finally:
                self._stream.close()
            return
        try:
            async with anyio.create_task_group() as group:

                async def watch_disconnect() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    group.cancel_scope.cancel()

                group.start_soon(watch_disconnect)
                await self._send_body(send)
                group.cancel_scope.cancel()
        finally:
            # A thread making a chunk is waited for on cancellation: nothing reads the
            # stream while it closes.
            self._stream.close()

    async def _send_body(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        stream = self._stream
        while (
            chunk := stream.next_chunk()
            if stream.ready
            else await anyio.to_thread.run_sync(stream.next_chunk)
        ) is not None:
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class _TemporaryFileResponse(Response):
    """Streams a private temporary file in chunks, removing it as soon as it is open.

    The open handle keeps the bytes readable (POSIX); nothing is left behind whether the
    body is sent whole, abandoned by the client, or never sent at all once opened.
    """

    chunk_size = 64 * 1024

    def __init__(
        self, file: OgrFile, *, status_code: int, media_type: str, headers: dict[str, str]
    ) -> None:
        super().__init__(None, status_code=status_code, media_type=media_type, headers=headers)
        self._file = file

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            handle = await anyio.to_thread.run_sync(open, self._file.path, "rb")
        finally:
            self._file.cleanup()
        try:
            size = os.fstat(handle.fileno()).st_size
            self.headers["content-length"] = str(size)
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            more = True
            while more:
                chunk = await anyio.to_thread.run_sync(handle.read, self.chunk_size)
                more = len(chunk) == self.chunk_size
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
        finally:
            handle.close()
            self._file.cleanup()


def key_limits(
    ctx: Context, stored: StoredKey, is_public: Callable[[str], bool]
) -> tuple[Callable[[list[tuple[str, str]]], str | None], set[str]]:
    """What a non-master key may touch: a check of a statement's table accesses (``None`` or
    PostgreSQL's refusal) and the tables it may see. Run in the pool, before the query: privacy
    is read before the query takes the database's lock (the visualization store takes its own
    lock, then the database's: never the other way round)."""
    store = ctx.keys.store
    tables = ctx.db.list_tables()
    public = {t for t in tables if is_public(t)}

    def authorize(accesses: list[tuple[str, str]]) -> str | None:
        denied = store.sql_denial(stored, accesses, is_public=public.__contains__)
        return None if denied is None else denied[1]

    visible = {t for t in tables if t in public or store.can(stored, t, "select")}
    return authorize, visible


def privacy_check(ctx: Context) -> Callable[[str], bool]:
    """Whether a table is readable by the public user: its privacy is ``public`` or ``link``."""

    def is_public(table: str) -> bool:
        record = ctx.visualizations.table(table)
        return record is not None and record.privacy in ("public", "link")

    return is_public
