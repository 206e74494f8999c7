"""viz.json requests and the decisions of a viz.json image (sans-I/O).

Where the viz.json comes from and who gets the key: an id is read from the account
(``/api/v3/viz/<id>/viz.json``, the key as a query parameter as on every Rails call); a URL
under the account's base URL is the same; any other URL (another account, another server) is
fetched as it is, **without** the key. The image of a viz.json is made on the Maps API the
viz.json names (``datasource.maps_api_template`` with its ``user_name``): the account's own
with the key, any other without it.

How an image of a viz.json is framed, as CartoDB.js's ``cartodb.Image`` does it: an explicit
``bbox`` wins, then an explicit ``center`` (with the image's zoom, else the map's); otherwise
the map's ``bounds`` (a zoom alone does not replace them), unless ``override_bbox`` asks for
the centre and zoom instead (the image's, else the map's ``center`` and ``zoom``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import attrs

from carto_async._core.http import KeyPlacement, RequestSpec, Service
from carto_async._core.maps import ImageOptions
from carto_async.errors import APIError, ValidationError
from carto_async.models.maps import MapConfig
from carto_async.models.vizjson import BaseLayer, VizJson

__all__ = [
    "DEFAULT_BASEMAP",
    "MapsEndpoint",
    "basemap_layer",
    "frame",
    "image_mapconfig",
    "maps_endpoint",
    "on_endpoint",
    "parse_vizjson",
    "static_image_request",
    "vizjson_request",
]

#: The basemap CartoDB.js draws when a viz.json has none.
DEFAULT_BASEMAP = BaseLayer.tiles(
    "http://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}.png", ("a", "b", "c")
)
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DEFAULT_ZOOM = 10  # CartoDB.js's zoom when neither the image nor the map has one


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _under(url: str, base_url: str) -> str | None:
    """The path of ``url`` on the account at ``base_url``, or None when it lies elsewhere."""
    base = base_url.rstrip("/")
    if _origin(url) != _origin(base):
        return None
    rest = url[len(base) :] if url.startswith(base) else None
    if rest is None or not (rest == "" or rest.startswith("/")):
        return None
    return rest or "/"


def vizjson_request(
    id_or_url: str, base_url: str, *, version: int = 3, with_key: bool = True
) -> RequestSpec:
    """GET a viz.json: a visualization id (or name) of the account, or a viz.json URL.

    A URL off the account's base URL is fetched as it is, without the key. The key is
    optional (public and link maps are served to anyone): ``with_key=False`` asks as the
    public user.
    """
    own_key = KeyPlacement.QUERY if with_key else KeyPlacement.NONE
    if not isinstance(id_or_url, str) or not id_or_url.strip():
        raise ValidationError(f"give a visualization id or a viz.json URL, got {id_or_url!r}")
    value = id_or_url.strip()
    if "://" in value:
        if not re.match(r"^https?://", value, re.IGNORECASE) or not urlsplit(value).hostname:
            raise ValidationError(f"a viz.json URL must be http(s), got {value[:80]!r}")
        path = _under(value, base_url)
        if path is not None:
            route, _, query = path.partition("?")
            return RequestSpec(
                "GET", route, Service.RAILS, params=dict(parse_qsl(query)), key=own_key
            )
        return RequestSpec("GET", value, Service.RAILS, key=KeyPlacement.NONE)
    if version not in (2, 3):
        raise ValidationError(f"viz.json versions are 2 and 3, got {version!r}")
    if not _ID_RE.match(value):
        raise ValidationError(
            f"invalid visualization id {value[:80]!r}: give its id (a UUID) or a viz.json URL"
        )
    return RequestSpec(
        "GET", f"/api/v{version}/viz/{quote(value, safe='')}/viz.json", Service.RAILS, key=own_key
    )


def parse_vizjson(body: Any) -> VizJson:
    """A :class:`VizJson` from the body of a viz.json request."""
    try:
        return VizJson.from_json(body)
    except ValidationError as exc:
        raise APIError(f"unexpected viz.json ({exc}): {str(body)[:200]}") from None


def basemap_layer(value: BaseLayer | Mapping[str, Any] | str) -> BaseLayer:
    """A basemap override: a :class:`BaseLayer`, a viz.json layer object
    (``{"type": "http", "options": {"urlTemplate": ...}}``, as CartoDB.js takes it), a tile
    URL template (with ``{z}``, ``{x}``, ``{y}``) or a CSS colour (a plain basemap)."""
    if isinstance(value, BaseLayer):
        return value
    if isinstance(value, Mapping):
        if not isinstance(value.get("options"), Mapping):
            raise ValidationError("a basemap object needs `options` (urlTemplate or color)")
        return BaseLayer.from_json(value)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if all(part in text for part in ("{z}", "{x}", "{y}")):
            if not re.match(r"^https?://", text, re.IGNORECASE):
                raise ValidationError(f"a basemap URL template must be http(s): {text[:80]!r}")
            return BaseLayer.tiles(text, ("a", "b", "c") if "{s}" in text else None)
        if "://" in text or "/" in text:
            raise ValidationError(
                f"a basemap URL template needs {{z}}, {{x}} and {{y}}: {text[:80]!r}"
            )
        return BaseLayer.plain(text)
    raise ValidationError(
        f"a basemap is a tile URL template, a colour or a viz.json layer, got {value!r}"
    )


def image_mapconfig(vizjson: VizJson, basemap: BaseLayer | None = None) -> MapConfig:
    """What CartoDB.js posts for an image: the basemap (``basemap``, else the map's own,
    else CARTO's light basemap) then the visible data layers."""
    return vizjson.to_mapconfig(basemap=basemap or vizjson.basemap or DEFAULT_BASEMAP)


def frame(options: ImageOptions, vizjson: VizJson, *, override_bbox: bool = False) -> ImageOptions:
    """The image's framing once the map's own is filled in (see the module docstring)."""
    if options.bbox is not None:
        return options
    zoom = options.zoom if options.zoom is not None else vizjson.zoom
    zoom = _DEFAULT_ZOOM if zoom is None else max(0, min(zoom, 30))
    if options.center is not None:
        return attrs.evolve(options, zoom=zoom)
    bbox = vizjson.bbox
    if bbox is not None and not override_bbox:
        west, south, east, north = bbox
        if south < north and west != east:
            return attrs.evolve(options, bbox=bbox, center=None, zoom=None)
    lat, lng = vizjson.center or (0.0, 0.0)
    return attrs.evolve(options, center=(lat, lng), zoom=zoom)


@attrs.frozen
class MapsEndpoint:
    """Where a viz.json's image is made: ``root`` (no trailing slash) and whether it is the
    account's own (``own``: the key goes; otherwise it never does)."""

    root: str
    own: bool


def maps_endpoint(
    vizjson: VizJson, base_url: str, *, fetched_from: str | None = None
) -> MapsEndpoint:
    """The Maps API of the viz.json's owner: ``maps_api_template`` with its ``user_name``.

    A viz.json that does not say falls back to the account when it was read from the account
    (``fetched_from`` None or under ``base_url``); one read elsewhere must say.
    """
    base = base_url.rstrip("/")
    template = vizjson.maps_api_template
    user = vizjson.user_name
    if template and (user or "{user}" not in template):
        root = template.replace("{user}", user or "").rstrip("/")
        if not re.match(r"^https?://", root, re.IGNORECASE):
            raise ValidationError(f"the viz.json's Maps API is not http(s): {root[:80]!r}")
        return MapsEndpoint(root=root, own=_under(root, base) == "/")
    if fetched_from is None or "://" not in fetched_from or _under(fetched_from, base):
        return MapsEndpoint(root=base, own=True)
    raise ValidationError(
        "the viz.json does not say where its Maps API is (no datasource.maps_api_template)"
    )


def on_endpoint(spec: RequestSpec, endpoint: MapsEndpoint) -> RequestSpec:
    """``spec`` sent to ``endpoint``: unchanged on the account, else absolute and keyless."""
    if endpoint.own:
        return spec
    return attrs.evolve(spec, path=endpoint.root + spec.path, key=KeyPlacement.NONE)


def static_image_request(path: str) -> RequestSpec:
    """GET a static image path (its query string becomes the request's parameters)."""
    route, _, query = path.partition("?")
    params = dict(parse_qsl(query, keep_blank_values=True))
    return RequestSpec("GET", route, Service.MAPS, params=params, key=KeyPlacement.BASIC)
