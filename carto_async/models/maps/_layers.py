"""The layers of a MapConfig: ``mapnik``/``cartodb``, ``torque``, ``http`` and ``plain``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias

import attrs

from carto_async.errors import ValidationError
from carto_async.models.maps._common import (
    CARTOCSS_VERSION,
    Json,
    _check_str,
    _drop_none,
    _tuple_of_str,
)

__all__ = [
    "HttpLayer",
    "Layer",
    "LayerAttributes",
    "MapnikLayer",
    "PlainLayer",
    "TorqueLayer",
    "layer_from_json",
]


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
        if self.type not in ("mapnik", "cartodb", None):
            out.append(
                f"{where}: a mapnik layer's type is 'mapnik' or 'cartodb', got {self.type!r}"
            )
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
