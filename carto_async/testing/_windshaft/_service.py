"""The Maps API's handlers: plain inputs in (user, key kind, path and query parameters, the
parsed JSON body), a :class:`MapsResponse` out, with the statuses, content types and error
bodies of Windshaft-cartodb (reference §8)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

from carto_async.errors import ValidationError
from carto_async.models.maps import MapConfig, MapnikLayer, Template, TorqueLayer
from carto_async.testing._windshaft._data import (
    LayerQuery,
    check_layer_query,
    data_extent,
    feature_attributes,
    layer_context,
)
from carto_async.testing._windshaft._errors import MapsError, error_body
from carto_async.testing._windshaft._store import (
    DEFAULT_MAX_USER_TEMPLATES,
    LAYERGROUP_TTL,
    Clock,
    LayergroupStore,
    StoredLayergroup,
    TemplateStore,
    fingerprint,
    parse_layergroup_id,
    template_name,
)
from carto_async.testing._windshaft._tiles import (
    grid_tile,
    image,
    mvt_tile,
    torque_json_tile,
    torque_metadata,
)
from carto_async.testing.render import (
    CartoCSSError,
    RendererUnavailable,
    cartocss_problems,
    parse_cartocss,
    static_view,
    tile_bbox,
    torque_settings,
    visible_layers,
    wrap_tile_x,
)

__all__ = ["IMAGE_SIZE_LIMIT", "KeyKindName", "MapsResponse", "Windshaft"]

#: ``imageSizeLimit``: the largest static image side, in pixels.
IMAGE_SIZE_LIMIT = 8192
#: What the caller's key is: the master key, a regular key, the public user (no key or the
#: default public key), or a key the user does not have.
KeyKindName = Literal["master", "regular", "public", "invalid"]

JSON_TYPE = "application/json; charset=utf-8"
_CONTENT_TYPES = {
    "png": "image/png",
    "png32": "image/png",
    "jpg": "image/jpeg",
    "mvt": "application/x-protobuf",
    "grid.json": JSON_TYPE,
    "torque.json": JSON_TYPE,
}
TILE_FORMATS = ("png", "png32", "mvt", "grid.json", "torque.json")
_EPOCH = "1970-01-01T00:00:00.000Z"
_INTEGER_RE = re.compile(r"^-?\d+$")
# Retina tiles: the server takes @2x and @3x; more would only cost memory.
_MAX_SCALE = 4
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


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> MapsResponse:
    data = json.dumps(body, separators=(",", ":")).encode()
    return MapsResponse(status, {"Content-Type": JSON_TYPE, **(headers or {})}, data)


def _error(exc: MapsError) -> MapsResponse:
    return MapsResponse(exc.status, {"Content-Type": JSON_TYPE}, error_body(exc))


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _parse_body(body: Any) -> Any:
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


def _unauthorized_key() -> MapsError:
    return MapsError("Unauthorized", status=401, type="auth", subtype="api-key-not-found")


def _coordinates(z: str | int, x: str | int, y: str | int) -> tuple[int, int, int]:
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


def _select(config: MapConfig, layer: str | int | None) -> list[int]:
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


def _size(width: str | int, height: str | int) -> tuple[int, int]:
    try:
        w, h = int(width), int(height)
    except ValueError:
        raise MapsError(f"Invalid image size {width}x{height}") from None
    if w >= IMAGE_SIZE_LIMIT + 1 or h >= IMAGE_SIZE_LIMIT + 1:
        raise MapsError("Desired image is too large.")
    if w < 1 or h < 1:
        raise MapsError(f"Invalid image size {width}x{height}")
    return w, h


def _image_format(fmt: str) -> str:
    if fmt not in ("png", "jpg"):
        raise MapsError(f'Unsupported image format "{fmt}"')
    return fmt


def _number(value: Any, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise MapsError(f"Invalid {what} value ({value})") from None


class Windshaft:
    """The Maps API of LocalCarto: layergroups, named templates, tiles and static images.

    ``query`` reaches the engine (see ``_data``); ``clock`` (seconds) drives the layergroups'
    TTL; ``max_user_templates`` is the per-user template limit (``0``: none).
    """

    def __init__(
        self,
        query: LayerQuery,
        *,
        clock: Clock = time.monotonic,
        ttl: float = LAYERGROUP_TTL,
        max_user_templates: int = DEFAULT_MAX_USER_TEMPLATES,
    ) -> None:
        self.query = query
        self.layergroups = LayergroupStore(clock, ttl=ttl)
        self.templates = TemplateStore(limit=max_user_templates, clock=clock)

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _answer(action: Callable[[], MapsResponse]) -> MapsResponse:
        try:
            return action()
        except MapsError as exc:
            return _error(exc)

    def _store_layergroup(
        self, user: str, config: MapConfig, template: Mapping[str, Any] | None
    ) -> StoredLayergroup:
        """Check a MapConfig as the server does at creation (CartoCSS, Torque properties, each
        layer's query) and store it."""
        ids = config.layer_ids()
        for index, layer in enumerate(config.layers):
            context = layer_context(layer, index, ids[index])
            if isinstance(layer, MapnikLayer) and layer.cartocss is not None:
                problems = _cartocss_problems(layer.cartocss)
                if problems:
                    raise MapsError(
                        problems[0],
                        type="layer",
                        subtype="cartocss",
                        layer=context,
                        more=problems[1:],
                    )
            if isinstance(layer, TorqueLayer):
                try:
                    torque_settings(layer.cartocss)
                except CartoCSSError as exc:
                    raise MapsError(
                        exc.problems[0], type="layer", subtype="cartocss", layer=context
                    ) from None
            if isinstance(layer, MapnikLayer | TorqueLayer):
                check_layer_query(self.query, layer, context)
        return self.layergroups.save(user, config, template)

    def _create_layergroup(
        self,
        user: str,
        config: MapConfig,
        template: Mapping[str, Any] | None,
        base_url: str | None,
    ) -> MapsResponse:
        stored = self._store_layergroup(user, config, template)
        metadata = self._metadata(stored, base_url)
        body = {"layergroupid": stored.layergroup_id, "metadata": metadata, "last_updated": _EPOCH}
        return _json(200, body, {"X-Layergroup-Id": stored.layergroup_id})

    def _metadata(self, stored: StoredLayergroup, base_url: str | None) -> dict[str, Any]:
        config = stored.config
        ids = config.layer_ids()
        layers: list[dict[str, Any]] = []
        torque: dict[str, Any] = {}
        for index, layer in enumerate(config.layers):
            kind = "mapnik" if isinstance(layer, MapnikLayer) else layer.type
            meta: dict[str, Any] = {"stats": {}}
            if isinstance(layer, MapnikLayer | TorqueLayer) and layer.cartocss is not None:
                meta["cartocss"] = layer.cartocss
            if isinstance(layer, TorqueLayer):
                _, steps = self._torque(stored, index)
                meta.update(steps.metadata())
                torque[str(index)] = steps.metadata()
            layers.append({"type": kind, "id": ids[index], "meta": meta})
        metadata: dict[str, Any] = {"layers": layers, "dataviews": {}, "analyses": []}
        if torque:
            metadata["torque"] = torque
        if base_url:
            root = f"{base_url.rstrip('/')}/{stored.layergroup_id}"
            metadata["url"] = {
                "vector": f"{root}/{{z}}/{{x}}/{{y}}.mvt",
                "raster": f"{root}/{{z}}/{{x}}/{{y}}.png",
            }
        return metadata

    def _torque(self, stored: StoredLayergroup, index: int) -> Any:
        key = f"torque{index}"
        if key not in stored.cache:
            stored.cache[key] = torque_metadata(self.query, stored.config, index)
        return stored.cache[key]

    def _template(self, user: str, template_id: str) -> tuple[str, dict[str, Any]]:
        name = template_name(template_id)
        raw = self.templates.get(user, name)
        if raw is None:
            raise MapsError(f"Template '{name}' of user '{user}' not found", status=404)
        return name, raw

    @staticmethod
    def _check_template_auth(raw: Mapping[str, Any], auth_token: Any) -> None:
        if not _authorized(raw, auth_token):
            raise MapsError("Unauthorized template instantiation", status=403)

    def _instance_config(self, raw: dict[str, Any], params: Any) -> MapConfig:
        if not isinstance(params, Mapping):
            raise MapsError("Template parameters must be a JSON object")
        problem = _params_problem(raw, params)
        if problem is not None:
            raise MapsError(problem)
        try:
            return Template.from_json(raw).instantiate(params)
        except ValidationError as exc:
            problems = exc.problems or [str(exc)]
            raise MapsError(problems[0], more=problems[1:]) from None

    def _load(
        self, user: str, key: KeyKindName, layergroup_id: str, params: Mapping[str, Any]
    ) -> StoredLayergroup:
        """A stored layergroup the caller may use (the layergroup-token and authorize
        middlewares)."""
        if key == "invalid":
            raise _unauthorized_key()
        _, signer, _ = parse_layergroup_id(layergroup_id)
        if signer is not None and signer != user:
            raise MapsError(
                f'Cannot use map signature of user "{signer}" on db of user "{user}"', status=403
            )
        stored = self.layergroups.load(layergroup_id)
        if stored.user != user:
            token = parse_layergroup_id(layergroup_id)[0]
            raise MapsError(f"Invalid or nonexistent map configuration token '{token}'")
        if key in ("master", "regular") or signer is None:
            return stored
        if stored.template is None or not _authorized(stored.template, params.get("auth_token")):
            raise MapsError("Sorry, you are unauthorized (permission denied)", status=403)
        return stored

    # -- anonymous maps -----------------------------------------------------------------------

    def create_map(
        self,
        user: str,
        key: KeyKindName,
        body: Any,
        *,
        content_type: str | None = "application/json",
        base_url: str | None = None,
    ) -> MapsResponse:
        """``POST /api/v1/map``: a layergroup from a MapConfig."""

        def run() -> MapsResponse:
            if not _is_json(content_type):
                raise MapsError("POST data must be of type application/json")
            if key == "invalid":
                raise _unauthorized_key()
            document = _parse_body(body)
            if (
                not isinstance(document, Mapping)
                or not isinstance(document.get("layers"), list)
                or not document["layers"]
            ):
                raise MapsError("Missing layers array from layergroup config")
            # A key sent in the body is a credential, never part of the stored map.
            document = {k: v for k, v in document.items() if k not in ("api_key", "map_key")}
            return self._create_layergroup(user, _mapconfig(document), None, base_url)

        return self._answer(run)

    # -- named maps: admin --------------------------------------------------------------------

    @staticmethod
    def _admin(key: KeyKindName, action: str) -> None:
        if key == "invalid":
            raise _unauthorized_key()
        if key == "public":
            raise MapsError(f"Only authenticated users can {action} templated maps", status=403)
        if key != "master":
            raise MapsError(
                "Forbidden", status=403, type="auth", subtype="api-key-does-not-grant-access"
            )

    def create_template(
        self,
        user: str,
        key: KeyKindName,
        body: Any,
        *,
        content_type: str | None = "application/json",
    ) -> MapsResponse:
        """``POST /api/v1/map/named`` (master key)."""

        def run() -> MapsResponse:
            self._admin(key, "create")
            if not _is_json(content_type):
                raise MapsError("POST template data must be of type application/json")
            name, message = self.templates.create(user, _parse_body(body))
            answer: dict[str, Any] = {"template_id": name}
            if message is not None:
                answer["limit_message"] = message
            return _json(200, answer)

        return self._answer(run)

    def update_template(
        self,
        user: str,
        key: KeyKindName,
        *,
        template_id: str,
        body: Any,
        content_type: str | None = "application/json",
    ) -> MapsResponse:
        """``PUT /api/v1/map/named/:template_id`` (master key)."""

        def run() -> MapsResponse:
            self._admin(key, "update")
            if not _is_json(content_type):
                raise MapsError("PUT template data must be of type application/json")
            name = template_name(template_id)
            self.templates.update(user, name, _parse_body(body))
            return _json(200, {"template_id": name})

        return self._answer(run)

    def get_template(self, user: str, key: KeyKindName, *, template_id: str) -> MapsResponse:
        """``GET /api/v1/map/named/:template_id`` (master key)."""

        def run() -> MapsResponse:
            self._admin(key, "get")
            name = template_name(template_id)
            template = self.templates.get(user, name)
            if template is None:
                raise MapsError(f"Cannot find template '{name}' of user '{user}'", status=404)
            template.pop("auth_id", None)
            return _json(200, {"template": template})

        return self._answer(run)

    def delete_template(self, user: str, key: KeyKindName, *, template_id: str) -> MapsResponse:
        """``DELETE /api/v1/map/named/:template_id`` (master key): 204, empty."""

        def run() -> MapsResponse:
            self._admin(key, "delete")
            self.templates.delete(user, template_name(template_id))
            return MapsResponse(204, {}, b"")

        return self._answer(run)

    def list_templates(self, user: str, key: KeyKindName) -> MapsResponse:
        """``GET /api/v1/map/named`` (master key): bare names."""

        def run() -> MapsResponse:
            self._admin(key, "list")
            return _json(200, {"template_ids": self.templates.names(user)})

        return self._answer(run)

    # -- named maps: instances ----------------------------------------------------------------

    def instantiate(
        self,
        user: str,
        key: KeyKindName,
        *,
        template_id: str,
        body: Any,
        query_params: Mapping[str, Any] | None = None,
        content_type: str | None = "application/json",
        base_url: str | None = None,
    ) -> MapsResponse:
        """``POST /api/v1/map/named/:template_id[?auth_token=]``: a signed layergroup
        (``user@hash@token:cachebuster``) from the template and the params in the body."""

        def run() -> MapsResponse:
            if not _is_json(content_type):
                raise MapsError("POST data must be of type application/json")
            if key == "invalid":
                raise _unauthorized_key()
            name, raw = self._template(user, template_id)
            self._check_template_auth(raw, (query_params or {}).get("auth_token"))
            config = self._instance_config(raw, _parse_body(body))
            return self._create_layergroup(user, config, _instance_info(name, raw), base_url)

        return self._answer(run)

    # -- tiles and attributes -----------------------------------------------------------------

    def tile(
        self,
        user: str,
        key: KeyKindName,
        *,
        layergroup_id: str,
        z: str | int,
        x: str | int,
        y: str | int,
        fmt: str,
        layer: str | int | None = None,
        scale: str | float = 1,
        query_params: Mapping[str, Any] | None = None,
    ) -> MapsResponse:
        """``GET /api/v1/map/:token[/:layer]/:z/:x/:y[@Nx].:format``: ``png``/``png32``
        (Mapnik), ``mvt`` (204 when empty), ``grid.json`` and ``torque.json`` (one layer)."""

        def run() -> MapsResponse:
            zi, xi, yi = _coordinates(z, x, y)
            stored = self._load(user, key, layergroup_id, query_params or {})
            name = "torque.json" if fmt == "json.torque" else fmt
            if name not in TILE_FORMATS:
                raise MapsError(f"Unsupported format {fmt}")
            config = stored.config
            indexes = _select(config, layer)
            try:
                bbox = tile_bbox(zi, xi, yi)
            except ValueError as exc:
                raise MapsError(str(exc)) from None
            buffer = _buffer(config, name)
            headers = {"Content-Type": _CONTENT_TYPES[name]}
            if name in ("png", "png32"):
                mapnik_layers = [
                    config.layers[i] for i in indexes if isinstance(config.layers[i], MapnikLayer)
                ]
                if not mapnik_layers:
                    raise MapsError("No 'mapnik' layers in MapConfig")
                if any(layer.cartocss is None for layer in mapnik_layers):  # type: ignore[union-attr]
                    raise MapsError(f"Unsupported format: 'cartocss' option is missing for {name}")
                factor = _number(scale, "scale factor")
                if not 0 < factor <= _MAX_SCALE:
                    raise MapsError(f"Invalid scale factor {scale}: from 0 to {_MAX_SCALE}")
                data = image(
                    self.query,
                    config,
                    indexes,
                    bbox,
                    width=256,
                    height=256,
                    zoom=zi,
                    fmt=name,
                    scale=factor,
                    buffer_size=buffer,
                )
                return MapsResponse(200, headers, data)
            if name == "mvt":
                data = mvt_tile(self.query, config, indexes, bbox, zoom=zi, buffer_size=buffer)
                return MapsResponse(200, headers, data) if data else MapsResponse(204, {}, b"")
            if len(indexes) != 1:
                raise MapsError(f"Unsupported format {name}: it takes one layer")
            if name == "grid.json":
                grid = grid_tile(self.query, config, indexes[0], bbox, zoom=zi, buffer_size=buffer)
                return _json(200, grid)
            if not isinstance(config.layers[indexes[0]], TorqueLayer):
                raise MapsError(f"Unsupported format {name}")
            cells = torque_json_tile(
                self.query,
                config,
                indexes[0],
                tile=(zi, wrap_tile_x(zi, xi), yi),
                bbox=bbox,
                metadata=self._torque(stored, indexes[0]),
            )
            return _json(200, cells)

        return self._answer(run)

    def named_tile(
        self,
        user: str,
        key: KeyKindName,
        *,
        template_id: str,
        layer: str | int,
        z: str | int,
        x: str | int,
        y: str | int,
        fmt: str,
        scale: str | float = 1,
        query_params: Mapping[str, Any] | None = None,
    ) -> MapsResponse:
        """``GET /api/v1/map/named/:template_id/:layer/:z/:x/:y.:format``: a tile straight
        from a named map, instantiated with ``config`` (JSON params) and ``auth_token``."""

        def run() -> MapsResponse:
            params = query_params or {}
            if key == "invalid":
                raise _unauthorized_key()
            name, raw = self._template(user, template_id)
            self._check_template_auth(raw, params.get("auth_token"))
            config = self._instance_config(raw, _config_param(params.get("config")))
            stored = self._store_layergroup(user, config, _instance_info(name, raw))
            # The template's auth was checked above: the instance is used as its owner.
            return self.tile(
                user,
                "master",
                layergroup_id=stored.layergroup_id,
                z=z,
                x=x,
                y=y,
                fmt=fmt,
                layer=layer,
                scale=scale,
                query_params=params,
            )

        return self._answer(run)

    def attributes(
        self,
        user: str,
        key: KeyKindName,
        *,
        layergroup_id: str,
        layer: str | int,
        fid: str | int,
        query_params: Mapping[str, Any] | None = None,
    ) -> MapsResponse:
        """``GET /api/v1/map/:token/:layer/attributes/:fid``: the layer's ``attributes.columns``
        of one feature."""

        def run() -> MapsResponse:
            stored = self._load(user, key, layergroup_id, query_params or {})
            config = stored.config
            text = str(layer)
            token = parse_layergroup_id(layergroup_id)[0]
            if not text.isdigit() or int(text) >= len(config.layers):
                raise MapsError(f"Map {token} has no layer number {text}")
            index = int(text)
            target = config.layers[index]
            if not isinstance(target, MapnikLayer | TorqueLayer):
                raise MapsError(f"Layer {text} has no exposed attributes")
            context = layer_context(target, index, config.layer_ids()[index])
            return _json(200, feature_attributes(self.query, target, text, str(fid), context))

        return self._answer(run)

    # -- static images ------------------------------------------------------------------------

    def _static(
        self,
        *,
        config: MapConfig,
        width: int,
        height: int,
        fmt: str,
        view: Any,
        selected: list[int] | None,
        preview_layers: Mapping[str, bool] | None = None,
    ) -> MapsResponse:
        indexes = visible_layers(config.layer_ids(), preview_layers, selected)
        data = image(
            self.query,
            config,
            indexes,
            view.bbox,
            width=width,
            height=height,
            zoom=view.zoom,
            fmt=fmt,
            buffer_size=_buffer(config, "png"),
        )
        return MapsResponse(200, {"Content-Type": _CONTENT_TYPES[fmt]}, data)

    def static_center(
        self,
        user: str,
        key: KeyKindName,
        *,
        layergroup_id: str,
        z: str | int,
        lat: str | float,
        lng: str | float,
        width: str | int,
        height: str | int,
        fmt: str,
        query_params: Mapping[str, Any] | None = None,
    ) -> MapsResponse:
        """``GET /api/v1/map/static/center/:token/:z/:lat/:lng/:width/:height.:format``."""

        def run() -> MapsResponse:
            params = query_params or {}
            _image_format(fmt)
            zi, _, _ = _coordinates(z, 0, 0)
            w, h = _size(width, height)
            center = (_number(lat, "lat"), _number(lng, "lng"))
            stored = self._load(user, key, layergroup_id, params)
            view = static_view(w, h, zoom=zi, center=center)
            return self._static(
                config=stored.config,
                width=w,
                height=h,
                fmt=fmt,
                view=view,
                selected=_selected(stored.config, params),
            )

        return self._answer(run)

    def static_bbox(
        self,
        user: str,
        key: KeyKindName,
        *,
        layergroup_id: str,
        bbox: str,
        width: str | int,
        height: str | int,
        fmt: str,
        query_params: Mapping[str, Any] | None = None,
    ) -> MapsResponse:
        """``GET /api/v1/map/static/bbox/:token/:west,:south,:east,:north/:width/:height.:fmt``."""

        def run() -> MapsResponse:
            params = query_params or {}
            _image_format(fmt)
            w, h = _size(width, height)
            box = _bbox(bbox)
            stored = self._load(user, key, layergroup_id, params)
            view = static_view(w, h, bbox=box)
            return self._static(
                config=stored.config,
                width=w,
                height=h,
                fmt=fmt,
                view=view,
                selected=_selected(stored.config, params),
            )

        return self._answer(run)

    def static_named(
        self,
        user: str,
        key: KeyKindName,
        *,
        template_id: str,
        width: str | int,
        height: str | int,
        fmt: str,
        query_params: Mapping[str, Any] | None = None,
    ) -> MapsResponse:
        """``GET /api/v1/map/static/named/:template_id/:width/:height.:format``: ``zoom`` with
        ``lat``/``lon``, else ``bbox``, else the template's view, else the data's extent,
        else zoom 1 at (0, 0); ``layer``, ``auth_token`` and ``config`` (JSON params)."""

        def run() -> MapsResponse:
            params = query_params or {}
            _image_format(fmt)
            w, h = _size(width, height)
            if key == "invalid":
                raise _unauthorized_key()
            _, raw = self._template(user, template_id)
            self._check_template_auth(raw, params.get("auth_token"))
            config = self._instance_config(raw, _config_param(params.get("config")))
            view_raw = raw.get("view")
            view_json: Mapping[str, Any] = view_raw if isinstance(view_raw, Mapping) else {}
            view = self._named_view(config, w, h, params, view_json)
            preview = view_json.get("preview_layers")
            return self._static(
                config=config,
                width=w,
                height=h,
                fmt=fmt,
                view=view,
                selected=_selected(config, params),
                preview_layers=preview,
            )

        return self._answer(run)

    def _named_view(
        self, config: MapConfig, w: int, h: int, params: Mapping[str, Any], view: Mapping[str, Any]
    ) -> Any:
        zoom = params.get("zoom")
        lat, lon = params.get("lat"), params.get("lon")
        if zoom is not None and lat is not None and lon is not None:
            zi, _, _ = _coordinates(zoom, 0, 0)
            return static_view(w, h, zoom=zi, center=(_number(lat, "lat"), _number(lon, "lon")))
        if params.get("bbox"):
            return static_view(w, h, bbox=_bbox(str(params["bbox"])))
        center = view.get("center") if isinstance(view.get("center"), Mapping) else None
        bounds = view.get("bounds") if isinstance(view.get("bounds"), Mapping) else None
        view_zoom = view.get("zoom")
        if center is not None and isinstance(view_zoom, int):
            return static_view(
                w, h, view_center=(center["lat"], center["lng"]), view_zoom=view_zoom
            )
        if bounds is not None:
            return static_view(
                w, h, view_bounds=[bounds[k] for k in ("west", "south", "east", "north")]
            )
        ids = config.layer_ids()
        sql_layers = [
            (layer, layer_context(layer, i, ids[i]))
            for i, layer in enumerate(config.layers)
            if isinstance(layer, MapnikLayer | TorqueLayer)
        ]
        return static_view(w, h, data_extent=data_extent(self.query, sql_layers))


def _instance_info(name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """What an instance keeps of its template (Windshaft's ``layergroup.template``) and the
    hash its id shows: the first 8 hex digits of the template's fingerprint."""
    return {"name": name, "auth": raw.get("auth"), "hash": fingerprint(raw)[:8]}


def _cartocss_problems(cartocss: str) -> list[str]:
    try:
        return cartocss_problems(cartocss)
    except RendererUnavailable:
        # Without Mapnik colours cannot be checked; the syntax still is.
        try:
            parse_cartocss(cartocss)
        except CartoCSSError as exc:
            return list(exc.problems)
        return []


def _mapconfig(document: Mapping[str, Any]) -> MapConfig:
    try:
        config = MapConfig.from_json(document)
    except ValidationError as exc:
        problems = exc.problems or [str(exc)]
        raise MapsError(problems[0], more=problems[1:]) from None
    problems = config.problems()
    if problems:
        raise MapsError(problems[0], more=problems[1:])
    return config


def _authorized(template: Mapping[str, Any], auth_token: Any) -> bool:
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


def _params_problem(raw: Mapping[str, Any], params: Mapping[str, Any]) -> str | None:
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


def _buffer(config: MapConfig, fmt: str) -> int:
    size = (config.buffersize or {}).get(fmt)
    return int(size) if isinstance(size, int | float) else _DEFAULT_BUFFER.get(fmt, 64)


def _bbox(text: str) -> tuple[float, float, float, float]:
    parts = text.split(",")
    if len(parts) != 4:
        raise MapsError(f"Invalid bbox: '{text}' (west,south,east,north)")
    west, south, east, north = (_number(p, "bbox") for p in parts)
    if west >= east or south >= north:
        raise MapsError(f"Invalid bbox: '{text}' (west,south,east,north)")
    return west, south, east, north


def _selected(config: MapConfig, params: Mapping[str, Any]) -> list[int] | None:
    layer = params.get("layer")
    return None if layer in (None, "") else _select(config, layer)


def _config_param(value: Any) -> Any:
    if value in (None, ""):
        return {}
    if isinstance(value, Mapping):
        return value
    try:
        return json.loads(str(value))
    except json.JSONDecodeError:
        raise MapsError("Invalid config parameter, should be a valid JSON") from None
