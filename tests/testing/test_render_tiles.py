"""Tile math and WKB normalisation for the renderer."""

from __future__ import annotations

import math
import struct

import pytest

from carto_async.testing.render import (
    WKBError,
    bbox_around,
    lnglat_bbox_to_mercator,
    lnglat_to_mercator,
    tile_bbox,
    to_2d_wkb,
    wrap_tile_x,
    zoom_for_resolution,
)

E = 20037508.342789244


@pytest.mark.parametrize(
    ("tile", "bbox"),
    [
        ((0, 0, 0), (-E, -E, E, E)),
        ((1, 0, 0), (-E, 0, 0, E)),
        ((1, 1, 1), (0, -E, E, 0)),
        ((2, 3, 0), (E / 2, E / 2, E, E)),
        ((1, -1, 0), (0, 0, E, E)),  # x wraps around the world
    ],
)
def test_tile_bbox(tile: tuple[int, int, int], bbox: tuple[float, ...]) -> None:
    assert tile_bbox(*tile) == pytest.approx(bbox)


def test_tile_bbox_refuses_tiles_outside_the_world() -> None:
    with pytest.raises(ValueError, match="no tile"):
        tile_bbox(1, 0, 2)
    assert wrap_tile_x(2, -1) == 3


def test_degrees_to_mercator() -> None:
    assert lnglat_to_mercator(0, 0) == pytest.approx((0, 0), abs=1e-6)
    assert lnglat_to_mercator(180, 85.0511287798066) == pytest.approx((E, E))
    assert lnglat_to_mercator(-90, -90)[1] == pytest.approx(-E)  # clamped
    assert lnglat_bbox_to_mercator(-180, -85.0511287798066, 180, 85.0511287798066) == (
        pytest.approx((-E, -E, E, E))
    )


def test_bbox_around_a_centre_matches_the_tile_grid() -> None:
    assert bbox_around(0, 0, 0, 256, 256) == pytest.approx((-E, -E, E, E))
    assert bbox_around(0, 0, 1, 256, 256) == pytest.approx((-E / 2, -E / 2, E / 2, E / 2))


@pytest.mark.parametrize("zoom", [0, 3, 10, 18])
def test_zoom_for_resolution(zoom: int) -> None:
    assert zoom_for_resolution(2 * E / (256 * 2**zoom)) == zoom
    assert zoom_for_resolution(2 * E / (256 * 2**zoom) * 1.2) == zoom
    with pytest.raises(ValueError, match="positive"):
        zoom_for_resolution(0)


def point_2d(x: float, y: float) -> bytes:
    return struct.pack("<BIdd", 1, 1, x, y)


@pytest.mark.parametrize(
    "wkb",
    [
        point_2d(1, 2),
        struct.pack(">BIdd", 0, 1, 1, 2),  # big endian
        struct.pack("<BIIdd", 1, 0x20000001, 4326, 1, 2),  # EWKB with SRID
        struct.pack("<BIddd", 1, 0x80000001, 1, 2, 3),  # EWKB Z
        struct.pack("<BIddd", 1, 1001, 1, 2, 3),  # ISO Z
        struct.pack("<BIdddd", 1, 3001, 1, 2, 3, 4),  # ISO ZM
    ],
)
def test_points_become_2d_iso_wkb(wkb: bytes) -> None:
    assert to_2d_wkb(wkb) == point_2d(1, 2)


def test_collections_are_normalised_recursively() -> None:
    inner = struct.pack("<BIddd", 1, 1001, 5, 6, 7)
    multi = struct.pack("<BII", 1, 0x80000004, 2) + inner + inner
    assert to_2d_wkb(multi) == struct.pack("<BII", 1, 4, 2) + point_2d(5, 6) * 2
    ring = [(0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 0, 1)]
    poly = struct.pack("<BIII", 1, 1003, 1, 4) + b"".join(struct.pack("<ddd", *p) for p in ring)
    expected = struct.pack("<BIII", 1, 3, 1, 4) + b"".join(
        struct.pack("<dd", x, y) for x, y, _ in ring
    )
    assert to_2d_wkb(poly) == expected


@pytest.mark.parametrize(
    ("wkb", "message"),
    [
        (b"", "truncated"),
        (b"\x05\x01\x00\x00\x00", "byte order"),
        (struct.pack("<BI", 1, 99), "unsupported WKB geometry type"),
        (struct.pack("<BII", 1, 2, 10**9), "count larger"),
    ],
)
def test_bad_wkb(wkb: bytes, message: str) -> None:
    with pytest.raises(WKBError, match=message):
        to_2d_wkb(wkb)


def test_deep_nesting_is_refused() -> None:
    wkb = struct.pack("<BII", 1, 7, 1) * 40 + point_2d(0, 0)
    with pytest.raises(WKBError, match="nested too deeply"):
        to_2d_wkb(wkb)
    assert not math.isnan(to_2d_wkb(point_2d(0, 0))[5])
