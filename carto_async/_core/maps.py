"""Maps API requests, URLs and response parsing (sans-I/O; reference §8).

Anonymous maps, named-map admin and instantiation are JSON requests described as
:class:`RequestSpec`; tiles, attributes and static images are GETs whose paths are built and
checked here (formats, layer filters, retina scale, the 8192 px image limit) before anything is
sent. The key travels in a Basic auth header, never in a JSON body: the server stores named-map
bodies verbatim. The SDK always POSTs MapConfigs; ``GET /map?config=`` and its ``lzma`` and
JSONP variants exist for browsers, and put the whole config (and a key) in a URL.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import attrs

from carto_async._core.credentials import redact
from carto_async._core.http import KeyPlacement, RequestSpec, Service
from carto_async.errors import APIError, ValidationError
from carto_async.models.maps import (
    CdnUrl,
    Layergroup,
    MapConfig,
    Template,
    TorqueCell,
    UTFGrid,
)

__all__ = [
    "IMAGE_FORMATS",
    "MAP_PATH",
    "NAMED_PATH",
    "STATIC_SIZE_LIMIT",
    "TILE_FORMATS",
    "ImageOptions",
    "LayerFilter",
    "attributes_path",
    "attributes_request",
    "check_image_size",
    "check_template_name",
    "create_request",
    "layer_filter",
    "named_create_request",
    "named_delete_request",
    "named_get_request",
    "named_instantiate_request",
    "named_list_request",
    "named_update_request",
    "parse_grid",
    "parse_layergroup",
    "parse_template",
    "parse_template_id",
    "parse_template_ids",
    "parse_torque",
    "static_bbox_path",
    "static_center_path",
    "static_named_path",
    "static_request",
    "tile_content",
    "tile_path",
    "tile_request",
    "tile_url",
]

MAP_PATH = "/api/v1/map"
NAMED_PATH = "/api/v1/map/named"

#: The tile formats the server renders (``json.torque`` is an alias of ``torque.json``).
TILE_FORMATS = ("png", "png32", "mvt", "grid.json", "torque.json", "json.torque")
#: Static image formats.
IMAGE_FORMATS = ("png", "jpg")
#: The largest width or height of a static image (Windshaft's ``imageSizeLimit``).
STATIC_SIZE_LIMIT = 8192
#: Retina scale factors the tile route takes (``@2x``).
SCALE_FACTORS = (1, 2, 3, 4)

_TEMPLATE_NAME_RE = re.compile(r"^[a-z0-9][0-9a-z_-]*$", re.IGNORECASE)
_LAYER_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
# Layergroup ids: <md5>:<cache buster>, or <user>@<hash>@<md5>:<cache buster> for instances.
_LAYERGROUP_ID_RE = re.compile(r"^[A-Za-z0-9_@.-]+(:[0-9]+)?$")

#: A layer selection: an index, a layer id, ``"all"``, or several indexes / ids.
LayerFilter = int | str | Sequence[int | str]


# --- anonymous maps ------------------------------------------------------------------------


def _contains(body: Any, secret: str | None) -> bool:
    text = json.dumps(body)
    return bool(secret) and redact(text, secret) != text


def create_request(
    config: MapConfig | Mapping[str, Any], *, secret: str | None = None
) -> RequestSpec:
    """``POST /api/v1/map`` with the MapConfig; every problem is reported before sending.

    The same MapConfig always gives the same layergroup, so the request is safe to repeat.
    ``secret`` (the API key) must not appear in the body: it travels in a header.
    """
    if not isinstance(config, MapConfig):
        config = MapConfig.from_json(config)
    config.validate()
    body = config.to_json()
    if _contains(body, secret):
        raise ValidationError(
            "the MapConfig contains your API key; the SDK sends the key in a header and never "
            "inside a request body"
        )
    return RequestSpec(
        "POST",
        MAP_PATH,
        Service.MAPS,
        json=body,
        key=KeyPlacement.BASIC,
        idempotent=True,
    )


def parse_layergroup(body: Any) -> Layergroup:
    """A :class:`Layergroup` from the body of map creation or named-map instantiation."""
    try:
        return Layergroup.from_json(body)
    except ValueError as exc:
        raise APIError(f"unexpected Maps API response ({exc}): {str(body)[:200]}") from None


def parse_grid(body: Any) -> UTFGrid:
    """A :class:`UTFGrid` from a ``grid.json`` tile body."""
    try:
        return UTFGrid.from_json(body)
    except ValueError as exc:
        raise APIError(f"unexpected Maps API response ({exc}): {str(body)[:200]}") from None


def parse_torque(body: Any) -> tuple[TorqueCell, ...]:
    """The cells of a ``torque.json`` tile body."""
    try:
        return TorqueCell.tile_from_json(body)
    except ValueError as exc:
        raise APIError(f"unexpected Maps API response ({exc}): {str(body)[:200]}") from None


def tile_content(status_code: int, content: bytes) -> bytes:
    """The bytes of a tile answer: an empty MVT comes as 204 and is an empty tile."""
    return b"" if status_code == 204 else content


# --- layer filters, tiles, attributes -------------------------------------------------------


def _check_layergroup_id(layergroupid: str) -> str:
    if not isinstance(layergroupid, str) or not _LAYERGROUP_ID_RE.match(layergroupid):
        raise ValidationError(f"invalid layergroup id {layergroupid!r}")
    return layergroupid


def layer_filter(layer: LayerFilter) -> str:
    """The ``:layer`` path segment: ``0``, ``0,2``, ``all`` or layer ids such as ``layer0``."""
    items: Sequence[int | str] = [layer] if isinstance(layer, int | str) else list(layer)
    if not items:
        raise ValidationError("the layer filter is empty: give an index, ids, or 'all'")
    parts: list[str] = []
    problems: list[str] = []
    for item in items:
        if isinstance(item, bool):
            problems.append(f"invalid layer {item!r}")
        elif isinstance(item, int):
            if item < 0:
                problems.append(f"layer indexes are non-negative, got {item}")
            parts.append(str(item))
        elif isinstance(item, str) and _LAYER_ID_RE.match(item):
            parts.append(item)
        else:
            problems.append(f"invalid layer {item!r}: use an index, a layer id or 'all'")
    if "all" in parts and len(parts) > 1:
        problems.append("'all' cannot be combined with other layers")
    if problems:
        raise ValidationError("; ".join(problems), problems=problems)
    return ",".join(parts)


def _check_tile(z: int, x: int, y: int) -> None:
    problems: list[str] = []
    if not isinstance(z, int) or isinstance(z, bool) or z < 0:
        problems.append(f"zoom must be a non-negative integer, got {z!r}")
    if not isinstance(x, int) or isinstance(x, bool):
        problems.append(f"tile x must be an integer, got {x!r}")
    if not isinstance(y, int) or isinstance(y, bool) or y < 0:
        problems.append(f"tile y must be a non-negative integer, got {y!r}")
    if problems:
        raise ValidationError("; ".join(problems), problems=problems)


def tile_path(
    layergroupid: str,
    z: int,
    x: int,
    y: int,
    *,
    fmt: str = "png",
    layer: LayerFilter | None = None,
    scale: int = 1,
) -> str:
    """The path of one tile: ``/api/v1/map/TOKEN[/LAYER]/Z/X/Y[@2x].FORMAT``.

    ``x`` may be negative (the server wraps it); retina ``scale`` applies to all-layer raster
    tiles only, as on the server's routes.
    """
    _check_layergroup_id(layergroupid)
    _check_tile(z, x, y)
    if fmt not in TILE_FORMATS:
        raise ValidationError(f"unsupported tile format {fmt!r}: one of {', '.join(TILE_FORMATS)}")
    if scale not in SCALE_FACTORS:
        raise ValidationError(f"scale must be one of {SCALE_FACTORS}, got {scale!r}")
    if scale != 1 and (layer is not None or fmt not in ("png", "png32")):
        raise ValidationError("retina scale is for png/png32 tiles of all layers (no layer filter)")
    base = f"{MAP_PATH}/{quote(layergroupid, safe='@:')}"
    if layer is not None:
        base += "/" + layer_filter(layer)
    suffix = f"@{scale}x" if scale != 1 else ""
    return f"{base}/{z}/{x}/{y}{suffix}.{fmt}"


def tile_request(
    layergroupid: str,
    z: int,
    x: int,
    y: int,
    *,
    fmt: str = "png",
    layer: LayerFilter | None = None,
    scale: int = 1,
    auth_token: str | None = None,
) -> RequestSpec:
    """GET one tile (checked as :func:`tile_path` does). ``auth_token`` is for the instances
    of token-protected named maps; the API key, when there is one, goes in a header."""
    return RequestSpec(
        "GET",
        tile_path(layergroupid, z, x, y, fmt=fmt, layer=layer, scale=scale),
        Service.MAPS,
        params={"auth_token": auth_token} if auth_token is not None else {},
        key=KeyPlacement.BASIC,
    )


def tile_url(
    base_url: str,
    username: str,
    path: str,
    *,
    cdn: CdnUrl | None = None,
    https: bool = True,
    subdomain_seed: int = 0,
) -> str:
    """The absolute URL of a tile ``path``: on the server's CDN when the layergroup named one
    (``cdn_url``: a template with ``{s}`` subdomains, or a bare host), else on ``base_url``."""
    if cdn is not None:
        scheme = "https" if https else "http"
        template = cdn.templates.get(scheme) if cdn.templates else None
        if isinstance(template, Mapping) and isinstance(template.get("url"), str):
            root = str(template["url"])
            subdomains = template.get("subdomains") or []
            if "{s}" in root and subdomains:
                root = root.replace("{s}", str(subdomains[subdomain_seed % len(subdomains)]))
            return f"{root.rstrip('/')}/{username}{path}"
        host = cdn.https if https else cdn.http
        if host:
            root = host if "://" in host else f"{scheme}://{host}"
            return f"{root.rstrip('/')}/{username}{path}"
    return base_url.rstrip("/") + path


def attributes_path(layergroupid: str, layer: int, feature_id: int | str) -> str:
    """``/api/v1/map/TOKEN/LAYER/attributes/FEATURE_ID``."""
    _check_layergroup_id(layergroupid)
    if not isinstance(layer, int) or isinstance(layer, bool) or layer < 0:
        raise ValidationError(f"the layer must be a non-negative index, got {layer!r}")
    if isinstance(feature_id, bool) or not isinstance(feature_id, int | str) or feature_id == "":
        raise ValidationError(f"invalid feature id {feature_id!r}")
    fid = quote(str(feature_id), safe="")
    return f"{MAP_PATH}/{quote(layergroupid, safe='@:')}/{layer}/attributes/{fid}"


def attributes_request(layergroupid: str, layer: int, feature_id: int | str) -> RequestSpec:
    """GET the configured attribute columns of one feature."""
    return RequestSpec(
        "GET",
        attributes_path(layergroupid, layer, feature_id),
        Service.MAPS,
        key=KeyPlacement.BASIC,
    )


# --- static images ----------------------------------------------------------------------


def check_image_size(width: int, height: int, fmt: str = "png") -> None:
    """Refuse sizes and formats the server would (8192 px per side; ``png`` or ``jpg``)."""
    problems: list[str] = []
    for name, value in (("width", width), ("height", height)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(f"{name} must be a positive integer, got {value!r}")
        elif value > STATIC_SIZE_LIMIT:
            problems.append(
                f"{name} {value} is over the server's limit of {STATIC_SIZE_LIMIT} px "
                "(Desired image is too large)"
            )
    if fmt not in IMAGE_FORMATS:
        problems.append(f'Unsupported image format "{fmt}": use "png" or "jpg"')
    if problems:
        raise ValidationError("; ".join(problems), problems=problems)


def _number(name: str, value: float, low: float, high: float) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"{name} must be a number, got {value!r}")
    if not low <= value <= high:
        raise ValidationError(f"{name} must be between {low} and {high}, got {value!r}")
    return repr(float(value)) if isinstance(value, float) else str(value)


def _query(path: str, params: Mapping[str, str]) -> str:
    return f"{path}?{urlencode(params)}" if params else path


def static_request(path: str, *, auth_token: str | None = None) -> RequestSpec:
    """GET a static image path built by :func:`static_center_path`, :func:`static_bbox_path`
    or :func:`static_named_path` (its query string becomes the request's parameters)."""
    route, _, query = path.partition("?")
    params = dict(parse_qsl(query, keep_blank_values=True))
    if auth_token is not None:
        params["auth_token"] = auth_token
    return RequestSpec("GET", route, Service.MAPS, params=params, key=KeyPlacement.BASIC)


def static_center_path(
    layergroupid: str,
    *,
    zoom: int,
    lat: float,
    lng: float,
    width: int,
    height: int,
    fmt: str = "png",
    layer: LayerFilter | None = None,
) -> str:
    """``/api/v1/map/static/center/TOKEN/Z/LAT/LNG/W/H.FMT`` (``?layer=`` to pick layers)."""
    _check_layergroup_id(layergroupid)
    check_image_size(width, height, fmt)
    if not isinstance(zoom, int) or isinstance(zoom, bool) or not 0 <= zoom <= 30:
        raise ValidationError(f"zoom must be an integer from 0 to 30, got {zoom!r}")
    la = _number("lat", lat, -90, 90)
    ln = _number("lng", lng, -180, 180)
    path = (
        f"{MAP_PATH}/static/center/{quote(layergroupid, safe='@:')}/{zoom}/{la}/{ln}"
        f"/{width}/{height}.{fmt}"
    )
    return _query(path, {"layer": layer_filter(layer)} if layer is not None else {})


def _bbox(bbox: Sequence[float]) -> str:
    if len(bbox) != 4:
        raise ValidationError(f"bbox must be (west, south, east, north), got {bbox!r}")
    west, south, east, north = bbox
    parts = [
        _number("west", west, -180, 180),
        _number("south", south, -90, 90),
        _number("east", east, -180, 180),
        _number("north", north, -90, 90),
    ]
    if south >= north:
        raise ValidationError(f"bbox south {south} must be below north {north}")
    if west == east:
        raise ValidationError("bbox west and east are equal: the box is empty")
    return ",".join(parts)


def static_bbox_path(
    layergroupid: str,
    *,
    bbox: Sequence[float],
    width: int,
    height: int,
    fmt: str = "png",
    layer: LayerFilter | None = None,
) -> str:
    """``/api/v1/map/static/bbox/TOKEN/W,S,E,N/W/H.FMT`` (degrees, WGS 84)."""
    _check_layergroup_id(layergroupid)
    check_image_size(width, height, fmt)
    path = (
        f"{MAP_PATH}/static/bbox/{quote(layergroupid, safe='@:')}/{_bbox(bbox)}"
        f"/{width}/{height}.{fmt}"
    )
    return _query(path, {"layer": layer_filter(layer)} if layer is not None else {})


def static_named_path(
    name: str,
    *,
    width: int,
    height: int,
    fmt: str = "png",
    zoom: int | None = None,
    center: tuple[float, float] | None = None,
    bbox: Sequence[float] | None = None,
    layer: LayerFilter | None = None,
    params: Mapping[str, Any] | None = None,
    auth_token: str | None = None,
) -> str:
    """``/api/v1/map/static/named/NAME/W/H.FMT`` with the view to show.

    The server's precedence: ``zoom`` with ``center`` (lat, lng), then ``bbox``, then the
    template's ``view``, then the extent of the data; ``params`` fill the placeholders.
    """
    check_template_name(name)
    check_image_size(width, height, fmt)
    query: dict[str, str] = {}
    if (zoom is None) != (center is None):
        raise ValidationError("give zoom and center together (or neither, to use the view)")
    if zoom is not None and center is not None:
        if not isinstance(zoom, int) or isinstance(zoom, bool) or not 0 <= zoom <= 30:
            raise ValidationError(f"zoom must be an integer from 0 to 30, got {zoom!r}")
        query["zoom"] = str(zoom)
        query["lat"] = _number("lat", center[0], -90, 90)
        query["lon"] = _number("lng", center[1], -180, 180)
    if bbox is not None:
        query["bbox"] = _bbox(bbox)
    if layer is not None:
        query["layer"] = layer_filter(layer)
    if params:
        query["config"] = json.dumps(dict(params), separators=(",", ":"))
    if auth_token is not None:
        query["auth_token"] = auth_token
    path = f"{NAMED_PATH.replace('/named', '/static/named')}/{name}/{width}/{height}.{fmt}"
    return _query(path, query)


@attrs.frozen
class ImageOptions:
    """What a static image shows, as CartoDB.js's ``cartodb.Image`` builds it: ``size``,
    ``center`` (lat, lng) with ``zoom``, or ``bbox`` (west, south, east, north), the image
    ``fmt`` and a ``layer`` selection. Each setter returns a new value."""

    width: int = 320
    height: int = 240
    fmt: str = "png"
    zoom: int | None = None
    center: tuple[float, float] | None = None
    bbox: tuple[float, float, float, float] | None = None
    layer: LayerFilter | None = None

    def with_size(self, width: int, height: int) -> ImageOptions:
        """The image size in pixels (at most 8192 per side)."""
        check_image_size(width, height, self.fmt)
        return attrs.evolve(self, width=width, height=height)

    def with_center(self, lat: float, lng: float) -> ImageOptions:
        """Centre the image on (lat, lng); replaces a bbox."""
        _number("lat", lat, -90, 90)
        _number("lng", lng, -180, 180)
        return attrs.evolve(self, center=(lat, lng), bbox=None)

    def with_zoom(self, zoom: int) -> ImageOptions:
        """The zoom of a centred image."""
        if not isinstance(zoom, int) or isinstance(zoom, bool) or not 0 <= zoom <= 30:
            raise ValidationError(f"zoom must be an integer from 0 to 30, got {zoom!r}")
        return attrs.evolve(self, zoom=zoom, bbox=None)

    def with_bbox(self, west: float, south: float, east: float, north: float) -> ImageOptions:
        """Show this box (degrees); replaces a centre and zoom."""
        _bbox((west, south, east, north))
        return attrs.evolve(self, bbox=(west, south, east, north), center=None, zoom=None)

    def with_format(self, fmt: str) -> ImageOptions:
        """``png`` or ``jpg``."""
        check_image_size(self.width, self.height, fmt)
        return attrs.evolve(self, fmt=fmt)

    def with_layers(self, layer: LayerFilter | None) -> ImageOptions:
        """Draw only these layers (indexes or ids); ``None`` draws them all."""
        if layer is not None:
            layer_filter(layer)
        return attrs.evolve(self, layer=layer)

    def layergroup_path(self, layergroupid: str) -> str:
        """The static image path of a layergroup: by bbox, else by centre and zoom."""
        if self.bbox is not None:
            return static_bbox_path(
                layergroupid,
                bbox=self.bbox,
                width=self.width,
                height=self.height,
                fmt=self.fmt,
                layer=self.layer,
            )
        if self.center is None or self.zoom is None:
            raise ValidationError(
                "an image of a map needs a centre and a zoom, or a bbox "
                "(a named map can fall back on its template's view)"
            )
        lat, lng = self.center
        return static_center_path(
            layergroupid,
            zoom=self.zoom,
            lat=lat,
            lng=lng,
            width=self.width,
            height=self.height,
            fmt=self.fmt,
            layer=self.layer,
        )

    def named_path(
        self, name: str, params: Mapping[str, Any] | None = None, auth_token: str | None = None
    ) -> str:
        """The static image path of a named map; without a view here the server uses the
        template's view, then the extent of its data."""
        if (self.zoom is None) != (self.center is None):
            raise ValidationError("give the centre and the zoom together (or neither)")
        return static_named_path(
            name,
            width=self.width,
            height=self.height,
            fmt=self.fmt,
            zoom=self.zoom,
            center=self.center,
            bbox=self.bbox,
            layer=self.layer,
            params=params,
            auth_token=auth_token,
        )


# --- named maps -------------------------------------------------------------------------


def check_template_name(name: str) -> str:
    """``name`` if the server would accept it as a template name."""
    if not isinstance(name, str) or not _TEMPLATE_NAME_RE.match(name):
        raise ValidationError(
            f"Invalid characters in template name {name!r}: use letters, digits, '_' and '-', "
            "starting with a letter or digit"
        )
    return name


def _template_body(template: Template | Mapping[str, Any], secret: str | None) -> dict[str, Any]:
    if not isinstance(template, Template):
        template = Template.from_json(template)
    template.validate()
    body = template.to_json()
    if _contains(body, secret):
        # The server keeps templates verbatim and shows them to every master-key holder.
        raise ValidationError(
            "the template contains your API key; named maps are stored as written, so the SDK "
            "never sends a key inside one (use auth=TemplateAuth.token(...) with a separate token)"
        )
    return body


def named_create_request(
    template: Template | Mapping[str, Any], *, secret: str | None = None
) -> RequestSpec:
    """``POST /api/v1/map/named`` (master key). ``secret`` (the API key) must not appear in it.

    Not repeated after an ambiguous failure: a second create answers "already exists".
    """
    return RequestSpec(
        "POST",
        NAMED_PATH,
        Service.MAPS,
        json=_template_body(template, secret),
        key=KeyPlacement.BASIC,
    )


def named_update_request(
    template: Template | Mapping[str, Any], *, name: str | None = None, secret: str | None = None
) -> RequestSpec:
    """``PUT /api/v1/map/named/NAME``; the server refuses to rename, so ``name`` must match."""
    body = _template_body(template, secret)
    target = check_template_name(name if name is not None else body["name"])
    if body["name"] != target:
        raise ValidationError(
            f"Cannot update name of a map template ('{body['name']}' != '{target}')"
        )
    return RequestSpec(
        "PUT", f"{NAMED_PATH}/{target}", Service.MAPS, json=body, key=KeyPlacement.BASIC
    )


def named_get_request(name: str) -> RequestSpec:
    """``GET /api/v1/map/named/NAME`` (master key)."""
    return RequestSpec(
        "GET", f"{NAMED_PATH}/{check_template_name(name)}", Service.MAPS, key=KeyPlacement.BASIC
    )


def named_delete_request(name: str) -> RequestSpec:
    """``DELETE /api/v1/map/named/NAME`` (master key; 204 when done)."""
    return RequestSpec(
        "DELETE", f"{NAMED_PATH}/{check_template_name(name)}", Service.MAPS, key=KeyPlacement.BASIC
    )


def named_list_request() -> RequestSpec:
    """``GET /api/v1/map/named`` (master key)."""
    return RequestSpec("GET", NAMED_PATH, Service.MAPS, key=KeyPlacement.BASIC)


def named_instantiate_request(
    name: str,
    params: Mapping[str, Any] | None = None,
    *,
    auth_token: str | None = None,
    template: Template | None = None,
) -> RequestSpec:
    """``POST /api/v1/map/named/NAME[?auth_token=]`` with the placeholder values.

    When the ``template`` is known its placeholder types are checked before sending. The same
    params give the same instance, so the request is safe to repeat.
    """
    check_template_name(name)
    values = dict(params or {})
    problems = [f"parameter names are strings, got {k!r}" for k in values if not isinstance(k, str)]
    if template is not None:
        problems.extend(template.params_problems(values))
    if problems:
        raise ValidationError("; ".join(problems), problems=problems)
    return RequestSpec(
        "POST",
        f"{NAMED_PATH}/{name}",
        Service.MAPS,
        params={"auth_token": auth_token} if auth_token is not None else {},
        json=values,
        key=KeyPlacement.BASIC,
        idempotent=True,
    )


def parse_template_id(body: Any) -> str:
    """The ``template_id`` of a create or update answer."""
    if isinstance(body, Mapping) and isinstance(body.get("template_id"), str):
        return str(body["template_id"])
    raise APIError(f"unexpected Maps API response: {str(body)[:200]}")


def parse_template_ids(body: Any) -> list[str]:
    """The bare template names of ``GET /api/v1/map/named``.

    The server answers bare names; the docs show ``user@name``, so a prefix is dropped.
    """
    if isinstance(body, Mapping) and isinstance(body.get("template_ids"), list):
        return [str(name).rsplit("@", 1)[-1] for name in body["template_ids"]]
    raise APIError(f"unexpected Maps API response: {str(body)[:200]}")


def parse_template(body: Any) -> Template:
    """The :class:`Template` of ``GET /api/v1/map/named/NAME``."""
    if not isinstance(body, Mapping) or not isinstance(body.get("template"), Mapping):
        raise APIError(f"unexpected Maps API response: {str(body)[:200]}")
    try:
        return Template.from_json(body["template"])
    except ValidationError as exc:
        raise APIError(f"the server returned a template the SDK cannot read: {exc}") from None
