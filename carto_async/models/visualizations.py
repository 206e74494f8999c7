"""Visualization (map and dataset) and table models of the Rails ``/api/v1/viz`` and
``/api/v1/tables`` endpoints."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

__all__ = ["RelatedTable", "Table", "Visualization", "VisualizationType"]


class VisualizationType(StrEnum):
    """What a visualization is: a map (``derived``) or a dataset's own page (``table``)."""

    DERIVED = "derived"
    TABLE = "table"
    REMOTE = "remote"
    SLIDE = "slide"


@attrs.frozen
class RelatedTable:
    """A table a visualization shows."""

    id: str
    name: str
    privacy: str | None = None
    row_count: int | None = None
    size: int | None = None
    updated_at: datetime | None = None


@attrs.frozen
class Visualization:
    """A map or dataset visualization. ``privacy`` is upper case as the server writes it
    (``PUBLIC``, ``LINK``, ``PRIVATE``...); ``raw`` keeps the whole payload (layers...)."""

    id: str
    name: str
    type: str
    privacy: str | None = None
    map_id: str | None = None
    description: str | None = None
    tags: list[str] = attrs.field(factory=list)
    url: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    related_tables: list[RelatedTable] = attrs.field(factory=list)
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def table_names(self) -> list[str]:
        """The names of the tables the visualization shows."""
        return [t.name for t in self.related_tables]


@attrs.frozen
class Table:
    """A dataset as ``GET /api/v1/tables/:id`` shows it, with its ``table_visualization``."""

    id: str
    name: str
    privacy: str | None = None
    row_count: int | None = None
    table_visualization: Visualization | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)
