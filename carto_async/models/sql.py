"""SQL API models."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["Bounds", "CopyResult", "SQLField", "SQLResult"]


@attrs.frozen
class SQLField:
    """The type of one result column: ``type`` (number, string, boolean, date, geometry, ...)
    and ``pgtype``, or ``wkbtype``/``dims``/``srid`` for geometry columns."""

    type: str
    pgtype: str | None = None
    wkbtype: str | None = None
    dims: int | None = None
    srid: int | None = None


@attrs.frozen
class SQLResult:
    """The result of one SQL API query (``format=json``).

    Example::

        result = await carto.sql.query("select count(*) as n from cities")
        result.rows[0]["n"], result.fields["n"].type, result.total_rows
    """

    rows: list[dict[str, Any]]
    fields: dict[str, SQLField] = attrs.field(factory=dict)
    total_rows: int = 0
    time: float = 0.0
    notices: list[str] = attrs.field(factory=list)
    warnings: list[str] = attrs.field(factory=list)
    infos: list[str] = attrs.field(factory=list)
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Any:
        return iter(self.rows)


#: The latitudes and longitudes CartoDB.js clamps a bounding box to (Web Mercator's range).
_MERCATOR_LAT = 85.0511
_MERCATOR_LON = 179.0


def _clamp(x: float, low: float, high: float) -> float:
    return min(max(x, low), high)


@attrs.frozen
class Bounds:
    """The extent of a query's ``the_geom``, in the geometries' own units (degrees for 4326).

    Example::

        box = await carto.sql.bounds(
            "select * from stores where city = {{c}}", params={"c": "Oslo"}
        )
        if box is not None:
            (south, west), (north, east) = box.clamped().latlng()
    """

    minx: float
    miny: float
    maxx: float
    maxy: float

    @property
    def width(self) -> float:
        """``maxx - minx``."""
        return self.maxx - self.minx

    @property
    def height(self) -> float:
        """``maxy - miny``."""
        return self.maxy - self.miny

    @property
    def center(self) -> tuple[float, float]:
        """``(x, y)`` of the middle of the box."""
        return ((self.minx + self.maxx) / 2, (self.miny + self.maxy) / 2)

    def clamped(self) -> Bounds:
        """The box clamped to what a Web Mercator map shows, as CartoDB.js ``getBounds`` does
        (longitudes to ±179, latitudes to ±85.0511)."""
        return Bounds(
            minx=_clamp(self.minx, -_MERCATOR_LON, _MERCATOR_LON),
            miny=_clamp(self.miny, -_MERCATOR_LAT, _MERCATOR_LAT),
            maxx=_clamp(self.maxx, -_MERCATOR_LON, _MERCATOR_LON),
            maxy=_clamp(self.maxy, -_MERCATOR_LAT, _MERCATOR_LAT),
        )

    def latlng(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """``((south, west), (north, east))``, the order map libraries such as Leaflet take."""
        return ((self.miny, self.minx), (self.maxy, self.maxx))


@attrs.frozen
class CopyResult:
    """What a COPY FROM loaded: ``total_rows`` rows in ``time`` seconds (server side)."""

    total_rows: int
    time: float = 0.0
