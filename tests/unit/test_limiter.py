"""The in-flight request limiter: a free slot is taken at once, a full limiter waits."""

from __future__ import annotations

import anyio
import pytest

from carto_async._async import _concurrency as cc

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_the_limiter_holds_at_most_its_limit_and_wakes_waiters_in_turn() -> None:
    limiter = cc.Limiter(2)
    holding = 0
    most = 0
    order: list[int] = []

    async def hold(i: int) -> None:
        nonlocal holding, most
        async with limiter:
            holding += 1
            most = max(most, holding)
            order.append(i)
            await anyio.sleep(0.01)
            holding -= 1

    async with anyio.create_task_group() as tg:
        for i in range(6):
            tg.start_soon(hold, i)
    assert most == 2
    assert sorted(order) == list(range(6))


async def test_a_free_slot_is_taken_without_waiting_and_a_cancelled_waiter_takes_none() -> None:
    limiter = cc.Limiter(1)
    await limiter.__aenter__()  # free: taken at once
    waited = False

    async def other() -> None:
        nonlocal waited
        with anyio.move_on_after(0.05) as scope:
            await limiter.__aenter__()  # full: waits, then is cancelled
        waited = scope.cancelled_caught

    async with anyio.create_task_group() as tg:
        tg.start_soon(other)
    assert waited
    await limiter.__aexit__(None, None, None)
    with anyio.fail_after(1):  # the cancelled waiter did not keep the slot
        await limiter.__aenter__()
    await limiter.__aexit__(None, None, None)


async def test_no_limit_never_waits() -> None:
    limiter = cc.Limiter(None)
    with anyio.fail_after(1):
        for _ in range(100):
            await limiter.__aenter__()
    await limiter.__aexit__(None, None, None)
