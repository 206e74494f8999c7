"""Visualization export endpoints: ``/api/v3/visualization_exports[/:id[/download]]`` (§7)."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from carto_async.testing._context import Context
from carto_async.testing._exports import Export, download_path
from carto_async.testing._http.bodies import drain
from carto_async.testing._http.imports import user_id_of
from carto_async.testing._http.rails import BadJson, carto_error, is_master, json_body, query_params
from carto_async.testing._http.routing import RouteMatch
from carto_async.testing._visualizations import DERIVED, iso_seconds
from carto_async.testing._wire import rails_empty, rails_json

__all__ = ["create", "download", "present", "show"]

_FORBIDDEN = "You don't have permission to access that resource"
_UUID_RE = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z", re.I)


def present(ctx: Context, export: Export) -> dict[str, Any]:
    """The export object: exactly the 7 keys of the presenter."""
    state = ctx.exports.state(export)
    return {
        "id": export.id,
        "visualization_id": export.visualization_id,
        "user_id": export.user_id,
        "state": state,
        "url": download_path(export.id) if state == "complete" else None,
        "created_at": iso_seconds(export.job.created_at),
        "updated_at": iso_seconds(ctx.exports.updated_at(export)),
    }


async def create(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``POST /api/v3/visualization_exports``: 201 with the pending export."""
    try:
        body = await json_body(request)
    except BadJson as exc:
        return carto_error(str(exc), 400)
    params = {**body, **query_params(request)}
    master = is_master(ctx, match, request, params)
    if params.get("api_key") and not master:
        return rails_empty(401)
    vis_id = str(params.get("visualization_id") or "")
    vis = ctx.visualizations.get(vis_id) if match.user == ctx.username else None
    if vis is None:
        return carto_error(f"Visualization not found: {vis_id}", 404)
    if not master and vis.privacy == "private":
        return carto_error('Errors: ["Visualization Must be accessible by the user"]', 403)
    if vis.type != DERIVED:
        return carto_error(
            'Errors: ["Visualization Only derived visualizations can be exported"]', 422
        )
    tables = list(vis.tables)
    wanted = params.get("user_tables_ids")
    if wanted:
        related = {r.id: r.name for r in (ctx.visualizations.table(t) for t in tables) if r}
        ids = [i.strip() for i in str(wanted).split(",") if i.strip()]
        bad = [i for i in ids if i not in related]
        if bad:
            messages = ", ".join(
                f'"User tables ids User table {i} is not related to visualization {vis.id}"'
                for i in bad
            )
            return carto_error(f"Errors: [{messages}]", 422)
        tables = [related[i] for i in ids]
    user_id = user_id_of(match.user) if master else None
    export = ctx.exports.create(match.user, user_id, vis, tables)
    return rails_json(present(ctx, export), 201)


def _visible(ctx: Context, match: RouteMatch, request: Request, export: Export) -> bool:
    # An anonymous export is anyone's; a user's export needs that user's key.
    if export.user_id is None:
        return True
    return is_master(ctx, match, request, query_params(request))


def _export_of(ctx: Context, match: RouteMatch) -> Export | None:
    export_id = match.params["id"]
    return ctx.exports.get(export_id.lower()) if _UUID_RE.match(export_id) else None


async def show(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``GET /api/v3/visualization_exports/:id``."""
    await drain(request)
    export = _export_of(ctx, match)
    if export is None:
        return carto_error(f"Visualization export not found: {match.params['id']}", 404)
    if not _visible(ctx, match, request, export):
        return carto_error(_FORBIDDEN, 403)
    return rails_json(present(ctx, export))


async def download(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``GET .../:id/download``: the ``.carto`` file (``application/zip``)."""
    await drain(request)
    export = _export_of(ctx, match)
    if export is None or ctx.exports.state(export) != "complete":
        return carto_error(f"Visualization export not found: {match.params['id']}", 404)
    if not _visible(ctx, match, request, export):
        return carto_error(_FORBIDDEN, 403)
    vis = ctx.visualizations.get(export.visualization_id)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", vis.name if vis is not None else "map") or "map"
    return FileResponse(export.path, media_type="application/zip", filename=f"{name}.carto")
