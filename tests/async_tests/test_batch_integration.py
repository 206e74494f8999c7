"""SQL Batch jobs end to end: the SDK against LocalCarto over loopback sockets."""

from __future__ import annotations

import pytest

from carto_async import (
    APIConnectionError,
    AsyncBatchJob,
    AsyncCarto,
    BatchJobFailed,
    FallbackJob,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from carto_async.models.batch import JOB_ID, error_message_literal
from carto_async.testing import LocalCarto, RateLimit

# async-only:start
pytestmark = pytest.mark.anyio
# async-only:end


async def test_a_job_runs_on_the_server_and_is_awaited(local: AsyncCarto) -> None:
    job = await local.sql.batch(["CREATE TABLE bj (n int)", "INSERT INTO bj VALUES (1), (2)"])
    status = await job.wait(timeout=30)
    assert status.status == "done"
    assert [q.status for q in status.queries] == ["done", "done"]
    result = await local.sql.query("select count(*) as n from bj")
    assert result.rows[0]["n"] == 2


async def test_a_failure_names_the_query_and_the_reason(local: AsyncCarto) -> None:
    job = await local.sql.batch(["SELECT 1", "SELECT * FROM no_such_table", "SELECT 3"])
    with pytest.raises(BatchJobFailed) as caught:
        await job.wait(timeout=30)
    assert caught.value.query_index == 1
    assert caught.value.query == "SELECT * FROM no_such_table"
    assert caught.value.failed_reason == 'relation "no_such_table" does not exist'
    assert job.snapshot is not None
    assert [q.status for q in job.snapshot.queries] == ["done", "failed", "pending"]


async def test_fallbacks_fill_the_templates(local: AsyncCarto) -> None:
    await (await local.sql.batch("CREATE TABLE job_log (id text, msg text)")).wait(timeout=30)
    fallback = (
        FallbackJob.builder()
        .query(
            "SELECT * FROM no_such_table",
            onerror=f"INSERT INTO job_log VALUES ('{JOB_ID}', {error_message_literal()})",
        )
        .on_success("INSERT INTO job_log VALUES ('never', 'never')")
        .build()
    )
    job = await local.sql.batch(fallback)
    with pytest.raises(BatchJobFailed):
        await job.wait(timeout=30)
    snapshot = job.snapshot
    assert snapshot is not None
    assert snapshot.fallback_status == "skipped"
    assert snapshot.queries[0].fallback_status == "done"
    rows = (await local.sql.query("select id, msg from job_log")).rows
    assert rows == [{"id": job.id, "msg": 'relation "no_such_table" does not exist'}]
    done = await local.sql.batch(
        FallbackJob.builder()
        .query("SELECT 1")
        .on_success(f"INSERT INTO job_log VALUES ('{JOB_ID}', 'ok')")
        .build()
    )
    status = await done.wait(timeout=30)
    assert status.fallback_status == "done"  # waited for the job's onsuccess, not only "done"
    rows = (await local.sql.query("select id, msg from job_log where msg = 'ok'")).rows
    assert rows == [{"id": done.id, "msg": "ok"}]


async def test_watch_cancel_and_resume(local_server: LocalCarto, local: AsyncCarto) -> None:
    local_server.faults.stuck_jobs("batch", count=1)
    stuck = await local.sql.batch("SELECT 1")
    behind = await local.sql.batch("SELECT 2")
    assert (await stuck.refresh()).status in ("pending", "running")
    assert (await behind.refresh()).status == "pending"  # waits behind the stuck job
    resumed = local.jobs.resume(stuck.token())
    assert isinstance(resumed, AsyncBatchJob)
    await resumed.cancel()
    assert resumed.state == "cancelled"
    with pytest.raises(BatchJobFailed, match="cancelled"):
        await stuck.wait(timeout=30)
    seen = [snapshot.status async for snapshot in behind.watch()]
    assert seen[-1] == "done"
    await behind.cancel()  # already done: takes the final snapshot
    assert behind.state == "done"
    assert await local.sql.batch_jobs.list() == []


async def test_expired_jobs_are_not_found(local_server: LocalCarto, local: AsyncCarto) -> None:
    job = await local.sql.batch("SELECT 1")
    await job.wait(timeout=30)
    local_server.advance(2 * 3600 + 1)
    with pytest.raises(NotFoundError):
        await local.sql.batch_jobs.get(job.id)


async def test_only_the_master_key_creates_jobs(local_server: LocalCarto) -> None:
    async with AsyncCarto(
        local_server.username, local_server.regular_api_key, local_server.base_url
    ) as regular:
        with pytest.raises(PermissionDeniedError):
            await regular.sql.batch("SELECT 1")
    async with local_server.async_client() as carto:
        with pytest.raises(ValidationError, match="16 KB"):
            await carto.sql.batch("SELECT '" + "x" * 17_000 + "'")


async def test_a_dropped_answer_to_a_create_is_not_repeated(
    local_server: LocalCarto, local: AsyncCarto
) -> None:
    local_server.faults.drop_connection("sql.job.create", after=True, count=1)
    with pytest.raises(APIConnectionError, match="may have been created"):
        await local.sql.batch("CREATE TABLE once_only (n int)")
    assert local_server.counters.jobs_by_kind == {"batch": 1}  # created once, not twice
    created = await local.sql.batch("SELECT 1")
    await created.wait(timeout=30)
    assert local_server.db.table_exists("once_only")
    assert local_server.counters.jobs_by_kind == {"batch": 2}


async def test_a_rate_limited_create_is_retried_once_allowed(
    local_server: LocalCarto, local: AsyncCarto
) -> None:
    local_server.faults.rate_limit("sql.job.create", RateLimit(1, period=0.5, burst=0))
    first = await local.sql.batch("SELECT 1")
    second = await local.sql.batch("SELECT 2")  # a 429 first: nothing was created, so retried
    assert first.id != second.id
    assert local_server.counters.responses.get(429, 0) >= 1
    assert local_server.counters.jobs_by_kind == {"batch": 2}
