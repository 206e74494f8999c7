"""The MapConfig: what ``POST /api/v1/map`` takes (Windshaft MapConfig 1.0.0 to 1.8.0)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from carto_async.errors import ValidationError
from carto_async.models.maps._common import (
    _SUPPORTED_MAPCONFIG,
    MAPCONFIG_VERSION,
    Json,
    _drop_none,
    _is_number,
    _quad,
    _raise_if,
)
from carto_async.models.maps._layers import (
    _LAYER_CLASSES,
    Layer,
    MapnikLayer,
    layer_from_json,
)

__all__ = ["MapConfig"]


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

    def layer_ids(self) -> list[str]:
        """The id of each layer as the server names it: its own ``id``, else ``layer<n>``
        numbering mapnik layers, and ``<type>-layer<n>`` numbering other types apart."""
        counts: dict[str, int] = {}
        ids: list[str] = []
        for layer in self.layers:
            kind = "mapnik" if isinstance(layer, MapnikLayer) else layer.type
            number = counts.get(kind, 0)
            counts[kind] = number + 1
            if layer.id is not None:
                ids.append(layer.id)
            elif kind == "mapnik":
                ids.append(f"layer{number}")
            else:
                ids.append(f"{kind}-layer{number}")
        return ids

    def validate(self) -> MapConfig:
        """Raise one :class:`ValidationError` listing every problem; return self when valid."""
        _raise_if(self.problems(), "MapConfig")
        return self
