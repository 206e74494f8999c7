"""LocalCarto serves the viz.json of its maps (v2 and v3), in the shape CartoDB.js reads."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from carto_async.models.vizjson import BaseLayer, VizJson
from carto_async.testing import LocalCarto
from carto_async.testing._http.vizjson import map_framing
from carto_async.testing._visualizations import DEFAULT_CARTOCSS, Visualization
from tests.testing.conftest import import_file, serving

CSV = "name,lat,lon\nalpha,40,-4\nbeta,42,2\n"


@pytest.fixture
def viz() -> Iterator[tuple[LocalCarto, httpx.Client]]:
    """A server with a fast import clock."""
    with serving(import_processing_time=0) as running:
        yield running


def _map(server: LocalCarto, client: httpx.Client, privacy: str = "private") -> str:
    body = import_file(client, server.api_key, "stores.csv", CSV, create_vis="true")
    vis_id = str(body["visualization_id"])
    if privacy != "private":
        response = client.put(
            f"/api/v1/viz/{vis_id}", params={"api_key": server.api_key}, json={"privacy": privacy}
        )
        assert response.status_code == 200, response.text
    return vis_id


def test_v3_viz_json_has_the_basemap_the_data_layer_and_bounds_from_the_data(
    viz: tuple[LocalCarto, httpx.Client],
) -> None:
    server, client = viz
    vis_id = _map(server, client)
    response = client.get(f"/api/v3/viz/{vis_id}/viz.json", params={"api_key": server.api_key})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == "3.0.0"
    assert body["id"] == vis_id
    assert body["bounds"] == [[40.0, -4.0], [42.0, 2.0]]
    assert body["center"] == "[41.0,-1.0]"
    # CARTO's zoom for a 6 degree wide extent: round(log2(360 / 6)) = 6.
    assert body["zoom"] == 6
    assert body["datasource"]["user_name"] == server.username
    assert body["datasource"]["maps_api_template"].endswith("/user/{user}")
    base, data = body["layers"]
    assert base["type"] == "tiled"
    assert "{z}" in base["options"]["urlTemplate"]
    assert data["type"] == "CartoDB"
    assert data["options"]["sql"] == "select * from stores"
    assert data["options"]["cartocss"] == DEFAULT_CARTOCSS
    assert data["visible"] is True
    assert "infowindow" in data
    assert "tooltip" in data


def test_v2_viz_json_puts_the_data_layers_in_a_layergroup(
    viz: tuple[LocalCarto, httpx.Client],
) -> None:
    server, client = viz
    vis_id = _map(server, client)
    response = client.get(f"/api/v2/viz/{vis_id}/viz.json", params={"api_key": server.api_key})
    body = response.json()
    assert body["version"] == "0.1.0"
    base, group = body["layers"]
    assert base["type"] == "tiled"
    assert group["type"] == "layergroup"
    sublayer = group["options"]["layer_definition"]["layers"][0]
    assert sublayer["type"] == "CartoDB"
    assert sublayer["options"]["sql"] == "select * from stores"
    assert sublayer["options"]["interactivity"] == "cartodb_id"
    assert group["options"]["user_name"] == server.username


def test_both_versions_read_into_the_same_model(viz: tuple[LocalCarto, httpx.Client]) -> None:
    server, client = viz
    vis_id = _map(server, client)
    payloads = [
        client.get(f"/api/v{v}/viz/{vis_id}/viz.json", params={"api_key": server.api_key}).json()
        for v in (2, 3)
    ]
    models = [VizJson.from_json(payload) for payload in payloads]
    for model in models:
        assert isinstance(model.basemap, BaseLayer)
        assert [layer.sql for layer in model.data_layers] == ["select * from stores"]
        assert model.bbox == (-4.0, 40.0, 2.0, 42.0)
        assert model.user_name == server.username
        assert model.to_json() == payloads[models.index(model)]


def test_a_private_map_needs_the_owners_master_key(viz: tuple[LocalCarto, httpx.Client]) -> None:
    server, client = viz
    vis_id = _map(server, client)
    anonymous = client.get(f"/api/v3/viz/{vis_id}/viz.json")
    assert anonymous.status_code == 403
    assert anonymous.json()["errors"] == "Visualization not viewable"
    assert "Cache-Control" not in anonymous.headers or "public" not in anonymous.headers.get(
        "Cache-Control", ""
    )


def test_a_public_map_is_served_to_anyone_with_cache_headers(
    viz: tuple[LocalCarto, httpx.Client],
) -> None:
    server, client = viz
    vis_id = _map(server, client, privacy="public")
    response = client.get(f"/api/v2/viz/{vis_id}/viz.json")
    assert response.status_code == 200
    assert "public" in response.headers["Cache-Control"]


def test_unknown_maps_and_other_users_are_404(viz: tuple[LocalCarto, httpx.Client]) -> None:
    server, client = viz
    vis_id = _map(server, client, privacy="public")
    missing = client.get("/api/v3/viz/00000000-0000-0000-0000-000000000000/viz.json")
    assert (missing.status_code, missing.json()["errors"]) == (404, "Visualization does not exist")
    root = server.base_url.rsplit("/user/", 1)[0]
    other = httpx.get(f"{root}/user/someone/api/v3/viz/{vis_id}/viz.json", timeout=10)
    assert other.status_code == 404
    assert other.json()["errors"] == "Visualization of that user does not exist"


def test_jsonp_callback_wraps_the_viz_json(viz: tuple[LocalCarto, httpx.Client]) -> None:
    server, client = viz
    vis_id = _map(server, client, privacy="public")
    response = client.get(f"/api/v3/viz/{vis_id}/viz.json", params={"callback": "cb"})
    assert response.text.startswith("/**/cb(")
    assert response.headers["content-type"].startswith("text/javascript")


def test_a_map_without_data_frames_the_world_as_carto_does() -> None:
    class NoData:
        def execute(self, sql: str) -> object:
            raise RuntimeError("no such table")

    class Ctx:
        db = NoData()

    vis = Visualization(
        id="v",
        name="m",
        type="derived",
        privacy="public",
        tables=["gone"],
        layers=[],
        created_at=0.0,
        updated_at=0.0,
    )
    bounds, center, zoom = map_framing(Ctx(), vis)  # type: ignore[arg-type]
    assert bounds == [[-85.0511, -179.0], [85.0511, 179.0]]
    assert (center, zoom) == ("[30, 0]", 3)
