"""The SQL the Maps API runs on the engine, wrapped as Windshaft (through Mapnik's PostGIS
datasource) wraps a layer's query: geometry out as WKB, rows cut to the tile's box on
``the_geom_webmercator``, substitution tokens (``!bbox!``...) replaced.

The engine is reached through one injected callable, ``query(sql)``, which returns one
``(geometry, attributes)`` pair per row: ``geometry`` is the value of the first column (WKB as
bytes, or ``None``), ``attributes`` maps the other columns' names to their values. Every
statement sent here names its geometry column first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

from carto_async.models.maps import MapnikLayer, TorqueLayer
from carto_async.testing._windshaft._errors import MapsError
from carto_async.testing.render import Bbox, WKBError, to_2d_wkb

__all__ = [
    "LayerQuery",
    "Row",
    "check_layer_query",
    "data_extent",
    "feature_attributes",
    "features_sql",
    "fetch_features",
    "layer_context",
]

Geometry: TypeAlias = bytes | bytearray | memoryview | str | None
Row: TypeAlias = tuple[Geometry, Mapping[str, Any]]
#: ``query(sql) -> [(wkb or None, {column: value})]``: the engine, as the Maps API uses it.
LayerQuery: TypeAlias = Callable[[str], Sequence[Row]]
SqlLayer: TypeAlias = MapnikLayer | TorqueLayer

_GEOMETRY_COLUMNS = frozenset({"the_geom", "the_geom_webmercator"})
_NUMBER_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
# OGC's standard pixel, 0.28 mm: what Mapnik's scale denominator assumes.
_PIXEL_METRES = 0.00028


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _number(value: float) -> str:
    return repr(float(value))


def _envelope(bbox: Bbox) -> str:
    return "ST_MakeEnvelope(" + ", ".join(_number(v) for v in bbox) + ")"


def substitute_tokens(sql: str, bbox: Bbox, width: int, height: int) -> str:
    """Mapnik's substitution tokens: ``!bbox!``, ``!pixel_width!``, ``!pixel_height!`` and
    ``!scale_denominator!`` for the box drawn at ``width`` x ``height`` pixels."""
    pixel_width = (bbox[2] - bbox[0]) / width
    pixel_height = (bbox[3] - bbox[1]) / height
    return (
        sql.replace("!bbox!", _envelope(bbox))
        .replace("!pixel_width!", _number(pixel_width))
        .replace("!pixel_height!", _number(pixel_height))
        .replace("!scale_denominator!", _number(pixel_width / _PIXEL_METRES))
    )


def layer_context(layer: SqlLayer | Any, index: int, layer_id: str) -> dict[str, Any]:
    """The ``layer`` member of an error's context."""
    kind = "mapnik" if isinstance(layer, MapnikLayer) else str(getattr(layer, "type", "mapnik"))
    return {"id": layer_id, "index": index, "type": kind}


def _geom_column(layer: SqlLayer) -> str:
    return layer.geom_column or "the_geom_webmercator"


def features_sql(layer: SqlLayer, bbox: Bbox | None, *, width: int = 256, height: int = 256) -> str:
    """The statement that fetches a layer's features over ``bbox`` (all of them without one):
    ``SELECT ST_AsBinary(geom) AS __geom, * FROM (sql) AS cdbq WHERE geom && envelope``."""
    geom = _ident(_geom_column(layer))
    sql = layer.sql
    if bbox is not None:
        sql = substitute_tokens(sql, bbox, width, height)
    # S608 here and below: the SQL is the map author's own layer query, run on their own
    # database, as Windshaft runs it.
    statement = f"SELECT ST_AsBinary(cdbq.{geom}) AS __geom, * FROM ({sql}) AS cdbq"  # noqa: S608
    if bbox is not None:
        statement += f" WHERE cdbq.{geom} && {_envelope(bbox)}"
    return statement


def _run(query: LayerQuery, sql: str, context: dict[str, Any]) -> Sequence[Row]:
    try:
        return query(sql)
    except MapsError:
        raise
    except Exception as exc:  # the engine's error, whatever its class, is the layer's error
        raise MapsError(
            f"Postgis Plugin: {exc}", type="layer", subtype="query", layer=context
        ) from None


def _attributes(row: Mapping[str, Any], geom_column: str) -> dict[str, Any]:
    return {
        k: v
        for k, v in row.items()
        if k not in _GEOMETRY_COLUMNS and k not in (geom_column, "__geom")
    }


def fetch_features(
    query: LayerQuery,
    layer: SqlLayer,
    bbox: Bbox | None,
    context: dict[str, Any],
    *,
    width: int = 256,
    height: int = 256,
) -> list[tuple[bytes | None, dict[str, Any]]]:
    """A layer's features over ``bbox``: (2D WKB or ``None``, attributes without the geometry
    columns). A geometry that is not WKB is the layer's error."""
    rows = _run(query, features_sql(layer, bbox, width=width, height=height), context)
    geom_column = _geom_column(layer)
    out: list[tuple[bytes | None, dict[str, Any]]] = []
    for geometry, row in rows:
        wkb = None
        if geometry is not None:
            try:
                wkb = to_2d_wkb(geometry)
            except WKBError as exc:
                raise MapsError(
                    f"Postgis Plugin: geometry of layer {context['index']} is not WKB: {exc}",
                    type="layer",
                    subtype="query",
                    layer=context,
                ) from None
        out.append((wkb, _attributes(row, geom_column)))
    return out


def check_layer_query(query: LayerQuery, layer: SqlLayer, context: dict[str, Any]) -> None:
    """Run the layer's query once with no rows, as the server does when a map is created, so
    a broken query fails the creation with the layer named."""
    world = (-20037508.342789244, -20037508.342789244, 20037508.342789244, 20037508.342789244)
    _run(query, features_sql(layer, world) + " LIMIT 0", context)


def data_extent(
    query: LayerQuery, layers: Sequence[tuple[SqlLayer, dict[str, Any]]]
) -> Bbox | None:
    """The EPSG:3857 extent of the layers' data (``None`` when they have none)."""
    boxes: list[Bbox] = []
    for layer, context in layers:
        geom = "cdbq." + _ident(_geom_column(layer))
        sql = (
            "SELECT NULL AS __geom, "  # noqa: S608
            f"min(ST_XMin({geom})) AS xmin, min(ST_YMin({geom})) AS ymin, "
            f"max(ST_XMax({geom})) AS xmax, max(ST_YMax({geom})) AS ymax "
            f"FROM ({layer.sql}) AS cdbq"
        )
        for _, row in _run(query, sql, context):
            values = [row.get(k) for k in ("xmin", "ymin", "xmax", "ymax")]
            if all(isinstance(v, int | float) for v in values):
                x0, y0, x1, y1 = (float(v) for v in values)  # type: ignore[arg-type]
                boxes.append((x0, y0, x1, y1))
    if not boxes:
        return None
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def feature_attributes(
    query: LayerQuery,
    layer: SqlLayer,
    layer_param: str,
    fid: str,
    context: dict[str, Any],
) -> dict[str, Any]:
    """The ``attributes.columns`` of the one feature whose ``attributes.id`` is ``fid``
    (``AttributesBackend#getFeatureAttributes``)."""
    attributes = layer.attributes
    if attributes is None:
        raise MapsError(f"Layer {layer_param} has no exposed attributes")
    columns = ",".join(_ident(c) for c in attributes.columns)
    # The server pastes the id into the SQL as it comes; LocalCarto quotes anything that is
    # not a number.
    value = fid if _NUMBER_RE.match(fid) else _literal(fid)
    sql = (
        f"SELECT NULL AS __geom, {columns} "  # noqa: S608
        f"FROM ({layer.sql}) AS _windshaft_subquery "
        f"WHERE {_ident(attributes.id)} = {value}"
    )
    rows = [dict(row) for _, row in _run(query, sql, context)]
    if len(rows) == 1 or (len(rows) > 1 and all(r == rows[0] for r in rows)):
        return {c: rows[0].get(c) for c in attributes.columns}
    raise MapsError(
        f"Multiple features ({len(rows)}) identified by '{attributes.id}' = {fid} "
        f"in layer {layer_param}",
        status=404 if not rows else None,
    )
