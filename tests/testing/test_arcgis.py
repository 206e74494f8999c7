"""The fake ArcGIS REST server and the ArcGIS connector, end to end over loopback."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from carto_async.testing import LocalCarto
from carto_async.testing._arcgis import esri_geometry, geojson_geometry, is_layer_url
from tests.testing.conftest import import_file, serving, sql, wait_final

POINTS = "name,value,lat,lon\n" + "".join(f"p{i},{i},{i % 80},{i % 170}\n" for i in range(1, 251))
POLYGONS = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": "square"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[0, 0], [0, 10], [10, 10], [10, 0], [0, 0]]],
            },
        },
        {
            "type": "Feature",
            "properties": {"name": "two"},
            "geometry": {
                "type": "MultiPolygon",
                "coordinates": [
                    [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]],
                    [[[5, 5], [6, 5], [6, 6], [5, 6], [5, 5]]],
                ],
            },
        },
    ],
}


@pytest.fixture
def arcgis() -> Iterator[tuple[LocalCarto, httpx.Client]]:
    """A server holding a 250-point table ``points``."""
    with serving(import_processing_time=0) as (server, client):
        body = import_file(client, server.api_key, "points.csv", POINTS)
        assert body["state"] == "complete", body
        yield server, client


def _arcgis_import(server: LocalCarto, client: httpx.Client, item: str) -> dict[str, Any]:
    response = client.post(
        "/api/v1/imports",
        params={"api_key": server.api_key},
        json={"service_name": "arcgis", "service_item_id": item},
    )
    assert response.status_code == 200, response.text
    return wait_final(client, response.json()["item_queue_id"], server.api_key)


def _queries(server: LocalCarto) -> Counter[str]:
    counted: Counter[str] = Counter()
    for key, count in server.counters.requests.items():
        method, _, template = key.partition(" ")
        if template.endswith("/query"):
            counted[method] += count
    return counted


def test_metadata_describes_the_table_as_a_feature_layer(
    arcgis: tuple[LocalCarto, httpx.Client],
) -> None:
    server, client = arcgis
    layer = client.get(server.arcgis_url("points"), params={"f": "json"}).json()
    assert (layer["type"], layer["name"], layer["geometryType"]) == (
        "Feature Layer",
        "points",
        "esriGeometryPoint",
    )
    fields = {f["name"]: f["type"] for f in layer["fields"]}
    assert fields["cartodb_id"] == "esriFieldTypeOID"
    assert fields["name"] == "esriFieldTypeString"
    assert "Query" in layer["capabilities"]
    service = client.get(server.arcgis_url("points", layer=None), params={"f": "json"}).json()
    assert [item["name"] for item in service["layers"]] == ["points"]
    missing = client.get(server.arcgis_url("nope"), params={"f": "json"}).json()
    assert missing["error"]["code"] == 404


def test_query_pages_ids_ranges_and_offsets(arcgis: tuple[LocalCarto, httpx.Client]) -> None:
    server, client = arcgis
    query = server.arcgis_url("points") + "/query"
    ids = client.get(query, params={"where": "1=1", "returnIdsOnly": "true", "f": "json"}).json()
    assert ids["objectIds"] == list(range(1, 251))
    block = client.post(
        query,
        data={
            "where": "cartodb_id >=101 AND cartodb_id <=200",
            "outFields": "cartodb_id,name",
            "outSR": "4326",
            "f": "json",
        },
    ).json()
    assert len(block["features"]) == 100
    first = block["features"][0]
    assert first["attributes"] == {"cartodb_id": 101, "name": "p101"}
    assert first["geometry"] == {"x": 101 % 170, "y": 101 % 80}
    server.arcgis.max_record_count = 100
    page = client.get(query, params={"resultOffset": 200, "resultRecordCount": 500}).json()
    assert [f["attributes"]["cartodb_id"] for f in page["features"]] == list(range(201, 251))
    assert page["exceededTransferLimit"] is False
    capped = client.get(query, params={"where": "1=1"}).json()
    assert (len(capped["features"]), capped["exceededTransferLimit"]) == (100, True)
    one = client.get(query, params={"objectIds": "7", "outFields": "*"}).json()
    assert [f["attributes"]["name"] for f in one["features"]] == ["p7"]
    assert client.get(query, params={"where": "drop table"}).json()["error"]["code"] == 400
    huge = {"where": "cartodb_id >=1 AND cartodb_id <=99999999999999999999999"}
    assert client.get(query, params=huge).json()["error"]["code"] == 400
    many = {"objectIds": ",".join(str(i) for i in range(2000))}
    assert client.post(query, data=many).json()["error"]["code"] == 400
    counted = client.get(query, params={"returnCountOnly": "true", "where": "1=1"}).json()
    assert counted == {"count": 250}


def test_layer_import_reads_every_feature_in_blocks(
    arcgis: tuple[LocalCarto, httpx.Client],
) -> None:
    server, client = arcgis
    before = _queries(server)
    body = _arcgis_import(server, client, server.arcgis_url("points"))
    assert (body["state"], body["table_name"], body["error_code"]) == (
        "complete",
        "points_1",
        None,
    )
    rows = sql(client, server.api_key, "select count(*) as n, sum(value) as s from points_1")
    assert rows.json()["rows"] == [{"n": 250, "s": sum(range(1, 251))}]
    # The ids in one GET, then 250 features in blocks of 100: three POSTs.
    assert _queries(server) - before == {"GET": 1, "POST": 3}
    same = sql(
        client,
        server.api_key,
        "select count(*) as n from points a join points_1 b on a.cartodb_id = b.cartodb_id"
        " where ST_AsText(a.the_geom) = ST_AsText(b.the_geom)",
    )
    assert same.json()["rows"] == [{"n": 250}]


def test_service_import_imports_its_layers(arcgis: tuple[LocalCarto, httpx.Client]) -> None:
    server, client = arcgis
    body = _arcgis_import(server, client, server.arcgis_url("points", layer=None))
    assert (body["state"], body["tables_created_count"]) == ("complete", 1)
    assert body["table_name"] == "points_1"


def test_polygons_survive_the_esri_round_trip() -> None:
    for feature in POLYGONS["features"]:
        shape: Any = feature["geometry"]
        back = geojson_geometry(esri_geometry(shape))
        assert back is not None
        assert back["type"] == shape["type"]
    line = {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}
    assert geojson_geometry(esri_geometry(line)) == line
    assert is_layer_url("http://h/arcgis/rest/services/a/b/FeatureServer/3")
    assert not is_layer_url("http://h/arcgis/rest/services/a/b/FeatureServer/")


def test_polygon_layers_import(arcgis: tuple[LocalCarto, httpx.Client]) -> None:
    server, client = arcgis
    body = import_file(client, server.api_key, "areas.geojson", json.dumps(POLYGONS))
    assert body["state"] == "complete"
    got = _arcgis_import(server, client, server.arcgis_url("areas"))
    assert got["state"] == "complete", got
    shape = (
        "select name, ST_GeometryType(the_geom) as kind, ST_NPoints(the_geom) as points,"
        " ST_XMin(the_geom) as x0, ST_XMax(the_geom) as x1, ST_YMin(the_geom) as y0,"
        " ST_YMax(the_geom) as y1 from {} order by name"
    )
    original = sql(client, server.api_key, shape.format("areas")).json()["rows"]
    copied = sql(client, server.api_key, shape.format("areas_1")).json()["rows"]
    assert copied == original
    assert [r["kind"] for r in copied] == ["ST_Polygon", "ST_MultiPolygon"]


@pytest.mark.parametrize(
    ("setup", "url", "code"),
    [
        ({}, "{root}/some/file.csv", 1012),
        ({"capabilities": "Map"}, "{layer}", 1023),
        ({"current_version": 10.0}, "{layer}", 1013),
        ({}, "{base}/api/arcgis/rest/services/x/nope/FeatureServer/0", 1012),
        ({}, "http://example.com/arcgis/rest/services/a/b/FeatureServer/0", 1011),
    ],
)
def test_connector_errors(
    arcgis: tuple[LocalCarto, httpx.Client], setup: dict[str, Any], url: str, code: int
) -> None:
    server, client = arcgis
    for name, value in setup.items():
        setattr(server.arcgis, name, value)
    item = url.format(root=server.root_url, base=server.base_url, layer=server.arcgis_url("points"))
    body = _arcgis_import(server, client, item)
    assert (body["state"], body["error_code"]) == ("failure", code)


def test_no_query_capability_answers_an_arcgis_error(
    arcgis: tuple[LocalCarto, httpx.Client],
) -> None:
    server, client = arcgis
    server.arcgis.capabilities = "Map"
    answer = client.get(server.arcgis_url("points") + "/query", params={"where": "1=1"})
    assert answer.status_code == 200
    assert answer.json()["error"]["message"].startswith("Requested operation is not supported")


def test_arcgis_sync_runs_end_to_end(arcgis: tuple[LocalCarto, httpx.Client]) -> None:
    server, client = arcgis
    response = client.post(
        "/api/v1/synchronizations",
        params={"api_key": server.api_key},
        json={
            "service_name": "arcgis",
            "service_item_id": server.arcgis_url("points"),
            "url": "",
            "interval": "604800",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["service_name"], body["interval"], body["state"]) == ("arcgis", 604800, "queued")
    wait_final(client, body["data_import"]["item_queue_id"], server.api_key)
    shown = client.get(
        f"/api/v1/synchronizations/{body['id']}", params={"api_key": server.api_key}
    ).json()
    assert (shown["state"], shown["name"]) == ("success", "points_1")
    rows = sql(client, server.api_key, "select count(*) as n from points_1").json()["rows"]
    assert rows == [{"n": 250}]
