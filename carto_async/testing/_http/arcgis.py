"""The fake ArcGIS REST server: ``/api/arcgis/rest/services/<folder>/<table>/FeatureServer/0``.

Each of the user's tables is a service with one ``Feature Layer`` (id 0); ``query`` pages
through it in Esri JSON. Errors are ArcGIS's: HTTP 200 with ``{"error": {...}}``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from carto_async.testing._arcgis import OID_TYPE, esri_geometry, field_type
from carto_async.testing._cartofile import Feature, quote, read_features
from carto_async.testing._context import Context
from carto_async.testing._http.bodies import drain
from carto_async.testing._http.routing import RouteMatch
from carto_async.testing._wire import express_json

__all__ = ["layer", "layers", "query", "service"]

_TYPES = ("FeatureServer", "MapServer")
_RANGE_RE = re.compile(r"^\s*(\w+)\s*>=\s*(-?\d+)\s+AND\s+(\w+)\s*<=\s*(-?\d+)\s*$", re.I)
_MAX_FORM = 1 << 20
_MAX_IDS = 1000
_MAX_ID = 2**62
_ALL_RE = re.compile(r"^\s*(1\s*=\s*1)?\s*$")


def _error(code: int, message: str) -> Response:
    return express_json({"error": {"code": code, "message": message, "details": []}}, 200)


def _table_of(ctx: Context, match: RouteMatch) -> str | None:
    name, kind = match.params["service"], match.params["type"]
    if kind not in _TYPES or match.user != ctx.username or not ctx.db.table_exists(name):
        return None
    return name


def _geometry_type(features: list[Feature]) -> str:
    for feature in features:
        kind = (feature.geometry or {}).get("type", "")
        if "Point" in kind:
            return "esriGeometryMultipoint" if kind == "MultiPoint" else "esriGeometryPoint"
        if "LineString" in kind:
            return "esriGeometryPolyline"
        if "Polygon" in kind:
            return "esriGeometryPolygon"
    return "esriGeometryPoint"


def _fields(columns: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"name": c, "type": field_type(c, t), "alias": c} for c, t in columns]


def _layer_info(
    ctx: Context, table: str, columns: list[tuple[str, str]], geometry: str
) -> dict[str, Any]:
    settings = ctx.arcgis
    return {
        "currentVersion": settings.current_version,
        "id": 0,
        "name": table,
        "type": "Feature Layer",
        "description": "",
        "copyrightText": "",
        "geometryType": geometry,
        "objectIdField": "cartodb_id",
        "fields": _fields(columns),
        "capabilities": settings.capabilities,
        "maxRecordCount": settings.max_record_count,
        "supportedQueryFormats": "JSON, geoJSON",
        "supportsAdvancedQueries": True,
        "supportsPagination": True,
    }


async def _read(
    ctx: Context, table: str, where: str = "", params: Sequence[Any] = (), **page: int
) -> tuple[list[tuple[str, str]], list[Feature]]:
    def read() -> tuple[list[tuple[str, str]], list[Feature]]:
        return read_features(ctx.db, table, where=where, params=params, **page)

    return await anyio.to_thread.run_sync(read)


async def _sample(ctx: Context, table: str) -> tuple[list[tuple[str, str]], str]:
    """Columns and geometry type (from the first row with a geometry)."""
    columns, first = await _read(ctx, table, "the_geom IS NOT NULL", limit=1)
    return columns, _geometry_type(first)


async def service(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """Service metadata: one layer, the table."""
    await drain(request)
    table = _table_of(ctx, match)
    if table is None:
        return _error(404, "Service not found")
    _, geometry = await _sample(ctx, table)
    return express_json(
        {
            "currentVersion": ctx.arcgis.current_version,
            "serviceDescription": f"{table} (LocalCarto)",
            "capabilities": ctx.arcgis.capabilities,
            "maxRecordCount": ctx.arcgis.max_record_count,
            "layers": [
                {
                    "id": 0,
                    "name": table,
                    "type": "Feature Layer",
                    "geometryType": geometry,
                }
            ],
            "tables": [],
        },
        200,
    )


async def layers(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``.../FeatureServer/layers``: every layer's metadata."""
    await drain(request)
    table = _table_of(ctx, match)
    if table is None:
        return _error(404, "Service not found")
    columns, geometry = await _sample(ctx, table)
    info = _layer_info(ctx, table, columns, geometry)
    return express_json({"layers": [info], "tables": []}, 200)


async def layer(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """Layer metadata (layer 0 only)."""
    await drain(request)
    table = _table_of(ctx, match)
    if table is None or match.params["layer"] != "0":
        return _error(404, "Layer not found")
    columns, geometry = await _sample(ctx, table)
    return express_json(_layer_info(ctx, table, columns, geometry), 200)


async def _params(request: Request) -> dict[str, str]:
    params = dict(request.query_params.items())
    if request.method == "POST":
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > _MAX_FORM:
                raise ValueError("query body too large")
        params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _where(params: dict[str, str]) -> tuple[str, list[Any]] | str:
    """The SQL selecting what a query asks for, or an error message."""
    clauses: list[str] = []
    bound: list[Any] = []
    ids_param = params.get("objectIds", "").strip()
    if ids_param:
        try:
            wanted = sorted({int(i) for i in ids_param.split(",") if i.strip()})
        except ValueError:
            return "Invalid objectIds"
        if len(wanted) > _MAX_IDS or any(abs(i) > _MAX_ID for i in wanted):
            return "Invalid objectIds"
        clauses.append(f"cartodb_id IN ({', '.join('?' for _ in wanted)})" if wanted else "1=0")
        bound += wanted
    where = params.get("where", "")
    range_match = _RANGE_RE.match(where)
    if range_match is not None:
        low_field, low, high_field, high = range_match.groups()
        if low_field != "cartodb_id" or high_field != "cartodb_id":
            return "Invalid where clause"
        lo, hi = int(low), int(high)
        if abs(lo) > _MAX_ID or abs(hi) > _MAX_ID:
            return "Invalid where clause"
        clauses.append("cartodb_id >= ? AND cartodb_id <= ?")
        bound += [lo, hi]
    elif not _ALL_RE.match(where):
        return "Invalid where clause"
    return " AND ".join(clauses), bound


async def _scalar_list(ctx: Context, sql: str, bound: Sequence[Any]) -> list[Any]:
    result = await anyio.to_thread.run_sync(ctx.db.execute, sql, bound)
    return [row[0] for row in result.rows]


async def query(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``query``: ids, counts or features (at most ``maxRecordCount``), in Esri JSON."""
    try:
        params = await _params(request)
    except ValueError:
        await drain(request)
        return _error(400, "Request body too large")
    table = _table_of(ctx, match)
    if table is None or match.params["layer"] != "0":
        return _error(404, "Layer not found")
    if not ctx.arcgis.can_query:
        return _error(400, "Requested operation is not supported by this service.")
    selection = _where(params)
    if isinstance(selection, str):
        return _error(400, selection)
    where, bound = selection
    name = quote(table)
    condition = f" WHERE {where}" if where else ""
    if params.get("returnIdsOnly", "").lower() == "true":
        sql = f"SELECT cartodb_id FROM {name}{condition} ORDER BY cartodb_id"  # noqa: S608
        ids = await _scalar_list(ctx, sql, bound)
        return express_json({"objectIdFieldName": "cartodb_id", "objectIds": ids}, 200)
    if params.get("returnCountOnly", "").lower() == "true":
        counted = await _scalar_list(ctx, f"SELECT count(*) FROM {name}{condition}", bound)  # noqa: S608
        return express_json({"count": int(counted[0])}, 200)
    try:
        offset = max(int(params.get("resultOffset") or 0), 0)
        count = int(params.get("resultRecordCount") or ctx.arcgis.max_record_count)
    except ValueError:
        return _error(400, "Invalid paging parameters")
    limit = min(max(count, 0), ctx.arcgis.max_record_count)
    # One row more than the page says whether the transfer limit was exceeded.
    columns, rows = await _read(ctx, table, where, bound, limit=limit + 1, offset=offset)
    exceeded = len(rows) > limit
    page = rows[:limit]
    out_fields = params.get("outFields", "*")
    names = [c for c, _ in columns]
    if out_fields.strip() not in ("", "*"):
        keep = {n.strip() for n in out_fields.split(",")}
        names = [n for n in names if n in keep]
    kept = [(c, t) for c, t in columns if c in names]
    return express_json(
        {
            "objectIdFieldName": "cartodb_id",
            "geometryType": _geometry_type(page),
            "spatialReference": {"wkid": 4326, "latestWkid": 4326},
            "fields": [f for f in _fields(kept) if f["type"] != OID_TYPE or "cartodb_id" in names],
            "features": [
                {
                    "attributes": {n: f.properties.get(n) for n in names},
                    "geometry": esri_geometry(f.geometry),
                }
                for f in page
            ],
            "exceededTransferLimit": exceeded,
        },
        200,
    )
