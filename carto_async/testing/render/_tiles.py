"""Web-mercator tile math (EPSG:3857, 256 px tiles, y down from the north as in XYZ tiles)."""

from __future__ import annotations

import math

__all__ = [
    "EARTH_HALF_CIRCUMFERENCE",
    "TILE_SIZE",
    "Bbox",
    "bbox_around",
    "lnglat_bbox_to_mercator",
    "lnglat_to_mercator",
    "tile_bbox",
    "wrap_tile_x",
    "zoom_for_resolution",
]

#: Half the equator in web-mercator metres: the world spans -E..E on both axes.
EARTH_HALF_CIRCUMFERENCE = math.pi * 6378137.0
TILE_SIZE = 256
_MAX_LAT = 85.0511287798066

Bbox = tuple[float, float, float, float]


def wrap_tile_x(z: int, x: int) -> int:
    """``x`` brought into ``0 .. 2**z - 1`` (the server accepts negative and wrapped x)."""
    return x % (1 << z)


def tile_bbox(z: int, x: int, y: int) -> Bbox:
    """The (minx, miny, maxx, maxy) of tile z/x/y in EPSG:3857 metres."""
    if z < 0 or not 0 <= y < (1 << z):
        raise ValueError(f"no tile {z}/{x}/{y}")
    x = wrap_tile_x(z, x)
    size = 2 * EARTH_HALF_CIRCUMFERENCE / (1 << z)
    minx = -EARTH_HALF_CIRCUMFERENCE + x * size
    maxy = EARTH_HALF_CIRCUMFERENCE - y * size
    return (minx, maxy - size, minx + size, maxy)


def lnglat_to_mercator(lng: float, lat: float) -> tuple[float, float]:
    """Degrees (WGS 84) to EPSG:3857 metres; latitudes are clamped to the mercator limit."""
    lat = max(-_MAX_LAT, min(_MAX_LAT, lat))
    x = lng * EARTH_HALF_CIRCUMFERENCE / 180.0
    y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * 6378137.0
    return x, y


def lnglat_bbox_to_mercator(west: float, south: float, east: float, north: float) -> Bbox:
    """A bounding box in degrees as EPSG:3857 metres."""
    minx, miny = lnglat_to_mercator(west, south)
    maxx, maxy = lnglat_to_mercator(east, north)
    return (minx, miny, maxx, maxy)


def resolution(zoom: float) -> float:
    """Metres per pixel at ``zoom`` for 256 px tiles."""
    return 2 * EARTH_HALF_CIRCUMFERENCE / (TILE_SIZE * 2**zoom)


def bbox_around(lng: float, lat: float, zoom: float, width: int, height: int) -> Bbox:
    """The EPSG:3857 box of a ``width`` x ``height`` image centred on (lng, lat) at ``zoom``."""
    cx, cy = lnglat_to_mercator(lng, lat)
    res = resolution(zoom)
    half_w, half_h = width * res / 2, height * res / 2
    return (cx - half_w, cy - half_h, cx + half_w, cy + half_h)


def zoom_for_resolution(metres_per_pixel: float) -> int:
    """The whole zoom whose resolution is nearest (used for ``[zoom]`` filters of static images)."""
    if metres_per_pixel <= 0:
        raise ValueError("the resolution must be positive")
    zoom = math.log2(2 * EARTH_HALF_CIRCUMFERENCE / (TILE_SIZE * metres_per_pixel))
    return max(0, round(zoom))
