"""Tiles and images of a stored layergroup, drawn from the layers' data: PNG (Mapnik, through
the render package), UTFGrid, Mapbox Vector Tiles (the ``mapbox-vector-tile`` package, from the
same rows) and Torque tiles."""

from __future__ import annotations

import importlib
import struct
from collections.abc import Sequence
from typing import Any

from carto_async.models.maps import MapConfig, MapnikLayer, PlainLayer, TorqueLayer
from carto_async.testing._windshaft._data import LayerQuery, fetch_features, layer_context
from carto_async.testing._windshaft._errors import MapsError
from carto_async.testing.render import (
    Bbox,
    CartoCSSError,
    RendererUnavailable,
    RenderLayer,
    TorqueSettings,
    TorqueSteps,
    render_grid,
    render_image,
    torque_settings,
    torque_steps,
    torque_tile,
)

__all__ = [
    "MVT_EXTENT",
    "grid_tile",
    "image",
    "mvt_tile",
    "torque_json_tile",
    "torque_metadata",
]

#: Coordinates per tile side in the vector tiles written.
MVT_EXTENT = 4096


def _buffered(bbox: Bbox, pixels: float, width: int) -> Bbox:
    pad = (bbox[2] - bbox[0]) / width * pixels
    return (bbox[0] - pad, bbox[1] - pad, bbox[2] + pad, bbox[3] + pad)


def _in_zoom(layer: MapnikLayer, zoom: int) -> bool:
    low = layer.minzoom if isinstance(layer.minzoom, int) else 0
    high = layer.maxzoom if isinstance(layer.maxzoom, int) else 30
    return low <= zoom <= high


def _contexts(config: MapConfig, indexes: Sequence[int]) -> list[tuple[int, Any, dict[str, Any]]]:
    ids = config.layer_ids()
    return [(i, config.layers[i], layer_context(config.layers[i], i, ids[i])) for i in indexes]


def _renderer_error(exc: RendererUnavailable) -> MapsError:
    # 501: nothing a retry could fix, and no SDK retries it.
    return MapsError(str(exc), status=501, type="renderer", subtype="unavailable")


def _cartocss_error(exc: CartoCSSError, context: dict[str, Any]) -> MapsError:
    return MapsError(
        exc.problems[0] if exc.problems else str(exc),
        type="layer",
        subtype="cartocss",
        layer=context,
        more=exc.problems[1:],
    )


def _background(config: MapConfig, indexes: Sequence[int]) -> str | None:
    for i in indexes:
        layer = config.layers[i]
        if isinstance(layer, PlainLayer) and isinstance(layer.color, str):
            return layer.color
        if isinstance(layer, PlainLayer) and isinstance(layer.color, tuple):
            return "rgba({},{},{},{})".format(
                *layer.color[:3], (layer.color[3:] or (255,))[0] / 255
            )
    return None


def image(
    query: LayerQuery,
    config: MapConfig,
    indexes: Sequence[int],
    bbox: Bbox,
    *,
    width: int,
    height: int,
    zoom: int,
    fmt: str,
    scale: float = 1.0,
    buffer_size: int = 64,
) -> bytes:
    """The mapnik layers among ``indexes`` drawn over ``bbox`` (a tile or a static image);
    a plain layer's colour is the background; other layer types are not drawn."""
    render_layers: list[RenderLayer] = []
    contexts = []
    query_box = _buffered(bbox, buffer_size, width)
    for _, layer, context in _contexts(config, indexes):
        if (
            not isinstance(layer, MapnikLayer)
            or layer.cartocss is None
            or not _in_zoom(layer, zoom)
        ):
            continue
        rows = fetch_features(query, layer, query_box, context, width=width, height=height)
        render_layers.append(RenderLayer(layer.cartocss, rows, layer.interactivity_columns))
        contexts.append(context)
    try:
        return render_image(
            render_layers,
            bbox,
            width,
            height,
            scale=scale,
            zoom=zoom,
            fmt=fmt,
            background=_background(config, indexes),
            buffer_size=buffer_size,
        )
    except RendererUnavailable as exc:
        raise _renderer_error(exc) from None
    except CartoCSSError as exc:
        index = _failed_layer(exc, len(contexts))
        raise _cartocss_error(exc, contexts[index] if contexts else {}) from None


def _failed_layer(exc: CartoCSSError, count: int) -> int:
    # The renderer names the layer as "layer <n>: ..." in its position among those drawn.
    first = exc.problems[0] if exc.problems else ""
    if first.startswith("layer "):
        number = first[6:].split(":")[0].split(",")[0]
        if number.isdigit() and int(number) < count:
            return int(number)
    return 0


def grid_tile(
    query: LayerQuery, config: MapConfig, index: int, bbox: Bbox, *, zoom: int, buffer_size: int
) -> dict[str, Any]:
    """The UTFGrid of one mapnik layer, with its interactivity columns as data."""
    ((_, layer, context),) = _contexts(config, [index])
    if not isinstance(layer, MapnikLayer) or layer.cartocss is None:
        raise MapsError("Unsupported format grid.json")
    rows = (
        fetch_features(query, layer, _buffered(bbox, buffer_size, 256), context)
        if _in_zoom(layer, zoom)
        else []
    )
    try:
        return render_grid(
            RenderLayer(layer.cartocss, rows, layer.interactivity_columns),
            bbox,
            zoom=zoom,
            buffer_size=buffer_size,
        )
    except RendererUnavailable as exc:
        raise _renderer_error(exc) from None
    except CartoCSSError as exc:
        raise _cartocss_error(exc, context) from None


def _mvt_value(value: Any) -> Any:
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def mvt_tile(
    query: LayerQuery,
    config: MapConfig,
    indexes: Sequence[int],
    bbox: Bbox,
    *,
    zoom: int,
    buffer_size: int,
) -> bytes:
    """A Mapbox Vector Tile with one layer per mapnik layer (named by its id): geometries
    clipped to the tile plus ``buffer_size`` pixels, every non-geometry column a property.
    Empty bytes when no layer has a feature here."""
    try:
        # Optional (the render extra); imported here so the rest works without it.
        mapbox_vector_tile = importlib.import_module("mapbox_vector_tile")
        shapely = importlib.import_module("shapely")
    except ImportError:
        raise _renderer_error(
            RendererUnavailable(
                'vector tiles need mapbox-vector-tile: pip install "carto-async[render]"'
            )
        ) from None
    minx, miny, maxx, maxy = bbox
    sx = MVT_EXTENT / (maxx - minx)
    sy = MVT_EXTENT / (maxy - miny)
    pad = buffer_size * MVT_EXTENT / 256
    layers_out = []
    for _, layer, context in _contexts(config, indexes):
        if not isinstance(layer, MapnikLayer) or not _in_zoom(layer, zoom):
            continue
        query_box = _buffered(bbox, buffer_size, 256)
        features = []
        for wkb, attrs in fetch_features(query, layer, query_box, context):
            if wkb is None:
                continue
            geometry = shapely.from_wkb(wkb)
            geometry = shapely.transform(geometry, lambda c: (c - (minx, miny)) * (sx, sy))
            geometry = shapely.clip_by_rect(
                geometry, -pad, -pad, MVT_EXTENT + pad, MVT_EXTENT + pad
            )
            if geometry.is_empty:
                continue
            properties = {k: _mvt_value(v) for k, v in attrs.items() if v is not None}
            feature: dict[str, Any] = {"geometry": geometry, "properties": properties}
            fid = attrs.get("cartodb_id")
            if isinstance(fid, int) and not isinstance(fid, bool) and fid >= 0:
                feature["id"] = fid
            features.append(feature)
        if features:
            layers_out.append({"name": context["id"], "features": features})
    if not layers_out:
        return b""
    return bytes(mapbox_vector_tile.encode(layers_out, default_options={"extents": MVT_EXTENT}))


def _torque_layer(config: MapConfig, index: int) -> tuple[TorqueLayer, dict[str, Any]]:
    ((_, layer, context),) = _contexts(config, [index])
    if not isinstance(layer, TorqueLayer):
        raise MapsError("Unsupported format torque.json")
    return layer, context


def torque_metadata(
    query: LayerQuery, config: MapConfig, index: int
) -> tuple[TorqueSettings, TorqueSteps]:
    """A Torque layer's settings and time steps (from all its rows), as creation computes."""
    layer, context = _torque_layer(config, index)
    try:
        settings = torque_settings(layer.cartocss)
    except CartoCSSError as exc:
        raise _cartocss_error(exc, context) from None
    rows = fetch_features(query, layer, None, context)
    return settings, torque_steps(settings, [attrs.get(settings.column) for _, attrs in rows])


def _point(wkb: bytes) -> tuple[float, float] | None:
    if len(wkb) >= 21 and wkb[0] == 1 and struct.unpack_from("<I", wkb, 1)[0] == 1:
        x, y = struct.unpack_from("<dd", wkb, 5)
        return float(x), float(y)
    return None


def torque_json_tile(
    query: LayerQuery,
    config: MapConfig,
    index: int,
    *,
    tile: tuple[int, int, int],
    bbox: Bbox,
    metadata: tuple[TorqueSettings, TorqueSteps],
) -> list[dict[str, Any]]:
    """The ``torque.json`` body of a tile: the layer's points aggregated per cell and step."""
    layer, context = _torque_layer(config, index)
    settings, steps = metadata
    rows = []
    for wkb, attrs in fetch_features(query, layer, bbox, context):
        point = _point(wkb) if wkb is not None else None
        if point is not None:
            rows.append((point[0], point[1], attrs.get(settings.column), attrs))
    return torque_tile(settings, steps, rows, tile=tile)
