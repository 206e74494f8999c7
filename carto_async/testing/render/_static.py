"""Which part of the world a static image shows, with the server's precedence.

For a named map (``/static/named/NAME/W/H.fmt``) Windshaft-cartodb takes: explicit ``zoom`` with
``lat``/``lon``, else ``bbox``, else the template's ``view`` (center and zoom, then bounds),
else the extent of the data, else zoom 1 at (0, 0). ``view.preview_layers`` hides layers set to
false. Center and bbox images use the same rules with only their own inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from carto_async.testing.render._tiles import (
    Bbox,
    bbox_around,
    lnglat_bbox_to_mercator,
    zoom_for_resolution,
)

__all__ = ["StaticView", "static_view", "visible_layers"]

#: Metres added around a data extent that is a single point, so that it has an area.
_POINT_EXTENT_PAD = 1000.0


@attrs.frozen
class StaticView:
    """The EPSG:3857 box to draw and the zoom that drives ``[zoom]`` filters; ``source`` says
    which input decided (``center``, ``bbox``, ``view-center``, ``view-bounds``, ``extent``,
    ``default``)."""

    bbox: Bbox
    zoom: int
    source: str


def _from_bbox(bbox: Bbox, width: int, height: int, source: str) -> StaticView:
    minx, miny, maxx, maxy = bbox
    # Mapnik grows the box to the image's aspect: the zoom follows the wider resolution.
    resolution = max((maxx - minx) / width, (maxy - miny) / height)
    return StaticView(bbox, zoom_for_resolution(resolution), source)


def static_view(
    width: int,
    height: int,
    *,
    zoom: int | None = None,
    center: tuple[float, float] | None = None,
    bbox: Sequence[float] | None = None,
    view_center: tuple[float, float] | None = None,
    view_zoom: int | None = None,
    view_bounds: Sequence[float] | None = None,
    data_extent: Bbox | None = None,
) -> StaticView:
    """The view of a static image. ``center``/``view_center`` are (lat, lng) in degrees;
    ``bbox``/``view_bounds`` are (west, south, east, north) in degrees; ``data_extent`` is the
    EPSG:3857 extent of the layers' data, when known."""
    if zoom is not None and center is not None:
        lat, lng = center
        return StaticView(bbox_around(lng, lat, zoom, width, height), zoom, "center")
    if bbox is not None:
        west, south, east, north = bbox
        return _from_bbox(lnglat_bbox_to_mercator(west, south, east, north), width, height, "bbox")
    if view_center is not None and view_zoom is not None:
        lat, lng = view_center
        return StaticView(bbox_around(lng, lat, view_zoom, width, height), view_zoom, "view-center")
    if view_bounds is not None:
        west, south, east, north = view_bounds
        box = lnglat_bbox_to_mercator(west, south, east, north)
        return _from_bbox(box, width, height, "view-bounds")
    if data_extent is not None:
        minx, miny, maxx, maxy = data_extent
        if maxx - minx <= 0 or maxy - miny <= 0:
            pad = _POINT_EXTENT_PAD
            minx, miny, maxx, maxy = minx - pad, miny - pad, maxx + pad, maxy + pad
        return _from_bbox((minx, miny, maxx, maxy), width, height, "extent")
    return StaticView(bbox_around(0, 0, 1, width, height), 1, "default")


def visible_layers(
    layer_ids: Sequence[str],
    preview_layers: Mapping[str, bool] | None,
    selected: Sequence[int] | None = None,
) -> list[int]:
    """The indexes of the layers a static image draws: those in ``selected`` (the ``layer``
    parameter; default all) that ``preview_layers`` does not hide by index or by id."""
    hidden = {key for key, shown in (preview_layers or {}).items() if shown is False}
    indexes = range(len(layer_ids)) if selected is None else selected
    return [
        i
        for i in indexes
        if 0 <= i < len(layer_ids) and str(i) not in hidden and layer_ids[i] not in hidden
    ]
