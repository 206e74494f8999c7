"""Visualizations: the maps and dataset pages of LocalCarto's Rails side (reference §7).

Every table of the database has a *table* visualization (its dataset page) and a stable table id,
created the first time anything asks for them; *derived* visualizations are maps, created by an
import with ``create_vis=true`` or by re-importing a ``.carto`` file. A map has an id, a name, a
privacy and layers: a basemap and one CARTO layer per table, ``select * from <table>`` with
CARTO's default CartoCSS. Deleting a table visualization drops its table and the maps that
use it, as deleting a dataset does in CARTO.

    >>> from carto_async.testing._clock import Clock
    >>> class FakeDb:
    ...     def list_tables(self): return ["stores"]
    ...     def table_exists(self, name): return name == "stores"
    >>> store = Visualizations(FakeDb(), Clock(frozen=True))
    >>> vis = store.create_map("stores", ["stores"])
    >>> vis.layers[1]["options"]["sql"]
    'select * from stores'
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import attrs

if TYPE_CHECKING:
    from carto_async.testing._clock import Clock

__all__ = [
    "DEFAULT_CARTOCSS",
    "DERIVED",
    "PRIVACIES",
    "TABLE",
    "TableRecord",
    "Visualization",
    "Visualizations",
    "carto_layer",
    "iso_ms",
    "iso_seconds",
]

TABLE = "table"
DERIVED = "derived"
PRIVACIES = ("private", "public", "link")

#: The CartoCSS CARTO gives a new layer of points.
DEFAULT_CARTOCSS = (
    "#layer {\n"
    "  marker-width: 7;\n"
    "  marker-fill: #EE4D5A;\n"
    "  marker-fill-opacity: 0.9;\n"
    "  marker-line-color: #FFFFFF;\n"
    "  marker-line-width: 1;\n"
    "  marker-line-opacity: 1;\n"
    "  marker-type: ellipse;\n"
    "  marker-allow-overlap: true;\n"
    "}"
)
_BASEMAP: dict[str, Any] = {
    "kind": "tiled",
    "order": 0,
    "options": {
        "name": "Positron",
        "urlTemplate": "https://{s}.basemaps.cartocdn.com/rastertiles/light_all/{z}/{x}/{y}.png",
        "subdomains": "abcd",
        "category": "CARTO",
        "type": "Tiled",
    },
}


class _Catalogue(Protocol):
    def list_tables(self) -> list[str]: ...

    def table_exists(self, name: str) -> bool: ...


def iso_ms(seconds: float | None) -> str | None:
    """ActiveRecord's JSON time: ``2016-05-05T09:36:09.123Z``."""
    if seconds is None:
        return None
    stamp = datetime.fromtimestamp(seconds, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def iso_seconds(seconds: float | None) -> str | None:
    """Virtus/Ruby ``Time`` JSON: ``2014-08-05T13:39:15+00:00``."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def carto_layer(
    table: str, order: int, *, sql: str | None = None, cartocss: str | None = None
) -> dict[str, Any]:
    """A CARTO layer of ``table``: ``select * from <table>`` with the default CartoCSS."""
    return {
        "kind": "carto",
        "order": order,
        "options": {
            "type": "CartoDB",
            "table_name": table,
            "layer_name": table,
            "sql": sql or f"select * from {table}",  # noqa: S608 - a layer's SQL, never run here
            "cartocss": cartocss or DEFAULT_CARTOCSS,
            "cartocss_version": "2.1.1",
            "visible": True,
        },
        "infowindow": None,
        "tooltip": None,
    }


@attrs.define(eq=False)
class TableRecord:
    """A table's Rails side: its id and its table visualization's id."""

    id: str
    name: str
    visualization_id: str
    created_at: float
    privacy: str = "private"


@attrs.define(eq=False)
class Visualization:
    """A map (``derived``) or a dataset page (``table``)."""

    id: str
    name: str
    type: str
    privacy: str
    tables: list[str]
    layers: list[dict[str, Any]]
    created_at: float
    updated_at: float
    map_id: str = attrs.Factory(lambda: str(uuid.uuid4()))
    description: str | None = None
    tags: list[str] = attrs.Factory(list)


class Visualizations:
    """The visualizations and table ids of one server, kept in memory next to its database."""

    def __init__(self, db: _Catalogue, clock: Clock, *, default_privacy: str = "private") -> None:
        self._db = db
        #: The privacy of a table nobody set one for (CARTO: private on paid plans).
        self.default_privacy = default_privacy
        self._clock = clock
        self._lock = threading.RLock()
        self._tables: dict[str, TableRecord] = {}
        self._maps: dict[str, Visualization] = {}

    # -- tables ----------------------------------------------------------------------------

    def _prune(self) -> set[str]:
        existing = set(self._db.list_tables())
        for name in [n for n in self._tables if n not in existing]:
            del self._tables[name]
        return existing

    def table(self, name: str) -> TableRecord | None:
        """The record of table ``name`` (created on first use), or None if it does not exist."""
        with self._lock:
            record = self._tables.get(name)
            if record is not None:
                return record
            if not self._db.table_exists(name):
                return None
            record = TableRecord(
                id=str(uuid.uuid4()),
                name=name,
                visualization_id=str(uuid.uuid4()),
                created_at=self._clock.time(),
                privacy=self.default_privacy,
            )
            self._tables[name] = record
            return record

    def set_privacy(self, name: str, privacy: str) -> None:
        """Record table ``name``'s privacy (``private``, ``public`` or ``link``)."""
        if privacy not in PRIVACIES:
            raise ValueError(f"unknown privacy {privacy!r}")
        with self._lock:
            record = self.table(name)
            if record is not None:
                record.privacy = privacy

    def tables(self) -> list[TableRecord]:
        """Every table's record, by name."""
        with self._lock:
            names = sorted(self._prune())
        return [r for r in (self.table(n) for n in names) if r is not None]

    def table_by_id(self, table_id: str) -> TableRecord | None:
        """The table with ``table_id`` (a table id or its visualization's id)."""
        for record in self.tables():
            if table_id in (record.id, record.visualization_id):
                return record
        return None

    def table_visualization(self, record: TableRecord) -> Visualization:
        """The dataset page of a table."""
        return Visualization(
            id=record.visualization_id,
            name=record.name,
            type=TABLE,
            privacy=record.privacy,
            tables=[record.name],
            layers=[dict(_BASEMAP), carto_layer(record.name, 1)],
            created_at=record.created_at,
            updated_at=record.created_at,
        )

    # -- maps ------------------------------------------------------------------------------

    def create_map(
        self,
        name: str,
        tables: Sequence[str],
        *,
        privacy: str = "private",
        layers: Sequence[dict[str, Any]] | None = None,
        description: str | None = None,
        tags: Sequence[str] = (),
    ) -> Visualization:
        """A new derived map of ``tables`` (default layers unless ``layers`` is given)."""
        now = self._clock.time()
        if layers is None:
            layers = [dict(_BASEMAP)] + [carto_layer(t, i) for i, t in enumerate(tables, 1)]
        vis = Visualization(
            id=str(uuid.uuid4()),
            name=name,
            type=DERIVED,
            privacy=privacy if privacy in PRIVACIES else "private",
            tables=list(tables),
            layers=[dict(layer) for layer in layers],
            created_at=now,
            updated_at=now,
            description=description,
            tags=list(tags),
        )
        with self._lock:
            self._maps[vis.id] = vis
        return vis

    def get(self, vis_id: str) -> Visualization | None:
        """The map or dataset page with ``vis_id``."""
        with self._lock:
            found = self._maps.get(vis_id)
        if found is not None:
            return found
        for record in self.tables():
            if record.visualization_id == vis_id:
                return self.table_visualization(record)
        return None

    def find(self, types: Sequence[str] = (TABLE, DERIVED)) -> list[Visualization]:
        """Visualizations of ``types``, most recently updated first."""
        found: list[Visualization] = []
        if DERIVED in types:
            with self._lock:
                found.extend(self._maps.values())
        if TABLE in types:
            found.extend(self.table_visualization(r) for r in self.tables())
        found.sort(key=lambda v: (v.updated_at, v.id), reverse=True)
        return found

    def update(
        self,
        vis: Visualization,
        *,
        name: str | None = None,
        privacy: str | None = None,
        description: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> None:
        """Change a map's name, privacy, description or tags (a table's privacy only)."""
        with self._lock:
            if vis.type == TABLE:
                record = self._tables.get(vis.tables[0])
                if record is not None and privacy is not None:
                    record.privacy = privacy
                    vis.privacy = privacy
                return
            if name is not None:
                vis.name = name
            if privacy is not None:
                vis.privacy = privacy
            if description is not None:
                vis.description = description
            if tags is not None:
                vis.tags = list(tags)
            vis.updated_at = self._clock.time()

    def dependent_maps(self, table: str) -> list[Visualization]:
        """The derived maps that use ``table``."""
        with self._lock:
            return [v for v in self._maps.values() if table in v.tables]

    def delete(self, vis_id: str, drop_table: Any) -> bool:
        """Delete a map, or a dataset (its table, through ``drop_table``, and its maps)."""
        with self._lock:
            if self._maps.pop(vis_id, None) is not None:
                return True
        vis = self.get(vis_id)
        if vis is None:
            return False
        table = vis.tables[0]
        drop_table(table)
        with self._lock:
            for dependent in self.dependent_maps(table):
                self._maps.pop(dependent.id, None)
            self._tables.pop(table, None)
        return True

    def clear(self) -> None:
        """Forget every map and table id (a server reset)."""
        with self._lock:
            self._maps.clear()
            self._tables.clear()
