"""Torque tiles (``torque.json``) aggregated from a layer's points, as Windshaft's torque
renderer does in SQL: points binned in cells of ``-torque-resolution`` pixels and in time
steps, one value per (cell, step) from ``-torque-aggregation-function``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import attrs

from carto_async.testing.render._cartocss import CartoCSSError, parse_cartocss
from carto_async.testing.render._tiles import EARTH_HALF_CIRCUMFERENCE, TILE_SIZE

__all__ = ["TorqueSettings", "TorqueSteps", "torque_settings", "torque_steps", "torque_tile"]

_REQUIRED = {
    "-torque-frame-count": "steps",
    "-torque-resolution": "resolution",
    "-torque-aggregation-function": "countby",
    "-torque-time-attribute": "column",
}
_AGGREGATION_RE = re.compile(
    r"^\s*(count|sum|avg|min|max)\s*\(\s*(\*|[A-Za-z_][\w]*)\s*\)\s*$", re.I
)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


@attrs.frozen
class TorqueSettings:
    """The ``Map`` properties of a Torque layer's CartoCSS."""

    steps: int
    resolution: float
    column: str
    countby: str
    function: str
    argument: str
    data_aggregation: str | None = None


def torque_settings(cartocss: str) -> TorqueSettings:
    """Read the Torque properties; a missing one raises :class:`CartoCSSError` in the
    server's words (``Missing required property '-torque-frame-count' in torque layer
    CartoCSS``)."""
    props = parse_cartocss(cartocss).map_properties
    problems = [
        f"Missing required property '{name}' in torque layer CartoCSS"
        for name in _REQUIRED
        if name not in props
    ]
    if problems:
        raise CartoCSSError(problems)
    try:
        steps = int(float(props["-torque-frame-count"]))
        resolution = float(props["-torque-resolution"])
    except ValueError:
        raise CartoCSSError(
            ["Unexpected type for property '-torque-frame-count' or '-torque-resolution'"]
        ) from None
    countby = _unquote(props["-torque-aggregation-function"])
    match = _AGGREGATION_RE.match(countby)
    if match is None:
        raise CartoCSSError([f"unsupported -torque-aggregation-function {countby!r}"])
    if steps < 1 or resolution <= 0:
        raise CartoCSSError(["-torque-frame-count and -torque-resolution must be positive"])
    aggregation = props.get("-torque-data-aggregation")
    return TorqueSettings(
        steps=steps,
        resolution=resolution,
        column=_unquote(props["-torque-time-attribute"]),
        countby=countby,
        function=match.group(1).lower(),
        argument=match.group(2),
        data_aggregation=_unquote(aggregation) if aggregation else None,
    )


def _time_value(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    if isinstance(value, int | float):
        return float(value)
    return None


@attrs.frozen
class TorqueSteps:
    """The time bounds of a layer: ``start``/``end`` in the column's units (epoch seconds for
    dates), the ``step`` of one frame, the row count (``data_steps``, as the server counts)."""

    start: float
    end: float
    step: float
    data_steps: int
    steps: int
    is_time: bool

    def metadata(self) -> dict[str, Any]:
        """The layergroup's ``metadata.torque`` entry (milliseconds, as the server sends)."""
        return {
            "start": self.start * 1000,
            "end": self.end * 1000,
            "steps": self.steps,
            "data_steps": self.data_steps,
            "column_type": "date" if self.is_time else "number",
        }


def torque_steps(settings: TorqueSettings, times: Sequence[Any]) -> TorqueSteps:
    """The step of one frame: (max - min + 1) / min(frame count, row count), as the server
    computes it (1 when there is no data)."""
    is_time = any(isinstance(t, date) for t in times)
    values = [v for v in (_time_value(t) for t in times) if v is not None]
    count = len(times)
    start = min(values) if values else 0.0
    end = max(values) if values else 0.0
    divisor = min(settings.steps, count)
    step = (end - start + 1) / divisor if divisor else 0.0
    if math.isinf(step) or math.isnan(step):
        step = 0.0
    return TorqueSteps(start, end, step or 1.0, count, settings.steps, is_time)


def _aggregate(function: str, values: list[float]) -> float:
    if function == "count":
        return len(values)
    if not values:
        return 0
    if function == "sum":
        return sum(values)
    if function == "avg":
        return sum(values) / len(values)
    return min(values) if function == "min" else max(values)


def torque_tile(
    settings: TorqueSettings,
    steps: TorqueSteps,
    rows: Iterable[tuple[float, float, Any, Mapping[str, Any]]],
    *,
    tile: tuple[int, int, int],
    tile_size: int = TILE_SIZE,
) -> list[dict[str, Any]]:
    """The ``torque.json`` body of ``tile`` (z, x, y) from ``rows`` of (x, y in EPSG:3857,
    time value, attributes): cells counted from the tile's bottom-left, each with its values
    and steps."""
    z, x, y = tile
    pixel = 2 * EARTH_HALF_CIRCUMFERENCE / tile_size / 2**z
    size = tile_size * pixel
    eps = pixel * 1e-6  # float noise at tile edges must not move a point to another tile
    xmin = -EARTH_HALF_CIRCUMFERENCE + x * size
    xmax = -EARTH_HALF_CIRCUMFERENCE + (x + 1) * size
    top = EARTH_HALF_CIRCUMFERENCE - y * size
    bottom = EARTH_HALF_CIRCUMFERENCE - (y + 1) * size
    res = pixel * settings.resolution
    maxx = round(size / res) - 1
    maxy = round(size / res) - 1
    cells: dict[tuple[int, int], dict[int, list[float]]] = {}
    for px, py, time, attributes in rows:
        # The server's envelope test, as its tests assert: x inclusive on both edges, y
        # exclusive at the bottom edge (a point on a tile border belongs to the lower tile).
        if not (xmin - eps <= px <= xmax + eps and bottom + eps < py <= top + eps):
            continue
        value = _time_value(time)
        if value is None:
            continue
        cx = max(0, min(maxx, round((px - xmin) / res)))
        cy = max(0, min(maxy, round((py - bottom) / res)))
        frame = math.floor((value - steps.start) / steps.step)
        argument = attributes.get(settings.argument) if settings.argument != "*" else 1
        bucket = cells.setdefault((cx, cy), {}).setdefault(frame, [])
        if settings.function == "count":
            if argument is not None:
                bucket.append(1.0)
        elif isinstance(argument, int | float) and not isinstance(argument, bool):
            bucket.append(float(argument))
    out: list[dict[str, Any]] = []
    for (cx, cy), frames in sorted(cells.items()):
        dates = sorted(frames)
        vals = [_aggregate(settings.function, frames[d]) for d in dates]
        out.append(
            {
                "x__uint8": cx,
                "y__uint8": cy,
                "vals__uint8": [int(v) if float(v).is_integer() else v for v in vals],
                "dates__uint16": dates,
            }
        )
    return out
