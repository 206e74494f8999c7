"""Sync tables on LocalCarto over real sockets: shapes, runs on the job clock, scheduler, rules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from carto_async.testing import Clock, LocalCarto
from carto_async.testing._syncs import SyncRules
from tests.testing.conftest import FileServer, fixture, serving, sql

CSV = "name,value\nalpha,1\nbeta,2\n"
CSV_CHANGED = "name,value\nalpha,1\nbeta,2\ngamma,3\n"


@pytest.fixture
def frozen() -> Iterator[tuple[LocalCarto, httpx.Client]]:
    """A server on a frozen clock whose imports and sync runs end as soon as their work does."""
    with serving(
        clock=Clock(frozen=True), import_processing_time=0, sync_processing_time=0
    ) as running:
        yield running


def _key(server: LocalCarto) -> dict[str, str]:
    return {"api_key": server.api_key}


def _work_done(server: LocalCarto) -> None:
    for job in server.jobs():
        server.wait_for_work(job)


def _create(server: LocalCarto, client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/synchronizations", params=_key(server), json=body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def _show(server: LocalCarto, client: httpx.Client, sync_id: str) -> dict[str, Any]:
    _work_done(server)
    response = client.get(f"/api/v1/synchronizations/{sync_id}", params=_key(server))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def _advance(server: LocalCarto, seconds: float) -> None:
    server.advance(seconds)
    _work_done(server)


def test_create_answers_queued_with_the_first_import_nested(
    frozen: tuple[LocalCarto, httpx.Client], file_server: FileServer
) -> None:
    server, client = frozen
    url = file_server.add("/stores.csv", CSV)
    body = _create(server, client, url=url, interval=3600)
    expected = fixture("synchronizations", "create_url.json")
    assert list(body) == list(expected)
    assert list(body["data_import"]) == ["endpoint", "item_queue_id"]
    assert body["data_import"]["endpoint"] == "/api/v1/imports"
    assert (body["state"], body["interval"], body["url"], body["checksum"]) == (
        "queued",
        3600,
        url,
        "",
    )
    assert body["created_at"].endswith("+00:00")
    # The first run is an Import API job that knows its sync.
    import_id = body["data_import"]["item_queue_id"]
    _work_done(server)
    job = client.get(f"/api/v1/imports/{import_id}", params=_key(server)).json()
    assert (job["state"], job["table_name"], job["synchronization_id"]) == (
        "complete",
        "stores",
        body["id"],
    )


def test_first_run_loads_the_table_and_the_sync_reports_success(
    frozen: tuple[LocalCarto, httpx.Client], file_server: FileServer
) -> None:
    server, client = frozen
    url = file_server.add("/stores.csv", CSV)
    created = _create(server, client, url=url, interval=900)
    shown = _show(server, client, created["id"])
    listed = fixture("synchronizations", "list.json")["synchronizations"][0]
    assert list(shown) == list(listed)
    assert (shown["state"], shown["name"], shown["retried_times"], shown["error_code"]) == (
        "success",
        "stores",
        0,
        None,
    )
    assert shown["checksum"]
    assert shown["modified_at"] is not None
    assert shown["created_at"].endswith("Z")
    assert shown["visualization_id"] is not None
    assert sql(client, server.api_key, "select count(*) as n from stores").json()["rows"] == [
        {"n": 2}
    ]
    state = client.get(f"/api/v1/synchronizations/{created['id']}/sync_now", params=_key(server))
    assert state.json() == {"state": "success"}


def test_scheduler_reruns_when_run_at_passes_and_replaces_rows_only_on_change(
    frozen: tuple[LocalCarto, httpx.Client], file_server: FileServer
) -> None:
    server, client = frozen
    url = file_server.add("/stores.csv", CSV)
    sync_id = _create(server, client, url=url, interval=900)["id"]
    first = _show(server, client, sync_id)
    key = server.api_key
    # A row added by hand survives a run whose download did not change.
    sql(client, key, "insert into stores (name, value) values ('manual', 9)")
    _advance(server, 899)
    assert len(server.jobs("sync")) == 0
    _advance(server, 1)
    assert len(server.jobs("sync")) == 1
    same = _show(server, client, sync_id)
    assert same["state"] == "success"
    assert same["ran_at"] > first["ran_at"]
    assert (same["checksum"], same["modified_at"]) == (first["checksum"], first["modified_at"])
    count = "select count(*) as n from stores"
    assert sql(client, key, count).json()["rows"] == [{"n": 3}]
    # New content replaces the rows, keeping the table's name.
    file_server.add("/stores.csv", CSV_CHANGED)
    _advance(server, 900)
    changed = _show(server, client, sync_id)
    assert changed["checksum"] != first["checksum"]
    assert changed["modified_at"] > first["modified_at"]
    rows = sql(client, key, "select name from stores order by name").json()["rows"]
    assert [r["name"] for r in rows] == ["alpha", "beta", "gamma"]
    assert server.tables() == ["stores"]


def test_failed_runs_are_retried_up_to_ten_times(
    frozen: tuple[LocalCarto, httpx.Client], file_server: FileServer
) -> None:
    server, client = frozen
    url = file_server.url + "/missing.csv"
    sync_id = _create(server, client, url=url, interval=900)["id"]
    failed = _show(server, client, sync_id)
    assert (failed["state"], failed["error_code"], failed["retried_times"]) == ("failure", 1100, 1)
    assert failed["error_message"]
    for _ in range(15):
        _advance(server, 900)
        _show(server, client, sync_id)
    final = _show(server, client, sync_id)
    assert (final["state"], final["retried_times"]) == ("failure", 10)
    assert len(server.jobs("sync")) == 9  # the first import plus nine scheduled retries


def test_a_success_resets_the_retry_count(
    frozen: tuple[LocalCarto, httpx.Client], file_server: FileServer
) -> None:
    server, client = frozen
    url = file_server.url + "/later.csv"
    sync_id = _create(server, client, url=url, interval=900)["id"]
    assert _show(server, client, sync_id)["retried_times"] == 1
    file_server.add("/later.csv", CSV)
    _advance(server, 900)
    shown = _show(server, client, sync_id)
    assert (shown["state"], shown["retried_times"], shown["error_code"]) == ("success", 0, None)


def test_sync_now_follows_the_server_rules(
    file_server: FileServer,
) -> None:
    with serving(clock=Clock(frozen=True), import_processing_time=0, sync_processing_time=10) as (
        server,
        client,
    ):
        url = file_server.add("/stores.csv", CSV)
        ids = [_create(server, client, url=url, interval=3600)["id"] for _ in range(4)]
        for sync_id in ids:
            assert _show(server, client, sync_id)["state"] == "success"

        def put(sync_id: str) -> dict[str, Any]:
            path = f"/api/v1/synchronizations/{sync_id}/sync_now"
            response = client.put(path, params=_key(server))
            assert response.status_code == 200
            data: dict[str, Any] = response.json()
            return data

        # Ran less than 900 s ago.
        assert put(ids[0]) == {"enqueued": False, "synchronization_id": ids[0]}
        _advance(server, 901)
        assert put(ids[0])["enqueued"] is True
        # Already queued.
        assert put(ids[0])["enqueued"] is False
        state = client.get(f"/api/v1/synchronizations/{ids[0]}/sync_now", params=_key(server))
        assert state.json() == {"state": "queued"}
        assert put(ids[1])["enqueued"] is True
        assert put(ids[2])["enqueued"] is True
        # Three running syncs per user at most.
        assert put(ids[3])["enqueued"] is False
        _advance(server, 5)
        state = client.get(f"/api/v1/synchronizations/{ids[0]}/sync_now", params=_key(server))
        assert state.json() == {"state": "syncing"}
        _advance(server, 5)
        assert _show(server, client, ids[0])["state"] == "success"
        assert put(ids[3])["enqueued"] is True


@pytest.mark.parametrize(
    ("state", "ran_ago", "updated_ago", "running", "expected"),
    [
        ("success", 901, 0, 0, True),
        ("failure", 901, 0, 2, True),
        ("success", 900, 0, 0, False),
        ("syncing", 5000, 0, 0, False),
        ("queued", 5000, 100, 0, False),
        ("queued", 5000, 901, 0, True),
        ("success", 5000, 0, 3, False),
        ("created", 5000, 5000, 0, False),
    ],
)
def test_sync_now_rules_as_a_table(
    state: str, ran_ago: float, updated_ago: float, running: int, expected: bool
) -> None:
    allowed, why = SyncRules.can_sync_now(
        state=state, ran_ago=ran_ago, updated_ago=updated_ago, running=running
    )
    assert allowed is expected
    assert (why is None) is expected


def test_list_update_and_delete_keep_the_table(
    frozen: tuple[LocalCarto, httpx.Client], file_server: FileServer
) -> None:
    server, client = frozen
    url = file_server.add("/stores.csv", CSV)
    sync_id = _create(server, client, url=url, interval=3600, table_name="shops")["id"]
    shown = _show(server, client, sync_id)
    assert shown["name"] == "shops"
    assert "shops" in server.tables()
    listed = client.get("/api/v1/synchronizations", params=_key(server)).json()
    assert listed["total_entries"] == 1
    assert [s["id"] for s in listed["synchronizations"]] == [sync_id]
    # The server does not check the interval on update (the SDK must).
    updated = client.put(
        f"/api/v1/synchronizations/{sync_id}", params=_key(server), json={"interval": "60"}
    )
    assert updated.status_code == 200
    assert updated.json()["interval"] == 60
    too_long = client.put(
        f"/api/v1/synchronizations/{sync_id}", params=_key(server), json={"interval": 10**30}
    )
    assert too_long.status_code == 400
    deleted = client.delete(f"/api/v1/synchronizations/{sync_id}", params=_key(server))
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert client.get(f"/api/v1/synchronizations/{sync_id}", params=_key(server)).status_code == 404
    assert "shops" in server.tables()
    assert client.get("/api/v1/synchronizations", params=_key(server)).json() == {
        "synchronizations": [],
        "total_entries": 0,
    }


def test_errors_as_the_server_gives_them(
    frozen: tuple[LocalCarto, httpx.Client], file_server: FileServer
) -> None:
    server, client = frozen
    key = _key(server)
    short = client.post("/api/v1/synchronizations", params=key, json={"url": "x", "interval": 60})
    assert short.status_code == 400
    assert short.json() == {"errors": "Invalid interval: Sync interval must be at least 15 minutes"}
    bad_url = client.post(
        "/api/v1/synchronizations", params=key, json={"url": "gopher://x/a.csv", "interval": 900}
    )
    assert bad_url.status_code == 400
    assert bad_url.json() == {"errors": "Invalid URL, cannot connect dataset: gopher://x/a.csv"}
    huge = client.post(
        "/api/v1/synchronizations", params=key, json={"url": "x", "interval": 10**30}
    )
    assert huge.status_code == 400
    assert huge.json()["errors"].startswith("Invalid interval")
    not_json = client.post("/api/v1/synchronizations", params=key, content=b"url=x")
    assert not_json.status_code == 400
    assert "errors" in not_json.json()
    unknown = "00000000-0000-0000-0000-000000000000"
    for method, path in [
        ("GET", f"/api/v1/synchronizations/{unknown}"),
        ("PUT", f"/api/v1/synchronizations/{unknown}/sync_now"),
        ("GET", f"/api/v1/synchronizations/{unknown}/sync_now"),
        ("DELETE", f"/api/v1/synchronizations/{unknown}"),
    ]:
        response = client.request(method, path, params=key)
        assert (response.status_code, response.content) == (404, b""), path
    nokey = client.get("/api/v1/synchronizations", params={"api_key": server.regular_api_key})
    assert (nokey.status_code, nokey.content) == (401, b"")
    assert server.api_key not in short.text


def test_accounts_without_the_feature_get_401_with_an_empty_body(
    file_server: FileServer,
) -> None:
    url = file_server.add("/stores.csv", CSV)
    with serving(sync_tables=False) as (server, client):
        key = _key(server)
        created = client.post(
            "/api/v1/synchronizations", params=key, json={"url": url, "interval": 900}
        )
        assert (created.status_code, created.content) == (401, b"")
        # The list only filters by user.
        listed = client.get("/api/v1/synchronizations", params=key)
        assert listed.json() == {"synchronizations": [], "total_entries": 0}
        assert server.jobs() == []


def test_advancing_a_running_clock_starts_due_runs(file_server: FileServer) -> None:
    url = file_server.add("/stores.csv", CSV)
    with serving(import_processing_time=0, sync_processing_time=0) as (server, client):
        sync_id = _create(server, client, url=url, interval=900)["id"]
        assert _show(server, client, sync_id)["state"] == "success"
        server.advance(900)
        _work_done(server)
        assert len(server.jobs("sync")) == 1
        assert _show(server, client, sync_id)["state"] == "success"


def test_reset_forgets_syncs_maps_and_exports(file_server: FileServer) -> None:
    url = file_server.add("/stores.csv", CSV)
    with serving(import_processing_time=0, sync_processing_time=0) as (server, client):
        sync_id = _create(server, client, url=url, interval=900, create_vis=True)["id"]
        assert _show(server, client, sync_id)["state"] == "success"
        assert len(server.visualizations.find()) == 2  # the dataset page and the map
        server.reset()
        assert server.visualizations.find() == []
        gone = client.get(f"/api/v1/synchronizations/{sync_id}", params=_key(server))
        assert gone.status_code == 404
        server.advance(900)
        assert server.jobs() == []


def test_a_failed_scheduled_run_reports_its_code_and_title(
    frozen: tuple[LocalCarto, httpx.Client], file_server: FileServer
) -> None:
    server, client = frozen
    url = file_server.add("/stores.csv", CSV)
    sync_id = _create(server, client, url=url, interval=900)["id"]
    assert _show(server, client, sync_id)["state"] == "success"
    server.faults.fail_jobs(1001, "sync", count=1)
    _advance(server, 900)
    failed = _show(server, client, sync_id)
    assert (failed["state"], failed["error_code"], failed["retried_times"]) == ("failure", 1001, 1)
    assert failed["error_message"] == "Download error"
    # The table from the last good run stays.
    assert sql(client, server.api_key, "select count(*) as n from stores").json()["rows"] == [
        {"n": 2}
    ]
    _advance(server, 900)
    assert _show(server, client, sync_id)["state"] == "success"
