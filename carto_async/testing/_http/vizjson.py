"""The viz.json of a visualization: ``/api/v2/viz/:id/viz.json`` and ``/api/v3/viz/:id/viz.json``.

The shapes CartoDB.js reads (reference: CARTO's ``VizJSON`` and ``VizJSON3Presenter``):

* v2, version ``0.1.0``: the basemap, then one ``layergroup`` layer whose
  ``options.layer_definition.layers`` are the ``CartoDB`` data layers (``sql``, ``cartocss``,
  ``cartocss_version``, ``interactivity``, ``layer_name``), each with ``infowindow``,
  ``tooltip``, ``legend``, ``order`` and ``visible``;
* v3, version ``3.0.0``: the basemap, then each data layer at the top level, and a
  ``datasource`` (``user_name``, ``maps_api_template``, ``stat_tag``).

``bounds`` (``[[south, west], [north, east]]``), ``center`` (the text ``"[lat, lng]"``) and
``zoom`` come from the extent of the map's tables, computed as CARTO does when it makes a map
(clamped to ±179 / ±85.0511; the zoom that fits the larger side; an empty map gets the whole
world, ``[30, 0]`` and zoom 3). Public and link maps are served to anyone; a private map only
with the owner's master key (403 ``Visualization not viewable`` otherwise).
"""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from carto_async.testing._context import Context
from carto_async.testing._http.bodies import drain
from carto_async.testing._http.rails import carto_error, is_master, query_params
from carto_async.testing._http.routing import RouteMatch
from carto_async.testing._visualizations import Visualization, iso_ms
from carto_async.testing._wire import rails_jsonp

__all__ = ["map_framing", "present_v2", "present_v3", "show_v2", "show_v3"]

_DEFAULT_BOUNDS = (-179.0, -85.0511, 179.0, 85.0511)  # minx, miny, maxx, maxy
_DEFAULT_CENTER = "[30, 0]"
_DEFAULT_ZOOM = 3
_MAXIMUM_ZOOM = 18
_BASE_KINDS = ("tiled", "background", "gmapsbase", "wms", "plain", "http")
_POPUP_KEYS = ("fields", "template_name", "template", "alternative_names", "width", "maxHeight")


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def _table_extent(ctx: Context, table: str) -> tuple[float, float, float, float] | None:
    name = '"' + table.replace('"', '""') + '"'
    sql = (
        "SELECT min(ST_XMin(the_geom)), min(ST_YMin(the_geom)), "  # noqa: S608
        f"max(ST_XMax(the_geom)), max(ST_YMax(the_geom)) FROM {name}"
    )
    try:
        rows = ctx.db.execute(sql).rows
    except Exception:  # a table without the_geom, or gone: it adds nothing to the bounds
        return None
    if not rows:
        return None
    values = rows[0]
    if len(values) != 4 or not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        return None
    x0, y0, x1, y1 = (float(v) for v in values)
    return x0, y0, x1, y1


def map_framing(ctx: Context, vis: Visualization) -> tuple[Any, str, int]:
    """``bounds``, ``center`` and ``zoom`` of a map from the extent of its tables."""
    boxes = [b for b in (_table_extent(ctx, t) for t in vis.tables) if b is not None]
    if not boxes:
        minx, miny, maxx, maxy = _DEFAULT_BOUNDS
        return [[miny, minx], [maxy, maxx]], _DEFAULT_CENTER, _DEFAULT_ZOOM
    lo_x, lo_y, hi_x, hi_y = _DEFAULT_BOUNDS
    minx = _clamp(min(b[0] for b in boxes), lo_x, hi_x)
    miny = _clamp(min(b[1] for b in boxes), lo_y, hi_y)
    maxx = _clamp(max(b[2] for b in boxes), lo_x, hi_x)
    maxy = _clamp(max(b[3] for b in boxes), lo_y, hi_y)
    center = f"[{(miny + maxy) / 2},{(minx + maxx) / 2}]"
    size = max(maxx - minx, maxy - miny)
    zoom = _DEFAULT_ZOOM
    if size > 0:
        zoom = round(-(math.log2(size) - math.log2(360)))
        zoom = min(max(zoom, 1), _MAXIMUM_ZOOM)
    return [[miny, minx], [maxy, maxx]], center, zoom


def _is_base(layer: dict[str, Any]) -> bool:
    return str(layer.get("kind") or layer.get("type") or "").lower() in _BASE_KINDS


def _popup(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    return {k: v for k, v in value.items() if k in _POPUP_KEYS}


def _option(options: dict[str, Any], *names: str) -> Any:
    for name in names:
        value = options.get(name)
        if value not in (None, ""):
            return value
    return None


def _data_layer(layer: dict[str, Any], index: int, vis: Visualization) -> dict[str, Any]:
    options: dict[str, Any] = dict(layer.get("options") or {})
    table = options.get("table_name") or (vis.tables[0] if vis.tables else "")
    sql = _option(options, "sql", "query") or f"select * from {table}"  # noqa: S608
    cartocss = _option(options, "cartocss", "tile_style") or "#dummy{}"
    return {
        "id": str(layer.get("id") or f"{vis.id}-layer{index}"),
        "type": "torque" if str(layer.get("kind")).lower() == "torque" else "CartoDB",
        "order": layer.get("order", index),
        "visible": options.get("visible", True) is not False,
        "infowindow": _popup(layer.get("infowindow")),
        "tooltip": _popup(layer.get("tooltip")),
        "legend": layer.get("legend"),
        "options": {
            "layer_name": options.get("layer_name") or table,
            "sql": sql,
            "cartocss": cartocss,
            "cartocss_version": _option(options, "cartocss_version", "style_version") or "2.1.1",
            "interactivity": options.get("interactivity") or "cartodb_id",
            "table_name": table,
        },
    }


def _base_layer(layer: dict[str, Any], index: int, vis: Visualization) -> dict[str, Any]:
    kind = str(layer.get("kind") or layer.get("type") or "tiled")
    return {
        "id": str(layer.get("id") or f"{vis.id}-base{index}"),
        "type": kind,
        "order": layer.get("order", index),
        "options": dict(layer.get("options") or {}),
    }


def _layers(vis: Visualization) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    base: list[dict[str, Any]] = []
    data: list[dict[str, Any]] = []
    for index, layer in enumerate(vis.layers):
        if _is_base(layer):
            base.append(_base_layer(layer, index, vis))
        else:
            data.append(_data_layer(layer, index, vis))
    return base, data


def _root(request: Request, match: RouteMatch) -> str:
    """The Maps API template of the account, as the request reached it."""
    scheme = request.url.scheme
    host = request.headers.get("host") or request.url.netloc
    if request.url.path.startswith(f"/user/{match.user}/") or request.url.path.startswith(
        f"/u/{match.user}/"
    ):
        return f"{scheme}://{host}/user/{{user}}"
    if host.startswith(f"{match.user}."):
        return f"{scheme}://{{user}}.{host[len(match.user) + 1 :]}"
    return f"{scheme}://{host}"


def _common(ctx: Context, vis: Visualization) -> dict[str, Any]:
    bounds, center, zoom = map_framing(ctx, vis)
    return {
        "id": vis.id,
        "title": vis.name,
        "description": vis.description,
        "map_provider": "leaflet",
        "bounds": bounds,
        "center": center,
        "zoom": zoom,
        "updated_at": iso_ms(vis.updated_at),
        "overlays": [],
    }


def present_v2(ctx: Context, vis: Visualization, maps_api_template: str) -> dict[str, Any]:
    """The v2 viz.json (``0.1.0``): basemap, one layergroup, other base layers."""
    base, data = _layers(vis)
    sublayers = [
        {
            "id": layer["id"],
            "type": "CartoDB",
            "infowindow": layer["infowindow"],
            "tooltip": layer["tooltip"],
            "legend": layer["legend"],
            "order": layer["order"],
            "visible": layer["visible"],
            "options": {k: v for k, v in layer["options"].items() if k != "table_name"},
        }
        for layer in data
    ]
    layers: list[dict[str, Any]] = [dict(base[0], type=base[0]["type"])] if base else []
    if sublayers:
        layers.append(
            {
                "type": "layergroup",
                "options": {
                    "user_name": ctx.username,
                    "maps_api_template": maps_api_template,
                    "sql_api_template": maps_api_template,
                    "filter": "mapnik",
                    "layer_definition": {
                        "stat_tag": vis.id,
                        "version": "1.0.1",
                        "layers": sublayers,
                    },
                    "attribution": "",
                },
            }
        )
    layers.extend(base[1:])
    return {
        **_common(ctx, vis),
        "version": "0.1.0",
        "scrollwheel": False,
        "legends": True,
        "url": None,
        "layers": layers,
        "prev": None,
        "next": None,
        "transition_options": {"time": 0},
    }


def present_v3(ctx: Context, vis: Visualization, maps_api_template: str) -> dict[str, Any]:
    """The v3 viz.json (``3.0.0``): basemap, each data layer, other base layers."""
    base, data = _layers(vis)
    layers: list[dict[str, Any]] = base[:1]
    for layer in data:
        options = {
            k: v for k, v in layer["options"].items() if k not in ("interactivity", "table_name")
        }
        options["attribution"] = ""
        layers.append(
            {
                "id": layer["id"],
                "type": layer["type"],
                "infowindow": layer["infowindow"],
                "tooltip": layer["tooltip"],
                "legends": [],
                "visible": layer["visible"],
                "order": layer["order"],
                "options": options,
            }
        )
    layers.extend(base[1:])
    return {
        **_common(ctx, vis),
        "version": "3.0.0",
        "datasource": {
            "user_name": ctx.username,
            "maps_api_template": maps_api_template,
            "stat_tag": vis.id,
        },
        "options": {},
        "layers": layers,
        "user": {"fullname": ctx.username},
        "widgets": [],
        "analyses": [],
    }


def _load(request: Request, ctx: Context, match: RouteMatch) -> Visualization | Response:
    if match.user != ctx.username:
        return carto_error("Visualization of that user does not exist", 404)
    key = match.params["id"]
    vis = ctx.visualizations.get(key)
    if vis is None:
        record = ctx.visualizations.table(key)
        vis = ctx.visualizations.table_visualization(record) if record is not None else None
    if vis is None:
        return carto_error("Visualization does not exist", 404)
    if vis.privacy == "private" and not is_master(ctx, match, request, query_params(request)):
        return carto_error("Visualization not viewable", 403)
    return vis


async def _show(request: Request, ctx: Context, match: RouteMatch, version: int) -> Response:
    await drain(request)
    found = _load(request, ctx, match)
    if isinstance(found, Response):
        return found
    template = _root(request, match)
    body = present_v3(ctx, found, template) if version == 3 else present_v2(ctx, found, template)
    response = rails_jsonp(body, 200, query_params(request).get("callback"))
    if found.privacy != "private":
        response.headers["Cache-Control"] = "no-cache,max-age=86400,must-revalidate, public"
    return response


async def show_v2(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``GET /api/v2/viz/:id/viz.json``."""
    return await _show(request, ctx, match, 2)


async def show_v3(request: Request, ctx: Context, match: RouteMatch) -> Response:
    """``GET /api/v3/viz/:id/viz.json``."""
    return await _show(request, ctx, match, 3)
