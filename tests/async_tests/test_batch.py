"""SQL Batch jobs over a mocked wire (respx): create, wait, watch, cancel, resume, failures."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
import respx

from carto_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncBatchJob,
    AsyncCarto,
    BatchJobFailed,
    BatchQuery,
    FallbackJob,
    JobTimeout,
    NotFoundError,
    ValidationError,
)
from tests.helpers import BASE_URL, KEY, FakeClock

# async-only:start
pytestmark = pytest.mark.anyio
# async-only:end

JOB_URL = f"{BASE_URL}/api/v2/sql/job"
WIP_URL = f"{BASE_URL}/api/v2/jobs-wip"
JOB_ID = "de305d54-75b4-431b-adb2-eb6b9e546014"
JOB_ID_2 = "4b5c8a3e-1f2d-4e6a-9b7c-0d1e2f3a4b5c"


def job_body(
    status: str, query: Any = "UPDATE t SET a = 1", job_id: str = JOB_ID, **extra: Any
) -> Any:
    body: dict[str, Any] = {
        "job_id": job_id,
        "user": "demo",
        "query": query,
        "status": status,
        "created_at": "2026-11-29T10:00:00.000Z",
        "updated_at": "2026-11-29T10:00:01.000Z",
    }
    body.update(extra)
    return body


def answers(*statuses: str, **kw: Any) -> list[httpx.Response]:
    return [httpx.Response(200, json=job_body(s, **kw)) for s in statuses]


async def test_create_posts_the_query_as_json_with_the_key_in_basic_auth_only(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(JOB_URL).mock(
        return_value=httpx.Response(201, json=job_body("pending"))
    )
    job = await carto.sql.batch("UPDATE t SET a = 1")
    assert isinstance(job, AsyncBatchJob)
    assert job.id == JOB_ID
    assert job.state == "pending"
    assert job.queries == ("UPDATE t SET a = 1",)
    request = route.calls.last.request
    assert json.loads(request.content) == {"query": "UPDATE t SET a = 1"}
    assert request.headers["content-type"].startswith("application/json")
    scheme, _, value = request.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(value).decode() == f"demo:{KEY}"
    assert KEY not in str(request.url)
    assert KEY.encode() not in request.content
    assert KEY not in repr(job)


async def test_list_and_fallback_jobs_go_out_in_the_servers_forms(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(JOB_URL).mock(
        return_value=httpx.Response(201, json=job_body("pending", query=["select 1"]))
    )
    await carto.sql.batch(["select 1", "select 2"])
    assert json.loads(route.calls.last.request.content) == {"query": ["select 1", "select 2"]}
    fallback = (
        FallbackJob.builder()
        .query("select 1", onerror="insert into log values ('<%= job_id %>')")
        .on_success("select 3")
        .build()
    )
    await carto.sql.batch(fallback)
    assert json.loads(route.calls.last.request.content) == {
        "query": {
            "query": [{"query": "select 1", "onerror": "insert into log values ('<%= job_id %>')"}],
            "onsuccess": "select 3",
        }
    }
    await carto.sql.batch([BatchQuery("select 4", onsuccess="select 5")])
    assert json.loads(route.calls.last.request.content) == {
        "query": {"query": [{"query": "select 4", "onsuccess": "select 5"}]}
    }


@pytest.mark.parametrize(
    "query",
    [
        "x" * 16_400,
        ["select 1", "y" * 16_380],
        "",
        [],
        ["select 1", None],
        "select '<%= job_id %>'",
        42,
    ],
)
async def test_bad_jobs_and_the_16_kb_limit_fail_before_sending(
    carto: AsyncCarto, respx_mock: respx.MockRouter, query: Any
) -> None:
    route = respx_mock.post(JOB_URL).mock(return_value=httpx.Response(201))
    with pytest.raises(ValidationError):
        await carto.sql.batch(query)
    assert not route.called


async def test_the_limit_counts_utf16_units_as_the_server_does(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(JOB_URL).mock(
        return_value=httpx.Response(201, json=job_body("pending"))
    )
    overhead = len('{"query":""}')
    await carto.sql.batch("é" * (16_384 - overhead))  # one unit each: just fits
    assert route.call_count == 1
    with pytest.raises(ValidationError, match="16 KB"):
        await carto.sql.batch("😀" * ((16_384 - overhead) // 2 + 1))  # two units each
    assert route.call_count == 1


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("read timed out"), httpx.RemoteProtocolError("connection dropped")],
)
async def test_creating_is_never_repeated_after_an_ambiguous_failure(
    carto: AsyncCarto, respx_mock: respx.MockRouter, failure: Exception
) -> None:
    route = respx_mock.post(JOB_URL).mock(side_effect=[failure, httpx.Response(201)])
    with pytest.raises(APIConnectionError) as caught:
        await carto.sql.batch("UPDATE t SET a = 1")
    assert route.call_count == 1
    assert caught.value.request_sent
    assert "may have been created" in str(caught.value)
    assert KEY not in str(caught.value)
    if isinstance(failure, httpx.ReadTimeout):
        assert isinstance(caught.value, APITimeoutError)


async def test_a_connection_refused_before_sending_is_retried(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(JOB_URL).mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(201, json=job_body("pending"))]
    )
    job = await carto.sql.batch("select 1")
    assert route.call_count == 2
    assert job.id == JOB_ID


async def test_wait_polls_until_done(
    carto: AsyncCarto, respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    respx_mock.post(JOB_URL).mock(return_value=httpx.Response(201, json=job_body("pending")))
    respx_mock.get(WIP_URL).mock(return_value=httpx.Response(200, json={}))
    get = respx_mock.get(f"{JOB_URL}/{JOB_ID}").mock(
        side_effect=answers("pending", "running", "done")
    )
    job = await carto.sql.batch("UPDATE t SET a = 1")
    status = await job.wait()
    assert status.status == "done"
    assert status.succeeded
    assert job.done
    assert job.result is status
    assert get.call_count >= 1
    assert clock.slept  # polled on the injected clock, not the wall clock


async def test_a_failed_multi_query_job_names_the_query_and_the_reason(
    carto: AsyncCarto, respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    queries = [
        {"query": "select 1", "status": "done"},
        {
            "query": "select * from nope",
            "status": "failed",
            "failed_reason": 'relation "nope" does not exist',
        },
        {"query": "select 3", "status": "pending"},
    ]
    respx_mock.post(JOB_URL).mock(
        return_value=httpx.Response(201, json=job_body("pending", query=queries))
    )
    respx_mock.get(f"{JOB_URL}/{JOB_ID}").mock(
        side_effect=answers("failed", query=queries, failed_reason='relation "nope" does not exist')
    )
    job = await carto.sql.batch(["select 1", "select * from nope", "select 3"])
    with pytest.raises(BatchJobFailed) as caught:
        await job.wait()
    error = caught.value
    assert error.failed_reason == 'relation "nope" does not exist'
    assert error.query_index == 1
    assert error.query == "select * from nope"
    assert error.state == "failed"
    assert error.job is job
    assert "query 2 of 3" in str(error)


async def test_wait_with_a_timeout_raises_and_the_job_goes_on(
    carto: AsyncCarto, respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    respx_mock.post(JOB_URL).mock(return_value=httpx.Response(201, json=job_body("pending")))
    respx_mock.get(WIP_URL).mock(return_value=httpx.Response(200, json={"demo": [JOB_ID]}))
    respx_mock.get(f"{JOB_URL}/{JOB_ID}").mock(return_value=answers("running")[0])
    job = await carto.sql.batch("select pg_sleep(100)")
    with pytest.raises(JobTimeout):
        await job.wait(timeout=5)
    assert not job.done


async def test_watch_yields_each_state_change(
    carto: AsyncCarto, respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    respx_mock.post(JOB_URL).mock(return_value=httpx.Response(201, json=job_body("pending")))
    respx_mock.get(f"{JOB_URL}/{JOB_ID}").mock(
        side_effect=answers("pending", "running", "running", "done")
    )
    job = await carto.sql.batch("select 1")
    seen = [s.status async for s in job.watch()]
    assert seen == ["pending", "running", "done"]


async def test_cancel_sends_delete_and_takes_the_answer(
    carto: AsyncCarto, respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    respx_mock.post(JOB_URL).mock(return_value=httpx.Response(201, json=job_body("pending")))
    delete = respx_mock.delete(f"{JOB_URL}/{JOB_ID}").mock(
        return_value=httpx.Response(200, json=job_body("cancelled"))
    )
    job = await carto.sql.batch("select 1")
    await job.cancel()
    assert delete.call_count == 1
    assert job.state == "cancelled"
    with pytest.raises(BatchJobFailed, match="cancelled") as caught:
        await job.wait()
    assert caught.value.state == "cancelled"


async def test_cancelling_a_finished_job_takes_its_final_snapshot(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(JOB_URL).mock(return_value=httpx.Response(201, json=job_body("running")))
    respx_mock.delete(f"{JOB_URL}/{JOB_ID}").mock(
        return_value=httpx.Response(
            400, json={"error": ["Cannot set status from done to cancelled"]}
        )
    )
    respx_mock.get(f"{JOB_URL}/{JOB_ID}").mock(return_value=answers("done")[0])
    job = await carto.sql.batch("select 1")
    await job.cancel()
    assert job.state == "done"
    status = await job.wait()
    assert status.succeeded


async def test_an_unknown_or_expired_job_is_not_found(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(f"{JOB_URL}/{JOB_ID}").mock(
        return_value=httpx.Response(400, json={"error": [f"Job with id {JOB_ID} not found"]})
    )
    with pytest.raises(NotFoundError, match="2 hours"):
        await carto.sql.batch_jobs.get(JOB_ID)
    with pytest.raises(ValidationError):
        await carto.sql.batch_jobs.get("../etc/passwd")


async def test_token_and_resume(
    carto: AsyncCarto, respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    respx_mock.post(JOB_URL).mock(return_value=httpx.Response(201, json=job_body("pending")))
    respx_mock.get(f"{JOB_URL}/{JOB_ID}").mock(return_value=answers("done")[0])
    job = await carto.sql.batch("select 1")
    token = job.token()
    assert KEY not in token
    resumed = carto.jobs.resume(token)
    assert isinstance(resumed, AsyncBatchJob)
    assert resumed.id == JOB_ID
    status = await resumed.wait()
    assert status.status == "done"
    again = carto.sql.batch_jobs.resume(token)
    assert again.id == JOB_ID
    import_token = token.replace('"batch"', '"import"')
    with pytest.raises(ValidationError, match="not a batch job"):
        carto.sql.batch_jobs.resume(import_token)


async def test_many_jobs_are_watched_through_the_wip_listing(
    carto: AsyncCarto, respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    ids = [f"4b5c8a3e-1f2d-4e6a-9b7c-0d1e2f3a4b5{i}" for i in range(5)]
    respx_mock.post(JOB_URL).mock(
        side_effect=[httpx.Response(201, json=job_body("pending", job_id=i)) for i in ids]
    )
    wip = respx_mock.get(WIP_URL).mock(
        side_effect=[httpx.Response(200, json={"demo": ids, "other": [JOB_ID]})]
        + [httpx.Response(200, json={"other": [JOB_ID]})] * 20
    )
    for job_id in ids:
        respx_mock.get(f"{JOB_URL}/{job_id}").mock(return_value=answers("done", job_id=job_id)[0])
    jobs = [await carto.sql.batch(f"select {n}") for n in range(5)]
    results = await carto.jobs.wait_all(jobs)
    assert [r.job_id for r in results] == ids
    assert wip.called


async def test_batch_jobs_list_reads_this_users_ids(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(WIP_URL).mock(
        return_value=httpx.Response(200, json={"demo": [JOB_ID], "other": [JOB_ID_2]})
    )
    assert await carto.sql.batch_jobs.list() == [JOB_ID]
    request = route.calls.last.request
    assert "authorization" not in request.headers
    assert KEY not in str(request.url)


async def test_a_fallback_job_is_over_once_its_job_fallback_ran(
    carto: AsyncCarto, respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    query = {"query": [{"query": "select 1", "status": "done"}], "onsuccess": "select 2"}
    respx_mock.post(JOB_URL).mock(
        return_value=httpx.Response(201, json=job_body("pending", query=query))
    )
    get = respx_mock.get(f"{JOB_URL}/{JOB_ID}").mock(
        side_effect=[
            httpx.Response(200, json=job_body("done", query=query, fallback_status="running")),
            httpx.Response(200, json=job_body("done", query=query, fallback_status="done")),
        ]
    )
    job = await carto.sql.batch(FallbackJob((BatchQuery("select 1"),), onsuccess="select 2"))
    status = await job.wait()
    assert get.call_count == 2
    assert status.fallback_status == "done"
