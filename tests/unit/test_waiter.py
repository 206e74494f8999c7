"""The sans-I/O waiter and the import-slot plan, step by step on a fake clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from carto_async._core.jobs import JobKey, Outcome, run_outcome
from carto_async._core.waiter import (
    RESERVATION_RECHECK,
    Done,
    Poll,
    Sleep,
    SlotPlan,
    Step,
    TimedOut,
    Waiter,
)

A: JobKey = ("import", "a")
B: JobKey = ("import", "b")


def drive(
    waiter: Waiter,
    *,
    polls_at: Sequence[float],
    finishes_at: dict[JobKey, tuple[float, Outcome]],
    start: float = 0.0,
    limit: int = 50,
) -> list[tuple[float, Step]]:
    """Run ``waiter`` on a fake clock: the watcher polls at ``polls_at`` (then never again);
    a poll sees a job final from its finishing time on. Returns (time, step) of every step."""
    now = start
    trace: list[tuple[float, Step]] = []
    schedule = list(polls_at)
    for _ in range(limit):
        wake = schedule[0] if schedule else None
        step = waiter.next(now, wake)
        trace.append((round(now, 6), step))
        if isinstance(step, Done | TimedOut):
            return trace
        if isinstance(step, Sleep):
            now += step.seconds
            continue
        assert isinstance(step, Poll)
        if schedule and not step.last_look:
            schedule.pop(0)
        for key in list(waiter.pending):
            at, outcome = finishes_at.get(key, (float("inf"), Outcome.PENDING))
            if now >= at:
                waiter.settle(key, outcome)
    raise AssertionError(f"no end after {limit} steps: {trace}")


@pytest.mark.parametrize(
    ("timeout", "polls_at", "finishes", "expected"),
    [
        pytest.param(
            None,
            [1.0, 2.5],
            {A: (2.0, Outcome.SUCCESS)},
            [(0.0, Sleep(1.0)), (1.0, Poll()), (1.0, Sleep(1.5)), (2.5, Poll()), (2.5, Done())],
            id="sleeps-until-the-watcher-is-due-then-polls",
        ),
        pytest.param(
            None,
            [0.0],
            {A: (0.0, Outcome.FAILURE)},
            [(0.0, Poll()), (0.0, Done())],
            id="a-due-poll-comes-at-once",
        ),
        pytest.param(
            5.0,
            [1.0, 8.0],
            {A: (3.0, Outcome.SUCCESS)},
            [
                (0.0, Sleep(1.0)),
                (1.0, Poll()),
                (1.0, Sleep(4.0)),
                (5.0, Poll(last_look=True)),
                (5.0, Done()),
            ],
            id="the-last-look-at-the-deadline-finds-it-done",
        ),
        pytest.param(
            5.0,
            [1.0, 8.0],
            {A: (6.0, Outcome.SUCCESS)},
            [
                (0.0, Sleep(1.0)),
                (1.0, Poll()),
                (1.0, Sleep(4.0)),
                (5.0, Poll(last_look=True)),
                (5.0, TimedOut((A,))),
            ],
            id="still-pending-after-the-last-look-times-out",
        ),
        pytest.param(
            0.0,
            [3.0],
            {},
            [(0.0, Poll(last_look=True)), (0.0, TimedOut((A,)))],
            id="a-zero-timeout-still-looks-once",
        ),
    ],
)
def test_waiter_steps(
    timeout: float | None,
    polls_at: list[float],
    finishes: dict[JobKey, tuple[float, Outcome]],
    expected: list[tuple[float, Step]],
) -> None:
    waiter = Waiter([A], now=0.0, timeout=timeout)
    assert drive(waiter, polls_at=polls_at, finishes_at=finishes) == expected


def test_when_the_next_poll_is_unknown_the_waiter_polls_to_learn_it() -> None:
    assert Waiter([A], now=0.0).next(0.0, None) == Poll()
    assert Waiter([A], now=0.0, timeout=2.0).next(1.0, None) == Poll()


def test_several_jobs_settle_in_the_order_seen_and_the_deadline_takes_the_rest() -> None:
    waiter = Waiter([A, B, A], now=10.0, timeout=10.0, return_exceptions=True)
    assert waiter.pending == [A, B]  # duplicates are waited for once
    trace = drive(
        waiter, polls_at=[12.0, 15.0, 30.0], finishes_at={B: (14.0, Outcome.SUCCESS)}, start=10.0
    )
    assert [s for _, s in trace] == [
        Sleep(2.0),
        Poll(),
        Sleep(3.0),
        Poll(),
        Sleep(5.0),
        Poll(last_look=True),
        TimedOut((A,)),
    ]
    assert waiter.take_settled() == [B]
    assert waiter.take_settled() == []


@pytest.mark.parametrize(
    ("return_exceptions", "raise_failures", "error_raised", "failure_raised"),
    [
        (False, True, True, True),  # job.wait(), wait_all()
        (True, False, False, False),  # wait_all(return_exceptions=True)
        (False, False, True, False),  # as_completed(): failures are yielded, errors raised
    ],
)
def test_error_policy(
    return_exceptions: bool, raise_failures: bool, error_raised: bool, failure_raised: bool
) -> None:
    waiter = Waiter(
        [A, B], now=0.0, return_exceptions=return_exceptions, raise_failures=raise_failures
    )
    error = RuntimeError("status request failed")
    assert waiter.fail(A, error) is error_raised
    assert waiter.settle(B, Outcome.FAILURE) is failure_raised
    if return_exceptions:
        assert waiter.errors == {A: error}
        assert waiter.pending == []
        assert waiter.next(0.0, 1.0) == Done()
    else:
        assert waiter.errors == {}
        assert A in waiter.pending
    assert waiter.fail(("import", "unknown"), error) is False
    assert waiter.settle(A, Outcome.PENDING) is False


@pytest.mark.parametrize(
    ("cap", "active", "reserved", "wake", "expected"),
    [
        (None, 10, 10, None, Done()),
        (3, 2, 0, None, Done()),
        (3, 2, 1, 5.0, Sleep(4.0)),  # until the watcher is due (now is 1.0)
        (3, 2, 1, 0.5, Poll()),
        (3, 2, 1, None, Poll()),
        (3, 0, 3, 5.0, Sleep(RESERVATION_RECHECK)),  # only uploads in flight: look again soon
    ],
)
def test_slot_plan_steps(
    cap: int | None, active: int, reserved: int, wake: float | None, expected: Step
) -> None:
    plan = SlotPlan(cap)
    for _ in range(reserved + active):
        plan.reserve()
    for i in range(active):
        assert plan.register(f"job-{i}", done=False) is bool(cap)
    assert plan.next(1.0, wake) == expected


def test_slot_plan_counts_reservations_creations_and_releases() -> None:
    plan = SlotPlan(2)
    plan.reserve()
    plan.reserve()
    assert not plan.free()
    plan.cancel()  # the create request failed
    assert plan.free()
    plan.reserve()
    assert plan.register("a", done=False)
    assert not plan.register("b", done=True)  # already final: holds no slot
    assert plan.free()
    assert plan.reserved == 0
    assert plan.active == {"a"}
    assert plan.adopt("r", done=False)  # a resumed import holds a slot on the server
    assert not plan.adopt("r", done=False)
    assert not plan.free()
    plan.release("a")
    assert plan.free()
    unlimited = SlotPlan(None)
    assert not unlimited.limited
    assert not unlimited.adopt("x", done=False)


T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SYNC_STATES = {"queued": Outcome.PENDING, "success": Outcome.SUCCESS, "failure": Outcome.FAILURE}


@pytest.mark.parametrize(
    ("state", "ran_at", "expected"),
    [
        ("success", None, Outcome.PENDING),  # never ran
        ("success", T0 - timedelta(hours=1), Outcome.PENDING),  # the previous run
        ("success", T0, Outcome.PENDING),  # not after the trigger
        ("syncing", T0 + timedelta(seconds=5), Outcome.PENDING),
        ("success", T0 + timedelta(seconds=5), Outcome.SUCCESS),
        ("failure", T0 + timedelta(seconds=5), Outcome.FAILURE),
        ("success", (T0 + timedelta(seconds=5)).replace(tzinfo=None), Outcome.SUCCESS),  # naive
    ],
)
def test_run_outcome_reads_the_run_after_the_trigger(
    state: str, ran_at: datetime | None, expected: Outcome
) -> None:
    assert run_outcome(SYNC_STATES, state, ran_at, T0) is expected
