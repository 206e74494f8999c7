"""Torque tiles aggregated from points, as Windshaft's torque renderer does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from carto_async.testing.render import (
    CartoCSSError,
    tile_bbox,
    torque_settings,
    torque_steps,
    torque_tile,
)

CSS = """
Map {
  -torque-time-attribute: "cartodb_id";
  -torque-aggregation-function: "count(cartodb_id)";
  -torque-frame-count: 1;
  -torque-resolution: 128;
}
"""


@pytest.mark.parametrize(
    ("tile", "expected"),
    [
        # The server's own test: a point at (0, 0) seen from the four tiles around it at z3.
        ((3, 3), []),
        ((4, 3), []),
        ((3, 4), [{"x__uint8": 1, "y__uint8": 1, "vals__uint8": [1], "dates__uint16": [0]}]),
        ((4, 4), [{"x__uint8": 0, "y__uint8": 1, "vals__uint8": [1], "dates__uint16": [0]}]),
    ],
)
def test_a_point_on_tile_borders(tile: tuple[int, int], expected: list[object]) -> None:
    settings = torque_settings(CSS)
    steps = torque_steps(settings, [1])
    rows = [(0.0, 0.0, 1, {"cartodb_id": 1})]
    assert torque_tile(settings, steps, rows, tile=(3, *tile)) == expected


def test_points_are_binned_by_cell_and_time_step() -> None:
    css = """Map {
      -torque-time-attribute: "t";
      -torque-aggregation-function: "sum(n)";
      -torque-frame-count: 4;
      -torque-resolution: 2;
      -torque-data-aggregation: linear;
    }"""
    settings = torque_settings(css)
    assert (settings.function, settings.argument, settings.data_aggregation) == (
        "sum",
        "n",
        "linear",
    )
    times = [0, 1, 2, 3, 4, 5, 6, 7]
    steps = torque_steps(settings, times)
    assert (steps.start, steps.end, steps.step, steps.data_steps) == (0, 7, 2.0, 8)
    assert steps.metadata() == {
        "start": 0,
        "end": 7000,
        "steps": 4,
        "data_steps": 8,
        "column_type": "number",
    }
    minx, miny, _, _ = tile_bbox(0, 0, 0)
    pixel = 2 * -minx / 256
    # Two points in the bottom-left cell (pixels 0..1 from the bottom-left), one far away.
    rows = [
        (minx + 0.4 * pixel, miny + 0.4 * pixel, 0, {"n": 5}),
        (minx + 0.4 * pixel, miny + 0.4 * pixel, 1, {"n": 2}),
        (minx + 0.4 * pixel, miny + 0.4 * pixel, 6, {"n": 1}),
        (minx + 101 * pixel, miny + 51 * pixel, 3, {"n": 4}),
    ]
    assert torque_tile(settings, steps, rows, tile=(0, 0, 0)) == [
        {"x__uint8": 0, "y__uint8": 0, "vals__uint8": [7, 1], "dates__uint16": [0, 3]},
        {"x__uint8": 50, "y__uint8": 26, "vals__uint8": [4], "dates__uint16": [1]},
    ]


def test_dates_are_epoch_seconds_and_metadata_in_milliseconds() -> None:
    settings = torque_settings(CSS)
    first = datetime(2020, 1, 1, tzinfo=UTC)
    last = datetime(2020, 1, 2, tzinfo=UTC)
    steps = torque_steps(settings, [first, last])
    assert steps.is_time
    meta = steps.metadata()
    assert meta["column_type"] == "date"
    assert meta["start"] == first.timestamp() * 1000
    assert meta["end"] == last.timestamp() * 1000


def test_no_data_has_a_step_of_one() -> None:
    steps = torque_steps(torque_settings(CSS), [])
    assert (steps.step, steps.data_steps) == (1.0, 0)


def test_missing_properties_are_all_named() -> None:
    with pytest.raises(CartoCSSError) as info:
        torque_settings("Map { -torque-frame-count: 4; }")
    assert info.value.problems == [
        "Missing required property '-torque-resolution' in torque layer CartoCSS",
        "Missing required property '-torque-aggregation-function' in torque layer CartoCSS",
        "Missing required property '-torque-time-attribute' in torque layer CartoCSS",
    ]
    with pytest.raises(CartoCSSError, match="unsupported -torque-aggregation-function"):
        torque_settings(CSS.replace("count(cartodb_id)", "median(x)"))
