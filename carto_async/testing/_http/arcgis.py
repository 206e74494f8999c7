"""The fake ArcGIS REST server: ``/api/arcgis/rest/services/<folder>/<table>/FeatureServer/0``.

Each of the user's tables is a service with one ``Feature Layer`` (id 0); ``query`` pages
through it in Esri JSON. Errors are ArcGIS's: HTTP 200 with ``{"error": {...}}``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from carto_async.testing._arcgis import OID_TYPE, esri_geometry, field_type
from carto_async.testing._cartofile import Feature, read_features
from carto_async.testing._context import Context
from carto_async.testing._http.bodies import drain
from carto_async.testing._http.routing import RouteMatch
from carto_async.testing._wire import express_json

__all__ = ["layer", "layers", "query", "service"]

_TYPES = ("FeatureServer", "MapServer")
_RANGE_RE = re.compile(r"^\s*(\w+)\s*>=\s*(-?\d+)\s+AND\s+(\w+)\s*<=\s*(-?\d+)\s*$", re.I)
_MAX_FORM = 1 << 20
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


async def _read(ctx: Context, table: str) -> tuple[list[tuple[str, str]], list[Feature]]:
    return await anyio.to_thread.run_sync(read_features, ctx.db, table)


async def service(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """Service metadata: one layer, the table."""
    await drain(request)
    table = _table_of(ctx, match)
    if table is None:
        return _error(404, "Service not found")
    _, features = await _read(ctx, table)
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
                    "geometryType": _geometry_type(features),
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
    columns, features = await _read(ctx, table)
    info = _layer_info(ctx, table, columns, _geometry_type(features))
    return express_json({"layers": [info], "tables": []}, 200)


async def layer(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """Layer metadata (layer 0 only)."""
    await drain(request)
    table = _table_of(ctx, match)
    if table is None or match.params["layer"] != "0":
        return _error(404, "Layer not found")
    columns, features = await _read(ctx, table)
    return express_json(_layer_info(ctx, table, columns, _geometry_type(features)), 200)


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


def _selected(features: list[Feature], params: dict[str, str]) -> list[Feature] | str:
    """The features a query selects, or an error message."""
    ids_param = params.get("objectIds", "").strip()
    where = params.get("where", "")
    chosen = features
    if ids_param:
        try:
            wanted = {int(i) for i in ids_param.split(",") if i.strip()}
        except ValueError:
            return "Invalid objectIds"
        chosen = [f for f in chosen if f.properties.get("cartodb_id") in wanted]
    range_match = _RANGE_RE.match(where)
    if range_match is not None:
        low_field, low, high_field, high = range_match.groups()
        if low_field != "cartodb_id" or high_field != "cartodb_id":
            return "Invalid where clause"
        lo, hi = int(low), int(high)
        chosen = [f for f in chosen if lo <= int(f.properties.get("cartodb_id") or 0) <= hi]
    elif not _ALL_RE.match(where):
        return "Invalid where clause"
    return chosen


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
    columns, features = await _read(ctx, table)
    chosen = _selected(features, params)
    if isinstance(chosen, str):
        return _error(400, chosen)
    if params.get("returnIdsOnly", "").lower() == "true":
        ids = [f.properties.get("cartodb_id") for f in chosen]
        return express_json({"objectIdFieldName": "cartodb_id", "objectIds": ids}, 200)
    if params.get("returnCountOnly", "").lower() == "true":
        return express_json({"count": len(chosen)}, 200)
    try:
        offset = int(params.get("resultOffset") or 0)
        count = int(params.get("resultRecordCount") or ctx.arcgis.max_record_count)
    except ValueError:
        return _error(400, "Invalid paging parameters")
    limit = min(max(count, 0), ctx.arcgis.max_record_count)
    page = chosen[max(offset, 0) : max(offset, 0) + limit]
    out_fields = params.get("outFields", "*")
    names = [c for c, _ in columns]
    if out_fields.strip() not in ("", "*"):
        keep = {n.strip() for n in out_fields.split(",")}
        names = [n for n in names if n in keep]
    kept = [(c, t) for c, t in columns if c in names]
    return express_json(
        {
            "objectIdFieldName": "cartodb_id",
            "geometryType": _geometry_type(features),
            "spatialReference": {"wkid": 4326, "latestWkid": 4326},
            "fields": [f for f in _fields(kept) if f["type"] != OID_TYPE or "cartodb_id" in names],
            "features": [
                {
                    "attributes": {n: f.properties.get(n) for n in names},
                    "geometry": esri_geometry(f.geometry),
                }
                for f in page
            ],
            "exceededTransferLimit": len(chosen) > max(offset, 0) + limit,
        },
        200,
    )
