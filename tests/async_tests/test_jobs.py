"""Waiting on many jobs: wait_all, as_completed, and the client-side import-slot cap."""

from __future__ import annotations

import httpx
import pytest
import respx

from carto_async import AsyncCarto, ImportFailed, JobTimeout, PollPolicy
from tests.helpers import BASE_URL, IMPORT_ID, IMPORT_ID_2, IMPORTS_URL, KEY, status_body, statuses

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
