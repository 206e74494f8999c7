"""Faults over real sockets: nothing lost, nothing duplicated, no connection left behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from carto_async import APIConnectionError, AsyncCarto, PollPolicy
from carto_async._async import _concurrency as cc
from carto_async.testing import Faults, LocalCarto, RateLimit
from tests.datasets import stores_csv

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

FAST = PollPolicy(initial=0.05, factor=1.5, cap=0.3)


def pool_connections(carto: AsyncCarto) -> list[Any]:
    return list(carto._transport.http._transport._pool.connections)  # type: ignore[attr-defined]


async def test_fifty_imports_under_503s_and_a_rate_limit_all_land_exactly_once(
    tmp_path: Path,
) -> None:
    paths = [stores_csv(tmp_path, f"shop_{i:02d}.csv") for i in range(50)]
    faults = Faults(seed=11)
    faults.error("imports", rate=0.2, status=503)
    faults.rate_limit("imports", RateLimit(20, period=1.0, burst=4))
    with LocalCarto(import_slots=10, import_processing_time=0.05, faults=faults) as server:
        async with server.async_client(
            poll=FAST, max_concurrent_imports=10, max_retries=8, max_concurrent_uploads=8
        ) as carto:
            jobs = await cc.gather([lambda p=p: carto.imports.upload(p) for p in paths])
            assert not [j for j in jobs if isinstance(j, BaseException)]
            results = await carto.jobs.wait_all(jobs, timeout=120)
        snapshot = server.counters.snapshot()
    assert [r.state for r in results] == ["complete"] * 50
    assert server.counters.jobs_created == 50
    assert len({r.table_name for r in results}) == 50
    assert snapshot.responses.get(503, 0) > 0
    assert snapshot.responses.get(429, 0) > 0


async def test_a_dropped_response_to_a_create_is_reported_not_repeated(tmp_path: Path) -> None:
    faults = Faults(seed=1)
    faults.drop_connection("imports.create", after=True, count=1)
    with LocalCarto(faults=faults) as server:
        async with server.async_client(poll=FAST) as carto:
            with pytest.raises(APIConnectionError) as info:
                await carto.imports.upload(stores_csv(tmp_path))
            assert info.value.request_sent
        # The server made the import; the SDK did not make a second one.
        assert server.counters.jobs_created == 1


async def test_no_connection_is_left_open_after_retries_timeouts_and_cancellation(
    tmp_path: Path,
) -> None:
    faults = Faults(seed=5)
    faults.drop_connection("imports.show", after=False, count=2)
    faults.slow_body("sql.query", seconds=2.0, count=1)
    with LocalCarto(faults=faults) as server:
        async with server.async_client(poll=FAST, max_retries=3, timeout=0.5) as carto:
            job = await carto.imports.upload(stores_csv(tmp_path))
            await job.wait(timeout=30)  # its first polls met dropped connections
            await carto.sql.query("select 1 as x")  # the first answer trickled past the timeout
            # async-only:start
            with anyio.move_on_after(0.01):
                await carto.imports.upload(stores_csv(tmp_path, "cancelled.csv"))
            # async-only:end
            assert all(c.is_idle() or c.is_closed() for c in pool_connections(carto))
        assert pool_connections(carto) == []
