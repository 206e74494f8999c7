"""COPY handlers: ``POST /api/v2/sql/copyfrom`` and ``GET|POST /api/v2/sql/copyto`` (§9.3).

COPY FROM takes ``q`` from the query string only and the raw body as the data (gzip when
``Content-Encoding: gzip``); the body is spooled (to disk past a few MiB, decompressed as it
arrives) and loaded in the SQL pool in one transaction. COPY TO runs the query first, its rows
written to a spool on disk, so an error before any output is a 400; the output then streams as
``application/octet-stream``, encoded a chunk at a time as the client reads
(:class:`~carto_async.testing._http.sql.SpooledResponse`); an error after the first byte is
appended to the body as a JSON error object, as CARTO does.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import urllib.parse
import zlib
from collections.abc import Iterator
from typing import IO

from starlette.requests import Request
from starlette.responses import Response

from carto_async.testing._context import Context
from carto_async.testing._copydb import copy_in, spool_copy_out
from carto_async.testing._copysql import CopyError, CopyStatement, RowDecoder, parse_copy
from carto_async.testing._db import QueryError
from carto_async.testing._http.auth import KeyKind, sql_key
from carto_async.testing._http.bodies import BadBody, drain, express_params, read_sql_body
from carto_async.testing._http.routing import RouteMatch
from carto_async.testing._http.sql import SpooledResponse, key_limits, privacy_check
from carto_async.testing._sqlapi import SQLStream
from carto_async.testing._wire import CORS_HEADERS, express_json, sql_error, user_not_found

__all__ = ["copy_from", "copy_to"]

#: Bytes of the body kept in memory before the spool moves to a file.
SPOOL_BYTES = 8 * 1024 * 1024
READ_SIZE = 1024 * 1024


def _last(value: str | list[str] | None) -> str | None:
    return value[-1] if isinstance(value, list) else value


def _statement(q: str | None, direction: str) -> CopyStatement | Response:
    if not q:
        return sql_error("SQL is missing", 400, CORS_HEADERS)
    if q[:5].lower() != "copy ":
        return sql_error("SQL must start with COPY", 400, CORS_HEADERS)
    try:
        statement = parse_copy(q)
    except CopyError as exc:
        return sql_error(str(exc), 400, CORS_HEADERS)
    if statement.direction != direction:
        wanted = "COPY ... FROM STDIN" if direction == "from" else "COPY ... TO STDOUT"
        return sql_error(f"this endpoint runs {wanted} statements only", 400, CORS_HEADERS)
    return statement


def _load(ctx: Context, statement: CopyStatement, spool: IO[bytes]) -> int:
    spool.seek(0)
    decoder = RowDecoder(statement)

    def rows() -> Iterator[list[str | None]]:
        while chunk := spool.read(READ_SIZE):
            yield from decoder.feed(chunk)
        yield from decoder.close()

    return copy_in(ctx.db, statement, rows())


async def copy_from(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """Load the request body into a table with ``COPY ... FROM STDIN``."""
    if match.user != ctx.username:
        await drain(request)
        return user_not_found(match.user, CORS_HEADERS)
    params = express_params(request.query_params.multi_items())
    basic_user, key = sql_key(request.headers.get("authorization"), params, {})
    if basic_user is not None and basic_user != match.user:
        await drain(request)
        return sql_error("permission denied", 403, CORS_HEADERS)
    kind = ctx.keys.kind(key)
    if kind is None:
        await drain(request)
        return sql_error("Unauthorized", 401, CORS_HEADERS)
    statement = _statement(_last(params.get("q")), "from")
    if isinstance(statement, Response):
        await drain(request)
        return statement
    if kind is not KeyKind.MASTER:
        await drain(request)
        return sql_error(f"permission denied for table {statement.table}", 403, CORS_HEADERS)
    started = time.perf_counter()
    gzipped = request.headers.get("content-encoding", "").lower() == "gzip"
    inflate = zlib.decompressobj(wbits=31) if gzipped else None
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        try:
            async for chunk in request.stream():
                spool.write(inflate.decompress(chunk) if inflate is not None else chunk)
            if inflate is not None:
                spool.write(inflate.flush())
        except zlib.error as exc:
            await drain(request)
            detail = str(exc).split(": ", 1)[-1].replace("while decompressing data", "").strip()
            return sql_error(f"Error while gunzipping: {detail or exc}", 400, CORS_HEADERS)
        try:
            total = await asyncio.get_running_loop().run_in_executor(
                ctx.sql_pool, _load, ctx, statement, spool
            )
        except (CopyError, QueryError) as exc:
            return sql_error(str(exc), 400, CORS_HEADERS)
    if total == 0:
        return sql_error("No rows copied", 400, CORS_HEADERS)
    elapsed = round(time.perf_counter() - started, 3)
    return express_json({"time": elapsed, "total_rows": total}, 200, CORS_HEADERS)


async def copy_to(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """Stream the output of ``COPY ... TO STDOUT``."""
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
    kind = ctx.keys.kind(key)
    if kind is None:
        return sql_error("Unauthorized", 401, CORS_HEADERS)
    params = {**params_in_query, **body}
    statement = _statement(_last(params.get("q")), "to")
    if isinstance(statement, Response):
        return statement
    filename = _last(params.get("filename")) or "carto-sql-copyto.dmp"

    stored = ctx.keys.key(key)

    def run() -> SQLStream:
        # A key other than the master reads only public tables and what it was granted.
        authorize = None
        if kind is not KeyKind.MASTER and stored is not None:
            authorize, _ = key_limits(ctx, stored, privacy_check(ctx))
        spool = ctx.sql_results.spool()
        try:
            chunks = spool_copy_out(
                ctx.db,
                statement,
                spool,
                read_only=kind is not KeyKind.MASTER,
                timeout=ctx.sql_timeout,
                authorize=authorize,
            )
        except BaseException:
            spool.close()
            raise
        stream = SQLStream("application/octet-stream", {}, chunks, spool, error_tail=_error_tail)
        stream.prefetch()  # a small result: formatted now, sent without a worker thread
        return stream

    try:
        stream = await asyncio.get_running_loop().run_in_executor(ctx.sql_pool, run)
    except (CopyError, QueryError) as exc:
        message = str(exc)
        if "statement timeout" in message:
            body_429 = {
                "error": [
                    "You are over platform's limits: SQL query timeout error. Refactor your "
                    "query before running again or contact CARTO support for more details."
                ],
                "context": "limit",
                "detail": "datasource",
            }
            return express_json(body_429, 429, CORS_HEADERS)
        status = 403 if "permission denied" in message else 400
        return sql_error(message, status, CORS_HEADERS)
    headers = {
        **CORS_HEADERS,
        "Content-Disposition": f"attachment; filename={urllib.parse.quote(filename, safe='')}",
    }
    return SpooledResponse(stream, headers=headers)


def _error_tail(message: str) -> str:
    """What an error after the first byte appends to the COPY TO body."""
    return json.dumps({"error": [message]}, ensure_ascii=False, separators=(",", ":"))
