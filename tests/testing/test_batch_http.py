"""LocalCarto's Batch endpoints over loopback: statuses, error bodies, limits, expiry, and the
unmodified carto-python ``BatchSQLClient``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from carto.auth import APIKeyAuthClient
from carto.exceptions import CartoException
from carto.sql import BatchSQLClient, SQLClient

from carto_async.testing import LocalCarto
from carto_async.testing._batch import batch_queue
from carto_async.testing._clock import Clock
from tests.testing.conftest import fixture

pytestmark = pytest.mark.filterwarnings("ignore:You are using unencrypted API key:UserWarning")

JOB = "/api/v2/sql/job"


@pytest.fixture
def frozen() -> Iterator[tuple[LocalCarto, httpx.Client]]:
    with (
        LocalCarto(clock=Clock(frozen=True)) as running,
        httpx.Client(base_url=running.base_url, timeout=10.0) as client,
    ):
        yield running, client


def wait_final(http: httpx.Client, key: str, job_id: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        body = http.get(f"{JOB}/{job_id}", params={"api_key": key}).json()
        if body["status"] not in ("pending", "running"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.01)


def test_create_read_and_the_job_json(server: LocalCarto, http: httpx.Client) -> None:
    created = http.post(
        JOB, json={"query": "CREATE TABLE b1 (n int)"}, auth=("demo", server.api_key)
    )
    assert created.status_code == 201
    assert created.headers["content-type"] == "application/json; charset=utf-8"
    assert created.headers["access-control-allow-origin"] == "*"
    body = created.json()
    assert list(body) == ["job_id", "user", "query", "status", "created_at", "updated_at"]
    assert body["user"] == "demo"
    assert body["status"] == "pending"
    done = wait_final(http, server.api_key, body["job_id"])
    assert done["status"] == "done"
    assert server.db.table_exists("b1")
    assert server.counters.jobs_by_kind.get("batch") == 1


def test_form_bodies_and_lists(server: LocalCarto, http: httpx.Client) -> None:
    created = http.post(
        JOB,
        params={"api_key": server.api_key},
        data={"query[]": ["CREATE TABLE b2 (n int)", "INSERT INTO b2 VALUES (1)"]},
    )
    assert created.status_code == 201
    done = wait_final(http, server.api_key, created.json()["job_id"])
    assert [q["status"] for q in done["query"]] == ["done", "done"]
    assert server.db.row_count("b2") == 1


def test_keys_other_than_the_master_key_are_refused(server: LocalCarto, http: httpx.Client) -> None:
    no_key = http.post(JOB, json={"query": "SELECT 1"})
    assert (no_key.status_code, no_key.json()) == (
        403,
        fixture("batch", "error_permission_denied_docs.json"),
    )
    regular = http.post(JOB, json={"query": "SELECT 1"}, params={"api_key": server.regular_api_key})
    assert regular.status_code == 403
    wrong = http.post(JOB, json={"query": "SELECT 1"}, params={"api_key": "wrong"})
    assert (wrong.status_code, wrong.json()) == (401, {"error": ["Unauthorized"]})
    assert batch_queue(server._running()).work_in_progress() == {}


def test_bad_bodies(server: LocalCarto, http: httpx.Client) -> None:
    key = {"api_key": server.api_key}
    missing = http.post(JOB, params=key, json={"q": "SELECT 1"})
    assert (missing.status_code, missing.json()) == (
        400,
        fixture("batch", "error_missing_query_400.json"),
    )
    for query in ("", [], [1], {"query": "x"}):
        bad = http.post(JOB, params=key, json={"query": query})
        assert bad.status_code == 400, query
        assert bad.json() == {"error": ["You must indicate a valid SQL"]}
    big = http.post(JOB, params=key, json={"query": "x" * 16_400})
    assert big.status_code == 400
    message = big.json()["error"][0]
    assert message.startswith("Your payload is too large: 16412 bytes. Max size allowed is 16384")


def test_unknown_ids_cancel_refusals_and_expiry(
    frozen: tuple[LocalCarto, httpx.Client],
) -> None:
    server, http = frozen
    key = {"api_key": server.api_key}
    unknown = "de305d54-75b4-431b-adb2-eb6b9e546014"
    missing = http.get(f"{JOB}/{unknown}", params=key)
    assert (missing.status_code, missing.json()) == (
        400,
        {"error": [f"Job with id {unknown} not found"]},
    )
    assert list(fixture("batch", "error_job_not_found_400.json")) == list(missing.json())
    job_id = http.post(JOB, params=key, json={"query": "SELECT 1"}).json()["job_id"]
    assert wait_final(http, server.api_key, job_id)["status"] == "done"
    refused = http.delete(f"{JOB}/{job_id}", params=key)
    assert (refused.status_code, refused.json()) == (
        400,
        {"error": ["Cannot set status from done to cancelled"]},
    )
    server.advance(2 * 3600 - 1)
    assert http.get(f"{JOB}/{job_id}", params=key).status_code == 200
    server.advance(2)
    gone = http.get(f"{JOB}/{job_id}", params=key)
    assert (gone.status_code, gone.json()) == (400, {"error": [f"Job with id {job_id} not found"]})


def test_cancel_the_queue_limit_and_jobs_wip(server: LocalCarto, http: httpx.Client) -> None:
    key = {"api_key": server.api_key}
    server.faults.stuck_jobs("batch")
    first = http.post(JOB, params=key, json={"query": "SELECT 1"}).json()["job_id"]
    deadline = time.monotonic() + 10
    while http.get(f"{JOB}/{first}", params=key).json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    queued = [http.post(JOB, params=key, json={"query": "SELECT 1"}) for _ in range(64)]
    assert {r.status_code for r in queued} == {201}
    full = http.post(JOB, params=key, json={"query": "SELECT 1"})
    assert (full.status_code, full.json()) == (
        400,
        {"error": ["Failed to create job. Max number of jobs (64) queued reached"]},
    )
    wip = http.get("/api/v2/jobs-wip")
    assert wip.status_code == 200
    assert sorted(wip.json()["demo"]) == sorted([first, *(r.json()["job_id"] for r in queued)])
    cancelled = http.delete(f"{JOB}/{first}", params=key)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert first not in http.get("/api/v2/jobs-wip").json()["demo"]


def test_host_based_urls(server: LocalCarto) -> None:
    headers = {"Host": f"demo.localhost:{server.port}"}
    created = httpx.post(
        server.root_url + JOB,
        headers=headers,
        params={"api_key": server.api_key},
        json={"query": "SELECT 1"},
    )
    assert created.status_code == 201
    job_id = created.json()["job_id"]
    shown = httpx.get(
        f"{server.root_url}{JOB}/{job_id}", headers=headers, params={"api_key": server.api_key}
    )
    assert shown.status_code == 200
    assert shown.json()["job_id"] == job_id
    wip = httpx.get(server.root_url + "/api/v2/jobs-wip", headers=headers)
    assert wip.status_code == 200


# -- carto-python ---------------------------------------------------------------------------


@pytest.fixture
def auth(server: LocalCarto) -> Iterator[APIKeyAuthClient]:
    client = APIKeyAuthClient(server.base_url + "/", server.api_key)
    try:
        yield client
    finally:
        client.session.close()


def test_carto_python_create_read_and_wait(server: LocalCarto, auth: APIKeyAuthClient) -> None:
    batch = BatchSQLClient(auth)
    created = batch.create(["CREATE TABLE cp_batch (n int)", "INSERT INTO cp_batch VALUES (7)"])
    assert created["status"] == "pending"
    done = batch.create_and_wait_for_completion("INSERT INTO cp_batch VALUES (8)")
    assert done["status"] == "done"
    read = batch.read(created["job_id"])
    assert read["status"] == "done"
    assert [q["status"] for q in read["query"]] == ["done", "done"]
    rows = SQLClient(auth).send("select n from cp_batch order by n")["rows"]
    assert [r["n"] for r in rows] == [7, 8]


def test_carto_python_sees_failures_and_cancels(server: LocalCarto, auth: APIKeyAuthClient) -> None:
    batch = BatchSQLClient(auth)
    with pytest.raises(CartoException, match="does not exist"):
        batch.create_and_wait_for_completion("SELECT * FROM nonexistent_table")
    server.faults.stuck_jobs("batch", count=1)
    job = batch.create("SELECT 1")
    assert batch.cancel(job["job_id"]) == "cancelled"
    assert batch.read(job["job_id"])["status"] == "cancelled"
    finished = batch.create("SELECT 1")
    deadline = time.monotonic() + 10
    while batch.read(finished["job_id"])["status"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert batch.cancel(finished["job_id"]) == "done"  # its "already done" branch
    with pytest.raises(CartoException):
        batch.read("de305d54-75b4-431b-adb2-eb6b9e546014")


def test_reset_forgets_jobs_and_stop_releases_what_runs() -> None:
    slow = (
        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 2000000000)"
        " SELECT count(*) FROM c"
    )
    with (
        LocalCarto() as server,
        httpx.Client(base_url=server.base_url, timeout=10.0) as http,
    ):
        key = {"api_key": server.api_key}
        done = http.post(JOB, params=key, json={"query": "SELECT 1"}).json()["job_id"]
        assert wait_final(http, server.api_key, done)["status"] == "done"
        server.reset()
        assert http.get(f"{JOB}/{done}", params=key).status_code == 400
        server.faults.stuck_jobs("batch", count=1)
        http.post(JOB, params=key, json={"query": "SELECT 1"})  # stalls in running
        other = LocalCarto()
        with other, httpx.Client(base_url=other.base_url, timeout=10.0) as other_http:
            running = other_http.post(
                JOB, params={"api_key": other.api_key}, json={"query": slow}
            ).json()["job_id"]
            deadline = time.monotonic() + 10
            while (
                other_http.get(f"{JOB}/{running}", params={"api_key": other.api_key}).json()[
                    "status"
                ]
                != "running"
            ):
                assert time.monotonic() < deadline
                time.sleep(0.01)
            started = time.monotonic()
        assert time.monotonic() - started < 5  # the statement was interrupted, not waited for
        started = time.monotonic()
    assert time.monotonic() - started < 5
    assert not any(t.name.startswith("localcarto-batch-") for t in threading.enumerate())


def test_each_server_keeps_its_own_batch_queue_and_its_stop_closes_it() -> None:
    # The queue hangs off the server's context (no module registry, no finalizer that could
    # run inside a garbage collection and wait on the registry's own lock).
    with LocalCarto() as first, LocalCarto() as second:
        ctx = first._running()
        queue = batch_queue(ctx)
        assert queue is ctx.batch is batch_queue(ctx)
        assert batch_queue(second._running()) is not queue
        assert not queue._closed
    assert queue._closed
