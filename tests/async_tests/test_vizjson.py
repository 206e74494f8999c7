"""viz.json over a mocked wire: reading it, and drawing it as CartoDB.js's cartodb.Image does."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import respx

from carto_async import AsyncCarto, PermissionDeniedError, ValidationError
from carto_async._async.vizjson import AsyncVizJsonImage, fetch_vizjson
from carto_async.models.vizjson import VizJson
from tests.helpers import BASE_URL, KEY

# async-only:start
pytestmark = pytest.mark.anyio
# async-only:end

VIS = "2b13c956-e7c1-11e2-806b-5404a6a683d5"
VIZJSON_URL = f"{BASE_URL}/api/v3/viz/{VIS}/viz.json"
MAP_URL = f"{BASE_URL}/api/v1/map"
BASIC = "Basic " + base64.b64encode(f"demo:{KEY}".encode()).decode()
TOKEN = "c01a54877c62831bb51720263f91fb33:0"
LAYERGROUP = {"layergroupid": TOKEN, "last_updated": "1970-01-01T00:00:00.000Z"}
PNG = b"\x89PNG\r\n\x1a\n" + b"x" * 64

DOCUMENT: dict[str, Any] = {
    "version": "3.0.0",
    "id": VIS,
    "bounds": [[40.0, -4.0], [42.0, 2.0]],
    "center": "[41.0,-1.0]",
    "zoom": 6,
    "datasource": {"user_name": "demo", "maps_api_template": "https://{user}.carto.com"},
    "layers": [
        {
            "type": "tiled",
            "options": {"urlTemplate": "https://{s}.tiles.example/{z}/{x}/{y}.png"},
        },
        {
            "id": "l1",
            "type": "CartoDB",
            "visible": True,
            "options": {"sql": "select * from stores", "cartocss": "#l { marker-fill: red; }"},
        },
    ],
}


async def test_a_viz_json_is_read_by_id_with_the_key_in_the_query(carto: AsyncCarto) -> None:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.get(VIZJSON_URL).respond(json=DOCUMENT)
        vis = await fetch_vizjson(carto, VIS)
        same = await carto.visualizations.vizjson(VIS)
    assert same == vis
    assert route.call_count == 2
    assert route.calls.last.request.url.params["api_key"] == KEY
    assert vis.bbox == (-4.0, 40.0, 2.0, 42.0)
    assert [layer.sql for layer in vis.data_layers] == ["select * from stores"]


async def test_an_image_is_framed_by_the_maps_bounds(carto: AsyncCarto) -> None:
    with respx.mock(assert_all_called=True) as mock:
        mock.get(VIZJSON_URL).respond(json=DOCUMENT)
        create = mock.post(MAP_URL).respond(json=LAYERGROUP)
        image = AsyncVizJsonImage(carto, VIS).size(600, 400)
        url = await image.url()
        again = await image.format("jpg").url()
    assert url == f"{MAP_URL}/static/bbox/{TOKEN}/-4.0,40.0,2.0,42.0/600/400.png"
    assert again.endswith("/600/400.jpg")
    assert create.call_count == 1  # the viz.json and the layergroup are made once
    request = create.calls.last.request
    assert request.headers["Authorization"] == BASIC
    body = json.loads(request.content)
    assert KEY not in request.content.decode()
    assert [layer["type"] for layer in body["layers"]] == ["http", "cartodb"]
    assert body["layers"][1]["options"]["sql"] == "select * from stores"
    assert KEY not in url


async def test_override_bbox_uses_the_centre_and_zoom(carto: AsyncCarto) -> None:
    vis = VizJson.from_json(DOCUMENT)
    with respx.mock(assert_all_called=True) as mock:
        mock.post(MAP_URL).respond(json=LAYERGROUP)
        image = carto.maps.vizjson_image(vis, override_bbox=True)
        own_centre = await image.url()
        moved = await image.center(10.5, 20.25).zoom(3).url()
        zoomed_only = await AsyncVizJsonImage(carto, vis).zoom(3).url()
    assert own_centre == f"{MAP_URL}/static/center/{TOKEN}/6/41.0/-1.0/320/240.png"
    assert moved == f"{MAP_URL}/static/center/{TOKEN}/3/10.5/20.25/320/240.png"
    # As CartoDB.js: without override_bbox a zoom alone keeps the map's bounds.
    assert "/static/bbox/" in zoomed_only


async def test_a_basemap_override_replaces_the_maps_own(carto: AsyncCarto) -> None:
    vis = VizJson.from_json(DOCUMENT)
    with respx.mock(assert_all_called=True) as mock:
        create = mock.post(MAP_URL).respond(json=LAYERGROUP)
        await carto.maps.vizjson_image(vis, basemap="#202020").url()
    layers = json.loads(create.calls.last.request.content)["layers"]
    assert layers[0] == {"type": "plain", "options": {"color": "#202020"}}


async def test_fetch_and_save_get_the_image_with_the_key_in_a_header(
    carto: AsyncCarto, tmp_path: Any
) -> None:
    vis = VizJson.from_json(DOCUMENT)
    image_url = f"{MAP_URL}/static/bbox/{TOKEN}/-4.0,40.0,2.0,42.0/320/240.png"
    with respx.mock(assert_all_called=True) as mock:
        mock.post(MAP_URL).respond(json=LAYERGROUP)
        get = mock.get(image_url).respond(content=PNG, headers={"Content-Type": "image/png"})
        image = AsyncVizJsonImage(carto, vis)
        data = await image.fetch()
        saved = await image.save(tmp_path / "map.png")
    assert data == PNG
    assert (tmp_path / "map.png").read_bytes() == PNG
    assert saved.size == len(PNG)
    assert get.calls.last.request.headers["Authorization"] == BASIC
    assert "api_key" not in str(get.calls.last.request.url)


async def test_no_cdn_keeps_the_url_on_the_maps_api(carto: AsyncCarto) -> None:
    vis = VizJson.from_json(DOCUMENT)
    group = {**LAYERGROUP, "cdn_url": {"https": "cdn.example.net", "http": "cdn.example.net"}}
    with respx.mock(assert_all_called=True) as mock:
        mock.post(MAP_URL).respond(json=group)
        on_cdn = await carto.maps.vizjson_image(vis).url()
        direct = await carto.maps.vizjson_image(vis, no_cdn=True).url()
    assert on_cdn.startswith("https://cdn.example.net/demo/api/v1/map/static/bbox/")
    assert direct.startswith(f"{MAP_URL}/static/bbox/")


async def test_bad_sources_and_options_are_refused_before_sending(carto: AsyncCarto) -> None:
    with respx.mock(assert_all_called=False) as mock:
        with pytest.raises(ValidationError):
            AsyncVizJsonImage(carto, 3)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            AsyncVizJsonImage(carto, VIS, basemap="https://tiles.example/a.png")
        with pytest.raises(ValidationError):
            AsyncVizJsonImage(carto, VIS).size(9000, 10)
        with pytest.raises(ValidationError):
            await fetch_vizjson(carto, "../../etc")
    assert not mock.calls


async def test_a_viz_json_error_is_the_rails_error(carto: AsyncCarto) -> None:
    with respx.mock(assert_all_called=True) as mock:
        mock.get(VIZJSON_URL).respond(
            403, json={"errors": "Visualization not viewable", "errors_cause": None}
        )
        with pytest.raises(PermissionDeniedError, match="Visualization not viewable") as caught:
            await fetch_vizjson(carto, VIS)
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value.request)
