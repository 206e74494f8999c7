"""Waiting on many jobs: wait_all, as_completed, and the client-side import-slot cap."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import httpx
import pytest
import respx

from carto_async import (
    AsyncCarto,
    AsyncImportJob,
    ImportFailed,
    JobFailed,
    JobTimeout,
    NotFoundError,
    Outcome,
    PollPolicy,
    ValidationError,
)
from carto_async._async import _concurrency as cc
from carto_async._async.jobs import AsyncJob
from carto_async._core.http import RequestSpec, Service
from carto_async._core.jobs import dump_token, run_outcome
from tests.helpers import (
    BASE_URL,
    IMPORT_ID,
    IMPORT_ID_2,
    IMPORTS_URL,
    KEY,
    FakeClock,
    status_body,
    statuses,
)

# async-only:start
pytestmark = pytest.mark.anyio
# async-only:end

IDS = [IMPORT_ID, IMPORT_ID_2, "11111111-2222-4333-8444-555555555555"]


def mock_jobs(
    respx_mock: respx.MockRouter, plans: dict[str, list[str]], **extra: object
) -> dict[str, respx.Route]:
    return {
        job_id: respx_mock.get(f"{IMPORTS_URL}/{job_id}").mock(
            side_effect=statuses(*states, import_id=job_id, **extra)
        )
        for job_id, states in plans.items()
    }


async def test_wait_all_returns_results_in_order_with_failures_in_place(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    mock_jobs(
        respx_mock,
        {
            IDS[0]: ["importing", "complete"],
            IDS[1]: ["failure"],
            IDS[2]: ["pending", "importing", "importing", "complete"],
        },
    )
    jobs = [carto.imports.job(i) for i in IDS]
    results = await carto.jobs.wait_all(jobs, return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["ImportStatus", "ImportFailed", "ImportStatus"]
    assert all(job.done for job in jobs)


async def test_wait_all_raises_the_first_failure_without_return_exceptions(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    mock_jobs(respx_mock, {IDS[0]: ["importing"] * 50, IDS[1]: ["failure"]})
    with pytest.raises(ImportFailed):
        await carto.jobs.wait_all([carto.imports.job(i) for i in IDS[:2]])


async def test_wait_all_timeout(carto: AsyncCarto, respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{IMPORTS_URL}/{IDS[0]}").mock(
        return_value=httpx.Response(200, json=status_body("importing", IDS[0]))
    )
    mock_jobs(respx_mock, {IDS[1]: ["complete"]})
    results = await carto.jobs.wait_all(
        [carto.imports.job(i) for i in IDS[:2]], timeout=0.2, return_exceptions=True
    )
    assert isinstance(results[0], JobTimeout)
    assert results[1].state == "complete"


async def test_as_completed_yields_jobs_as_they_finish(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    mock_jobs(
        respx_mock,
        {
            IDS[0]: ["importing"] * 4 + ["complete"],
            IDS[1]: ["complete"],
            IDS[2]: ["importing", "failure"],
        },
    )
    jobs = [carto.imports.job(i) for i in IDS]
    order = [job.id async for job in carto.jobs.as_completed(jobs)]
    assert order == [IDS[1], IDS[2], IDS[0]]


async def test_each_job_is_polled_at_its_policy_spacing_however_many_wait(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    routes = mock_jobs(respx_mock, {IDS[0]: ["importing"] * 3 + ["complete"]})
    job = carto.imports.job(IDS[0])
    await carto.jobs.wait_all([job, job, job])
    assert routes[IDS[0]].call_count == 4


async def test_the_import_slot_cap_polls_running_imports_before_creating_more(
    respx_mock: respx.MockRouter,
) -> None:
    post = respx_mock.post(IMPORTS_URL).mock(
        side_effect=[httpx.Response(200, json={"item_queue_id": i, "success": True}) for i in IDS]
    )
    mock_jobs(
        respx_mock, {IDS[0]: ["importing", "complete"], IDS[1]: ["complete"], IDS[2]: ["complete"]}
    )
    listing = respx_mock.get(IMPORTS_URL).mock(
        return_value=httpx.Response(200, json={"imports": [], "success": True})
    )
    async with AsyncCarto(
        "demo",
        KEY,
        BASE_URL,
        max_concurrent_imports=1,
        poll=PollPolicy(initial=0.01, cap=0.02, jitter=0),
    ) as carto:
        first = await carto.imports.upload(b"a\n1\n", filename="a.csv")
        second = await carto.imports.upload(b"a\n1\n", filename="b.csv")
        # The second create waited until the first was seen complete.
        assert first.done
        assert post.call_count == 2
        third = await carto.imports.upload(b"a\n1\n", filename="c.csv")
        assert second.done
        assert listing.called  # the running imports were watched through the listing
        await carto.jobs.wait_all([first, second, third])


async def test_many_import_jobs_are_watched_through_one_listing_request(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    ids = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(6)]
    # Job i finishes after i listing rounds: the listing drops it from then on.
    rounds = {"n": 0}

    def listing(request: httpx.Request) -> httpx.Response:
        rounds["n"] += 1
        still = [i for k, i in enumerate(ids) if k >= rounds["n"]]
        return httpx.Response(200, json={"imports": still, "success": True})

    listing_route = respx_mock.get(IMPORTS_URL).mock(side_effect=listing)
    status_routes = {
        i: respx_mock.get(f"{IMPORTS_URL}/{i}").mock(
            return_value=httpx.Response(200, json=status_body("complete", i))
        )
        for i in ids
    }
    jobs = [carto.imports.job(i) for i in ids]
    for job in jobs:  # as if just created: nothing known yet, first poll after the interval
        carto._scheduler.discard(job._key)
        carto._scheduler.add(job._key, 0.0)
    results = await carto.jobs.wait_all(jobs)
    assert [r.state for r in results] == ["complete"] * 6
    # Each job got exactly one status request, when the listing stopped showing it.
    assert [status_routes[i].call_count for i in ids] == [1] * 6
    assert listing_route.call_count <= 6


async def test_a_job_missing_from_the_listing_but_pending_is_polled_on_its_own(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    ids = [f"00000000-0000-4000-8000-00000000001{i}" for i in range(4)]
    respx_mock.get(IMPORTS_URL).mock(
        return_value=httpx.Response(200, json={"imports": ids[1:], "success": True})
    )
    for i in ids[1:]:
        respx_mock.get(f"{IMPORTS_URL}/{i}").mock(
            side_effect=statuses("importing", "importing", "complete", import_id=i)
        )
    # ids[0] belongs to another user's listing: pending, but never listed.
    lonely = respx_mock.get(f"{IMPORTS_URL}/{ids[0]}").mock(
        side_effect=statuses("importing", "importing", "complete", import_id=ids[0])
    )
    results = await carto.jobs.wait_all(
        [carto.imports.job(i) for i in ids], return_exceptions=True, timeout=5
    )
    assert lonely.call_count == 3
    assert results[0].state == "complete"


async def test_concurrent_waits_share_one_listing_request(respx_mock: respx.MockRouter) -> None:
    ids = [f"00000000-0000-4000-8000-00000000002{i}" for i in range(6)]
    rounds = {"n": 0}

    def listing(request: httpx.Request) -> httpx.Response:
        rounds["n"] += 1
        still = [i for k, i in enumerate(ids) if k >= rounds["n"]]
        return httpx.Response(200, json={"imports": still, "success": True})

    listing_route = respx_mock.get(IMPORTS_URL).mock(side_effect=listing)
    status_routes = {
        i: respx_mock.get(f"{IMPORTS_URL}/{i}").mock(
            return_value=httpx.Response(200, json=status_body("complete", i))
        )
        for i in ids
    }
    async with AsyncCarto(
        "demo", KEY, BASE_URL, poll=PollPolicy(initial=0.2, jitter=0), max_concurrent_imports=None
    ) as carto:
        # As if just created: first status poll after 0.2 s, first listing after 0.05 s.
        jobs = [AsyncImportJob(carto, i) for i in ids]
        results = await cc.gather([job.wait for job in jobs])
    assert [getattr(r, "state", r) for r in results] == ["complete"] * 6
    # One wait() per job, yet each job got one status request, when the listing dropped it.
    assert [status_routes[i].call_count for i in ids] == [1] * 6
    assert 1 <= listing_route.call_count <= 7


async def test_an_import_cannot_be_cancelled(carto: AsyncCarto) -> None:
    job = carto.imports.job(IMPORT_ID)
    with pytest.raises(ValidationError, match="import job cannot be cancelled"):
        await job.cancel()  # respx would fail any request sent


async def test_jobs_resume_any_kind_and_refuses_bad_tokens(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(f"{IMPORTS_URL}/{IMPORT_ID}").mock(side_effect=statuses("complete"))
    token = carto.imports.job(IMPORT_ID, source="stores.csv").token()
    assert KEY not in token
    assert json.loads(token)["user"] == "demo"
    assert json.loads(token)["host"] == "demo.carto.com"
    job = carto.jobs.resume(token)
    assert isinstance(job, AsyncImportJob)
    assert job.source == "stores.csv"
    assert (await job.wait()).state == "complete"
    for bad in [token[:-3], "garbage", "", dump_token("martian", "x")]:
        with pytest.raises(ValidationError):
            carto.jobs.resume(bad)
    other_host = AsyncCarto("demo", KEY, "https://carto.example.com/user/demo")
    other_user = AsyncCarto("other", KEY)
    async with other_host, other_user:
        for client in (other_host, other_user):
            with pytest.raises(ValidationError, match="not of this client's account"):
                client.jobs.resume(token)
            with pytest.raises(ValidationError, match="not of this client's account"):
                client.imports.resume(token)


# -- a fake job kind: a sync table run, decided by when the table last ran -------------------

SYNCS_URL = f"{BASE_URL}/api/v1/synchronizations"
SYNC_STATES = {
    "created": Outcome.PENDING,
    "queued": Outcome.PENDING,
    "syncing": Outcome.PENDING,
    "success": Outcome.SUCCESS,
    "failure": Outcome.FAILURE,
}
BEFORE = "2026-11-29T11:00:00+00:00"
TRIGGERED = "2026-11-29T12:00:00+00:00"
AFTER = "2026-11-29T12:00:07+00:00"


class FakeSyncRun(AsyncJob[dict[str, Any]]):
    """The run of a sync table triggered at ``triggered_at``."""

    kind = "fake-sync-run"
    _states = SYNC_STATES
    _listable = True

    def __init__(self, client: AsyncCarto, job_id: str, triggered_at: str, **kw: Any) -> None:
        super().__init__(client, job_id, **kw)
        self.triggered_at = triggered_at

    async def _fetch(self) -> dict[str, Any]:
        spec = RequestSpec("GET", f"api/v1/synchronizations/{self.id}", Service.RAILS)
        body: dict[str, Any] = (await self._client._transport.request(spec)).body()
        return body

    def _state_of(self, snapshot: dict[str, Any]) -> str:
        return str(snapshot["state"])

    def _outcome_of(self, snapshot: dict[str, Any]) -> Outcome:
        ran_at = snapshot.get("ran_at")
        return run_outcome(
            self._states,
            snapshot["state"],
            datetime.fromisoformat(ran_at) if ran_at else None,
            datetime.fromisoformat(self.triggered_at),
        )

    def _failure(self, snapshot: dict[str, Any]) -> JobFailed:
        return JobFailed("the sync failed", job=self, job_id=self.id, state=snapshot["state"])

    @classmethod
    async def _list(cls, client: AsyncCarto) -> dict[str, dict[str, Any] | None]:
        spec = RequestSpec("GET", "api/v1/synchronizations", Service.RAILS)
        body = (await client._transport.request(spec)).body()
        return {item["id"]: item for item in body["synchronizations"]}

    def _token_fields(self) -> dict[str, str]:
        return {"triggered_at": self.triggered_at}

    @classmethod
    def _resume(cls, client: AsyncCarto, fields: Mapping[str, str]) -> FakeSyncRun:
        return cls(client, fields["id"], fields["triggered_at"], resumed=True)


def sync_body(state: str, ran_at: str | None, sync_id: str = IMPORT_ID) -> dict[str, Any]:
    return {"id": sync_id, "state": state, "ran_at": ran_at, "interval": 3600}


async def test_a_sync_run_is_done_when_the_table_ran_after_the_trigger(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(f"{SYNCS_URL}/{IMPORT_ID}").mock(
        side_effect=[
            httpx.Response(200, json=sync_body(*args))
            for args in [
                ("success", BEFORE),
                ("queued", BEFORE),
                ("syncing", BEFORE),
                ("success", AFTER),
            ]
        ]
    )
    run = FakeSyncRun(carto, IMPORT_ID, TRIGGERED, resumed=True)
    status = await run.wait(timeout=30)
    # The first "success" was the previous run's: only the one after the trigger counts.
    assert status["ran_at"] == AFTER
    assert route.call_count == 4
    assert run.done


async def test_a_listing_of_whole_objects_settles_jobs_without_status_requests(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    ids = [f"00000000-0000-4000-8000-00000000003{i}" for i in range(5)]
    listings = iter(
        [
            [sync_body("syncing", BEFORE, i) for i in ids],
            [sync_body("success", AFTER, i) for i in ids],
        ]
    )
    respx_mock.get(SYNCS_URL).mock(
        side_effect=lambda request: httpx.Response(
            200, json={"synchronizations": next(listings), "total_entries": len(ids)}
        )
    )
    status = respx_mock.get(url__startswith=f"{SYNCS_URL}/")
    runs = [FakeSyncRun(carto, i, TRIGGERED) for i in ids]
    results = await carto.jobs.wait_all(runs, timeout=30)
    assert [r["ran_at"] for r in results] == [AFTER] * 5
    assert not status.called
    # A token names its kind: the registry resumes it as a FakeSyncRun.
    again = carto.jobs.resume(runs[0].token())
    assert isinstance(again, FakeSyncRun)
    assert again.triggered_at == TRIGGERED


class FakeBatchJob(AsyncJob[dict[str, Any]]):
    """A SQL Batch job: its API has a cancel request (``DELETE /api/v2/sql/job/:id``)."""

    kind = "fake-batch"
    _states: ClassVar[Mapping[str, Outcome]] = {
        "pending": Outcome.PENDING,
        "running": Outcome.PENDING,
        "done": Outcome.SUCCESS,
        "failed": Outcome.FAILURE,
        "cancelled": Outcome.FAILURE,
    }

    async def _fetch(self) -> dict[str, Any]:
        spec = RequestSpec("GET", f"api/v2/sql/job/{self.id}", Service.SQL)
        body: dict[str, Any] = (await self._client._transport.request(spec)).body()
        return body

    def _state_of(self, snapshot: dict[str, Any]) -> str:
        return str(snapshot["status"])

    async def _cancel(self) -> dict[str, Any]:
        spec = RequestSpec("DELETE", f"api/v2/sql/job/{self.id}", Service.SQL)
        body: dict[str, Any] = (await self._client._transport.request(spec)).body()
        return body

    def _failure(self, snapshot: dict[str, Any]) -> JobFailed:
        return JobFailed(f"batch job {snapshot['status']}", job=self, state=snapshot["status"])


async def test_cancel_sends_the_kinds_cancel_request_and_takes_its_answer(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    url = f"{BASE_URL}/api/v2/sql/job/{IMPORT_ID}"
    respx_mock.get(url).mock(
        return_value=httpx.Response(200, json={"job_id": IMPORT_ID, "status": "running"})
    )
    delete = respx_mock.delete(url).mock(
        return_value=httpx.Response(200, json={"job_id": IMPORT_ID, "status": "cancelled"})
    )
    job = FakeBatchJob(carto, IMPORT_ID)
    await job.refresh()
    assert not job.done
    await job.cancel()
    assert delete.call_count == 1
    assert job.state == "cancelled"
    assert job.outcome is Outcome.FAILURE
    with pytest.raises(JobFailed) as info:
        await job.wait()
    assert info.value.job is job


async def test_wait_all_takes_a_last_look_at_the_deadline(
    carto: AsyncCarto, respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    deadline = clock.now() + 1.0

    def status(request: httpx.Request) -> httpx.Response:
        state = "complete" if clock.now() >= deadline else "importing"
        return httpx.Response(200, json=status_body(state))

    route = respx_mock.get(f"{IMPORTS_URL}/{IMPORT_ID}").mock(side_effect=status)
    job = carto.imports.job(IMPORT_ID)
    results = await carto.jobs.wait_all([job], timeout=1.0)
    # The job ended just at the deadline: the last look saw it, so no JobTimeout.
    assert results[0].state == "complete"
    assert clock.now() == pytest.approx(deadline)
    assert route.call_count > 2


async def test_jobs_of_two_kinds_with_one_id_are_scheduled_apart(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    imports = respx_mock.get(f"{IMPORTS_URL}/{IMPORT_ID}").mock(
        side_effect=statuses("importing", "complete")
    )
    batch = respx_mock.get(f"{BASE_URL}/api/v2/sql/job/{IMPORT_ID}").mock(
        side_effect=[
            httpx.Response(200, json={"job_id": IMPORT_ID, "status": s})
            for s in ["running", "running", "done"]
        ]
    )
    results = await carto.jobs.wait_all(
        [carto.imports.job(IMPORT_ID), FakeBatchJob(carto, IMPORT_ID, resumed=True)]
    )
    assert [imports.call_count, batch.call_count] == [2, 3]
    assert results[1]["status"] == "done"


async def test_two_handles_of_one_import_are_polled_once_and_both_settle(
    carto: AsyncCarto, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(f"{IMPORTS_URL}/{IMPORT_ID}").mock(
        side_effect=statuses("importing", "importing", "complete")
    )
    first, second = carto.imports.job(IMPORT_ID), carto.imports.job(IMPORT_ID)
    results = await cc.gather([first.wait, second.wait, first.wait])
    assert [getattr(r, "state", r) for r in results] == ["complete"] * 3
    assert first.done
    assert second.done
    assert route.call_count == 3


async def test_a_failing_status_request_is_tried_again_at_the_policy_spacing(
    carto: AsyncCarto, respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = respx_mock.get(f"{IMPORTS_URL}/{IMPORT_ID}").mock(return_value=httpx.Response(404))
    job = carto.imports.job(IMPORT_ID)
    watcher = carto.jobs._watcher
    watcher.add([job])
    await watcher.round()
    assert route.call_count == 1
    await watcher.round()  # not due again yet: no request
    assert route.call_count == 1
    assert carto._scheduler.when(job._key) == pytest.approx(clock.now() + 0.015)
    results = await carto.jobs.wait_all([job], return_exceptions=True)
    assert isinstance(results[0], NotFoundError)
    watcher.remove([job])


async def test_the_watcher_learns_how_long_the_jobs_it_created_run(
    carto: AsyncCarto, respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    ids = [f"00000000-0000-4000-8000-00000000003{i}" for i in range(8)]
    respx_mock.get(IMPORTS_URL).mock(
        return_value=httpx.Response(200, json={"imports": [], "success": True})
    )
    for i in ids:
        respx_mock.get(f"{IMPORTS_URL}/{i}").mock(
            return_value=httpx.Response(200, json=status_body("complete", i))
        )
    durations = carto.jobs._watcher._watch.durations
    # Resumed handles: their jobs may have run for hours, their time here is no duration.
    await carto.jobs.wait_all([carto.imports.job(i) for i in ids[:4]])
    assert durations.typical("import") is None
    start = clock.now()
    created = [AsyncImportJob(carto, i) for i in ids[4:]]  # as a create request makes them
    await carto.jobs.wait_all(created)
    typical = durations.typical("import")
    assert typical is not None
    assert typical == pytest.approx(clock.now() - start)  # seen final at the first listing
    assert typical == pytest.approx(0.01 / 4)  # the first listing: a quarter of the first poll
