"""Maps API handlers: every ``/api/v1/map...`` request, answered by the Windshaft room
(:mod:`carto_async.testing._windshaft`) with the layers' SQL run on LocalCarto's engine.

The HTTP side does what the room leaves to it: the user (``/user/<name>`` or the host; a user
other than the server's is the SQL API's 404 in the Maps error body), the
caller's key kind (Basic auth, then ``api_key`` / ``map_key`` in the query string, then in a
JSON body; no key or the default public key is ``public``, a key the user does not have is
``invalid``; a Basic user other than the URL's is 403), the base URL of the metadata's tile
URLs, CORS, and a worker thread for the room's CPU-bound handlers (rendering, queries).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from carto_async.testing._context import Context
from carto_async.testing._http.auth import KeyKind, basic_credentials
from carto_async.testing._http.bodies import BadBody, _read_limited, drain, load_json
from carto_async.testing._http.routing import RouteMatch
from carto_async.testing._windshaft import (
    KeyKindName,
    MapsCaller,
    MapsResponse,
    Row,
    Windshaft,
    dispatch,
    split_path,
)
from carto_async.testing._windshaft._inputs import json_response
from carto_async.testing._wire import CORS_HEADERS

__all__ = ["engine_query", "handle", "room"]

_KINDS: dict[KeyKind, KeyKindName] = {
    KeyKind.MASTER: "master",
    KeyKind.REGULAR: "regular",
    KeyKind.PUBLIC: "public",
}
_PREFLIGHT = {
    **CORS_HEADERS,
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
}


def _error(message: str, status: int) -> Response:
    return _answer(json_response(status, {"errors": [message]}))


def _answer(response: MapsResponse) -> Response:
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    headers.update(CORS_HEADERS)
    return Response(response.body, status_code=response.status, headers=headers)


def _key_in(source: Mapping[str, Any]) -> str | None:
    for name in ("api_key", "map_key"):
        value = source.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, str) and value:
            return value
    return None


def engine_query(ctx: Context, sql: str) -> list[Row]:
    """The room's ``query(sql)``: one ``(geometry, {column: value})`` per row, run read-only
    on LocalCarto's engine (the geometry is the first column, which the room names
    ``__geom``). An engine error is raised for the room to report as the layer's."""
    result = ctx.db.run_statements(sql, read_only=True, timeout=ctx.sql_timeout)
    names: Sequence[str] = result.columns[1:]
    return [(row[0], dict(zip(names, row[1:], strict=True))) for row in result.rows]


_ROOM_LOCK = threading.Lock()


def room(ctx: Context) -> Windshaft:
    """The server's Maps room (made on first use): layergroups live 2 h after their last use
    on the server's clock, the layers' SQL runs on its engine."""
    with _ROOM_LOCK:
        if ctx.maps is None:
            ctx.maps = Windshaft(functools.partial(engine_query, ctx), clock=ctx.clock.monotonic)
        return ctx.maps


async def handle(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """Answer a Maps API request through the room (in a worker thread)."""
    if request.method == "OPTIONS":
        await drain(request)
        return Response(b"", status_code=200, headers=_PREFLIGHT)
    split = split_path(request.url.path.rstrip("/") or "/")
    if split is None:
        await drain(request)
        return _error("Not Found", 404)
    prefixed, rest = split
    user = match.user
    if user != ctx.username:
        await drain(request)
        return _error(
            f"Sorry, we can't find CARTO user '{user}'. Please check that you have entered the "
            "correct domain.",
            404,
        )
    try:
        raw = await _read_limited(request)
    except BadBody as exc:
        return _error(str(exc), 413)
    query = dict(request.query_params)
    key: str | None = None
    basic = basic_credentials(request.headers.get("authorization"))
    if basic is not None:
        basic_user, key = basic
        if basic_user != user:
            return _error("Forbidden", 403)
    if key is None:
        key = _key_in(query)
    if key is None and raw.lstrip()[:1] == b"{":
        try:
            document = load_json(raw)
        except BadBody:
            document = None
        if isinstance(document, Mapping):
            key = _key_in(document)
    found = ctx.keys.kind(key)
    kind: KeyKindName = _KINDS[found] if found is not None else "invalid"
    origin = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
    base_url = origin + (f"/user/{prefixed}" if prefixed is not None else "") + "/api/v1/map"
    run = functools.partial(
        dispatch,
        room(ctx),
        request.method,
        rest,
        caller=MapsCaller(user, kind),
        query=query,
        body=raw,
        content_type=request.headers.get("content-type"),
        base_url=base_url,
    )
    response = await asyncio.get_running_loop().run_in_executor(ctx.sql_pool, run)
    if response is None:
        return _error("Not Found", 404)
    return _answer(response)
