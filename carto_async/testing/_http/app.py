"""The route table and the ASGI app that serves it.

Every endpoint LocalCarto serves is one line of :data:`ROUTES`: methods, path template, API,
fault group, handler. A new API adds a handlers module next to ``imports.py`` and its lines
here.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute
from starlette.types import ASGIApp, Scope

from carto_async.testing._arcgis import ARCGIS_PREFIX
from carto_async.testing._context import Context
from carto_async.testing._http import (
    apikeys,
    arcgis,
    batch,
    copy,
    exports,
    imports,
    maps,
    sql,
    syncs,
    viz,
    vizjson,
)
from carto_async.testing._http.bodies import drain
from carto_async.testing._http.faultlayer import FaultLayer
from carto_async.testing._http.routing import API, ROUTE_SCOPE_KEY, Route, RouteMatch, Router

__all__ = ["ROUTES", "create_app"]

_GET, _POST, _PUT, _DELETE = {"GET"}, {"POST"}, {"PUT"}, {"DELETE"}
_SQL_METHODS = {"GET", "POST", "OPTIONS", "HEAD"}
_ARCGIS = ARCGIS_PREFIX
_MAP_READ = {"GET", "OPTIONS"}
_MAP_ALL = {"GET", "POST", "PUT", "DELETE", "OPTIONS"}
_MAP = "/api/v1/map"

#: Every endpoint: methods, path template (the counters' key), API, fault group, handler.
ROUTES: tuple[Route, ...] = (
    Route(_POST, "/api/v1/imports", API.RAILS, "imports.create", imports.create),
    Route(_GET, "/api/v1/imports", API.RAILS, "imports.list", imports.list_unfinished),
    Route(_GET, "/api/v1/imports/{id}", API.RAILS, "imports.show", imports.show),
    Route(_SQL_METHODS, "/api/{version}/sql", API.SQL, "sql.query", sql.query),
    Route(_POST, "/api/{version}/sql/copyfrom", API.SQL, "sql.copyfrom", copy.copy_from),
    Route(_GET | _POST, "/api/{version}/sql/copyto", API.SQL, "sql.copyto", copy.copy_to),
    Route(_POST, "/api/v2/sql/job", API.SQL, "sql.job.create", batch.create),
    Route(_GET, "/api/v2/sql/job/{id}", API.SQL, "sql.job.show", batch.show),
    Route(_DELETE, "/api/v2/sql/job/{id}", API.SQL, "sql.job.cancel", batch.cancel),
    Route(_GET, "/api/v2/jobs-wip", API.SQL, "sql.jobs_wip", batch.work_in_progress),
    Route(_GET, "/api/v3/api_keys", API.RAILS, "api_keys.list", apikeys.list_route),
    Route(_POST, "/api/v3/api_keys", API.RAILS, "api_keys.create", apikeys.create_route),
    Route(
        _POST,
        "/api/v3/api_keys/{name}/token/regenerate",
        API.RAILS,
        "api_keys.regenerate",
        apikeys.regenerate_route,
    ),
    Route(_GET, "/api/v3/api_keys/{name}", API.RAILS, "api_keys.show", apikeys.show_route),
    Route(_DELETE, "/api/v3/api_keys/{name}", API.RAILS, "api_keys.delete", apikeys.delete_route),
    Route(_GET, "/api/v3/me", API.RAILS, "me.show", apikeys.me_route),
    Route(_GET, "/api/v1/synchronizations", API.RAILS, "syncs.list", syncs.index),
    Route(_POST, "/api/v1/synchronizations", API.RAILS, "syncs.create", syncs.create),
    Route(_GET, "/api/v1/synchronizations/{id}", API.RAILS, "syncs.show", syncs.show),
    Route(_PUT, "/api/v1/synchronizations/{id}", API.RAILS, "syncs.update", syncs.update),
    Route(_DELETE, "/api/v1/synchronizations/{id}", API.RAILS, "syncs.delete", syncs.destroy),
    Route(
        _GET, "/api/v1/synchronizations/{id}/sync_now", API.RAILS, "syncs.state", syncs.sync_state
    ),
    Route(
        _PUT, "/api/v1/synchronizations/{id}/sync_now", API.RAILS, "syncs.sync_now", syncs.sync_now
    ),
    Route(_GET, "/api/v1/viz", API.RAILS, "viz.list", viz.index),
    Route(_GET, "/api/v1/viz/{id}", API.RAILS, "viz.show", viz.show),
    Route(_PUT, "/api/v1/viz/{id}", API.RAILS, "viz.update", viz.update),
    Route(_DELETE, "/api/v1/viz/{id}", API.RAILS, "viz.delete", viz.destroy),
    Route(_GET, "/api/v1/tables/{id}", API.RAILS, "tables.show", viz.table),
    Route(_GET, "/api/v2/viz/{id}/viz.json", API.RAILS, "viz.vizjson2", vizjson.show_v2),
    Route(_GET, "/api/v3/viz/{id}/viz.json", API.RAILS, "viz.vizjson3", vizjson.show_v3),
    Route(_POST, "/api/v3/visualization_exports", API.RAILS, "exports.create", exports.create),
    Route(_GET, "/api/v3/visualization_exports/{id}", API.RAILS, "exports.show", exports.show),
    Route(
        _GET,
        "/api/v3/visualization_exports/{id}/download",
        API.RAILS,
        "exports.download",
        exports.download,
    ),
    Route(
        _GET,
        f"{_ARCGIS}/{{folder}}/{{service}}/{{type}}",
        API.RAILS,
        "arcgis.service",
        arcgis.service,
    ),
    Route(
        _GET,
        f"{_ARCGIS}/{{folder}}/{{service}}/{{type}}/layers",
        API.RAILS,
        "arcgis.layers",
        arcgis.layers,
    ),
    Route(
        _GET,
        f"{_ARCGIS}/{{folder}}/{{service}}/{{type}}/{{layer}}",
        API.RAILS,
        "arcgis.layer",
        arcgis.layer,
    ),
    Route(
        {"GET", "POST"},
        f"{_ARCGIS}/{{folder}}/{{service}}/{{type}}/{{layer}}/query",
        API.RAILS,
        "arcgis.query",
        arcgis.query,
    ),
    # The Maps API (a Node service like the SQL API): every path goes to one handler that
    # hands it to the Windshaft room; these lines name the counters and fault groups.
    Route(_MAP_ALL, _MAP, API.SQL, "maps.create", maps.handle),
    Route(_MAP_ALL, f"{_MAP}/named", API.SQL, "maps.named", maps.handle),
    Route(_MAP_ALL, f"{_MAP}/named/{{template_id}}", API.SQL, "maps.named", maps.handle),
    Route(
        _MAP_READ,
        f"{_MAP}/named/{{template_id}}/{{layer}}/{{z}}/{{x}}/{{tile}}",
        API.SQL,
        "maps.tile",
        maps.handle,
    ),
    Route(
        _MAP_READ,
        f"{_MAP}/static/center/{{token}}/{{z}}/{{lat}}/{{lng}}/{{width}}/{{image}}",
        API.SQL,
        "maps.static",
        maps.handle,
    ),
    Route(
        _MAP_READ,
        f"{_MAP}/static/bbox/{{token}}/{{bbox}}/{{width}}/{{image}}",
        API.SQL,
        "maps.static",
        maps.handle,
    ),
    Route(
        _MAP_READ,
        f"{_MAP}/static/named/{{template_id}}/{{width}}/{{image}}",
        API.SQL,
        "maps.static",
        maps.handle,
    ),
    Route(
        _MAP_READ,
        f"{_MAP}/{{token}}/{{layer}}/attributes/{{fid}}",
        API.SQL,
        "maps.attributes",
        maps.handle,
    ),
    Route(_MAP_READ, f"{_MAP}/{{token}}/{{z}}/{{x}}/{{tile}}", API.SQL, "maps.tile", maps.handle),
    Route(
        _MAP_READ,
        f"{_MAP}/{{token}}/{{layer}}/{{z}}/{{x}}/{{tile}}",
        API.SQL,
        "maps.tile",
        maps.handle,
    ),
)

_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _not_found() -> Response:
    return Response(b"Not Found", status_code=404, media_type="text/plain; charset=utf-8")


def create_app(ctx: Context, routes: tuple[Route, ...] = ROUTES) -> ASGIApp:
    """The ASGI app serving ``ctx``: a Starlette app inside the counting/fault layer."""
    router = Router(routes, username=ctx.username, host_based=ctx.host_based)

    def route_of(scope: Scope) -> RouteMatch | None:
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        host = next((v.decode("latin-1") for k, v in headers if k == b"host"), None)
        return router.resolve(scope["method"], scope["path"], host)

    async def dispatch(request: Request) -> Response:
        scope = request.scope
        match = scope[ROUTE_SCOPE_KEY] if ROUTE_SCOPE_KEY in scope else route_of(scope)
        if match is None:
            await drain(request)
            return _not_found()
        return await match.route.handler(request, ctx, match)

    app = Starlette(routes=[StarletteRoute("/{path:path}", dispatch, methods=_METHODS)])
    return FaultLayer(app, resolve=route_of, faults=ctx.faults, counters=ctx.counters)
