"""HTTP handlers of LocalCarto's Auth API (``/api/v3/api_keys``) and ``/api/v3/me``.

Each handler reads the request as Rails does (query and JSON/form body merged, the key from
an ``Authorization: Basic`` header or the ``api_key`` parameter), calls the
:class:`~carto_async.testing._apikeys.ApiKeyStore` and renders its answer.

The route table (``_http/app.py``) serves them through the ``*_route`` adapters
(``handler(request, ctx, match)``); the store-level handlers
(``async def handler(request, store, user, **path_params) -> Response``, ``user`` being the
request's user) and :data:`AUTH_API_ROUTES`/:func:`match_auth_api` serve any other app.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import attrs
from starlette.requests import Request
from starlette.responses import Response

from carto_async.testing._apikeys import ApiKeyStore, AuthApiError, StoredKey
from carto_async.testing._context import Context
from carto_async.testing._http.auth import rails_basic_credentials
from carto_async.testing._http.bodies import drain, rails_params
from carto_async.testing._http.routing import RouteMatch
from carto_async.testing._wire import rails_empty, rails_json, rails_jsonp

__all__ = [
    "AUTH_API_ROUTES",
    "AuthApiRoute",
    "create_api_key",
    "create_route",
    "delete_api_key",
    "delete_route",
    "list_api_keys",
    "list_route",
    "match_auth_api",
    "me",
    "me_route",
    "regenerate_api_key",
    "regenerate_route",
    "request_key",
    "show_api_key",
    "show_route",
]

#: A body larger than this is refused (the Auth API takes a name and a few grants).
MAX_BODY = 1024 * 1024

Handler = Callable[..., Awaitable[Response]]


class _BadBody(Exception):
    """A body Rails cannot parse: 400, empty body."""


async def _body(request: Request) -> dict[str, Any]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            await drain(request)
            raise _BadBody
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):
            raise _BadBody from None
        # Rails wraps a JSON array or scalar body in "_json"; the actions read named params.
        return value if isinstance(value, dict) else {"_json": value}
    if media == "application/x-www-form-urlencoded":
        try:
            return rails_params(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise _BadBody from None
    return {}


async def _params(request: Request) -> dict[str, Any]:
    body = await _body(request)
    # Rails' params: the query string, then the body over it.
    return {**rails_params(request.query_params.multi_items()), **body}


def request_key(request: Request, params: Mapping[str, Any], user: str) -> str | None:
    """The token a Rails Auth API request authenticates with, as Warden reads it.

    A Basic header wins (and names the user: another user's name is no key at all); else the
    ``api_key`` parameter.
    """
    basic = rails_basic_credentials(request.headers.get("authorization"))
    if basic is not None:
        name, token = basic
        return token if name == user else None
    key = params.get("api_key")
    return key if isinstance(key, str) and key else None


def _collection_url(request: Request) -> str:
    url = str(request.url.replace(query="")).rstrip("/")
    return re.sub(r"/api_keys/.*$", "/api_keys", url)


def _account_url(request: Request) -> str:
    url = str(request.url.replace(query=""))
    return url.split("/api/", 1)[0]


async def _answer(
    request: Request,
    store: ApiKeyStore,
    user: str,
    action: Callable[[StoredKey, dict[str, Any]], tuple[int, Any]],
    *,
    master: bool,
) -> Response:
    try:
        params = await _params(request)
    except _BadBody:
        return rails_empty(400)
    try:
        if user != store.username:
            raise AuthApiError(401)
        viewer = store.authenticate(request_key(request, params, user), master=master)
        status, data = action(viewer, params)
    except AuthApiError as exc:
        body = exc.body()
        return rails_empty(exc.status) if body is None else rails_json(body, exc.status)
    if data is None:
        return Response(b"", status_code=status)
    return rails_jsonp(data, status, params.get("callback"))


async def create_api_key(request: Request, store: ApiKeyStore, user: str) -> Response:
    """``POST /api/v3/api_keys``: 201 and the new key (master key only)."""

    def action(viewer: StoredKey, params: dict[str, Any]) -> tuple[int, Any]:
        key = store.create(params.get("name"), params.get("grants"))
        return 201, store.key_json(key)

    return await _answer(request, store, user, action, master=True)


async def list_api_keys(request: Request, store: ApiKeyStore, user: str) -> Response:
    """``GET /api/v3/api_keys``: a page of keys (any key of the account; non-master: itself)."""
    url = _collection_url(request)

    def action(viewer: StoredKey, params: dict[str, Any]) -> tuple[int, Any]:
        return 200, store.index_json(viewer, params, url)

    return await _answer(request, store, user, action, master=False)


async def show_api_key(request: Request, store: ApiKeyStore, user: str, name: str) -> Response:
    """``GET /api/v3/api_keys/:name``."""

    def action(viewer: StoredKey, params: dict[str, Any]) -> tuple[int, Any]:
        return 200, store.key_json(store.get(name, viewer))

    return await _answer(request, store, user, action, master=False)


async def delete_api_key(request: Request, store: ApiKeyStore, user: str, name: str) -> Response:
    """``DELETE /api/v3/api_keys/:name``: 204 (master key only)."""

    def action(viewer: StoredKey, params: dict[str, Any]) -> tuple[int, Any]:
        store.delete(name, viewer)
        return 204, None

    return await _answer(request, store, user, action, master=True)


async def regenerate_api_key(
    request: Request, store: ApiKeyStore, user: str, name: str
) -> Response:
    """``POST /api/v3/api_keys/:name/token/regenerate``: the key with its new token."""

    def action(viewer: StoredKey, params: dict[str, Any]) -> tuple[int, Any]:
        return 200, store.key_json(store.regenerate(name, viewer))

    return await _answer(request, store, user, action, master=True)


async def me(
    request: Request,
    store: ApiKeyStore,
    user: str,
    *,
    table_count: Callable[[], int] | None = None,
    limits: Mapping[str, Any] | None = None,
) -> Response:
    """``GET /api/v3/me``: the account for the master key, the public configuration otherwise.

    Authentication is optional here (never 401): a missing, unknown or non-master key gets
    what an anonymous visitor gets.
    """
    try:
        params = await _params(request)
    except _BadBody:
        return rails_empty(400)
    viewer = None
    if user == store.username:
        found = store.lookup(request_key(request, params, user))
        viewer = found if found is not None and found.is_master else None
    data = store.me_json(
        viewer,
        base_url=_account_url(request),
        table_count=table_count() if table_count is not None and viewer is not None else 0,
        limits=limits,
    )
    return rails_json(data)


@attrs.frozen
class AuthApiRoute:
    """One route: method, path under the account (``/api/v3/...``) and handler."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    template: str


def _route(method: str, template: str, handler: Handler) -> AuthApiRoute:
    regex = re.escape(template).replace(re.escape("{name}"), "(?P<name>[^/]+)")
    return AuthApiRoute(method, re.compile(rf"^{regex}/?$"), handler, template)


#: Every Auth API route, as ``config/routes.rb`` declares them (``id: /[^\/]+/``).
AUTH_API_ROUTES: tuple[AuthApiRoute, ...] = (
    _route("GET", "/api/v3/api_keys", list_api_keys),
    _route("POST", "/api/v3/api_keys", create_api_key),
    _route("POST", "/api/v3/api_keys/{name}/token/regenerate", regenerate_api_key),
    _route("GET", "/api/v3/api_keys/{name}", show_api_key),
    _route("DELETE", "/api/v3/api_keys/{name}", delete_api_key),
    _route("GET", "/api/v3/me", me),
)


def match_auth_api(method: str, api_path: str) -> tuple[AuthApiRoute, dict[str, str]] | None:
    """The route of ``method`` ``api_path`` (``/api/v3/...``) and its path parameters."""
    for route in AUTH_API_ROUTES:
        if route.method != method.upper():
            continue
        found = route.pattern.match(api_path)
        if found is not None:
            return route, found.groupdict()
    return None


# -- the route table's adapters (``handler(request, ctx, match)``) -----------------------------


async def list_route(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``GET /api/v3/api_keys``."""
    return await list_api_keys(request, ctx.keys.store, match.user)


async def create_route(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``POST /api/v3/api_keys``."""
    return await create_api_key(request, ctx.keys.store, match.user)


async def show_route(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``GET /api/v3/api_keys/{name}``."""
    return await show_api_key(request, ctx.keys.store, match.user, match.params["name"])


async def delete_route(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``DELETE /api/v3/api_keys/{name}``."""
    return await delete_api_key(request, ctx.keys.store, match.user, match.params["name"])


async def regenerate_route(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``POST /api/v3/api_keys/{name}/token/regenerate``."""
    return await regenerate_api_key(request, ctx.keys.store, match.user, match.params["name"])


async def me_route(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``GET /api/v3/me``: the table count is the account's tables."""
    return await me(
        request, ctx.keys.store, match.user, table_count=lambda: len(ctx.db.list_tables())
    )
