"""The viz.json of a visualization: what CartoDB.js reads to draw a map made in CARTO.

``GET /api/v2/viz/<id>/viz.json`` (version ``0.1.0``: a basemap, then one ``layergroup``
layer whose ``layer_definition.layers`` are the data layers) and ``/api/v3/viz/<id>/viz.json``
(version ``3.0.0``: a basemap, then each data layer at the top level) both read into a
:class:`VizJson`. Base layers are ``tiled``/``http`` (tile URL templates), ``plain`` or
``background`` (a colour); data layers carry their SQL, CartoCSS, interactivity, infowindow,
tooltip and legend. Keys the model does not name are kept, so ``to_json()`` gives back what
was read.

:meth:`VizJson.to_mapconfig` turns the visible data layers into the
:class:`~carto_async.models.maps.MapConfig` that CartoDB.js's ``cartodb.Image`` posts to the
Maps API (interactivity: ``cartodb_id`` and the infowindow and tooltip fields; the infowindow
fields as ``attributes``).

Example::

    vis = VizJson.from_json(payload)
    vis.bbox                       # (west, south, east, north), from the map's bounds
    [layer.sql for layer in vis.data_layers]
    config = vis.to_mapconfig()
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import attrs

from carto_async.errors import ValidationError
from carto_async.models.maps import (
    CARTOCSS_VERSION,
    HttpLayer,
    Layer,
    LayerAttributes,
    MapConfig,
    MapnikLayer,
    PlainLayer,
    TorqueLayer,
)

__all__ = [
    "BASE_LAYER_TYPES",
    "BaseLayer",
    "DataLayer",
    "OtherLayer",
    "VizJson",
    "VizLayer",
]

Json: TypeAlias = dict[str, Any]

#: Layer types that are basemaps rather than data (``kind`` in CARTO's layer table).
BASE_LAYER_TYPES = ("tiled", "http", "plain", "background", "wms", "gmapsbase")
_DATA_TYPES = ("cartodb", "torque")


def _lower(value: Any) -> str:
    return value.lower() if isinstance(value, str) else ""


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _field_names(popup: Any) -> tuple[str, ...]:
    fields = _mapping(popup).get("fields")
    if not isinstance(fields, list):
        return ()
    names: list[str] = []
    for field in fields:
        name = field.get("name") if isinstance(field, Mapping) else None
        if isinstance(name, str) and name and name not in names:
            names.append(name)
    return tuple(names)


@attrs.frozen(kw_only=True)
class BaseLayer:
    """A basemap: ``tiled``/``http`` tiles from ``url_template`` (``{s}`` one of
    ``subdomains``), or a ``plain``/``background`` ``color``."""

    type: str
    options: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def kind(self) -> str:
        """``http`` for tiles, ``plain`` for a colour (CartoDB.js reads ``options.type``
        first, then the layer's ``type``)."""
        declared = _lower(self.options.get("type")) or _lower(self.type)
        if declared in ("plain", "background"):
            return "plain"
        return "http"

    @property
    def url_template(self) -> str | None:
        """The tile URL template (``{z}/{x}/{y}``), if any."""
        value = self.options.get("urlTemplate")
        return value if isinstance(value, str) and value else None

    @property
    def subdomains(self) -> tuple[str, ...] | None:
        """The ``{s}`` subdomains (CARTO stores them as ``"abcd"`` or a list)."""
        value = self.options.get("subdomains")
        if isinstance(value, str):
            return tuple(value)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        return None

    @property
    def color(self) -> str | None:
        """The colour of a plain basemap."""
        value = self.options.get("color")
        return value if isinstance(value, str) and value else None

    def to_map_layer(self) -> HttpLayer | PlainLayer | None:
        """The MapConfig layer CartoDB.js makes of it (``None``: a tiled layer without a
        URL, or a plain one without a colour, draws nothing)."""
        if self.kind == "plain":
            return PlainLayer(color=self.color) if self.color else None
        if self.url_template is None:
            return None
        return HttpLayer(url_template=self.url_template, subdomains=self.subdomains)

    def to_json(self) -> Json:
        """The layer as the viz.json holds it."""
        return {**self.extra, "type": self.type, "options": dict(self.options)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BaseLayer:
        """Read a base layer."""
        return cls(
            type=str(data.get("type") or data.get("kind") or "tiled"),
            options=dict(_mapping(data.get("options"))),
            extra={k: v for k, v in data.items() if k not in ("type", "options")},
        )

    @classmethod
    def tiles(cls, url_template: str, subdomains: Sequence[str] | str | None = None) -> BaseLayer:
        """A tiled basemap from a URL template."""
        options: Json = {"urlTemplate": url_template}
        if subdomains is not None:
            options["subdomains"] = subdomains if isinstance(subdomains, str) else list(subdomains)
        return cls(type="tiled", options=options)

    @classmethod
    def plain(cls, color: str) -> BaseLayer:
        """A plain colour basemap."""
        return cls(type="plain", options={"color": color})


@attrs.frozen(kw_only=True)
class DataLayer:
    """A data layer: a ``CartoDB`` layer (rendered by Mapnik) or a ``torque`` layer.

    ``sql``, ``cartocss`` and ``cartocss_version`` are read wherever the viz.json version puts
    them (v3 Torque layers hold them beside ``options``; the layer store's own ``query``,
    ``tile_style`` and ``style_version`` are read too); a layer without SQL has a
    ``select * from <table_name>``.
    """

    type: str
    sql: str | None = None
    cartocss: str | None = None
    cartocss_version: str | None = None
    interactivity: tuple[str, ...] | None = None
    infowindow: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    tooltip: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    legend: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    visible: bool = True
    id: str | None = None
    layer_name: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def is_torque(self) -> bool:
        """Whether this is a Torque (animated) layer."""
        return _lower(self.type) == "torque"

    @property
    def infowindow_fields(self) -> tuple[str, ...]:
        """The column names the infowindow shows."""
        return _field_names(self.infowindow)

    @property
    def tooltip_fields(self) -> tuple[str, ...]:
        """The column names the tooltip shows."""
        return _field_names(self.tooltip)

    @property
    def interactive_columns(self) -> tuple[str, ...]:
        """The columns a grid of this layer carries: the declared ``interactivity``, else
        ``cartodb_id`` and the infowindow and tooltip fields (as CartoDB.js asks for them)."""
        if self.interactivity:
            return self.interactivity
        fields = [*self.infowindow_fields, *self.tooltip_fields]
        if not fields:
            return ()
        return tuple(dict.fromkeys(["cartodb_id", *fields]))

    def to_map_layer(self) -> Layer | None:
        """The MapConfig layer of this data layer (``None`` when it has no SQL or style)."""
        if not self.sql or not self.cartocss:
            return None
        if self.is_torque:
            return TorqueLayer(
                sql=self.sql,
                cartocss=self.cartocss,
                cartocss_version=self.cartocss_version or "1.0.0",
            )
        columns = self.interactive_columns
        fields = self.infowindow_fields
        return MapnikLayer(
            type="cartodb",
            sql=self.sql,
            cartocss=self.cartocss,
            cartocss_version=self.cartocss_version or CARTOCSS_VERSION,
            interactivity=columns or None,
            attributes=LayerAttributes(id="cartodb_id", columns=fields) if fields else None,
        )

    def to_json(self) -> Json:
        """The layer as the viz.json holds it."""
        return _copy(self.raw)  # a deep copy: the model stays frozen

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DataLayer:
        """Read a data layer of either viz.json version."""
        options = _mapping(data.get("options"))

        def pick(*names: str) -> Any:
            for source in (options, data):
                for name in names:
                    value = source.get(name)
                    if value not in (None, ""):
                        return value
            return None

        sql = pick("sql", "query")
        table = options.get("table_name")
        if sql is None and isinstance(table, str) and table:
            sql = f"select * from {table}"  # noqa: S608 - the layer's SQL, as CARTO defaults it
        interactivity = options.get("interactivity")
        if isinstance(interactivity, str):
            columns: tuple[str, ...] | None = tuple(
                c.strip() for c in interactivity.split(",") if c.strip()
            )
        elif isinstance(interactivity, list):
            columns = tuple(str(c) for c in interactivity)
        else:
            columns = None
        visible = data.get("visible", options.get("visible"))
        layer_id = data.get("id")
        name = options.get("layer_name") or table
        popups = {
            key: dict(data[key]) if isinstance(data.get(key), Mapping) else None
            for key in ("infowindow", "tooltip", "legend")
        }
        return cls(
            type=str(data.get("type") or "CartoDB"),
            sql=sql if isinstance(sql, str) else None,
            cartocss=_str_or_none(pick("cartocss", "tile_style")),
            cartocss_version=_str_or_none(pick("cartocss_version", "style_version")),
            interactivity=columns or None,
            infowindow=popups["infowindow"],
            tooltip=popups["tooltip"],
            legend=popups["legend"],
            visible=visible is not False,
            id=str(layer_id) if layer_id is not None else None,
            layer_name=name if isinstance(name, str) else None,
            raw=dict(data),
        )


def _copy(value: Mapping[str, Any]) -> Json:
    copied: Json = json.loads(json.dumps(dict(value)))
    return copied


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@attrs.frozen(kw_only=True)
class OtherLayer:
    """A layer of another type, kept as it is: a v2 ``layergroup`` (its ``data_layers`` are
    read), a ``namedmap``, or a type this SDK does not know."""

    type: str
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def data_layers(self) -> tuple[DataLayer, ...]:
        """The data layers inside a ``layergroup`` (``options.layer_definition.layers``)."""
        definition = _mapping(_mapping(self.raw.get("options")).get("layer_definition"))
        layers = definition.get("layers")
        if not isinstance(layers, list):
            return ()
        return tuple(DataLayer.from_json(item) for item in layers if isinstance(item, Mapping))

    @property
    def options(self) -> Mapping[str, Any]:
        """The layer's options."""
        return _mapping(self.raw.get("options"))

    def to_json(self) -> Json:
        """The layer as the viz.json holds it."""
        return _copy(self.raw)


#: One layer of a viz.json.
VizLayer: TypeAlias = BaseLayer | DataLayer | OtherLayer


def _layer_from_json(data: Any) -> VizLayer:
    if not isinstance(data, Mapping):
        raise ValidationError(f"a viz.json layer must be an object, got {data!r:.80}")
    kind = _lower(data.get("type") or data.get("kind"))
    if kind in BASE_LAYER_TYPES:
        return BaseLayer.from_json(data)
    if kind in _DATA_TYPES:
        return DataLayer.from_json(data)
    return OtherLayer(type=str(data.get("type") or data.get("kind") or ""), raw=dict(data))


def _bounds(value: Any) -> tuple[tuple[float, float], tuple[float, float]] | None:
    # [[south, west], [north, east]] in degrees.
    if not isinstance(value, list) or len(value) != 2:
        return None
    points: list[tuple[float, float]] = []
    for point in value:
        if not isinstance(point, list) or len(point) != 2 or not all(_finite(v) for v in point):
            return None
        points.append((float(point[0]), float(point[1])))
    return points[0], points[1]


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _center(value: Any) -> tuple[float, float] | None:
    # CARTO stores the centre as the text "[lat, lng]"; some writers give the array.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, list) and len(value) == 2 and all(_finite(v) for v in value):
        return float(value[0]), float(value[1])
    return None


def _layer_tuple(value: Sequence[VizLayer]) -> tuple[VizLayer, ...]:
    return tuple(value)


_KNOWN = ("version", "id", "title", "description", "layers", "bounds", "center", "zoom")


@attrs.frozen(kw_only=True)
class VizJson:
    """A visualization's viz.json: its layers and its framing (``bounds``, ``center``,
    ``zoom``), and the ``datasource`` (user and Maps API template) CartoDB.js uses."""

    version: str
    layers: tuple[VizLayer, ...] = attrs.field(converter=_layer_tuple)
    id: str | None = None
    title: str | None = None
    description: str | None = None
    bounds: tuple[tuple[float, float], tuple[float, float]] | None = None
    center: tuple[float, float] | None = None
    zoom: int | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def extra(self) -> Mapping[str, Any]:
        """The members the model does not name (``datasource``, ``overlays``, ``user``...)."""
        return {k: v for k, v in self.raw.items() if k not in _KNOWN}

    @property
    def datasource(self) -> Mapping[str, Any]:
        """``user_name``, ``maps_api_template`` (and ``template_name`` for a named map)."""
        return _mapping(self.raw.get("datasource"))

    @property
    def bbox(self) -> tuple[float, float, float, float] | None:
        """The bounds as (west, south, east, north), the order of a static bbox image."""
        if self.bounds is None:
            return None
        (south, west), (north, east) = self.bounds
        return (west, south, east, north)

    @property
    def base_layers(self) -> tuple[BaseLayer, ...]:
        """The basemaps (the first one is the map's basemap)."""
        return tuple(layer for layer in self.layers if isinstance(layer, BaseLayer))

    @property
    def basemap(self) -> BaseLayer | None:
        """The map's basemap: its first layer, when that is a base layer (as CartoDB.js)."""
        first = self.layers[0] if self.layers else None
        return first if isinstance(first, BaseLayer) else None

    @property
    def data_layers(self) -> tuple[DataLayer, ...]:
        """Every data layer, those inside a v2 ``layergroup`` included, in drawing order."""
        out: list[DataLayer] = []
        for layer in self.layers:
            if isinstance(layer, DataLayer):
                out.append(layer)
            elif isinstance(layer, OtherLayer):
                out.extend(layer.data_layers)
        return tuple(out)

    @property
    def user_name(self) -> str | None:
        """The owner's user name (from ``datasource`` or a data layer's options)."""
        name = self.datasource.get("user_name")
        if isinstance(name, str) and name:
            return name
        for layer in self.layers:
            raw = layer.raw if isinstance(layer, DataLayer | OtherLayer) else {}
            candidate = _mapping(raw.get("options")).get("user_name")
            if isinstance(candidate, str) and candidate:
                return candidate
        return None

    @property
    def maps_api_template(self) -> str | None:
        """Where the owner's Maps API lives (``https://{user}.carto.com``); the v2 layer
        options' ``maps_api_template`` or ``tiler_*`` members when ``datasource`` is absent."""
        template = self.datasource.get("maps_api_template")
        if isinstance(template, str) and template:
            return template
        for layer in self.layers:
            if not isinstance(layer, DataLayer | OtherLayer):
                continue
            options = _mapping(layer.raw.get("options"))
            template = options.get("maps_api_template")
            if isinstance(template, str) and template:
                return template
            protocol, domain = options.get("tiler_protocol"), options.get("tiler_domain")
            if isinstance(protocol, str) and isinstance(domain, str) and protocol and domain:
                port = options.get("tiler_port")
                suffix = f":{port}" if port not in (None, "", 80, "80", 443, "443") else ""
                return f"{protocol}://{{user}}.{domain}{suffix}"
        return None

    @property
    def named_map(self) -> str | None:
        """The template name when the viz.json describes a named map (private data)."""
        name = self.datasource.get("template_name")
        if isinstance(name, str) and name:
            return name
        for layer in self.layers:
            if isinstance(layer, OtherLayer) and _lower(layer.type) == "namedmap":
                named = _mapping(layer.options.get("named_map")).get("name")
                if isinstance(named, str) and named:
                    return named
        return None

    def to_mapconfig(self, *, basemap: BaseLayer | bool | None = False) -> MapConfig:
        """The MapConfig of the visible data layers, as CartoDB.js builds it.

        ``basemap=True`` puts the map's own basemap first, a :class:`BaseLayer` puts that
        one first instead (``False``, the default: data layers only). A viz.json whose
        layers carry no SQL (a named map's) raises :class:`ValidationError`.
        """
        layers: list[Layer] = []
        chosen = self.basemap if basemap is True else basemap or None
        if isinstance(chosen, BaseLayer):
            base = chosen.to_map_layer()
            if base is not None:
                layers.append(base)
        data = [layer.to_map_layer() for layer in self.data_layers if layer.visible]
        drawn = [layer for layer in data if layer is not None]
        if not drawn:
            named = self.named_map
            hint = (
                f"; it describes the named map {named!r}: draw it with carto.maps.named_image()"
                if named
                else ""
            )
            raise ValidationError(
                f"the viz.json has no visible data layer with SQL and CartoCSS{hint}"
            )
        layers.extend(drawn)
        return MapConfig(layers=layers)

    def to_json(self) -> Json:
        """The viz.json as read (members the model does not name included)."""
        out = _copy(self.raw)
        out["layers"] = [layer.to_json() for layer in self.layers]
        return out

    @classmethod
    def from_json(cls, data: Any) -> VizJson:
        """Read a viz.json document (v2 ``0.1.0`` or v3 ``3.0.0``)."""
        if not isinstance(data, Mapping):
            raise ValidationError(f"a viz.json must be an object, got {type(data).__name__}")
        layers = data.get("layers")
        if not isinstance(layers, list):
            raise ValidationError("the viz.json has no `layers` array")
        zoom = data.get("zoom")
        text = {k: data.get(k) for k in ("id", "title", "description")}
        return cls(
            version=str(data.get("version") or ""),
            layers=[_layer_from_json(layer) for layer in layers],
            id=text["id"] if isinstance(text["id"], str) else None,
            title=text["title"] if isinstance(text["title"], str) else None,
            description=text["description"] if isinstance(text["description"], str) else None,
            bounds=_bounds(data.get("bounds")),
            center=_center(data.get("center")),
            zoom=int(zoom) if isinstance(zoom, int | float) and _finite(zoom) else None,
            raw=dict(data),
        )
