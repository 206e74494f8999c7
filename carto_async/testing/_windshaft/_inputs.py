"""The inputs and outputs of the Maps API handlers: path and query parameters checked in the
server's words, template parameters checked by type, JSON bodies read, responses built."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from carto_async.errors import ValidationError
from carto_async.models.maps import MapConfig
from carto_async.testing._windshaft._errors import MapsError, error_body
from carto_async.testing._windshaft._store import fingerprint
from carto_async.testing.render import (
    CartoCSSError,
    RendererUnavailable,
    cartocss_problems,
    parse_cartocss,
)

__all__ = [
    "CONTENT_TYPES",
    "EPOCH",
    "IMAGE_SIZE_LIMIT",
    "JSON_TYPE",
    "MAX_SCALE",
    "TILE_FORMATS",
    "KeyKindName",
    "MapsResponse",
    "bbox_param",
    "buffer_size",
    "check_key",
    "config_param",
    "coordinates",
    "error_response",
    "forbidden_key",
    "image_format",
    "image_size",
    "instance_info",
    "is_json",
    "json_response",
    "layer_cartocss_problems",
    "mapconfig",
    "number_param",
    "params_problem",
    "parse_body",
    "select_layers",
    "selected_layers",
    "template_authorizes",
    "unauthorized_key",
    "view_bounds",
    "view_center",
]

#: ``imageSizeLimit``: the largest static image side, in pixels.
IMAGE_SIZE_LIMIT = 8192
#: What the caller's key is: the master key, a regular key, the public user (no key), the
#: default public key sent as a key (``default``: CARTO takes it for a key, so named-map admin
#: is ``Forbidden`` and a signed layergroup is read as the public user, token or not), a key
#: of the user's that does not grant the Maps API (``denied``), a key the user does not have
#: (``invalid``), or a known key sent with a Basic-auth user other than the URL's
#: (``mismatch``).
KeyKindName = Literal["master", "regular", "public", "default", "denied", "invalid", "mismatch"]

JSON_TYPE = "application/json; charset=utf-8"
CONTENT_TYPES = {
    "png": "image/png",
    "png32": "image/png",
    "jpg": "image/jpeg",
    "mvt": "application/x-protobuf",
    "grid.json": JSON_TYPE,
    "torque.json": JSON_TYPE,
}
TILE_FORMATS = ("png", "png32", "mvt", "grid.json", "torque.json")
EPOCH = "1970-01-01T00:00:00.000Z"
_INTEGER_RE = re.compile(r"^-?\d+$")
# Retina tiles: the server takes @2x and @3x; more would only cost memory.
MAX_SCALE = 4
_DEFAULT_BUFFER = {"png": 64, "png32": 64, "grid.json": 64, "mvt": 0, "torque.json": 0}


@attrs.frozen
class MapsResponse:
    """What a handler answers: ``status``, ``headers`` (with ``Content-Type``) and ``body``."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        """The body's media type."""
        return self.headers.get("Content-Type", "")

    def json(self) -> Any:
        """The body read as JSON."""
        return json.loads(self.body)


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> MapsResponse:
    data = json.dumps(body, separators=(",", ":")).encode()
    return MapsResponse(status, {"Content-Type": JSON_TYPE, **(headers or {})}, data)


def error_response(exc: MapsError) -> MapsResponse:
    return MapsResponse(exc.status, {"Content-Type": JSON_TYPE}, error_body(exc))


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def parse_body(body: Any) -> Any:
    if isinstance(body, bytes | bytearray | memoryview):
        body = bytes(body).decode("utf-8", "replace")
    if isinstance(body, str):
        if not body.strip():
            return {}
        try:
            return json.loads(body)
        except json.JSONDecodeError as exc:
            raise MapsError(f"SyntaxError: {exc}") from None
    return {} if body is None else body


def unauthorized_key() -> MapsError:
    return MapsError("Unauthorized", status=401, type="auth", subtype="api-key-not-found")


def forbidden_key() -> MapsError:
    return MapsError("Forbidden", status=403, type="auth", subtype="api-key-does-not-grant-access")


def check_key(key: KeyKindName) -> None:
    """The authorize middleware's refusals, before anything is read, in its order: a key the
    user does not have (401 ``Unauthorized``), a Basic-auth user other than the URL's (403
    ``Forbidden``, ``api-key-username-mismatch``), a key without the Maps API grant (403
    ``Forbidden``, ``api-key-does-not-grant-access``)."""
    if key == "invalid":
        raise unauthorized_key()
    if key == "mismatch":
        raise MapsError("Forbidden", status=403, type="auth", subtype="api-key-username-mismatch")
    if key == "denied":
        raise forbidden_key()


def coordinates(z: str | int, x: str | int, y: str | int) -> tuple[int, int, int]:
    zs, xs, ys = str(z), str(x), str(y)
    if not _INTEGER_RE.match(zs) or int(zs) < 0:
        raise MapsError(
            f"Invalid zoom value ({zs}). It should be an integer number greather than or equal to 0"
        )
    if not _INTEGER_RE.match(xs):
        raise MapsError(f"Invalid coodinate 'x' value ({xs}). It should be an integer number")
    if not _INTEGER_RE.match(ys) or int(ys) < 0:
        raise MapsError(
            f"Invalid coodinate 'y' value ({ys}). It should be an integer number "
            "greather than or equal to 0"
        )
    return int(zs), int(xs), int(ys)


def select_layers(config: MapConfig, layer: str | int | None) -> list[int]:
    """The layer indexes a ``layer`` path segment names: an index, ``all``, a comma list of
    indexes, or layer ids."""
    count = len(config.layers)
    if layer is None or str(layer) == "all":
        return list(range(count))
    ids = config.layer_ids()
    out: list[int] = []
    for raw in str(layer).split(","):
        part = raw.strip()
        if part.isdigit() and int(part) < count:
            out.append(int(part))
        elif part in ids:
            out.append(ids.index(part))
        else:
            raise MapsError(f"Layer '{part}' not found in layergroup")
    return out


def image_size(width: str | int, height: str | int) -> tuple[int, int]:
    try:
        w, h = int(width), int(height)
    except ValueError:
        raise MapsError(f"Invalid image size {width}x{height}") from None
    if w >= IMAGE_SIZE_LIMIT + 1 or h >= IMAGE_SIZE_LIMIT + 1:
        raise MapsError("Desired image is too large.")
    if w < 1 or h < 1:
        raise MapsError(f"Invalid image size {width}x{height}")
    return w, h


def image_format(fmt: str) -> str:
    if fmt not in ("png", "jpg"):
        raise MapsError(f'Unsupported image format "{fmt}"')
    return fmt


def number_param(value: Any, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise MapsError(f"Invalid {what} value ({value})") from None


def instance_info(name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """What an instance keeps of its template (Windshaft's ``layergroup.template``) and the
    hash its id shows: the first 8 hex digits of the template's fingerprint."""
    return {"name": name, "auth": raw.get("auth"), "hash": fingerprint(raw)[:8]}


def layer_cartocss_problems(cartocss: str) -> list[str]:
    try:
        return cartocss_problems(cartocss)
    except RendererUnavailable:
        # Without Mapnik colours cannot be checked; the syntax still is.
        try:
            parse_cartocss(cartocss)
        except CartoCSSError as exc:
            return list(exc.problems)
        return []


def _shape_problem(document: Mapping[str, Any]) -> str | None:
    extent = document.get("extent")
    if extent is not None and not (isinstance(extent, list) and len(extent) == 4):
        return "`extent` must be four numbers: west, south, east, north"
    buffersize = document.get("buffersize")
    if buffersize is not None and not isinstance(buffersize, Mapping):
        return '`buffersize` must be an object of sizes by format, like {"png": 64}'
    return None


def mapconfig(document: Mapping[str, Any]) -> MapConfig:
    """A MapConfig read and checked; every refusal is a 400 in the server's manner."""
    problem = _shape_problem(document)
    if problem is not None:
        raise MapsError(problem)
    try:
        config = MapConfig.from_json(document)
    except ValidationError as exc:
        problems = exc.problems or [str(exc)]
        raise MapsError(problems[0], more=problems[1:]) from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise MapsError(f"Invalid MapConfig: {exc}") from None
    problems = config.problems()
    if problems:
        raise MapsError(problems[0], more=problems[1:])
    return config


def template_authorizes(template: Mapping[str, Any], auth_token: Any) -> bool:
    """``TemplateMaps#isAuthorized``: open, or one of the tokens given is valid."""
    auth = template.get("auth")
    if auth == "open":
        return True
    if not isinstance(auth, Mapping):
        return False
    if auth.get("method") == "open":
        return True
    if auth.get("method") == "token":
        given = auth_token if isinstance(auth_token, list) else [auth_token]
        valid = auth.get("valid_tokens") or []
        return any(t is not None and t in valid for t in given)
    return False


_NUMBER_PARAM_RE = re.compile(r"^([-+]?[\d\.]?\d+([eE][+-]?\d+)?)$")
_CSS_NAME_RE = re.compile(r"^[a-zA-Z]+$")
_CSS_HEX_RE = re.compile(r"^#[0-9a-fA-F]{3,6}$")


def params_problem(raw: Mapping[str, Any], params: Mapping[str, Any]) -> str | None:
    """The first value ``TemplateMaps#instance`` refuses, in its words."""
    placeholders = raw.get("placeholders") or {}
    for name, placeholder in placeholders.items():
        value = params[name] if name in params else placeholder.get("default")
        kind = placeholder.get("type")
        shown = _js(value)
        if kind in ("sql_literal", "sql_ident"):
            if not isinstance(value, str):
                return f"Invalid {kind} value for template parameter '{name}': {shown}"
        elif kind == "number":
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number and not (isinstance(value, str) and _NUMBER_PARAM_RE.match(value)):
                return f"Invalid number value for template parameter '{name}': {shown}"
        elif kind == "css_color":
            if not (
                isinstance(value, str) and (_CSS_NAME_RE.match(value) or _CSS_HEX_RE.match(value))
            ):
                return f"Invalid css_color value for template parameter '{name}': {shown}"
        else:
            return f"Invalid placeholder type '{_js(kind)}'"
    return None


def _js(value: Any) -> str:
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def buffer_size(config: MapConfig, fmt: str) -> int:
    size = (config.buffersize or {}).get(fmt)
    return int(size) if isinstance(size, int | float) else _DEFAULT_BUFFER.get(fmt, 64)


def bbox_param(text: str) -> tuple[float, float, float, float]:
    parts = text.split(",")
    if len(parts) != 4:
        raise MapsError(f"Invalid bbox: '{text}' (west,south,east,north)")
    west, south, east, north = (number_param(p, "bbox") for p in parts)
    if west >= east or south >= north:
        raise MapsError(f"Invalid bbox: '{text}' (west,south,east,north)")
    return west, south, east, north


def selected_layers(config: MapConfig, params: Mapping[str, Any]) -> list[int] | None:
    layer = params.get("layer")
    return None if layer in (None, "") else select_layers(config, layer)


def config_param(value: Any) -> Any:
    if value in (None, ""):
        return {}
    if isinstance(value, Mapping):
        return value
    try:
        return json.loads(str(value))
    except json.JSONDecodeError:
        raise MapsError("Invalid config parameter, should be a valid JSON") from None


def _degrees(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def view_center(view: Mapping[str, Any]) -> tuple[tuple[float, float], int] | None:
    """A template view's ``(lat, lng)`` centre and zoom, when it has usable ones."""
    center, zoom = view.get("center"), view.get("zoom")
    if not isinstance(center, Mapping) or not isinstance(zoom, int) or isinstance(zoom, bool):
        return None
    lat, lng = _degrees(center.get("lat")), _degrees(center.get("lng"))
    return ((lat, lng), zoom) if lat is not None and lng is not None else None


def view_bounds(view: Mapping[str, Any]) -> list[float] | None:
    """A template view's bounds (west, south, east, north), when it has usable ones."""
    bounds = view.get("bounds")
    if not isinstance(bounds, Mapping):
        return None
    values = [_degrees(bounds.get(k)) for k in ("west", "south", "east", "north")]
    numbers = [v for v in values if v is not None]
    return numbers if len(numbers) == len(values) else None
