"""Maps API handlers: every ``/api/v1/map...`` request, answered by the Windshaft room
(:mod:`carto_async.testing._windshaft`) with the layers' SQL run on LocalCarto's engine.

The HTTP side does what the room leaves to it: the user (``/user/<name>`` or the host; a user
other than the server's is the SQL API's 404 in the Maps error body), the caller's key kind
(Basic auth, then ``api_key`` / ``map_key`` in the query string, then in a JSON body; no key
is ``public``, the default public key sent as a key is ``default``, a key the user does not
have is ``invalid``, a Basic user other than the URL's is ``mismatch``, a key without the
``maps`` API grant is ``denied``), the engine as the caller's key reads it
(:class:`KeyReader`: the tables it was granted ``select`` on and the public ones, as the SQL
API decides, read-only), the base URL of the metadata's tile URLs, CORS, and a worker thread
for the room's CPU-bound handlers (rendering, queries).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import attrs
from starlette.requests import Request
from starlette.responses import Response

from carto_async.testing._apikeys import StoredKey
from carto_async.testing._context import Context
from carto_async.testing._http.auth import basic_credentials
from carto_async.testing._http.bodies import BadBody, _read_limited, drain, load_json
from carto_async.testing._http.routing import RouteMatch
from carto_async.testing._http.sql import privacy_check
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

__all__ = ["KeyReader", "caller", "engine_query", "handle", "room"]

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


Authorize = Callable[[list[tuple[str, str]]], str | None]


def engine_query(
    ctx: Context,
    sql: str,
    *,
    authorize: Authorize | None = None,
    visible: Collection[str] | None = None,
) -> list[Row]:
    """The room's ``query(sql)``: one ``(geometry, {column: value})`` per row, run read-only
    on LocalCarto's engine (the geometry is the first column, which the room names
    ``__geom``). ``authorize`` and ``visible`` are a key's limits (see :class:`KeyReader`);
    without them the query reads as the account's owner. An engine error (a refused table
    included) is raised for the room to report as the layer's."""
    result = ctx.db.run_statements(
        sql, read_only=True, timeout=ctx.sql_timeout, authorize=authorize, visible=visible
    )
    names: Sequence[str] = result.columns[1:]
    return [(row[0], dict(zip(names, row[1:], strict=True))) for row in result.rows]


@attrs.define(eq=False)
class KeyReader:
    """The engine as one request's non-master key reads it: what CARTO's database role of the
    key may ``SELECT`` (the tables it was granted ``select`` on, plus the public ones, which
    the default public key reads alone), and nothing it may write.

    The tables a statement reads are the engine's, as for the SQL API
    (``Database.accesses``); a refused one is PostgreSQL's ``permission denied for table
    <name>``, which the room reports as the layer's error (403). The privacy of the tables is
    read once, on the first query (in the worker thread, before the query takes the
    database's lock), and kept for the request.
    """

    ctx: Context = attrs.field(repr=False)
    key: StoredKey
    _limits: tuple[Authorize, set[str]] | None = attrs.field(default=None, init=False, repr=False)

    def limits(self) -> tuple[Authorize, set[str]]:
        """The check of a statement's table accesses and the tables ``CDB_UserTables()`` lists."""
        if self._limits is None:
            store, key = self.ctx.keys.store, self.key
            is_public = privacy_check(self.ctx)
            tables = self.ctx.db.list_tables()
            public = {t for t in tables if is_public(t)}

            def authorize(accesses: list[tuple[str, str]]) -> str | None:
                return store.read_denial(key, accesses, is_public=public.__contains__)

            visible = {t for t in tables if t in public or store.can(key, t, "select")}
            self._limits = (authorize, visible)
        return self._limits

    def __call__(self, sql: str) -> list[Row]:
        authorize, visible = self.limits()
        return engine_query(self.ctx, sql, authorize=authorize, visible=visible)


def caller(
    ctx: Context, user: str, token: str | None, *, basic_user: str | None = None
) -> MapsCaller:
    """Who a Maps request runs as, as Windshaft's authorize middleware reads its key: an
    unknown key is ``invalid``, then a Basic-auth user other than the URL's is ``mismatch``,
    then a key without the ``maps`` grant is ``denied``; the master key reads as the owner;
    a regular key, the default public key sent as a key (``default``) and no key
    (``public``) read what their grants and the tables' privacy allow."""
    stored = ctx.keys.key(token)
    if stored is None:
        return MapsCaller(user, "invalid")
    if basic_user is not None and basic_user != user:
        return MapsCaller(user, "mismatch")
    if ctx.keys.store.maps_denial(stored) is not None:
        return MapsCaller(user, "denied")
    if stored.is_master:
        return MapsCaller(user, "master")
    kind: KeyKindName = "regular" if stored.is_regular else "default" if token else "public"
    return MapsCaller(user, kind, KeyReader(ctx, stored))


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
    basic_user: str | None = None
    basic = basic_credentials(request.headers.get("authorization"))
    if basic is not None:
        basic_user, key = basic
    if key is None:
        key = _key_in(query)
    if key is None and raw.lstrip()[:1] == b"{":
        try:
            document = load_json(raw)
        except BadBody:
            document = None
        if isinstance(document, Mapping):
            key = _key_in(document)
    origin = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
    base_url = origin + (f"/user/{prefixed}" if prefixed is not None else "") + "/api/v1/map"
    run = functools.partial(
        dispatch,
        room(ctx),
        request.method,
        rest,
        caller=caller(ctx, user, key, basic_user=basic_user),
        query=query,
        body=raw,
        content_type=request.headers.get("content-type"),
        base_url=base_url,
    )
    response = await asyncio.get_running_loop().run_in_executor(ctx.sql_pool, run)
    if response is None:
        return _error("Not Found", 404)
    return _answer(response)
