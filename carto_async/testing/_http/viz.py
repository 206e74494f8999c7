"""Visualization and table endpoints: ``/api/v1/viz[/:id]``, ``/api/v1/tables/:id``.

Enough of the Rails visualization API for exports and for carto-python's dataset and
visualization managers: list (``type``/``types``, ``page``/``per_page``), show, delete, and
the table page with its ``table_visualization``, and ``PUT`` of a map's name, privacy,
description and tags. Every call needs the master key.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from carto_async.testing._context import Context
from carto_async.testing._http.bodies import drain
from carto_async.testing._http.imports import user_id_of
from carto_async.testing._http.rails import BadJson, carto_error, is_master, json_body, query_params
from carto_async.testing._http.routing import RouteMatch
from carto_async.testing._visualizations import (
    DERIVED,
    PRIVACIES,
    TABLE,
    TableRecord,
    Visualization,
    iso_ms,
)
from carto_async.testing._wire import rails_empty, rails_json

__all__ = ["destroy", "index", "present", "present_table", "show", "table", "update"]

_DEFAULT_PER_PAGE = 20


def _table_summary(ctx: Context, record: TableRecord) -> dict[str, Any]:
    try:
        rows = ctx.db.row_count(record.name)
    except Exception:
        rows = 0
    return {
        "id": record.id,
        "name": record.name,
        "privacy": record.privacy,
        "row_count": rows,
        "size": 0,
        "updated_at": iso_ms(record.created_at),
        "geometry_types": [],
    }


def present(ctx: Context, vis: Visualization, *, dependents: bool = False) -> dict[str, Any]:
    """A visualization as the v1 viz API renders it (the keys carto-python reads, and layers)."""
    records = [r for r in (ctx.visualizations.table(t) for t in vis.tables) if r is not None]
    data: dict[str, Any] = {
        "id": vis.id,
        "name": vis.name,
        "display_name": None,
        "map_id": vis.map_id,
        "active_layer_id": None,
        "type": vis.type,
        "tags": list(vis.tags),
        "description": vis.description,
        "privacy": vis.privacy.upper(),
        "created_at": iso_ms(vis.created_at),
        "updated_at": iso_ms(vis.updated_at),
        "locked": False,
        "source": None,
        "title": None,
        "parent_id": None,
        "license": None,
        "attributions": None,
        "kind": "geom",
        "likes": 0,
        "liked": False,
        "prev_id": None,
        "next_id": None,
        "transition_options": {"time": 0},
        "active_child": None,
        "children": [],
        "external_source": None,
        "synchronization": None,
        "url": f"/viz/{vis.id}/map" if vis.type == DERIVED else f"/tables/{vis.name}",
        "uses_builder_features": vis.type == DERIVED,
        "auth_tokens": [],
        "version": 3,
        "user": {"id": user_id_of(ctx.username), "username": ctx.username},
        "layers": vis.layers,
        "related_tables": [_table_summary(ctx, r) for r in records],
    }
    if vis.type == TABLE and records:
        data["table"] = _table_summary(ctx, records[0])
        if dependents:
            found = ctx.visualizations.dependent_maps(records[0].name)
            data["dependent_visualizations"] = [
                {"id": d.id, "name": d.name, "type": d.type} for d in found
            ]
            data["dependent_visualizations_count"] = len(found)
    return data


def present_table(ctx: Context, record: TableRecord) -> dict[str, Any]:
    """``GET /api/v1/tables/:id``: the table and its ``table_visualization``."""
    data = _table_summary(ctx, record)
    vis = ctx.visualizations.table_visualization(record)
    data["schema"] = [[c, t] for c, t in ctx.db.table_columns(record.name)]
    data["table_visualization"] = present(ctx, vis)
    data["dependent_visualizations"] = [
        {"id": d.id, "name": d.name} for d in ctx.visualizations.dependent_maps(record.name)
    ]
    data["non_dependent_visualizations"] = []
    data["synchronization"] = None
    return data


def _int(value: Any, default: int) -> int:
    try:
        number = int(str(value))
    except ValueError:
        return default
    return number if number > 0 else default


async def index(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``GET /api/v1/viz``: the user's visualizations, filtered by type, a page at a time."""
    await drain(request)
    params = query_params(request)
    if not is_master(ctx, match, request, params):
        return rails_empty(401)
    wanted = params.get("types") or params.get("type") or ""
    types = [t for t in str(wanted).split(",") if t in (TABLE, DERIVED)] or [TABLE, DERIVED]
    found = ctx.visualizations.find(types)
    per_page = _int(params.get("per_page"), _DEFAULT_PER_PAGE)
    page = _int(params.get("page"), 1)
    chunk = found[(page - 1) * per_page : page * per_page]
    dependents = params.get("with_dependent_visualizations") not in (None, "", "0", "false")
    return rails_json(
        {
            "visualizations": [present(ctx, v, dependents=dependents) for v in chunk],
            "total_entries": len(found),
            "total_user_entries": len(found),
            "total_likes": 0,
            "total_shared": 0,
        }
    )


def _not_found() -> Response:
    return carto_error("Visualization does not exist", 404)


async def show(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``GET /api/v1/viz/:id`` (an id or a table's name, as Rails accepts)."""
    await drain(request)
    params = query_params(request)
    if not is_master(ctx, match, request, params):
        return rails_empty(401)
    vis = _find(ctx, match.params["id"])
    if vis is None:
        return _not_found()
    dependents = params.get("with_dependent_visualizations") not in (None, "", "0", "false")
    return rails_json(present(ctx, vis, dependents=dependents))


def _find(ctx: Context, key: str) -> Visualization | None:
    vis = ctx.visualizations.get(key)
    if vis is None:
        record = ctx.visualizations.table(key)
        vis = ctx.visualizations.table_visualization(record) if record is not None else None
    return vis


async def update(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``PUT /api/v1/viz/:id``: name, privacy, description and tags of a map (JSON body)."""
    try:
        body = await json_body(request)
    except BadJson as exc:
        return carto_error(str(exc), 400)
    if not is_master(ctx, match, request, {**body, **query_params(request)}):
        return rails_empty(401)
    vis = _find(ctx, match.params["id"])
    if vis is None:
        return _not_found()
    privacy = body.get("privacy")
    if privacy is not None and (not isinstance(privacy, str) or privacy.lower() not in PRIVACIES):
        return carto_error(f"Invalid privacy: {privacy}", 400)
    name, description, tags = body.get("name"), body.get("description"), body.get("tags")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        return carto_error("Invalid name", 400)
    if tags is not None and (
        not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)
    ):
        return carto_error("Invalid tags", 400)
    ctx.visualizations.update(
        vis,
        name=name,
        privacy=privacy.lower() if isinstance(privacy, str) else None,
        description=description if isinstance(description, str) else None,
        tags=tags,
    )
    return rails_json(present(ctx, _find(ctx, vis.id) or vis))


async def destroy(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``DELETE /api/v1/viz/:id``: 204; a dataset takes its table and maps with it."""
    await drain(request)
    if not is_master(ctx, match, request, query_params(request)):
        return rails_empty(401)
    vis = _find(ctx, match.params["id"])
    if vis is None or not ctx.visualizations.delete(vis.id, ctx.db.drop_table):
        return _not_found()
    return Response(b"", status_code=204)


async def table(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``GET /api/v1/tables/:id`` (a table id, its visualization's id or its name)."""
    await drain(request)
    if not is_master(ctx, match, request, query_params(request)):
        return rails_empty(401)
    key = match.params["id"]
    record = ctx.visualizations.table_by_id(key) or ctx.visualizations.table(key)
    if record is None:
        return rails_empty(404)
    return rails_json(present_table(ctx, record))
