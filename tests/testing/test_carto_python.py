"""The official carto-python SDK, unmodified, against LocalCarto.

carto-python warns (UserWarning) whenever a base URL is not https; LocalCarto serves plain
http on loopback, so that one warning is ignored by message in these tests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from carto.api_keys import APIKeyManager
from carto.auth import APIKeyAuthClient
from carto.datasets import DatasetManager
from carto.exceptions import CartoException, CartoRateLimitException
from carto.file_import import FileImportJob, FileImportJobManager
from carto.sql import SQLClient
from carto.sync_tables import SyncTableJobManager
from carto.visualizations import VisualizationManager

from carto_async.testing import LocalCarto, RateLimit
from tests.testing.conftest import FileServer

pytestmark = pytest.mark.filterwarnings("ignore:You are using unencrypted API key:UserWarning")

CSV = "name,value\nalpha,1\nbeta,2\ngamma,3\n"


@pytest.fixture
def auth(server: LocalCarto) -> Iterator[APIKeyAuthClient]:
    # carto-python parses the user from "/user/<name>/"; the trailing slash matters for urljoin.
    client = APIKeyAuthClient(server.base_url + "/", server.api_key)
    assert client.username == "demo"
    try:
        yield client
    finally:
        client.session.close()


def _wait(job: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    job.refresh()
    while job.state not in ("complete", "failure"):
        assert time.monotonic() < deadline, job.state
        time.sleep(0.02)
        job.refresh()


def test_file_import_with_polling_then_sql_sees_the_rows(
    server: LocalCarto, auth: APIKeyAuthClient, tmp_path: Path
) -> None:
    path = tmp_path / "cp_stores.csv"
    path.write_text(CSV)
    with path.open("rb") as archive:
        job = FileImportJob(archive, auth)
        job.run(type_guessing="true")
    assert job.success is True
    assert job.item_queue_id
    _wait(job)
    assert (job.state, job.success, job.table_name, job.error_code) == (
        "complete",
        True,
        "cp_stores",
        None,
    )
    assert job.display_name == "cp_stores.csv"
    assert job.user_defined_limits == '{"twitter_credits_limit":0}'
    result = SQLClient(auth).send("select name, value from cp_stores order by name")
    assert result["total_rows"] == 3
    assert [row["name"] for row in result["rows"]] == ["alpha", "beta", "gamma"]
    assert server.counters.jobs_created == 1


def test_failed_import_reports_code_and_text(auth: APIKeyAuthClient, tmp_path: Path) -> None:
    path = tmp_path / "streets.cpg"
    path.write_text("UTF-8")
    with path.open("rb") as archive:
        job = FileImportJob(archive, auth)
        job.run()
    _wait(job)
    assert (job.state, job.success, job.error_code) == ("failure", False, 1002)


def test_url_import_and_listing_imports(
    server: LocalCarto, auth: APIKeyAuthClient, file_server: FileServer
) -> None:
    url = file_server.add("/remote.csv", CSV)
    job = FileImportJob(url, auth)
    job.run()
    listed = FileImportJobManager(auth).filter()
    assert [j.item_queue_id for j in listed] in ([job.item_queue_id], [])
    _wait(job)
    assert (job.state, job.table_name) == ("complete", "remote")


def test_sql_client_get_and_errors(server: LocalCarto, auth: APIKeyAuthClient) -> None:
    sql = SQLClient(auth)
    assert sql.send("select 1 as one", do_post=False)["rows"] == [{"one": 1}]
    with pytest.raises(CartoException):
        sql.send("select * from no_such_table")


def test_sql_client_sees_rate_limits(server: LocalCarto, auth: APIKeyAuthClient) -> None:
    server.faults.rate_limit("sql", RateLimit(1, period=60.0, burst=0))
    sql = SQLClient(auth)
    sql.send("select 1")
    with pytest.raises(CartoRateLimitException) as caught:
        sql.send("select 1")
    assert (caught.value.limit, caught.value.remaining) == (1, 0)
    assert caught.value.retry_after >= 1


# -- sync tables, datasets, visualizations and exports (issue 11) ----------------------------

_NON_PUBLIC = pytest.mark.filterwarnings(
    "ignore:This is part of a non-public CARTO API:FutureWarning"
)


@pytest.fixture
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """carto-python sleeps 5-10 s between polls; the module constants say how long."""
    import carto.datasets  # noqa: PLC0415 - patched, not used
    import carto.visualizations  # noqa: PLC0415 - patched, not used

    monkeypatch.setattr(carto.datasets, "INTERVAL_BETWEEN_RETRIES_S", 0.02)
    monkeypatch.setattr(carto.visualizations, "INTERVAL_BETWEEN_RETRIES_S", 0.02)


def test_sync_table_manager_creates_lists_refreshes_and_deletes(
    server: LocalCarto, auth: APIKeyAuthClient, file_server: FileServer
) -> None:
    url = file_server.add("/synced.csv", CSV)
    job = SyncTableJobManager(auth).create(url, 900)
    assert job.id
    assert (job.state, job.interval, job.url) == ("queued", 900, url)
    deadline = time.monotonic() + 10
    while job.state in ("created", "queued", "syncing"):
        assert time.monotonic() < deadline, job.state
        time.sleep(0.02)
        job.refresh()
    assert (job.state, job.name, job.retried_times) == ("success", "synced", 0)
    assert job.ran_at is not None
    # The manager's all()/get() build SyncTableJob(client) and skip it (its constructor wants
    # a url and an interval), so they always find nothing: read the list through the client.
    listed = auth.send("api/v1/synchronizations/", "get").json()
    assert [s["id"] for s in listed["synchronizations"]] == [job.id]
    job.force_sync()  # carto-python PUTs the sync itself: an update with no changes
    job.delete()
    assert auth.send("api/v1/synchronizations/", "get").json()["total_entries"] == 0
    assert "synced" in server.tables()


@_NON_PUBLIC
def test_dataset_manager_creates_datasets_from_files_and_sync_urls(
    server: LocalCarto,
    auth: APIKeyAuthClient,
    file_server: FileServer,
    tmp_path: Path,
    fast_polling: None,
) -> None:
    path = tmp_path / "cp_places.csv"
    path.write_text(CSV)
    with path.open("rb") as archive:  # given a path, carto-python never closes the file
        dataset = DatasetManager(auth).create(archive)
    assert (dataset.name, dataset.type) == ("cp_places", "table")
    assert dataset.table.name == "cp_places"
    assert dataset.dependent_visualizations_count == 0
    url = file_server.add("/cp_synced.csv", CSV)
    synced = DatasetManager(auth).create(url, 900)
    assert (synced.name, synced.type) == ("cp_synced", "table")
    names = sorted(d.name for d in DatasetManager(auth).all())
    assert names == ["cp_places", "cp_synced"]
    dataset.delete()
    assert "cp_places" not in server.tables()


@_NON_PUBLIC
def test_visualization_manager_lists_gets_and_exports_maps(
    tmp_path: Path, fast_polling: None
) -> None:
    # carto-python's export() stops polling on "uploading" and calls it an unexpected state;
    # an export with no processing time goes from "exporting" straight to "complete".
    with LocalCarto(import_processing_time=0, export_processing_time=0) as server:
        client = APIKeyAuthClient(server.base_url + "/", server.api_key)
        try:
            _visualizations_and_export(client, tmp_path)
        finally:
            client.session.close()


def _visualizations_and_export(auth: APIKeyAuthClient, tmp_path: Path) -> None:
    path = tmp_path / "cp_map.csv"
    path.write_text(CSV)
    with path.open("rb") as archive:
        job = FileImportJob(archive, auth)
        job.run(create_vis="true")
    _wait(job)
    maps = VisualizationManager(auth).all()
    assert [m.name for m in maps] == ["cp_map"]
    vis = VisualizationManager(auth).get(maps[0].id)
    assert (vis.id, vis.type, vis.privacy) == (maps[0].id, "derived", "PRIVATE")
    assert [t.name for t in vis.related_tables] == ["cp_map"]
    url = vis.export()
    assert url.endswith("/download")
    # The relative url is resolved against the user's base URL and gets the key.
    carto_file = auth.send(url.lstrip("/"), "get")
    assert carto_file.status_code == 200
    assert carto_file.headers["content-type"] == "application/zip"


def test_api_key_manager_keys_are_enforced_by_the_sql_api(
    server: LocalCarto, auth: APIKeyAuthClient
) -> None:
    """carto-python's APIKeyManager makes a key; its SQLClient then reads what was granted
    (carto-python words every 403 "Access denied")."""
    sql = SQLClient(auth)
    sql.send("create table granted (a int)")
    sql.send("insert into granted values (1), (2)")
    sql.send("create table other (a int)")
    grant = {"schema": "public", "name": "granted", "permissions": ["select"]}
    created = APIKeyManager(auth).create(name="cp-reader", apis=["sql"], tables=[grant])
    reader = APIKeyAuthClient(server.base_url + "/", created.token)
    try:
        assert SQLClient(reader).send("select count(*) as n from granted")["rows"] == [{"n": 2}]
        with pytest.raises(CartoException, match="Access denied"):
            SQLClient(reader).send("select * from other")
        raw = reader.send("api/v2/sql", "get", params={"q": "select * from other"})
        assert (raw.status_code, raw.json()) == (
            403,
            {"error": ["permission denied for table other"]},
        )
        with pytest.raises(CartoException, match="Access denied"):
            SQLClient(reader).send("insert into granted values (3)")
        # /api/v3/me through carto-python's own client: the account for the master key only
        me = auth.send("api/v3/me", "get").json()
        assert me["user_data"]["username"] == "demo"
        assert me["user_data"]["regular_api_key_count"] == 2  # the preset key and cp-reader
        anonymous = reader.send("api/v3/me", "get").json()
        assert "user_data" not in anonymous
        assert anonymous["config"]["user_name"] == "demo"
        APIKeyManager(auth).get("cp-reader").delete()
        with pytest.raises(CartoException, match="Access denied"):
            SQLClient(reader).send("select count(*) from granted")
        raw = reader.send("api/v2/sql", "get", params={"q": "select 1"})
        assert (raw.status_code, raw.json()) == (401, {"error": ["Unauthorized"]})
    finally:
        reader.session.close()
    assert SQLClient(auth).send("select count(*) as n from granted")["rows"] == [{"n": 2}]
