"""What the Maps API answers: layergroups (map instances) and the context of its errors."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from carto_async.models._converter import parse_datetime

__all__ = [
    "CdnUrl",
    "LayerMetadata",
    "Layergroup",
    "MapErrorContext",
    "MapErrorLayer",
    "TorqueCell",
    "UTFGrid",
]


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


def _decode_utfgrid_char(char: str) -> int:
    # UTFGrid skips the code points of '"' (34) and '\\' (92) when encoding key indexes.
    code = ord(char)
    if code >= 93:
        code -= 1
    if code >= 35:
        code -= 1
    return code - 32


@attrs.frozen
class UTFGrid:
    """A ``grid.json`` tile: rows of characters naming, for each cell, the feature under it.

    Example::

        grid = UTFGrid.from_json(body)
        grid.data_at(128, 128)        # {"cartodb_id": 2} or None
    """

    grid: tuple[str, ...]
    keys: tuple[str, ...]
    data: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> UTFGrid:
        """Read a UTFGrid body; raises :class:`ValueError` when it is not one."""
        if not isinstance(body, Mapping):
            raise ValueError("a UTFGrid is an object with grid, keys and data")
        grid, keys, data = body.get("grid"), body.get("keys"), body.get("data") or {}
        if (
            not isinstance(grid, list)
            or not all(isinstance(row, str) for row in grid)
            or not isinstance(keys, list)
            or not isinstance(data, Mapping)
        ):
            raise ValueError("a UTFGrid is an object with grid, keys and data")
        return cls(tuple(grid), tuple(str(k) for k in keys), dict(data))

    def key_at(self, x: float, y: float, tile_size: int = 256) -> str | None:
        """The key of the feature at pixel (x, y) of the tile, or ``None`` over nothing."""
        if not self.grid or not 0 <= x < tile_size or not 0 <= y < tile_size:
            return None
        scale = tile_size / len(self.grid)
        row = self.grid[int(y / scale)]
        column = int(x / scale)
        if column >= len(row):
            return None
        index = _decode_utfgrid_char(row[column])
        key = self.keys[index] if 0 <= index < len(self.keys) else ""
        return key or None

    def data_at(self, x: float, y: float, tile_size: int = 256) -> Mapping[str, Any] | None:
        """The interactivity columns of the feature at pixel (x, y), or ``None``."""
        key = self.key_at(x, y, tile_size)
        return self.data.get(key) if key is not None else None


def _uint_list(value: Any, name: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        raise ValueError(f"a Torque cell's {name} is a list of numbers")
    return tuple(int(v) for v in value)


@attrs.frozen
class TorqueCell:
    """One cell of a ``torque.json`` tile: its pixel (``x``, ``y``, 0-255 from the tile's
    bottom-left), the aggregated ``values`` and the time ``steps`` they fall in.

    Example::

        for cell in await carto.maps.torque(group, 0, 0, 0):
            print(cell.x, cell.y, dict(zip(cell.steps, cell.values)))
    """

    x: int
    y: int
    values: tuple[int, ...]
    steps: tuple[int, ...]

    @classmethod
    def tile_from_json(cls, body: Any) -> tuple[TorqueCell, ...]:
        """The cells of a Torque tile body (``[{x__uint8, y__uint8, vals__uint8,
        dates__uint16}, ...]``); raises :class:`ValueError` when it is not one."""
        if not isinstance(body, list):
            raise ValueError("a Torque tile is a list of cells")
        cells: list[TorqueCell] = []
        for item in body:
            if not isinstance(item, Mapping):
                raise ValueError("a Torque cell is an object")
            x, y = item.get("x__uint8"), item.get("y__uint8")
            if not isinstance(x, int) or not isinstance(y, int):
                raise ValueError("a Torque cell has x__uint8 and y__uint8")
            values = _uint_list(item.get("vals__uint8"), "vals__uint8")
            steps = _uint_list(item.get("dates__uint16"), "dates__uint16")
            if len(values) != len(steps):
                raise ValueError("a Torque cell has as many values as dates")
            cells.append(cls(x, y, values, steps))
        return tuple(cells)
