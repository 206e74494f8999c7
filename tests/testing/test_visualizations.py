"""Maps and dataset pages on LocalCarto: create_vis, /api/v1/viz, /api/v1/tables/:id."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from carto_async.testing import LocalCarto
from carto_async.testing._visualizations import DEFAULT_CARTOCSS
from tests.testing.conftest import import_file, serving

CSV = "name,lat,lon\nalpha,1,2\nbeta,3,4\n"


@pytest.fixture
def viz() -> Iterator[tuple[LocalCarto, httpx.Client]]:
    """A server with a fast import clock."""
    with serving(import_processing_time=0) as running:
        yield running


def _get(server: LocalCarto, client: httpx.Client, path: str, **params: Any) -> Any:
    response = client.get(path, params={"api_key": server.api_key, **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_create_vis_makes_a_derived_map_of_the_imported_table(
    viz: tuple[LocalCarto, httpx.Client],
) -> None:
    server, client = viz
    body = import_file(client, server.api_key, "stores.csv", CSV, create_vis="true")
    assert body["state"] == "complete"
    vis_id = body["visualization_id"]
    assert vis_id is not None
    assert body["derived_visualization_id"] == vis_id
    shown = _get(server, client, f"/api/v1/viz/{vis_id}")
    assert (shown["id"], shown["name"], shown["type"], shown["privacy"]) == (
        vis_id,
        "stores",
        "derived",
        "PRIVATE",
    )
    carto = [layer for layer in shown["layers"] if layer["kind"] == "carto"]
    assert len(carto) == 1
    assert carto[0]["options"]["sql"] == "select * from stores"
    assert carto[0]["options"]["cartocss"] == DEFAULT_CARTOCSS
    assert [t["name"] for t in shown["related_tables"]] == ["stores"]
    assert shown["related_tables"][0]["row_count"] == 2


def test_an_import_without_create_vis_makes_no_map(
    viz: tuple[LocalCarto, httpx.Client],
) -> None:
    server, client = viz
    body = import_file(client, server.api_key, "stores.csv", CSV)
    assert body["visualization_id"] is None
    derived = _get(server, client, "/api/v1/viz", type="derived")
    assert derived["visualizations"] == []
    assert derived["total_entries"] == 0


def test_list_filters_by_type_and_pages(viz: tuple[LocalCarto, httpx.Client]) -> None:
    server, client = viz
    for name in ("a", "b", "c"):
        import_file(client, server.api_key, f"{name}.csv", CSV, create_vis="true")
    tables = _get(server, client, "/api/v1/viz", type="table")
    assert sorted(v["name"] for v in tables["visualizations"]) == ["a", "b", "c"]
    assert {v["type"] for v in tables["visualizations"]} == {"table"}
    assert tables["visualizations"][0]["table"]["name"] in ("a", "b", "c")
    everything = _get(server, client, "/api/v1/viz")
    assert everything["total_entries"] == 6
    page = _get(server, client, "/api/v1/viz", type="derived", per_page=2, page=2)
    assert (len(page["visualizations"]), page["total_entries"]) == (1, 3)
    both = _get(server, client, "/api/v1/viz", types="derived,table")
    assert both["total_entries"] == 6


def test_table_endpoint_has_its_table_visualization(viz: tuple[LocalCarto, httpx.Client]) -> None:
    server, client = viz
    body = import_file(client, server.api_key, "stores.csv", CSV, create_vis="true")
    table = _get(server, client, f"/api/v1/tables/{body['table_id']}")
    assert (table["id"], table["name"], table["row_count"]) == (body["table_id"], "stores", 2)
    page = table["table_visualization"]
    assert (page["type"], page["name"]) == ("table", "stores")
    assert [d["id"] for d in table["dependent_visualizations"]] == [body["visualization_id"]]
    # The same ids come back every time, and through the dataset page.
    assert _get(server, client, f"/api/v1/tables/{body['table_id']}")["id"] == body["table_id"]
    dataset = _get(server, client, f"/api/v1/viz/{page['id']}", with_dependent_visualizations=1)
    assert dataset["table"]["id"] == body["table_id"]
    assert dataset["dependent_visualizations_count"] == 1


def test_deleting_a_map_keeps_its_table_deleting_a_dataset_drops_both(
    viz: tuple[LocalCarto, httpx.Client],
) -> None:
    server, client = viz
    key = {"api_key": server.api_key}
    first = import_file(client, server.api_key, "stores.csv", CSV, create_vis="true")
    deleted = client.delete(f"/api/v1/viz/{first['visualization_id']}", params=key)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert server.tables() == ["stores"]
    again = client.get(f"/api/v1/viz/{first['visualization_id']}", params=key)
    assert again.status_code == 404
    assert again.json() == {"errors": "Visualization does not exist", "errors_cause": None}
    second = import_file(client, server.api_key, "shops.csv", CSV, create_vis="true")
    page = _get(server, client, f"/api/v1/tables/{second['table_id']}")["table_visualization"]
    assert client.delete(f"/api/v1/viz/{page['id']}", params=key).status_code == 204
    assert server.tables() == ["stores"]
    assert client.get(f"/api/v1/viz/{second['visualization_id']}", params=key).status_code == 404
    assert client.get(f"/api/v1/tables/{second['table_id']}", params=key).status_code == 404


def test_a_table_dropped_through_sql_leaves_the_listing(
    viz: tuple[LocalCarto, httpx.Client],
) -> None:
    server, client = viz
    import_file(client, server.api_key, "stores.csv", CSV)
    assert _get(server, client, "/api/v1/viz", type="table")["total_entries"] == 1
    dropped = client.post(
        "/api/v2/sql", params={"api_key": server.api_key, "q": "drop table stores"}
    )
    assert dropped.status_code == 200, dropped.text
    assert _get(server, client, "/api/v1/viz", type="table")["total_entries"] == 0


def test_the_viz_api_needs_the_master_key(viz: tuple[LocalCarto, httpx.Client]) -> None:
    server, client = viz
    for key in (None, server.regular_api_key, "wrong"):
        params = {} if key is None else {"api_key": key}
        for method, path in [
            ("GET", "/api/v1/viz"),
            ("GET", "/api/v1/viz/x"),
            ("DELETE", "/api/v1/viz/x"),
            ("GET", "/api/v1/tables/x"),
        ]:
            response = client.request(method, path, params=params)
            assert (response.status_code, response.content) == (401, b""), (method, path)


def test_put_changes_a_maps_name_privacy_description_and_tags(
    viz: tuple[LocalCarto, httpx.Client],
) -> None:
    server, client = viz
    key = {"api_key": server.api_key}
    body = import_file(client, server.api_key, "stores.csv", CSV, create_vis="true")
    path = f"/api/v1/viz/{body['visualization_id']}"
    changed = client.put(
        path,
        params=key,
        json={"name": "Stores map", "privacy": "PUBLIC", "description": "d", "tags": ["a"]},
    )
    assert changed.status_code == 200, changed.text
    shown = _get(server, client, path)
    assert (shown["name"], shown["privacy"], shown["description"], shown["tags"]) == (
        "Stores map",
        "PUBLIC",
        "d",
        ["a"],
    )
    bad = client.put(path, params=key, json={"privacy": "secret"})
    assert bad.status_code == 400
    assert bad.json() == {"errors": "Invalid privacy: secret", "errors_cause": None}
    assert client.put(path, params=key, json={"tags": "a"}).status_code == 400
    assert client.put(path, json={"name": "x"}).status_code == 401
    assert _get(server, client, path)["name"] == "Stores map"
