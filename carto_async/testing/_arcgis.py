"""A fake ArcGIS REST server over the user's tables, and the connector that reads ArcGIS layers.

Server side: every table is a one-layer service,
``/api/arcgis/rest/services/<folder>/<table>/FeatureServer/0`` under the user's base URL (any
folder name; ``MapServer`` works too), with service and layer metadata and a ``query``
operation (``returnIdsOnly``, ``objectIds``, ``where`` ranges on the object id,
``resultOffset``/``resultRecordCount``, at most ``maxRecordCount`` features per answer) in
Esri JSON. :class:`ArcGisSettings` changes what it reports (version, capabilities) so tests
reach the connector's errors.

Client side: :func:`fetch_arcgis` reads a layer or a whole service the way CARTO's connector
does (metadata, then the sorted object ids, then blocks of 100 features by id range) and
writes GeoJSON for the loader. It only talks to loopback hosts, like every LocalCarto
download. Errors carry the import error codes: a URL without ``/rest/services`` or an answer
that is not ArcGIS 1012, a server older than 10.1 1013, a layer without the query capability
1023, an unreachable server 1011.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import attrs
import httpx

from carto_async._core.credentials import is_loopback_host
from carto_async.testing._sources import Fetched, SourceUnavailable

__all__ = [
    "ARCGIS_PREFIX",
    "BLOCK_SIZE",
    "ArcGisSettings",
    "esri_geometry",
    "fetch_arcgis",
    "field_type",
    "geojson_geometry",
    "is_arcgis_url",
    "is_layer_url",
]

#: Where the fake server lives under a user's base URL.
ARCGIS_PREFIX = "/api/arcgis/rest/services"
#: Features per request, as CARTO's connector reads them (MAX_BLOCK_SIZE).
BLOCK_SIZE = 100
MINIMUM_VERSION = 10.1
_ARCGIS_RE = re.compile(r"/rest/services", re.I)
_LAYER_RE = re.compile(r"/([0-9]+/|[0-9]+)$")
OID_TYPE = "esriFieldTypeOID"


@attrs.define
class ArcGisSettings:
    """What the fake ArcGIS server reports; change it on a running server."""

    current_version: float = 10.91
    capabilities: str = "Query,Map,Data"
    max_record_count: int = 1000

    @property
    def can_query(self) -> bool:
        """Whether layers offer the ``query`` operation."""
        return "query" in [c.strip().lower() for c in self.capabilities.split(",")]


def is_arcgis_url(url: str) -> bool:
    """Whether ``url`` looks like an ArcGIS REST URL (``.../rest/services/...``)."""
    return bool(_ARCGIS_RE.search(url))


def is_layer_url(url: str) -> bool:
    """Whether ``url`` names one layer (ends with its numeric id) rather than a service."""
    return _LAYER_RE.search(url.split("?", maxsplit=1)[0]) is not None


# -- geometry ------------------------------------------------------------------------------


def _ring_area(ring: Sequence[Sequence[float]]) -> float:
    return sum(
        (ring[i + 1][0] - ring[i][0]) * (ring[i + 1][1] + ring[i][1]) for i in range(len(ring) - 1)
    )


def _oriented(ring: list[list[float]], clockwise: bool) -> list[list[float]]:
    # Esri rings: outer rings clockwise, holes counter-clockwise.
    is_clockwise = _ring_area(ring) > 0
    return ring if is_clockwise == clockwise else list(reversed(ring))


def esri_geometry(shape: dict[str, Any] | None) -> dict[str, Any] | None:
    """A GeoJSON geometry as Esri JSON (WGS84)."""
    if not shape:
        return None
    kind, coords = shape.get("type"), shape.get("coordinates")
    if kind == "Point":
        return {"x": coords[0], "y": coords[1]} if coords else None
    if kind == "MultiPoint":
        return {"points": coords}
    if kind == "LineString":
        return {"paths": [coords]}
    if kind == "MultiLineString":
        return {"paths": coords}
    polygons: list[Any] | None = (
        [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else None
    )
    if not isinstance(polygons, list):
        return None
    rings = []
    for polygon in polygons:
        for index, ring in enumerate(polygon):
            rings.append(_oriented([list(p) for p in ring], clockwise=index == 0))
    return {"rings": rings}


def geojson_geometry(geometry: Any) -> dict[str, Any] | None:
    """An Esri JSON geometry as GeoJSON."""
    if not isinstance(geometry, dict):
        return None
    if "x" in geometry and "y" in geometry:
        if geometry["x"] is None or geometry["y"] is None:
            return None
        return {"type": "Point", "coordinates": [geometry["x"], geometry["y"]]}
    if "points" in geometry:
        return {"type": "MultiPoint", "coordinates": geometry["points"]}
    if "paths" in geometry:
        paths = geometry["paths"]
        if len(paths) == 1:
            return {"type": "LineString", "coordinates": paths[0]}
        return {"type": "MultiLineString", "coordinates": paths}
    if "rings" in geometry:
        polygons: list[list[Any]] = []
        for ring in geometry["rings"]:
            if _ring_area(ring) > 0 or not polygons:  # clockwise: a new outer ring
                polygons.append([ring])
            else:
                polygons[-1].append(ring)
        if len(polygons) == 1:
            return {"type": "Polygon", "coordinates": polygons[0]}
        return {"type": "MultiPolygon", "coordinates": polygons}
    return None


def field_type(name: str, declared: str) -> str:
    """The Esri field type of a column."""
    if name == "cartodb_id":
        return OID_TYPE
    upper = declared.upper()
    if "INT" in upper:
        return "esriFieldTypeInteger"
    if any(word in upper for word in ("REAL", "DOUBLE", "FLOAT", "NUMERIC", "DEC")):
        return "esriFieldTypeDouble"
    return "esriFieldTypeString"


# -- client side (the connector) -----------------------------------------------------------


class _Client:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not is_loopback_host(parts.hostname or ""):
            raise SourceUnavailable(1011)
        try:
            response = self.client.request(method, url, **kwargs)
        except httpx.HTTPError:
            raise SourceUnavailable(1011) from None
        if response.status_code != 200:
            raise SourceUnavailable(1011, str(response.status_code))
        try:
            body = response.json()
        except ValueError:
            raise SourceUnavailable(1012) from None
        if not isinstance(body, dict):
            raise SourceUnavailable(1012)
        return body


def _layer_metadata(client: _Client, url: str) -> dict[str, Any]:
    data = client.call("GET", url, params={"f": "json"})
    if "error" in data:
        raise SourceUnavailable(1012)
    if data.get("type") != "Feature Layer" or not isinstance(data.get("fields"), list):
        raise SourceUnavailable(1012)
    version = data.get("currentVersion")
    if not isinstance(version, int | float) or version < MINIMUM_VERSION:
        raise SourceUnavailable(1013)
    capabilities = str(data.get("capabilities", "Query"))
    if "query" not in [c.strip().lower() for c in capabilities.split(",")]:
        raise SourceUnavailable(1023)
    return data


def _layer_features(client: _Client, url: str) -> tuple[str, dict[str, Any]]:
    meta = _layer_metadata(client, url)
    fields = [f for f in meta["fields"] if isinstance(f, dict) and "name" in f]
    ids_answer = client.call(
        "GET", f"{url}/query", params={"where": "1=1", "returnIdsOnly": "true", "f": "json"}
    )
    if "error" in ids_answer:
        raise SourceUnavailable(1023)
    ids = ids_answer.get("objectIds")
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise SourceUnavailable(1012)
    ids.sort()
    oid = next((f["name"] for f in fields if f.get("type") == OID_TYPE), None)
    block = max(1, min(BLOCK_SIZE, int(meta.get("maxRecordCount") or 500)))
    out_fields = ",".join(str(f["name"]) for f in fields)
    features: list[dict[str, Any]] = []
    for start in range(0, len(ids), block):
        chunk = ids[start : start + block]
        params: dict[str, Any] = {"outFields": out_fields, "outSR": 4326, "f": "json"}
        if len(chunk) > 1 and oid is not None:
            params["where"] = f"{oid} >={chunk[0]} AND {oid} <={chunk[-1]}"
        else:
            params["objectIds"] = ",".join(str(i) for i in chunk)
        answer = client.call("POST", f"{url}/query", data=params)
        if "error" in answer:
            raise SourceUnavailable(1023)
        for item in answer.get("features") or []:
            if isinstance(item, dict):
                features.append(
                    {
                        "type": "Feature",
                        "properties": item.get("attributes") or {},
                        "geometry": geojson_geometry(item.get("geometry")),
                    }
                )
    name = str(meta.get("name") or "arcgis_layer")
    return name, {"type": "FeatureCollection", "features": features}


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.") or "arcgis_layer"


def fetch_arcgis(url: str, directory: str, *, timeout: float = 120.0) -> Fetched:
    """Read an ArcGIS layer (a GeoJSON file) or a service (a zip of them) into ``directory``."""
    if not is_arcgis_url(url):
        raise SourceUnavailable(1012)
    base = url.split("?", maxsplit=1)[0].rstrip("/")
    with httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False) as http:
        client = _Client(http)
        if is_layer_url(url):
            layers = [base]
        else:
            listing = client.call("GET", f"{base}/layers", params={"f": "json"})
            found = listing.get("layers")
            if not isinstance(found, list):
                raise SourceUnavailable(1012)
            layers = [
                f"{base}/{item['id']}"
                for item in found
                if isinstance(item, dict) and item.get("type") == "Feature Layer" and "id" in item
            ]
            if not layers:
                raise SourceUnavailable(1012)
        documents = [_layer_features(client, layer) for layer in layers]
    if len(documents) == 1:
        name, document = documents[0]
        payload = json.dumps(document).encode("utf-8")
        filename = f"{_safe(name)}.geojson"
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, document in documents:
                archive.writestr(f"{_safe(name)}.geojson", json.dumps(document))
        payload = buffer.getvalue()
        filename = "arcgis_service.zip"
    fd, path = tempfile.mkstemp(prefix="arcgis-", dir=directory)
    with os.fdopen(fd, "wb") as out:
        out.write(payload)
    return Fetched(filename=filename, path=path, size=len(payload))
