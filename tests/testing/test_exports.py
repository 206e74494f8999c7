"""Visualization exports on LocalCarto: states, errors, the .carto file and the round trip."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import httpx

from carto_async.testing import Clock, LocalCarto
from tests.testing.conftest import fixture, import_file, serving, sql, wait_final

CSV = "name,value,lat,lon\nalpha,1,10,20\nbeta,2,30,40\ngamma,3,50,60\n"
ROWS = "select cartodb_id, name, value, ST_AsText(the_geom) as g from stores order by 1"
UNKNOWN = "00000000-0000-0000-0000-000000000000"


def _map(server: LocalCarto, client: httpx.Client, name: str = "stores") -> dict[str, Any]:
    body = import_file(client, server.api_key, f"{name}.csv", CSV, create_vis="true")
    assert body["state"] == "complete", body
    return body


def _export(server: LocalCarto, client: httpx.Client, vis_id: str, **extra: Any) -> httpx.Response:
    return client.post(
        "/api/v3/visualization_exports",
        params={"api_key": server.api_key},
        json={"visualization_id": vis_id, **extra},
    )


def _state(server: LocalCarto, client: httpx.Client, export_id: str) -> dict[str, Any]:
    response = client.get(
        f"/api/v3/visualization_exports/{export_id}", params={"api_key": server.api_key}
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_an_export_walks_its_states_on_the_clock() -> None:
    with serving(clock=Clock(frozen=True), import_processing_time=0, export_processing_time=3) as (
        server,
        client,
    ):
        body = _map(server, client)
        created = _export(server, client, body["visualization_id"])
        assert created.status_code == 201
        export = created.json()
        assert list(export) == list(fixture("visualization_exports", "create_pending.json"))
        assert (export["state"], export["url"]) == ("pending", None)
        assert export["visualization_id"] == body["visualization_id"]
        seen = []
        for _ in range(3):
            seen.append(_state(server, client, export["id"])["state"])
            server.advance(1)
        for job in server.jobs("export"):
            server.wait_for_work(job)
        done = _state(server, client, export["id"])
        assert seen == ["pending", "exporting", "uploading"]
        assert done["state"] == "complete"
        assert done["url"] == f"/api/v3/visualization_exports/{export['id']}/download"
        assert done["updated_at"] > done["created_at"]


def _finished(server: LocalCarto, client: httpx.Client, export_id: str) -> dict[str, Any]:
    for job in server.jobs("export"):
        server.wait_for_work(job)
    for _ in range(500):
        state = _state(server, client, export_id)
        if state["state"] in ("complete", "failure"):
            return state
        server.advance(0.05)
    raise AssertionError("export never finished")


def test_the_file_is_a_zip_with_the_map_and_its_rows() -> None:
    with serving(import_processing_time=0, export_processing_time=0) as (server, client):
        body = _map(server, client)
        export = _finished(
            server, client, _export(server, client, body["visualization_id"]).json()["id"]
        )
        url = export["url"]
        unauthorised = client.get(url)
        assert unauthorised.status_code == 403
        assert unauthorised.json() == {
            "errors": "You don't have permission to access that resource",
            "errors_cause": None,
        }
        download = client.get(url, params={"api_key": server.api_key})
        assert download.status_code == 200
        assert download.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
            names = sorted(archive.namelist())
            assert names == ["stores.carto.json", "stores.geojson"]
            document = json.loads(archive.read("stores.carto.json"))
            rows = json.loads(archive.read("stores.geojson"))
        assert document["visualization"]["name"] == "stores"
        assert [d["name"] for d in document["datasets"]] == ["stores"]
        assert [f["properties"]["name"] for f in rows["features"]] == ["alpha", "beta", "gamma"]
        assert rows["features"][0]["geometry"] == {"type": "Point", "coordinates": [20, 10]}


def test_errors_with_the_server_words() -> None:
    with serving(import_processing_time=0, export_processing_time=0) as (server, client):
        body = _map(server, client)
        missing = _export(server, client, UNKNOWN)
        assert missing.status_code == 404
        assert missing.json() == {
            "errors": f"Visualization not found: {UNKNOWN}",
            "errors_cause": None,
        }
        table = client.get(
            f"/api/v1/tables/{body['table_id']}", params={"api_key": server.api_key}
        ).json()
        dataset = _export(server, client, table["table_visualization"]["id"])
        assert dataset.status_code == 422
        assert dataset.json()["errors"] == (
            'Errors: ["Visualization Only derived visualizations can be exported"]'
        )
        unrelated = _export(server, client, body["visualization_id"], user_tables_ids=UNKNOWN)
        assert unrelated.status_code == 422
        assert f"User table {UNKNOWN} is not related" in unrelated.json()["errors"]
        anonymous = client.post(
            "/api/v3/visualization_exports", json={"visualization_id": body["visualization_id"]}
        )
        assert anonymous.status_code == 403
        assert anonymous.json()["errors"].startswith("Errors: [")
        unknown = client.get(f"/api/v3/visualization_exports/{UNKNOWN}")
        assert unknown.status_code == 404
        assert unknown.json()["errors"] == f"Visualization export not found: {UNKNOWN}"
        export = _export(server, client, body["visualization_id"]).json()
        other = client.get(f"/api/v3/visualization_exports/{export['id']}")
        assert other.status_code == 403
        for response in (missing, dataset, unrelated, anonymous, other):
            assert server.api_key not in response.text


def test_round_trip_export_delete_reimport_finds_the_same_map_and_rows() -> None:
    with serving(import_processing_time=0, export_processing_time=0) as (server, client):
        key = {"api_key": server.api_key}
        body = _map(server, client)
        sql(client, server.api_key, "update stores set value = 42 where name = 'beta'")
        before = sql(
            client,
            server.api_key,
            ROWS,
        ).json()["rows"]
        original = client.get(f"/api/v1/viz/{body['visualization_id']}", params=key).json()
        export = _finished(
            server, client, _export(server, client, body["visualization_id"]).json()["id"]
        )
        carto_file = client.get(export["url"], params=key).content
        # Delete the map, then the dataset (which drops the table).
        assert (
            client.delete(f"/api/v1/viz/{body['visualization_id']}", params=key).status_code == 204
        )
        page = original["related_tables"][0]
        table = client.get(f"/api/v1/tables/{page['id']}", params=key).json()
        dataset_id = table["table_visualization"]["id"]
        assert client.delete(f"/api/v1/viz/{dataset_id}", params=key).status_code == 204
        assert server.tables() == []
        # Re-import the file through the Import API.
        uploaded = client.post(
            "/api/v1/imports",
            params=key,
            files={"file": ("map.carto", carto_file, "application/zip")},
        )
        assert uploaded.status_code == 200, uploaded.text
        job = wait_final(client, uploaded.json()["item_queue_id"], server.api_key)
        assert (job["state"], job["table_name"], job["tables_created_count"]) == (
            "complete",
            "stores",
            1,
        )
        assert server.tables() == ["stores"]
        after = sql(
            client,
            server.api_key,
            ROWS,
        ).json()["rows"]
        assert after == before
        maps = client.get("/api/v1/viz", params={**key, "type": "derived"}).json()["visualizations"]
        assert [m["name"] for m in maps] == ["stores"]
        restored = maps[0]
        assert restored["id"] == job["visualization_id"]
        assert restored["layers"] == original["layers"]
        assert restored["privacy"] == original["privacy"]


def test_reimporting_next_to_the_original_renames_tables_and_layers() -> None:
    with serving(import_processing_time=0, export_processing_time=0) as (server, client):
        key = {"api_key": server.api_key}
        body = _map(server, client)
        export = _finished(
            server, client, _export(server, client, body["visualization_id"]).json()["id"]
        )
        carto_file = client.get(export["url"], params=key).content
        uploaded = client.post(
            "/api/v1/imports",
            params=key,
            files={"file": ("map.carto", carto_file, "application/zip")},
        )
        job = wait_final(client, uploaded.json()["item_queue_id"], server.api_key)
        assert job["table_name"] == "stores_1"
        copy = client.get(f"/api/v1/viz/{job['visualization_id']}", params=key).json()
        carto = [layer for layer in copy["layers"] if layer["kind"] == "carto"]
        assert carto[0]["options"]["sql"] == "select * from stores_1"
        assert carto[0]["options"]["table_name"] == "stores_1"


def test_a_file_that_is_not_a_carto_export_fails_the_import() -> None:
    with serving(import_processing_time=0) as (server, client):
        uploaded = client.post(
            "/api/v1/imports",
            params={"api_key": server.api_key},
            files={"file": ("map.carto", b"not a zip", "application/zip")},
        )
        job = wait_final(client, uploaded.json()["item_queue_id"], server.api_key)
        assert (job["state"], job["error_code"]) == ("failure", 1002)


def test_a_failed_export_has_no_url_and_no_file() -> None:
    with serving(import_processing_time=0, export_processing_time=0) as (server, client):
        body = _map(server, client)
        server.faults.fail_jobs(99999, "export")
        export = _export(server, client, body["visualization_id"]).json()
        assert export["state"] == "failure"
        shown = _state(server, client, export["id"])
        assert (shown["state"], shown["url"]) == ("failure", None)
        download = client.get(
            f"/api/v3/visualization_exports/{export['id']}/download",
            params={"api_key": server.api_key},
        )
        assert download.status_code == 404


def test_a_carto_file_whose_dataset_unpacks_too_big_fails_with_6666(tmp_path: Path) -> None:
    document = {
        "version": "2.1.1",
        "visualization": {"name": "big", "layers": []},
        "datasets": [{"name": "big", "file": "big.geojson"}],
    }
    path = tmp_path / "big.carto"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.carto.json", json.dumps(document))
        archive.writestr("big.geojson", " " * 200_000)
    with serving(import_processing_time=0, max_file_size=100_000) as (server, client):
        uploaded = client.post(
            "/api/v1/imports",
            params={"api_key": server.api_key},
            files={"file": ("big.carto", path.read_bytes(), "application/zip")},
        )
        job = wait_final(client, uploaded.json()["item_queue_id"], server.api_key)
        assert (job["state"], job["error_code"]) == ("failure", 6666)
        assert server.tables() == []
        assert server.visualizations.find() == []


def test_anyone_may_export_a_public_map() -> None:
    with serving(import_processing_time=0, export_processing_time=0) as (server, client):
        body = _map(server, client)
        vis_id = body["visualization_id"]
        made_public = client.put(
            f"/api/v1/viz/{vis_id}", params={"api_key": server.api_key}, json={"privacy": "public"}
        )
        assert made_public.status_code == 200
        created = client.post("/api/v3/visualization_exports", json={"visualization_id": vis_id})
        assert created.status_code == 201, created.text
        export = created.json()
        assert export["user_id"] is None
        for job in server.jobs("export"):
            server.wait_for_work(job)
        shown = client.get(f"/api/v3/visualization_exports/{export['id']}").json()
        assert shown["state"] == "complete"
        download = client.get(shown["url"])
        assert download.status_code == 200
        assert zipfile.ZipFile(io.BytesIO(download.content)).namelist() == [
            "stores.geojson",
            "stores.carto.json",
        ]
        wrong_key = client.post(
            "/api/v3/visualization_exports",
            params={"api_key": "wrong"},
            json={"visualization_id": vis_id},
        )
        assert (wrong_key.status_code, wrong_key.content) == (401, b"")


def test_user_tables_ids_pick_the_datasets_to_export() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("north.csv", CSV)
        archive.writestr("south.csv", CSV)
    with serving(import_processing_time=0, export_processing_time=0) as (server, client):
        key = {"api_key": server.api_key}
        uploaded = client.post(
            "/api/v1/imports",
            params={**key, "create_vis": "true"},
            files={"file": ("regions.zip", buffer.getvalue(), "application/zip")},
        )
        body = wait_final(client, uploaded.json()["item_queue_id"], server.api_key)
        assert body["tables_created_count"] == 2
        shown = client.get(f"/api/v1/viz/{body['visualization_id']}", params=key).json()
        tables = {t["name"]: t["id"] for t in shown["related_tables"]}
        assert sorted(tables) == ["north", "south"]
        created = _export(server, client, body["visualization_id"], user_tables_ids=tables["south"])
        assert created.status_code == 201
        export = _finished(server, client, created.json()["id"])
        data = client.get(export["url"], params=key).content
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert "south.geojson" in archive.namelist()
            assert "north.geojson" not in archive.namelist()
