"""The LocalCarto ASGI application: routing, users, keys and the SQL API query endpoint."""

from __future__ import annotations

import asyncio
import functools

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from carto_async.testing._asgi import ASGIApp, FaultLayer, Scope
from carto_async.testing._auth import KeyKind, sql_key
from carto_async.testing._bodies import BadBody, drain, express_params, read_sql_body
from carto_async.testing._context import ROUTE_SCOPE_KEY, Context, RouteMatch, resolve
from carto_async.testing._imports import create_import, list_imports, show_import
from carto_async.testing._sqlapi import run_sql
from carto_async.testing._wire import CORS_HEADERS, sql_error, user_not_found

__all__ = ["create_app"]

_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def sql_query(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``GET|POST /api/<version>/sql``: authorize, then hand the parameters to the data layer."""
    if request.method == "OPTIONS":
        return Response(b"", status_code=200, headers=CORS_HEADERS)
    if match.user != ctx.username:
        await drain(request)
        return user_not_found(match.user, CORS_HEADERS)
    query = express_params(request.query_params.multi_items())
    try:
        body = await read_sql_body(request)
    except BadBody as exc:
        return sql_error(str(exc), 400, CORS_HEADERS)
    basic_user, key = sql_key(request.headers.get("authorization"), query, body)
    if basic_user is not None and basic_user != match.user:
        return sql_error("permission denied", 403, CORS_HEADERS)
    kind = ctx.keys.kind(key)
    if kind is None:
        return sql_error("Unauthorized", 401, CORS_HEADERS)
    params: dict[str, str | list[str]] = {**query, **body}
    for name in ("api_key", "map_key"):
        params.pop(name, None)
    # Only the master key writes: the public user and regular keys get PostgreSQL's
    # "permission denied" for writes. Queries are CPU-bound engine work, run in the pool.
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


def _not_found() -> Response:
    return Response(b"Not Found", status_code=404, media_type="text/plain; charset=utf-8")


_HANDLERS = {
    "imports_create": create_import,
    "imports_show": show_import,
    "imports_list": list_imports,
    "sql_query": sql_query,
}


def create_app(ctx: Context) -> ASGIApp:
    """The ASGI app serving ``ctx``: a Starlette app inside the counting/fault layer."""

    def route_of(scope: Scope) -> RouteMatch | None:
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        host = next((v.decode("latin-1") for k, v in headers if k == b"host"), None)
        return resolve(scope["method"], scope["path"], host, ctx.username, ctx.host_based)

    async def dispatch(request: Request) -> Response:
        scope = request.scope
        match = scope[ROUTE_SCOPE_KEY] if ROUTE_SCOPE_KEY in scope else route_of(scope)
        if match is None:
            await drain(request)
            return _not_found()
        return await _HANDLERS[match.handler](request, ctx, match)

    app = Starlette(routes=[Route("/{path:path}", dispatch, methods=_METHODS)])
    return FaultLayer(app, resolve=route_of, faults=ctx.faults, counters=ctx.counters)
