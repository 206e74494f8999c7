"""The Maps API's handlers: plain inputs in (user, key kind, path and query parameters, the
parsed JSON body), a :class:`MapsResponse` out, with the statuses, content types and error
bodies of Windshaft-cartodb (reference §8)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from carto_async.errors import ValidationError
from carto_async.models.maps import MapConfig, MapnikLayer, Template, TorqueLayer
from carto_async.testing._windshaft._data import (
    LayerQuery,
    check_layer_query,
    data_extent,
    feature_attributes,
    layer_context,
)
from carto_async.testing._windshaft._errors import MapsError
from carto_async.testing._windshaft._inputs import (
    CONTENT_TYPES,
    EPOCH,
    MAX_SCALE,
    TILE_FORMATS,
    KeyKindName,
    MapsResponse,
    bbox_param,
    buffer_size,
    check_key,
    config_param,
    coordinates,
    error_response,
    forbidden_key,
    image_format,
    image_size,
    instance_info,
    is_json,
    json_response,
    layer_cartocss_problems,
    mapconfig,
    number_param,
    params_problem,
    parse_body,
    select_layers,
    selected_layers,
    template_authorizes,
    view_bounds,
    view_center,
)
from carto_async.testing._windshaft._store import (
    DEFAULT_MAX_USER_TEMPLATES,
    LAYERGROUP_TTL,
    Clock,
    LayergroupStore,
    StoredLayergroup,
    TemplateStore,
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
    TorqueSettings,
    TorqueSteps,
    static_view,
    tile_bbox,
    torque_settings,
    visible_layers,
    wrap_tile_x,
)

__all__ = ["Windshaft"]


class Windshaft:
    """The Maps API of LocalCarto: layergroups, named templates, tiles and static images.

    ``query`` reaches the engine as the account's owner (see ``_data``); ``clock`` (seconds)
    drives the layergroups' TTL; ``max_user_templates`` is the per-user template limit
    (``0``: none).

    Whose database role runs a layer's SQL is the server's rule: the caller's ``reader`` (the
    engine as the caller's key reads it: its grants and the public tables) for anonymous maps
    and for the tiles, attributes and static images of any layergroup asked for with a key or
    without a signature; the owner's ``query`` for named maps (instantiation, named tiles and
    images, whose template's auth was checked) and for a signed instance's tiles asked for
    without a key. A handler given no ``reader`` reads as the owner.
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
            return error_response(exc)

    def _store_layergroup(
        self,
        user: str,
        config: MapConfig,
        template: Mapping[str, Any] | None,
        query: LayerQuery,
    ) -> StoredLayergroup:
        """Check a MapConfig as the server does at creation (CartoCSS, Torque properties, each
        layer's query as ``query`` reads the tables) and store it."""
        ids = config.layer_ids()
        for index, layer in enumerate(config.layers):
            context = layer_context(layer, index, ids[index])
            if isinstance(layer, MapnikLayer) and layer.cartocss is not None:
                problems = layer_cartocss_problems(layer.cartocss)
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
                check_layer_query(query, layer, context)
        return self.layergroups.save(user, config, template)

    def _create_layergroup(
        self,
        user: str,
        config: MapConfig,
        template: Mapping[str, Any] | None,
        base_url: str | None,
        query: LayerQuery,
    ) -> MapsResponse:
        stored = self._store_layergroup(user, config, template, query)
        metadata = self._metadata(stored, base_url, query)
        body = {"layergroupid": stored.layergroup_id, "metadata": metadata, "last_updated": EPOCH}
        return json_response(200, body, {"X-Layergroup-Id": stored.layergroup_id})

    def _metadata(
        self, stored: StoredLayergroup, base_url: str | None, query: LayerQuery
    ) -> dict[str, Any]:
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
                _, steps = self._torque(stored, index, query)
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

    def _torque(
        self, stored: StoredLayergroup, index: int, query: LayerQuery
    ) -> tuple[TorqueSettings, TorqueSteps]:
        key = f"torque{index}"
        if key not in stored.cache:
            stored.cache[key] = torque_metadata(query, stored.config, index)
        cached: tuple[TorqueSettings, TorqueSteps] = stored.cache[key]
        return cached

    def _template(self, user: str, template_id: str) -> tuple[str, dict[str, Any]]:
        name = template_name(template_id)
        raw = self.templates.get(user, name)
        if raw is None:
            raise MapsError(f"Template '{name}' of user '{user}' not found", status=404)
        return name, raw

    @staticmethod
    def _check_template_auth(raw: Mapping[str, Any], auth_token: Any) -> None:
        if not template_authorizes(raw, auth_token):
            raise MapsError("Unauthorized template instantiation", status=403)

    def _instance_config(self, raw: dict[str, Any], params: Any) -> MapConfig:
        if not isinstance(params, Mapping):
            raise MapsError("Template parameters must be a JSON object")
        # A key sent in the body (carto-python does) is a credential, not a parameter.
        params = {k: v for k, v in params.items() if k not in ("api_key", "map_key")}
        problem = params_problem(raw, params)
        if problem is not None:
            raise MapsError(problem)
        try:
            config = Template.from_json(raw).instantiate(params)
        except ValidationError as exc:
            problems = exc.problems or [str(exc)]
            raise MapsError(problems[0], more=problems[1:]) from None
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            # The server's checks at creation let more through than a MapConfig takes.
            detail = f"missing member {exc}" if isinstance(exc, KeyError) else str(exc)
            raise MapsError(f"Invalid template '{raw.get('name')}': {detail}") from None
        # What the template's checks let through is checked as any MapConfig is.
        problems = config.problems()
        if problems:
            raise MapsError(problems[0], more=problems[1:])
        return config

    def _load(
        self,
        user: str,
        key: KeyKindName,
        layergroup_id: str,
        params: Mapping[str, Any],
        reader: LayerQuery | None,
    ) -> tuple[StoredLayergroup, LayerQuery]:
        """A stored layergroup the caller may use and the engine as it reads for them (the
        layergroup-token and authorize middlewares): the caller's ``reader`` when they sent
        a key or the layergroup is not signed; the owner's for a signed instance whose
        template's auth the caller met without a key."""
        check_key(key)
        _, signer, _ = parse_layergroup_id(layergroup_id)
        if signer is not None and signer != user:
            raise MapsError(
                f'Cannot use map signature of user "{signer}" on db of user "{user}"', status=403
            )
        stored = self.layergroups.load(layergroup_id)
        if stored.user != user:
            token = parse_layergroup_id(layergroup_id)[0]
            raise MapsError(f"Invalid or nonexistent map configuration token '{token}'")
        if key in ("master", "regular", "default") or signer is None:
            return stored, reader or self.query
        if stored.template is None or not template_authorizes(
            stored.template, params.get("auth_token")
        ):
            raise MapsError("Sorry, you are unauthorized (permission denied)", status=403)
        return stored, self.query

    # -- anonymous maps -----------------------------------------------------------------------

    def create_map(
        self,
        user: str,
        key: KeyKindName,
        body: Any,
        *,
        content_type: str | None = "application/json",
        base_url: str | None = None,
        reader: LayerQuery | None = None,
    ) -> MapsResponse:
        """``POST /api/v1/map``: a layergroup from a MapConfig whose layers' SQL ``reader``
        (the caller's key; the owner without one) may run."""

        def run() -> MapsResponse:
            check_key(key)
            if not is_json(content_type):
                raise MapsError("POST data must be of type application/json")
            document = parse_body(body)
            if (
                not isinstance(document, Mapping)
                or not isinstance(document.get("layers"), list)
                or not document["layers"]
            ):
                raise MapsError("Missing layers array from layergroup config")
            # A key sent in the body is a credential, never part of the stored map.
            document = {k: v for k, v in document.items() if k not in ("api_key", "map_key")}
            config = mapconfig(document)
            return self._create_layergroup(user, config, None, base_url, reader or self.query)

        return self._answer(run)

    # -- named maps: admin --------------------------------------------------------------------

    @staticmethod
    def _admin(key: KeyKindName, action: str) -> None:
        # The admin controller's authorizedByAPIKey: a key must be known and grant the Maps
        # API, then be the master key; no key at all is told to authenticate.
        check_key(key)
        if key == "public":
            raise MapsError(f"Only authenticated users can {action} templated maps", status=403)
        if key != "master":
            raise forbidden_key()

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
            if not is_json(content_type):
                raise MapsError("POST template data must be of type application/json")
            name, message = self.templates.create(user, parse_body(body))
            answer: dict[str, Any] = {"template_id": name}
            if message is not None:
                answer["limit_message"] = message
            return json_response(200, answer)

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
            if not is_json(content_type):
                raise MapsError("PUT template data must be of type application/json")
            name = template_name(template_id)
            self.templates.update(user, name, parse_body(body))
            return json_response(200, {"template_id": name})

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
            return json_response(200, {"template": template})

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
            return json_response(200, {"template_ids": self.templates.names(user)})

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
            check_key(key)
            if not is_json(content_type):
                raise MapsError("POST data must be of type application/json")
            name, raw = self._template(user, template_id)
            self._check_template_auth(raw, (query_params or {}).get("auth_token"))
            config = self._instance_config(raw, parse_body(body))
            # A named map renders as its owner: the template's auth is what protects it.
            info = instance_info(name, raw)
            return self._create_layergroup(user, config, info, base_url, self.query)

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
        reader: LayerQuery | None = None,
    ) -> MapsResponse:
        """``GET /api/v1/map/:token[/:layer]/:z/:x/:y[@Nx].:format``: ``png``/``png32``
        (Mapnik), ``mvt`` (204 when empty), ``grid.json`` and ``torque.json`` (one layer)."""

        def run() -> MapsResponse:
            zi, xi, yi = coordinates(z, x, y)
            stored, query = self._load(user, key, layergroup_id, query_params or {}, reader)
            name = "torque.json" if fmt == "json.torque" else fmt
            if name not in TILE_FORMATS:
                raise MapsError(f"Unsupported format {fmt}")
            config = stored.config
            indexes = select_layers(config, layer)
            try:
                bbox = tile_bbox(zi, xi, yi)
            except ValueError as exc:
                raise MapsError(str(exc)) from None
            buffer = buffer_size(config, name)
            headers = {"Content-Type": CONTENT_TYPES[name]}
            if name in ("png", "png32"):
                mapnik_layers = [
                    config.layers[i] for i in indexes if isinstance(config.layers[i], MapnikLayer)
                ]
                if not mapnik_layers:
                    raise MapsError("No 'mapnik' layers in MapConfig")
                if any(layer.cartocss is None for layer in mapnik_layers):  # type: ignore[union-attr]
                    raise MapsError(f"Unsupported format: 'cartocss' option is missing for {name}")
                factor = number_param(scale, "scale factor")
                if not 0 < factor <= MAX_SCALE:
                    raise MapsError(f"Invalid scale factor {scale}: from 0 to {MAX_SCALE}")
                data = image(
                    query,
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
                data = mvt_tile(query, config, indexes, bbox, zoom=zi, buffer_size=buffer)
                return MapsResponse(200, headers, data) if data else MapsResponse(204, {}, b"")
            if len(indexes) != 1:
                raise MapsError(f"Unsupported format {name}: it takes one layer")
            if name == "grid.json":
                grid = grid_tile(query, config, indexes[0], bbox, zoom=zi, buffer_size=buffer)
                return json_response(200, grid)
            if not isinstance(config.layers[indexes[0]], TorqueLayer):
                raise MapsError(f"Unsupported format {name}")
            cells = torque_json_tile(
                query,
                config,
                indexes[0],
                tile=(zi, wrap_tile_x(zi, xi), yi),
                bbox=bbox,
                metadata=self._torque(stored, indexes[0], query),
            )
            return json_response(200, cells)

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
            check_key(key)
            name, raw = self._template(user, template_id)
            self._check_template_auth(raw, params.get("auth_token"))
            config = self._instance_config(raw, config_param(params.get("config")))
            info = instance_info(name, raw)
            stored = self._store_layergroup(user, config, info, self.query)
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
        reader: LayerQuery | None = None,
    ) -> MapsResponse:
        """``GET /api/v1/map/:token/:layer/attributes/:fid``: the layer's ``attributes.columns``
        of one feature."""

        def run() -> MapsResponse:
            stored, query = self._load(user, key, layergroup_id, query_params or {}, reader)
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
            return json_response(200, feature_attributes(query, target, text, str(fid), context))

        return self._answer(run)

    # -- static images ------------------------------------------------------------------------

    def _static(
        self,
        *,
        query: LayerQuery,
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
            query,
            config,
            indexes,
            view.bbox,
            width=width,
            height=height,
            zoom=view.zoom,
            fmt=fmt,
            buffer_size=buffer_size(config, "png"),
        )
        return MapsResponse(200, {"Content-Type": CONTENT_TYPES[fmt]}, data)

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
        reader: LayerQuery | None = None,
    ) -> MapsResponse:
        """``GET /api/v1/map/static/center/:token/:z/:lat/:lng/:width/:height.:format``."""

        def run() -> MapsResponse:
            params = query_params or {}
            image_format(fmt)
            zi, _, _ = coordinates(z, 0, 0)
            w, h = image_size(width, height)
            center = (number_param(lat, "lat"), number_param(lng, "lng"))
            stored, query = self._load(user, key, layergroup_id, params, reader)
            view = static_view(w, h, zoom=zi, center=center)
            return self._static(
                query=query,
                config=stored.config,
                width=w,
                height=h,
                fmt=fmt,
                view=view,
                selected=selected_layers(stored.config, params),
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
        reader: LayerQuery | None = None,
    ) -> MapsResponse:
        """``GET /api/v1/map/static/bbox/:token/:west,:south,:east,:north/:width/:height.:fmt``."""

        def run() -> MapsResponse:
            params = query_params or {}
            image_format(fmt)
            w, h = image_size(width, height)
            box = bbox_param(bbox)
            stored, query = self._load(user, key, layergroup_id, params, reader)
            view = static_view(w, h, bbox=box)
            return self._static(
                query=query,
                config=stored.config,
                width=w,
                height=h,
                fmt=fmt,
                view=view,
                selected=selected_layers(stored.config, params),
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
            image_format(fmt)
            w, h = image_size(width, height)
            check_key(key)
            _, raw = self._template(user, template_id)
            self._check_template_auth(raw, params.get("auth_token"))
            config = self._instance_config(raw, config_param(params.get("config")))
            view_raw = raw.get("view")
            view_json: Mapping[str, Any] = view_raw if isinstance(view_raw, Mapping) else {}
            view = self._named_view(config, w, h, params, view_json)
            preview = view_json.get("preview_layers")
            return self._static(
                query=self.query,
                config=config,
                width=w,
                height=h,
                fmt=fmt,
                view=view,
                selected=selected_layers(config, params),
                preview_layers=preview,
            )

        return self._answer(run)

    def _named_view(
        self, config: MapConfig, w: int, h: int, params: Mapping[str, Any], view: Mapping[str, Any]
    ) -> Any:
        zoom = params.get("zoom")
        lat, lon = params.get("lat"), params.get("lon")
        if zoom is not None and lat is not None and lon is not None:
            zi, _, _ = coordinates(zoom, 0, 0)
            return static_view(
                w, h, zoom=zi, center=(number_param(lat, "lat"), number_param(lon, "lon"))
            )
        if params.get("bbox"):
            return static_view(w, h, bbox=bbox_param(str(params["bbox"])))
        # A view member that cannot be used is skipped, as the next rule then applies.
        centered = view_center(view)
        if centered is not None:
            return static_view(w, h, view_center=centered[0], view_zoom=centered[1])
        bounds = view_bounds(view)
        if bounds is not None:
            return static_view(w, h, view_bounds=bounds)
        ids = config.layer_ids()
        sql_layers = [
            (layer, layer_context(layer, i, ids[i]))
            for i, layer in enumerate(config.layers)
            if isinstance(layer, MapnikLayer | TorqueLayer)
        ]
        return static_view(w, h, data_extent=data_extent(self.query, sql_layers))
