"""Maps API models: the MapConfig builder, named-map templates, layergroups and error context.

A :class:`MapConfig` is what ``POST /api/v1/map`` takes (Windshaft's MapConfig, versions 1.0.0 to
1.8.0); a :class:`Template` is a named map (``POST /api/v1/map/named``). Both serialise to the
exact JSON the server takes (``to_json()``) and read it back (``from_json()``), keeping options
they do not name so that nothing is lost in a round trip.

Validation follows the server's own rules (reference §8.2, Windshaft's ``MapConfig``) and reports
every problem at once: ``problems()`` lists them, ``validate()`` raises one
:class:`~carto_async.errors.ValidationError` carrying the whole list.

Example::

    config = MapConfig(layers=[MapnikLayer(
        sql="select * from stores",
        cartocss="#layer { marker-fill: #f00; marker-width: 8; }",
        interactivity=("cartodb_id", "name"),
    )])
    template = Template(
        name="stores",
        layergroup=config,
        placeholders={"color": Placeholder("css_color", "#f00")},
        auth=TemplateAuth.token("s3cret"),
    )
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TypeAlias

import attrs

from carto_async.errors import ValidationError
from carto_async.models._converter import parse_datetime

__all__ = [
    "CARTOCSS_VERSION",
    "MAPCONFIG_VERSION",
    "PLACEHOLDER_TYPES",
    "TEMPLATE_VERSION",
    "CdnUrl",
    "HttpLayer",
    "Layer",
    "LayerAttributes",
    "LayerMetadata",
    "Layergroup",
    "MapConfig",
    "MapErrorContext",
    "MapErrorLayer",
    "MapnikLayer",
    "Placeholder",
    "PlainLayer",
    "Template",
    "TemplateAuth",
    "TemplateView",
    "TorqueLayer",
    "layer_from_json",
]

#: The MapConfig version the builder writes (the newest the server accepts).
MAPCONFIG_VERSION = "1.8.0"
#: The CartoCSS version written when a layer does not say.
CARTOCSS_VERSION = "2.1.1"
#: The only template version the server accepts.
TEMPLATE_VERSION = "0.0.1"
#: Placeholder types the server substitutes (``TemplateMaps#instance``).
PLACEHOLDER_TYPES = ("number", "css_color", "sql_literal", "sql_ident")

# The server's patterns (Windshaft-cartodb lib/backends/template-maps.js).
_TEMPLATE_NAME_RE = re.compile(r"^[a-z0-9][0-9a-z_-]*$", re.IGNORECASE)
_PLACEHOLDER_NAME_RE = re.compile(r"^[a-z][0-9a-z_]*$", re.IGNORECASE)
# As on the server: "12", "-3", ".5e3" pass but the string "1.5" does not (JSON numbers do).
_NUMBER_RE = re.compile(r"^([-+]?[\d\.]?\d+([eE][+-]?\d+)?)$")
_CSS_COLOR_RES = (re.compile(r"^[a-zA-Z]+$"), re.compile(r"^#[0-9a-fA-F]{3,6}$"))
_SUPPORTED_MAPCONFIG = ((1, 0, 0), (1, 8, 0))

Json: TypeAlias = dict[str, Any]


def _drop_none(items: Mapping[str, Any]) -> Json:
    return {k: v for k, v in items.items() if v is not None}


def _tuple_of_str(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _quad(value: Any) -> tuple[float, float, float, float] | None:
    return None if value is None else tuple(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_str(problems: list[str], where: str, name: str, value: Any, *, required: bool) -> None:
    if value is None:
        if required:
            problems.append(f"{where}: missing `{name}`")
    elif not isinstance(value, str) or (required and not value.strip()):
        problems.append(f"{where}: `{name}` must be a non-empty string, got {value!r}")


def _raise_if(problems: list[str], what: str) -> None:
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
        raise ValidationError(f"invalid {what} ({count}):\n{lines}", problems=problems)


# --- layers -------------------------------------------------------------------------------


@attrs.frozen
class LayerAttributes:
    """What the attributes service returns for a feature: ``columns`` of the row whose
    ``id`` column equals the requested feature id."""

    id: str
    columns: tuple[str, ...] = attrs.field(converter=_tuple_of_str, default=())

    def to_json(self) -> Json:
        """The ``attributes`` option as the server takes it."""
        return {"id": self.id, "columns": list(self.columns)}


def _attributes(value: LayerAttributes | Mapping[str, Any] | None) -> LayerAttributes | None:
    if value is None or isinstance(value, LayerAttributes):
        return value
    return LayerAttributes(id=value.get("id"), columns=value.get("columns") or ())  # type: ignore[arg-type]


def _interactivity(value: str | Sequence[str] | None) -> str | tuple[str, ...] | None:
    # Version 1.0.0 took a comma-separated string; later ones an array. Both are kept as given.
    if value is None or isinstance(value, str):
        return value
    return tuple(value)


@attrs.frozen(kw_only=True)
class _LayerBase:
    """Options every layer type shares: ``id`` (1.5.0+) and options the model does not name."""

    id: str | None = None
    extra_options: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    def _wrap(self, type_: str | None, options: Json) -> Json:
        layer: Json = {}
        if self.id is not None:
            layer["id"] = self.id
        if type_ is not None:
            layer["type"] = type_
        layer["options"] = {**options, **self.extra_options}
        layer.update(self.extra)
        return layer


@attrs.frozen(kw_only=True)
class MapnikLayer(_LayerBase):
    """A layer rendered by Mapnik from ``sql`` with ``cartocss`` (type ``mapnik``, or its alias
    ``cartodb``). Without CartoCSS (all layers alike) the layer serves vector tiles only."""

    sql: str
    cartocss: str | None = None
    cartocss_version: str | None = None
    interactivity: str | tuple[str, ...] | None = attrs.field(
        default=None, converter=_interactivity
    )
    attributes: LayerAttributes | None = attrs.field(default=None, converter=_attributes)
    geom_column: str | None = None
    srid: int | None = None
    minzoom: int | None = None
    maxzoom: int | None = None
    type: Literal["mapnik", "cartodb"] | None = "mapnik"

    def __attrs_post_init__(self) -> None:
        if self.cartocss is not None and self.cartocss_version is None:
            object.__setattr__(self, "cartocss_version", CARTOCSS_VERSION)

    @property
    def interactivity_columns(self) -> tuple[str, ...]:
        """The interactivity columns, whichever way they were given."""
        if self.interactivity is None:
            return ()
        if isinstance(self.interactivity, str):
            return tuple(c.strip() for c in self.interactivity.split(",") if c.strip())
        return self.interactivity

    def to_json(self) -> Json:
        """The layer as the server takes it."""
        interactivity = self.interactivity
        return self._wrap(
            self.type,
            _drop_none(
                {
                    "sql": self.sql,
                    "cartocss": self.cartocss,
                    "cartocss_version": self.cartocss_version,
                    "interactivity": (
                        list(interactivity) if isinstance(interactivity, tuple) else interactivity
                    ),
                    "attributes": self.attributes.to_json() if self.attributes else None,
                    "geom_column": self.geom_column,
                    "srid": self.srid,
                    "minzoom": self.minzoom,
                    "maxzoom": self.maxzoom,
                }
            ),
        )

    def problems(self, where: str) -> list[str]:
        """What the server would reject in this layer."""
        out: list[str] = []
        _check_str(out, where, "sql", self.sql, required=True)
        _check_str(out, where, "cartocss", self.cartocss, required=False)
        for column in self.interactivity_columns:
            if not isinstance(column, str) or not column:
                out.append(f"{where}: interactivity columns must be names, got {column!r}")
        if self.attributes is not None:
            _check_str(out, where, "attributes.id", self.attributes.id, required=True)
            if not self.attributes.columns:
                out.append(f"{where}: `attributes.columns` must list at least one column")
        for name in ("srid", "minzoom", "maxzoom"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                out.append(f"{where}: `{name}` must be a non-negative integer, got {value!r}")
        if (
            isinstance(self.minzoom, int)
            and isinstance(self.maxzoom, int)
            and self.minzoom > self.maxzoom
        ):
            out.append(f"{where}: minzoom {self.minzoom} is above maxzoom {self.maxzoom}")
        return out


@attrs.frozen(kw_only=True)
class TorqueLayer(_LayerBase):
    """A Torque layer: time-aggregated points served as ``torque.json`` tiles."""

    sql: str
    cartocss: str
    cartocss_version: str = "1.0.0"
    step: int | None = None
    attributes: LayerAttributes | None = attrs.field(default=None, converter=_attributes)
    geom_column: str | None = None
    srid: int | None = None

    type: Literal["torque"] = "torque"

    def to_json(self) -> Json:
        """The layer as the server takes it."""
        return self._wrap(
            self.type,
            _drop_none(
                {
                    "sql": self.sql,
                    "cartocss": self.cartocss,
                    "cartocss_version": self.cartocss_version,
                    "step": self.step,
                    "attributes": self.attributes.to_json() if self.attributes else None,
                    "geom_column": self.geom_column,
                    "srid": self.srid,
                }
            ),
        )

    def problems(self, where: str) -> list[str]:
        """What the server would reject in this layer."""
        out: list[str] = []
        _check_str(out, where, "sql", self.sql, required=True)
        _check_str(out, where, "cartocss", self.cartocss, required=True)
        _check_str(out, where, "cartocss_version", self.cartocss_version, required=True)
        if self.step is not None and (not isinstance(self.step, int) or self.step < 0):
            out.append(f"{where}: `step` must be a non-negative integer, got {self.step!r}")
        return out


@attrs.frozen(kw_only=True)
class HttpLayer(_LayerBase):
    """Tiles loaded over HTTP from ``url_template`` (``{z}``, ``{x}``, ``{y}``, optional ``{s}``
    for one of ``subdomains``); ``tms`` flips the y axis."""

    url_template: str
    subdomains: tuple[str, ...] | None = attrs.field(
        default=None, converter=attrs.converters.optional(_tuple_of_str)
    )
    tms: bool | None = None

    type: Literal["http"] = "http"

    def to_json(self) -> Json:
        """The layer as the server takes it (camelCase ``urlTemplate``, as Windshaft spells it)."""
        return self._wrap(
            self.type,
            _drop_none(
                {
                    "urlTemplate": self.url_template,
                    "subdomains": list(self.subdomains) if self.subdomains is not None else None,
                    "tms": self.tms,
                }
            ),
        )

    def problems(self, where: str) -> list[str]:
        """What the server would reject in this layer."""
        out: list[str] = []
        _check_str(out, where, "url_template", self.url_template, required=True)
        if isinstance(self.url_template, str) and not all(
            part in self.url_template for part in ("{z}", "{x}", "{y}")
        ):
            out.append(f"{where}: url_template must contain {{z}}, {{x}} and {{y}}")
        tms: Any = self.tms
        if tms is not None and not isinstance(tms, bool):
            out.append(f"{where}: `tms` must be True or False, got {tms!r}")
        return out


def _color(value: Any) -> str | tuple[int, ...] | None:
    if value is None or isinstance(value, str):
        return value
    return tuple(value)


@attrs.frozen(kw_only=True)
class PlainLayer(_LayerBase):
    """A plain background: a CSS ``color`` (name, hex, or ``(r, g, b[, a])``) or an
    ``image_url``."""

    color: str | tuple[int, ...] | None = attrs.field(default=None, converter=_color)
    image_url: str | None = None

    type: Literal["plain"] = "plain"

    def to_json(self) -> Json:
        """The layer as the server takes it (camelCase ``imageUrl``)."""
        color = list(self.color) if isinstance(self.color, tuple) else self.color
        return self._wrap(self.type, _drop_none({"color": color, "imageUrl": self.image_url}))

    def problems(self, where: str) -> list[str]:
        """What the server would reject in this layer."""
        out: list[str] = []
        if self.color is None and self.image_url is None:
            out.append(f"{where}: a plain layer needs `color` or `image_url`")
        if isinstance(self.color, tuple) and (
            len(self.color) not in (3, 4)
            or not all(isinstance(c, int) and 0 <= c <= 255 for c in self.color)
        ):
            out.append(f"{where}: `color` must be (r, g, b) or (r, g, b, a) in 0-255")
        return out


Layer: TypeAlias = MapnikLayer | TorqueLayer | HttpLayer | PlainLayer
_LAYER_CLASSES = (MapnikLayer, TorqueLayer, HttpLayer, PlainLayer)

_KNOWN_OPTIONS: dict[str, tuple[str, ...]] = {
    "mapnik": (
        "sql",
        "cartocss",
        "cartocss_version",
        "interactivity",
        "attributes",
        "geom_column",
        "srid",
        "minzoom",
        "maxzoom",
    ),
    "torque": ("sql", "cartocss", "cartocss_version", "step", "attributes", "geom_column", "srid"),
    "http": ("urlTemplate", "subdomains", "tms"),
    "plain": ("color", "imageUrl"),
}


def layer_from_json(data: Mapping[str, Any], where: str = "layer") -> Layer:
    """Read one layer of a MapConfig; a missing or wrong member raises :class:`ValidationError`."""
    if not isinstance(data, Mapping):
        raise ValidationError(f"{where}: a layer must be an object, got {data!r}")
    options = data.get("options")
    if not isinstance(options, Mapping):
        raise ValidationError(f"{where}: missing `options`")
    raw_type = data.get("type")
    kind = "mapnik" if raw_type in (None, "mapnik", "cartodb") else raw_type
    if kind not in _KNOWN_OPTIONS:
        raise ValidationError(f"{where}: unsupported layer type {raw_type!r}")
    common: dict[str, Any] = {
        "id": data.get("id"),
        "extra_options": {k: v for k, v in options.items() if k not in _KNOWN_OPTIONS[kind]},
        "extra": {k: v for k, v in data.items() if k not in ("id", "type", "options")},
    }
    try:
        if kind == "mapnik":
            return MapnikLayer(
                type=raw_type,
                **{k: options[k] for k in _KNOWN_OPTIONS["mapnik"] if k in options},
                **common,
            )
        if kind == "torque":
            return TorqueLayer(
                **{k: options[k] for k in _KNOWN_OPTIONS["torque"] if k in options}, **common
            )
        if kind == "http":
            return HttpLayer(
                url_template=options.get("urlTemplate"),  # type: ignore[arg-type]
                subdomains=options.get("subdomains"),
                tms=options.get("tms"),
                **common,
            )
        return PlainLayer(color=options.get("color"), image_url=options.get("imageUrl"), **common)
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValidationError(f"{where}: {exc}") from None


# --- MapConfig ----------------------------------------------------------------------------


def _layers(value: Sequence[Layer]) -> tuple[Layer, ...]:
    return tuple(value)


def _version_tuple(version: str) -> tuple[int, ...] | None:
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


@attrs.frozen(kw_only=True)
class MapConfig:
    """A Windshaft MapConfig: the layers of an anonymous map (or of a template's layergroup).

    ``buffersize`` is pixels per format (``{"png": 64, "mvt": 0}``; values may be template
    placeholders such as ``"<%= buffer %>"``); ``extent`` is the map extent in its projection,
    ``srid`` the map projection (3857), ``minzoom``/``maxzoom`` the zooms served.
    """

    layers: tuple[Layer, ...] = attrs.field(converter=_layers)
    version: str = MAPCONFIG_VERSION
    buffersize: Mapping[str, int | str] | None = None
    extent: tuple[float, float, float, float] | None = attrs.field(default=None, converter=_quad)
    srid: int | None = None
    minzoom: int | None = None
    maxzoom: int | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    def to_json(self) -> Json:
        """The MapConfig as the server takes it."""
        config = _drop_none(
            {
                "version": self.version,
                "buffersize": dict(self.buffersize) if self.buffersize is not None else None,
                "extent": list(self.extent) if self.extent is not None else None,
                "srid": self.srid,
                "minzoom": self.minzoom,
                "maxzoom": self.maxzoom,
            }
        )
        config["layers"] = [layer.to_json() for layer in self.layers]
        config.update(self.extra)
        return config

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MapConfig:
        """Read a MapConfig; every malformed layer is reported at once."""
        if not isinstance(data, Mapping):
            raise ValidationError(f"a MapConfig must be an object, got {type(data).__name__}")
        problems: list[str] = []
        raw_layers = data.get("layers")
        layers: list[Layer] = []
        if not isinstance(raw_layers, list):
            problems.append("missing `layers` array")
        else:
            for index, item in enumerate(raw_layers):
                try:
                    layers.append(layer_from_json(item, f"layer {index}"))
                except ValidationError as exc:
                    problems.extend(exc.problems)
        _raise_if(problems, "MapConfig")
        known = ("version", "buffersize", "extent", "srid", "minzoom", "maxzoom", "layers")
        return cls(
            layers=layers,
            version=data.get("version", "1.0.0"),
            buffersize=data.get("buffersize"),
            extent=data.get("extent"),
            srid=data.get("srid"),
            minzoom=data.get("minzoom"),
            maxzoom=data.get("maxzoom"),
            extra={k: v for k, v in data.items() if k not in known},
        )

    def problems(self, *, placeholders_allowed: bool = False) -> list[str]:
        """Everything the server would reject in this MapConfig, all at once."""
        out: list[str] = []
        version = _version_tuple(self.version) if isinstance(self.version, str) else None
        low, high = _SUPPORTED_MAPCONFIG
        if version is None or not low <= version <= high:
            out.append(
                f"unsupported layergroup configuration version {self.version!r} "
                "(the server takes 1.0.0 to 1.8.0)"
            )
        if not self.layers:
            out.append("the map has no layers")
        layer: Any
        for index, layer in enumerate(self.layers):
            if not isinstance(layer, _LAYER_CLASSES):
                out.append(f"layer {index}: not a layer: {layer!r}")
                continue
            out.extend(layer.problems(f"layer {index}"))
        mapnik = [layer for layer in self.layers if isinstance(layer, MapnikLayer)]
        styled = {layer.cartocss is not None for layer in mapnik}
        if len(styled) > 1:
            out.append(
                "either all mapnik layers or none of them must have CartoCSS "
                "(layers without it serve vector tiles only)"
            )
        for fmt, size in (self.buffersize or {}).items():
            if isinstance(size, str) and placeholders_allowed and "<%" in size:
                continue
            if not _is_number(size):
                out.append(f'buffer size of format "{fmt}" must be a number, got {size!r}')
        if self.extent is not None and (
            len(self.extent) != 4 or not all(_is_number(v) for v in self.extent)
        ):
            out.append("`extent` must be four numbers: west, south, east, north")
        for name in ("srid", "minzoom", "maxzoom"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                out.append(f"`{name}` must be a non-negative integer, got {value!r}")
        if (
            isinstance(self.minzoom, int)
            and isinstance(self.maxzoom, int)
            and self.minzoom > self.maxzoom
        ):
            out.append(f"minzoom {self.minzoom} is above maxzoom {self.maxzoom}")
        return out

    def validate(self) -> MapConfig:
        """Raise one :class:`ValidationError` listing every problem; return self when valid."""
        _raise_if(self.problems(), "MapConfig")
        return self


# --- named map templates ------------------------------------------------------------------


@attrs.frozen
class Placeholder:
    """A template parameter: its ``type`` (``number``, ``css_color``, ``sql_literal`` or
    ``sql_ident``) and the ``default`` used when instantiation does not give it."""

    type: str | None
    default: Any

    def to_json(self) -> Json:
        """The placeholder as the server takes it."""
        return {"type": self.type, "default": self.default}

    def value_problem(self, name: str, value: Any) -> str | None:
        """Why the server would refuse ``value`` for this placeholder at instantiation."""
        return placeholder_value_problem(name, str(self.type), value)


def placeholder_value_problem(name: str, type_: str, value: Any) -> str | None:
    """The server's check of one instantiation parameter (``TemplateMaps#instance``)."""
    if type_ == "number":
        if _is_number(value) or (isinstance(value, str) and _NUMBER_RE.match(value)):
            return None
        return f"Invalid number value for template parameter '{name}': {value!r}"
    if type_ == "css_color":
        if isinstance(value, str) and any(r.match(value) for r in _CSS_COLOR_RES):
            return None
        return f"Invalid css_color value for template parameter '{name}': {value!r}"
    if type_ in ("sql_literal", "sql_ident"):
        if isinstance(value, str):
            return None
        return f"Invalid {type_} value for template parameter '{name}': {value!r} is not a string"
    return f"Invalid placeholder type '{type_}'"


@attrs.frozen
class TemplateAuth:
    """Who may instantiate a named map: anyone (``open``) or holders of a ``valid_tokens`` entry."""

    method: str = "open"
    valid_tokens: tuple[str, ...] | None = attrs.field(
        default=None, converter=attrs.converters.optional(_tuple_of_str)
    )

    @classmethod
    def open(cls) -> TemplateAuth:
        """Anyone may instantiate the map."""
        return cls("open")

    @classmethod
    def token(cls, *tokens: str) -> TemplateAuth:
        """Only requests with one of ``tokens`` as ``auth_token`` may instantiate the map."""
        return cls("token", tokens)

    def to_json(self) -> Json:
        """The ``auth`` member as the server takes it."""
        if self.valid_tokens is None:
            return {"method": self.method}
        return {"method": self.method, "valid_tokens": list(self.valid_tokens)}

    def problems(self) -> list[str]:
        """The server's authentication checks."""
        if self.method == "open":
            return []
        if self.method != "token":
            return [f"Unsupported authentication method: {self.method}"]
        if self.valid_tokens is None:
            return ["Invalid 'token' authentication: missing valid_tokens"]
        if not self.valid_tokens:
            return ["Invalid 'token' authentication: no valid_tokens"]
        bad = [t for t in self.valid_tokens if not isinstance(t, str) or not t]
        if bad:
            return [f"Invalid 'token' authentication: tokens must be strings, got {bad!r}"]
        return []


def _preview(value: Mapping[Any, bool] | None) -> dict[str, bool] | None:
    return None if value is None else {str(k): v for k, v in value.items()}


def _bounds(value: Mapping[str, Any]) -> tuple[float, float, float, float]:
    return (value["west"], value["south"], value["east"], value["north"])


def _pair(value: Any) -> tuple[float, float] | None:
    return None if value is None else (value[0], value[1])


@attrs.frozen(kw_only=True)
class TemplateView:
    """The default view of a named map's static image: ``center`` (lat, lng) with ``zoom``, or
    ``bounds`` (west, south, east, north); ``preview_layers`` maps a layer index or id to
    whether it shows."""

    center: tuple[float, float] | None = attrs.field(default=None, converter=_pair)
    zoom: int | None = None
    bounds: tuple[float, float, float, float] | None = attrs.field(default=None, converter=_quad)
    preview_layers: Mapping[str, bool] | None = attrs.field(default=None, converter=_preview)

    def to_json(self) -> Json:
        """The ``view`` member as the server takes it."""
        view: Json = {}
        if self.zoom is not None:
            view["zoom"] = self.zoom
        if self.center is not None:
            view["center"] = {"lng": self.center[1], "lat": self.center[0]}
        if self.bounds is not None:
            west, south, east, north = self.bounds
            view["bounds"] = {"west": west, "south": south, "east": east, "north": north}
        if self.preview_layers is not None:
            view["preview_layers"] = dict(self.preview_layers)
        return view

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TemplateView:
        """Read a ``view`` member."""
        center = data.get("center")
        bounds = data.get("bounds")
        return cls(
            zoom=data.get("zoom"),
            center=(center.get("lat"), center.get("lng")) if isinstance(center, Mapping) else None,
            bounds=(_bounds(bounds) if isinstance(bounds, Mapping) else None),
            preview_layers=data.get("preview_layers"),
        )

    def problems(self) -> list[str]:
        """Values no map could show."""
        out: list[str] = []
        if self.zoom is not None and (not isinstance(self.zoom, int) or not 0 <= self.zoom <= 30):
            out.append(f"view: zoom must be an integer from 0 to 30, got {self.zoom!r}")
        if self.center is not None:
            lat, lng = self.center
            if not (_is_number(lat) and _is_number(lng) and -90 <= lat <= 90):
                out.append(f"view: center must be (lat, lng) in degrees, got {self.center!r}")
        if self.bounds is not None:
            if len(self.bounds) != 4 or not all(_is_number(v) for v in self.bounds):
                out.append("view: bounds must be four numbers: west, south, east, north")
            elif self.bounds[1] > self.bounds[3]:
                out.append(f"view: bounds south {self.bounds[1]} is above north {self.bounds[3]}")
        shown: Any
        for key, shown in (self.preview_layers or {}).items():
            if not isinstance(shown, bool):
                out.append(f"view: preview_layers[{key!r}] must be True or False, got {shown!r}")
        return out


def _placeholders(value: Mapping[str, Any]) -> dict[str, Placeholder]:
    out: dict[str, Placeholder] = {}
    for name, item in value.items():
        if isinstance(item, Placeholder):
            out[name] = item
        elif isinstance(item, Mapping):
            out[name] = Placeholder(item.get("type"), item.get("default"))
        else:
            out[name] = Placeholder(None, item)
    return out


@attrs.frozen(kw_only=True)
class Template:
    """A named map: a MapConfig (``layergroup``) with ``placeholders`` substituted at
    instantiation (``<%= name %>`` in SQL, CartoCSS and buffer sizes), who may instantiate it
    (``auth``) and its default static ``view``.

    The SDK never writes your API key into a template: the server stores templates verbatim
    and returns them to anyone with the master key.
    """

    name: str
    layergroup: MapConfig
    placeholders: Mapping[str, Placeholder] = attrs.field(factory=dict, converter=_placeholders)
    auth: TemplateAuth = attrs.field(factory=TemplateAuth)
    view: TemplateView | None = None
    version: str = TEMPLATE_VERSION
    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    def to_json(self) -> Json:
        """The template as the server takes it."""
        template: Json = {
            "version": self.version,
            "name": self.name,
            "auth": self.auth.to_json(),
            "placeholders": {k: p.to_json() for k, p in self.placeholders.items()},
            "layergroup": self.layergroup.to_json(),
        }
        if self.view is not None:
            template["view"] = self.view.to_json()
        template.update(self.extra)
        return template

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Template:
        """Read a template (the ``template`` member of ``GET /api/v1/map/named/NAME``, or the
        body you would POST). Structural problems are all reported at once."""
        if isinstance(data, Mapping) and isinstance(data.get("template"), Mapping):
            data = data["template"]
        if not isinstance(data, Mapping):
            raise ValidationError(f"a template must be an object, got {type(data).__name__}")
        problems: list[str] = []
        layergroup: MapConfig | None = None
        raw_group = data.get("layergroup")
        if not isinstance(raw_group, Mapping):
            problems.append("Missing layergroup")
        else:
            try:
                layergroup = MapConfig.from_json(raw_group)
            except ValidationError as exc:
                problems.extend(exc.problems)
        auth = data.get("auth") or {"method": "open"}
        placeholders = data.get("placeholders") or {}
        view = data.get("view")
        if not isinstance(auth, Mapping):
            problems.append(f"`auth` must be an object, got {auth!r}")
        if not isinstance(placeholders, Mapping):
            problems.append(f"`placeholders` must be an object, got {placeholders!r}")
        if view is not None and not isinstance(view, Mapping):
            problems.append(f"`view` must be an object, got {view!r}")
        _raise_if(problems, "template")
        assert layergroup is not None
        known = ("version", "name", "auth", "placeholders", "layergroup", "view", "auth_id")
        return cls(
            name=data.get("name"),  # type: ignore[arg-type]
            version=data.get("version"),  # type: ignore[arg-type]
            layergroup=layergroup,
            placeholders=placeholders,
            auth=TemplateAuth(str(auth.get("method")), auth.get("valid_tokens")),
            view=TemplateView.from_json(view) if view is not None else None,
            extra={k: v for k, v in data.items() if k not in known},
        )

    def problems(self) -> list[str]:
        """Everything the server would reject (at creation or at instantiation with the
        defaults), all at once, in the server's words where it has them."""
        out: list[str] = []
        if self.version != TEMPLATE_VERSION:
            out.append(f"Unsupported template version {self.version}")
        if not self.name:
            out.append("Missing template name")
        elif not isinstance(self.name, str) or not _TEMPLATE_NAME_RE.match(self.name):
            out.append(
                f"Invalid characters in template name '{self.name}' "
                "(use letters, digits, '_' and '-'; start with a letter or digit)"
            )
        layergroup: Any = self.layergroup
        if not isinstance(layergroup, MapConfig):
            out.append("Missing layergroup")
        elif not self.layergroup.layers:
            out.append("Missing or empty layers array from layergroup config")
        else:
            out.extend(
                p
                for p in self.layergroup.problems(placeholders_allowed=True)
                if p != "the map has no layers"
            )
        for name, placeholder in self.placeholders.items():
            if not isinstance(name, str) or not _PLACEHOLDER_NAME_RE.match(name):
                out.append(
                    f"Invalid characters in placeholder name '{name}' "
                    "(use letters, digits and '_'; start with a letter)"
                )
            if placeholder.default is None:
                out.append(f"Missing default for placeholder '{name}'")
            if placeholder.type is None:  # from a JSON body without it
                out.append(f"Missing type for placeholder '{name}'")
            elif placeholder.type not in PLACEHOLDER_TYPES:
                out.append(
                    f"Invalid placeholder type '{placeholder.type}' for placeholder '{name}' "
                    f"(one of {', '.join(PLACEHOLDER_TYPES)})"
                )
            elif placeholder.default is not None:
                problem = placeholder.value_problem(name, placeholder.default)
                if problem is not None:
                    out.append(f"default: {problem}")
        out.extend(self.auth.problems())
        if self.view is not None:
            out.extend(self.view.problems())
        return out

    def validate(self) -> Template:
        """Raise one :class:`ValidationError` listing every problem; return self when valid."""
        _raise_if(self.problems(), f"named map template {self.name!r}")
        return self

    def params_problems(self, params: Mapping[str, Any]) -> list[str]:
        """What the server would refuse in instantiation ``params`` (unknown names are ignored
        by the server, so they are ignored here too)."""
        out: list[str] = []
        for name, value in params.items():
            placeholder = self.placeholders.get(name)
            if placeholder is not None and placeholder.type in PLACEHOLDER_TYPES:
                problem = placeholder.value_problem(name, value)
                if problem is not None:
                    out.append(problem)
        return out


# --- responses ----------------------------------------------------------------------------


@attrs.frozen
class LayerMetadata:
    """What the server says about one layer of a layergroup: its ``type``, ``id`` (when it
    gives one), ``meta`` (stats, CartoCSS meta, ...) and ``tilejson``."""

    type: str
    id: str | None = None
    meta: Mapping[str, Any] = attrs.field(factory=dict)
    tilejson: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class CdnUrl:
    """The CDN the server asks clients to use for tiles, when it has one configured."""

    http: str | None = None
    https: str | None = None
    templates: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Layergroup:
    """A map instance: what ``POST /api/v1/map`` and named-map instantiation return.

    ``layergroupid`` is ``<token>:<cache buster>`` for anonymous maps and
    ``<user>@<template hash>@<token>:<cache buster>`` for named-map instances.
    """

    layergroupid: str
    last_updated: datetime | None = None
    layers: tuple[LayerMetadata, ...] = ()
    metadata: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    cdn_url: CdnUrl | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def token(self) -> str:
        """The map token (the md5 part of the id, without user, template hash or cache buster)."""
        return self.layergroupid.split(":", 1)[0].rsplit("@", 1)[-1]

    @property
    def cache_buster(self) -> str | None:
        """The part after ``:``, which changes when the affected tables do."""
        _, sep, buster = self.layergroupid.partition(":")
        return buster if sep else None

    @property
    def template_hash(self) -> str | None:
        """For a named-map instance, the 8-character hash of its template."""
        parts = self.layergroupid.split(":", 1)[0].split("@")
        return parts[1] if len(parts) == 3 else None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Layergroup:
        """Read a layergroup body; raises :class:`ValueError` when there is no id."""
        if not isinstance(data, Mapping) or not isinstance(data.get("layergroupid"), str):
            raise ValueError("a layergroup body needs a `layergroupid` string")
        metadata = data.get("metadata")
        metadata = metadata if isinstance(metadata, Mapping) else {}
        layers = tuple(
            LayerMetadata(
                type=str(item.get("type", "mapnik")),
                id=item.get("id"),
                meta=item.get("meta") or {},
                tilejson=item.get("tilejson") or {},
            )
            for item in metadata.get("layers") or ()
            if isinstance(item, Mapping)
        )
        cdn = data.get("cdn_url")
        updated = data.get("last_updated")
        return cls(
            layergroupid=data["layergroupid"],
            last_updated=parse_datetime(updated) if isinstance(updated, str) else None,
            layers=layers,
            metadata=metadata,
            cdn_url=(
                CdnUrl(cdn.get("http"), cdn.get("https"), cdn.get("templates") or {})
                if isinstance(cdn, Mapping)
                else None
            ),
            raw=dict(data),
        )


@attrs.frozen
class MapErrorLayer:
    """The layer an error is about: ``id`` (``layer0``), ``index`` and ``type``."""

    id: str | None = None
    index: int | None = None
    type: str | None = None


@attrs.frozen
class MapErrorContext:
    """One entry of a Maps API error's ``errors_with_context``: ``type`` (``layer``, ``auth``,
    ``limit``, ``unknown``, ...), ``message``, ``subtype`` (``query``, ``rate-limit``, ...) and the
    ``layer`` it is about, when the server says."""

    type: str
    message: str
    subtype: str | None = None
    layer: MapErrorLayer | None = None
    analysis: Mapping[str, Any] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MapErrorContext:
        """Read one context entry, tolerating missing members."""
        layer = data.get("layer")
        index = layer.get("index") if isinstance(layer, Mapping) else None
        return cls(
            type=str(data.get("type") or "unknown"),
            message=str(data.get("message") or ""),
            subtype=str(data["subtype"]) if data.get("subtype") is not None else None,
            layer=(
                MapErrorLayer(
                    id=layer.get("id"),
                    index=index if isinstance(index, int) else None,
                    type=layer.get("type"),
                )
                if isinstance(layer, Mapping)
                else None
            ),
            analysis=data.get("analysis") if isinstance(data.get("analysis"), Mapping) else None,
        )
