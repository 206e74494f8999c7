"""The Maps API's routes as data: each entry is a method, a path pattern (relative to
``/api/v1``, as Windshaft-cartodb mounts them) and the call it makes, so an HTTP layer can
route every Maps request with one catch-all and :func:`dispatch`.

Example::

    response = dispatch(maps, "GET", "/map/abc:0/1/0/0.png", caller=MapsCaller("demo", "public"))
    if response is None:
        ...  # not a Maps API path: 404
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from carto_async.testing._windshaft._data import LayerQuery
from carto_async.testing._windshaft._errors import MapsError
from carto_async.testing._windshaft._inputs import (
    KeyKindName,
    MapsResponse,
    error_response,
    parse_body,
)
from carto_async.testing._windshaft._service import Windshaft

__all__ = ["ROUTES", "MapsCall", "MapsCaller", "MapsRoute", "dispatch", "split_path"]


@attrs.frozen
class MapsCaller:
    """Who asks: the user the URL names (``/user/<name>`` or the host), their key kind, and
    ``reader``, the engine as their key reads it (its grants and the public tables; ``None``:
    as the owner, for the master key)."""

    user: str
    key: KeyKindName
    reader: LayerQuery | None = attrs.field(default=None, repr=False)


@attrs.frozen
class MapsCall:
    """One request, as the routes read it."""

    caller: MapsCaller
    path: Mapping[str, str]
    query: Mapping[str, Any]
    body: Any
    content_type: str | None
    base_url: str | None


Handler = Callable[[Windshaft, MapsCall], MapsResponse]


@attrs.frozen
class MapsRoute:
    """``method`` + ``pattern`` (``:name`` segments; ``{tile}`` is ``:z/:x/:y[@Nx].:format``)
    and the ``handler`` that answers."""

    method: str
    pattern: str
    handler: Handler = attrs.field(repr=False)
    regex: re.Pattern[str] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "regex", _compile(self.pattern))


_TILE = r"(?P<z>[^/]+)/(?P<x>[^/]+)/(?P<y>[^/@.]+)(?:@(?P<scale>[0-9.]+)x)?\.(?P<format>[^/]+)"


def _compile(pattern: str) -> re.Pattern[str]:
    regex = re.escape(pattern).replace(r"\{tile\}", _TILE)
    regex = re.sub(
        r":([a-z_]+)\\\.:([a-z_]+)$", r"(?P<\1>[^/]+?)\\.(?P<\2>[^/.]+(?:\\.[^/.]+)?)", regex
    )
    regex = re.sub(r":([a-z_]+)", r"(?P<\1>[^/]+)", regex)
    return re.compile(f"^{regex}/?$")


def _who(call: MapsCall) -> dict[str, Any]:
    return {"user": call.caller.user, "key": call.caller.key}


def _reading(call: MapsCall) -> dict[str, Any]:
    # The handlers whose SQL runs as the caller (anonymous maps and layergroup requests).
    return {**_who(call), "reader": call.caller.reader}


def _get_map(maps: Windshaft, call: MapsCall) -> MapsResponse:
    config = call.query.get("config")
    if config is None:
        return error_response(MapsError('layergroup GET needs a "config" parameter'))
    try:
        document = parse_body(str(config))
    except MapsError as exc:
        return error_response(exc)
    response = maps.create_map(**_reading(call), body=document, base_url=call.base_url)
    if response.status != 200:
        return response
    # GET answers are cacheable for the layergroup's TTL (layergroupTtl).
    headers = {**response.headers, "Cache-Control": "public,max-age=86400,must-revalidate"}
    return MapsResponse(response.status, headers, response.body)


def _tile(call: MapsCall, **extra: Any) -> dict[str, Any]:
    p = call.path
    return {
        **_who(call),
        "z": p["z"],
        "x": p["x"],
        "y": p["y"],
        "fmt": p["format"],
        "scale": p.get("scale") or 1,
        "query_params": call.query,
        **extra,
    }


#: Every Maps API route LocalCarto serves, in matching order.
ROUTES: tuple[MapsRoute, ...] = (
    MapsRoute(
        "POST",
        "/map",
        lambda m, c: m.create_map(
            **_reading(c), body=c.body, content_type=c.content_type, base_url=c.base_url
        ),
    ),
    MapsRoute("GET", "/map", _get_map),
    MapsRoute(
        "POST",
        "/map/named",
        lambda m, c: m.create_template(**_who(c), body=c.body, content_type=c.content_type),
    ),
    MapsRoute("GET", "/map/named", lambda m, c: m.list_templates(**_who(c))),
    MapsRoute(
        "GET",
        "/map/named/:template_id/:layer/{tile}",
        lambda m, c: m.named_tile(
            **_tile(c), template_id=c.path["template_id"], layer=c.path["layer"]
        ),
    ),
    MapsRoute(
        "GET",
        "/map/named/:template_id",
        lambda m, c: m.get_template(**_who(c), template_id=c.path["template_id"]),
    ),
    MapsRoute(
        "PUT",
        "/map/named/:template_id",
        lambda m, c: m.update_template(
            **_who(c), template_id=c.path["template_id"], body=c.body, content_type=c.content_type
        ),
    ),
    MapsRoute(
        "DELETE",
        "/map/named/:template_id",
        lambda m, c: m.delete_template(**_who(c), template_id=c.path["template_id"]),
    ),
    MapsRoute(
        "POST",
        "/map/named/:template_id",
        lambda m, c: m.instantiate(
            **_who(c),
            template_id=c.path["template_id"],
            body=c.body,
            query_params=c.query,
            content_type=c.content_type,
            base_url=c.base_url,
        ),
    ),
    MapsRoute(
        "GET",
        "/map/static/center/:token/:z/:lat/:lng/:width/:height.:format",
        lambda m, c: m.static_center(
            **_reading(c),
            layergroup_id=c.path["token"],
            z=c.path["z"],
            lat=c.path["lat"],
            lng=c.path["lng"],
            width=c.path["width"],
            height=c.path["height"],
            fmt=c.path["format"],
            query_params=c.query,
        ),
    ),
    MapsRoute(
        "GET",
        "/map/static/bbox/:token/:bbox/:width/:height.:format",
        lambda m, c: m.static_bbox(
            **_reading(c),
            layergroup_id=c.path["token"],
            bbox=c.path["bbox"],
            width=c.path["width"],
            height=c.path["height"],
            fmt=c.path["format"],
            query_params=c.query,
        ),
    ),
    MapsRoute(
        "GET",
        "/map/static/named/:template_id/:width/:height.:format",
        lambda m, c: m.static_named(
            **_who(c),
            template_id=c.path["template_id"],
            width=c.path["width"],
            height=c.path["height"],
            fmt=c.path["format"],
            query_params=c.query,
        ),
    ),
    MapsRoute(
        "GET",
        "/map/:token/:layer/attributes/:fid",
        lambda m, c: m.attributes(
            **_reading(c),
            layergroup_id=c.path["token"],
            layer=c.path["layer"],
            fid=c.path["fid"],
            query_params=c.query,
        ),
    ),
    MapsRoute(
        "GET",
        "/map/:token/{tile}",
        lambda m, c: m.tile(**_tile(c), layergroup_id=c.path["token"], reader=c.caller.reader),
    ),
    MapsRoute(
        "GET",
        "/map/:token/:layer/{tile}",
        lambda m, c: m.tile(
            **_tile(c),
            layergroup_id=c.path["token"],
            layer=c.path["layer"],
            reader=c.caller.reader,
        ),
    ),
)

_USER_PREFIX = re.compile(r"^/user/(?P<user>[^/]+)(?P<rest>/.*)$")
_API_PREFIX = "/api/v1"


def split_path(path: str) -> tuple[str | None, str] | None:
    """``(user or None, path below /api/v1)`` of a request path in either form
    (``/user/<name>/api/v1/map...`` or ``/api/v1/map...``); ``None`` for other paths."""
    user = None
    match = _USER_PREFIX.match(path)
    if match is not None:
        user, path = match["user"], match["rest"]
    if not path.startswith(_API_PREFIX + "/map"):
        return None
    return user, path[len(_API_PREFIX) :]


def dispatch(
    maps: Windshaft,
    method: str,
    path: str,
    *,
    caller: MapsCaller,
    query: Mapping[str, Any] | None = None,
    body: Any = None,
    content_type: str | None = None,
    base_url: str | None = None,
) -> MapsResponse | None:
    """Answer one Maps request; ``path`` is below ``/api/v1`` (``/map/...``, see
    :func:`split_path`). ``None`` when no route matches the path; 405-like mismatches (a known
    path with another method) are ``None`` too, for the HTTP layer to answer."""
    method = method.upper()
    for route in ROUTES:
        if route.method != method:
            continue
        match = route.regex.match(path)
        if match is None:
            continue
        params = {k: v for k, v in match.groupdict().items() if v is not None}
        call = MapsCall(caller, params, dict(query or {}), body, content_type, base_url)
        return route.handler(maps, call)
    return None
