"""SQL API models."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["SQLField", "SQLResult"]


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
