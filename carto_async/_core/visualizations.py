"""Visualization and table requests and parsing (sans-I/O): enough of the Rails
``/api/v1/viz`` and ``/api/v1/tables`` APIs for exports and dataset management."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from carto_async._core.exports import check_id
from carto_async._core.http import RequestSpec, Service
from carto_async.errors import APIError, ValidationError
from carto_async.models._converter import structure
from carto_async.models.visualizations import RelatedTable, Table, Visualization

__all__ = [
    "TABLES_PATH",
    "VIZ_PATH",
    "delete_request",
    "get_request",
    "list_request",
    "parse_list",
    "parse_table",
    "parse_visualization",
    "table_request",
]

VIZ_PATH = "/api/v1/viz"
TABLES_PATH = "/api/v1/tables"


def list_request(
    *, type: str | None = None, page: int | None = None, per_page: int | None = None
) -> RequestSpec:
    """``GET /api/v1/viz``, filtered by ``type`` (``derived`` maps, ``table`` datasets...)."""
    params: dict[str, str] = {}
    if type is not None:
        if not isinstance(type, str) or not type.strip():
            raise ValidationError(f"type must be a visualization type, got {type!r}")
        params["types" if "," in type else "type"] = str(type)
    for name, value in (("page", page), ("per_page", per_page)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError(f"{name} must be a positive integer, got {value!r}")
        params[name] = str(value)
    return RequestSpec("GET", VIZ_PATH, Service.RAILS, params=params)


def get_request(visualization_id: str) -> RequestSpec:
    """``GET /api/v1/viz/:id``."""
    vis = check_id(visualization_id, "visualization id")
    return RequestSpec("GET", f"{VIZ_PATH}/{vis}", Service.RAILS)


def delete_request(visualization_id: str) -> RequestSpec:
    """``DELETE /api/v1/viz/:id``."""
    vis = check_id(visualization_id, "visualization id")
    return RequestSpec("DELETE", f"{VIZ_PATH}/{vis}", Service.RAILS)


def table_request(table_id: str) -> RequestSpec:
    """``GET /api/v1/tables/:id``."""
    return RequestSpec("GET", f"{TABLES_PATH}/{check_id(table_id, 'table id')}", Service.RAILS)


def _unexpected(what: str, body: Any) -> APIError:
    return APIError(f"unexpected {what} response from the visualizations API: {str(body)[:200]}")


def _clean(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


def parse_visualization(body: Any) -> Visualization:
    """A :class:`Visualization` from a viz object."""
    if not isinstance(body, Mapping) or not all(
        isinstance(body.get(k), str) for k in ("id", "name", "type")
    ):
        raise _unexpected("visualization", body)
    data = _clean(body)
    related = data.pop("related_tables", [])
    try:
        return _visualization(data, related, body)
    except APIError:
        raise
    except Exception as exc:  # cattrs reports a wrong type as its own exception group
        raise _unexpected("visualization", body) from exc


def _visualization(data: dict[str, Any], related: Any, body: Mapping[str, Any]) -> Visualization:
    vis = structure(data, Visualization)
    tables = (
        [
            structure(_clean(t), RelatedTable)
            for t in related
            if isinstance(t, Mapping) and "id" in t and "name" in t
        ]
        if isinstance(related, list)
        else []
    )
    return attrs.evolve(vis, related_tables=tables, raw=dict(body))


def parse_list(body: Any) -> list[Visualization]:
    """The visualizations of ``{"visualizations": [...], "total_entries": n}``."""
    if not isinstance(body, Mapping) or not isinstance(body.get("visualizations"), list):
        raise _unexpected("list", body)
    return [parse_visualization(item) for item in body["visualizations"]]


def parse_table(body: Any) -> Table:
    """A :class:`Table` from ``GET /api/v1/tables/:id``, its ``table_visualization`` parsed."""
    if not isinstance(body, Mapping) or not all(
        isinstance(body.get(k), str) for k in ("id", "name")
    ):
        raise _unexpected("table", body)
    data = _clean(body)
    nested = data.pop("table_visualization", None)
    try:
        table = structure(data, Table)
    except Exception as exc:  # cattrs reports a wrong type as its own exception group
        raise _unexpected("table", body) from exc
    vis = parse_visualization(nested) if isinstance(nested, Mapping) else None
    return attrs.evolve(table, table_visualization=vis, raw=dict(body))
