"""SQL API handlers: the query endpoint ``GET|POST /api/<version>/sql`` (reference §9.1)."""

from __future__ import annotations

import asyncio
import functools

from starlette.requests import Request
from starlette.responses import Response

from carto_async.testing._context import Context
from carto_async.testing._http.auth import KeyKind, sql_key
from carto_async.testing._http.bodies import BadBody, drain, express_params, read_sql_body
from carto_async.testing._http.routing import RouteMatch
from carto_async.testing._sqlapi import run_sql
from carto_async.testing._wire import CORS_HEADERS, sql_error, user_not_found

__all__ = ["query"]


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
    kind = ctx.keys.kind(key)
    if kind is None:
        return sql_error("Unauthorized", 401, CORS_HEADERS)
    params: dict[str, str | list[str]] = {**params_in_query, **body}
    for name in ("api_key", "map_key"):
        params.pop(name, None)
    # Only the master key writes: the public user and regular keys get PostgreSQL's
    # "permission denied" for writes. Queries are CPU-bound database work, run in the pool.
    run = functools.partial(
        run_sql,
        ctx.db,
        params,
        read_only=kind is not KeyKind.MASTER,
        timeout=ctx.sql_timeout,
    )
    result = await asyncio.get_running_loop().run_in_executor(ctx.sql_pool, run)
    headers = {**result.headers, **CORS_HEADERS}
    return Response(
        result.body, status_code=result.status, media_type=result.content_type, headers=headers
    )
