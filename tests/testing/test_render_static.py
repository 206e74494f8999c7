"""Static image views follow the server's precedence."""

from __future__ import annotations

import pytest

from carto_async.testing.render import (
    bbox_around,
    lnglat_bbox_to_mercator,
    static_view,
    visible_layers,
)

EXTENT = (1000.0, 2000.0, 51000.0, 52000.0)


@pytest.mark.parametrize(
    ("kwargs", "source"),
    [
        (
            {
                "zoom": 5,
                "center": (40.0, -3.0),
                "bbox": (-10, 35, 5, 44),
                "view_center": (0, 0),
                "view_zoom": 2,
                "data_extent": EXTENT,
            },
            "center",
        ),
        ({"bbox": (-10, 35, 5, 44), "view_center": (0, 0), "view_zoom": 2}, "bbox"),
        ({"center": (1.0, 2.0), "view_center": (0, 0), "view_zoom": 2}, "view-center"),
        ({"view_center": (0, 0), "view_bounds": (-1, -1, 1, 1)}, "view-bounds"),
        ({"view_bounds": (-1, -1, 1, 1), "data_extent": EXTENT}, "view-bounds"),
        ({"data_extent": EXTENT}, "extent"),
        ({"zoom": 3}, "default"),
        ({}, "default"),
    ],
)
def test_precedence(kwargs: dict[str, object], source: str) -> None:
    assert static_view(600, 400, **kwargs).source == source  # type: ignore[arg-type]


def test_each_source_gives_its_box_and_zoom() -> None:
    centre = static_view(600, 400, zoom=5, center=(40.0, -3.0))
    assert centre.zoom == 5
    assert centre.bbox == pytest.approx(bbox_around(-3.0, 40.0, 5, 600, 400))
    boxed = static_view(256, 256, bbox=(-180, -85.0511287798066, 180, 85.0511287798066))
    assert boxed.zoom == 0
    assert boxed.bbox == pytest.approx(
        lnglat_bbox_to_mercator(-180, -85.0511287798066, 180, 85.0511287798066)
    )
    fallback = static_view(256, 256)
    assert fallback.zoom == 1
    assert fallback.bbox == pytest.approx(bbox_around(0, 0, 1, 256, 256))


def test_a_point_extent_gets_an_area() -> None:
    view = static_view(100, 100, data_extent=(5.0, 5.0, 5.0, 5.0))
    minx, miny, maxx, maxy = view.bbox
    assert minx < 5 < maxx
    assert miny < 5 < maxy


@pytest.mark.parametrize(
    ("preview", "selected", "expected"),
    [
        (None, None, [0, 1, 2]),
        ({"1": False}, None, [0, 2]),
        ({"roads": False, "0": True}, None, [0, 1]),
        ({"0": False}, [0, 2], [2]),
        (None, [2, 7], [2]),
    ],
)
def test_visible_layers(
    preview: dict[str, bool] | None, selected: list[int] | None, expected: list[int]
) -> None:
    assert visible_layers(["layer0", "layer1", "roads"], preview, selected) == expected
