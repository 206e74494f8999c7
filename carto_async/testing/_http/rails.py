"""What the Rails endpoints of syncs, visualizations and exports share: params, keys, errors."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from carto_async.testing._context import Context
from carto_async.testing._http.auth import rails_basic_credentials
from carto_async.testing._http.bodies import rails_params
from carto_async.testing._http.routing import RouteMatch
from carto_async.testing._wire import rails_json

__all__ = ["BadJson", "carto_error", "is_master", "json_body", "query_params"]

_MAX_BODY = 1 << 20


class BadJson(ValueError):
    """A body that is not the JSON object the endpoint needs."""


def query_params(request: Request) -> dict[str, Any]:
    """The query string, parsed as Rails parses it."""
    return rails_params(request.query_params.multi_items())


async def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object (an empty body is ``{}``); :class:`BadJson` otherwise."""
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > _MAX_BODY:
            raise BadJson("request body too large")
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadJson(f"the body is not JSON: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise BadJson("the body must be a JSON object")
    return data


def is_master(ctx: Context, match: RouteMatch, request: Request, params: dict[str, Any]) -> bool:
    """Warden's ``auth_api``: the Basic header if it parses, else ``api_key``; master key only."""
    if match.user != ctx.username:
        return False
    basic = rails_basic_credentials(request.headers.get("authorization"))
    if basic is not None:
        user, token = basic
        return user == match.user and ctx.keys.is_master(token)
    key = params.get("api_key")
    return ctx.keys.is_master(key)


def carto_error(message: str, status: int) -> Response:
    """``Carto::CartoError`` rendered: ``{"errors": message, "errors_cause": null}``."""
    return rails_json({"errors": message, "errors_cause": None}, status)
