"""Poll spacing and the shared poll scheduler."""

from __future__ import annotations

import random

import pytest

from carto_async._core.jobs import JobKey
from carto_async._core.polling import (
    LEARNED_FLOOR,
    ListingWatch,
    ObservedDurations,
    PollPolicy,
    PollScheduler,
    Watched,
    group_floor,
    group_interval,
)


def test_default_policy_is_1s_x1_5_capped_at_30s() -> None:
    policy = PollPolicy(jitter=0)
    assert [round(policy.interval(n), 3) for n in range(10)] == [
        1.0,
        1.5,
        2.25,
        3.375,
        5.062,
        7.594,
        11.391,
        17.086,
        25.629,
        30.0,
    ]


def test_jitter_spreads_intervals_by_20_percent() -> None:
    policy = PollPolicy()
    rng = random.Random(0)
    values = [policy.interval(3, rng) for _ in range(2000)]
    assert min(values) >= 3.375 * 0.8
    assert max(values) <= 3.375 * 1.2
    assert max(values) - min(values) > 1.0  # really spread, not lock-step


def test_invalid_policy_is_rejected() -> None:
    with pytest.raises(ValueError, match="initial"):
        PollPolicy(initial=0)
    with pytest.raises(ValueError, match="jitter"):
        PollPolicy(jitter=1.5)


def test_scheduler_orders_due_jobs_and_reschedules() -> None:
    sched: PollScheduler[str] = PollScheduler(PollPolicy(initial=1, factor=2, jitter=0))
    sched.add("a", now=0)
    sched.add("b", now=0.5)
    assert sched.due(0.9) == []
    assert sched.next_due() == 1
    assert sched.due(1.6) == ["a", "b"]
    sched.polled("a", now=1.6)
    assert sched.when("a") == pytest.approx(3.6)
    assert sched.polls("a") == 1
    sched.discard("b")
    assert "b" not in sched
    assert sched.next_due(["b"]) is None
    assert sched.due(10, ["a"]) == ["a"]


def test_scheduler_poll_now_and_policy_override() -> None:
    sched: PollScheduler[str] = PollScheduler(PollPolicy(jitter=0))
    sched.add("r", now=5, poll_now=True)
    assert sched.when("r") == 5
    sched.add("r", now=100)  # adding again does not reschedule
    assert sched.when("r") == 5
    sched.add("x", now=0)
    sched.set_policy("x", PollPolicy(initial=0.1, jitter=0), now=0)
    assert sched.when("x") == pytest.approx(0.1)


def test_group_listing_interval_grows_with_age_within_the_policy() -> None:
    default = PollPolicy(jitter=0)
    assert group_interval(default, 0.0) == 0.25  # a quarter of the first poll
    assert group_interval(default, 50.0) == 5.0  # a tenth of the youngest job's age
    assert group_interval(default, 10_000.0) == 30.0  # never past the policy's cap
    fixed = PollPolicy(initial=5, factor=1, jitter=0)
    assert group_interval(fixed, 0.0) == 1.25
    assert group_interval(fixed, 1_000.0) == 5.0  # a fixed policy never waits longer than it


def _watched(n: int, created: float = 0.0) -> list[Watched]:
    return [Watched(f"job-{i}", "import", True, created) for i in range(n)]


def test_listing_watch_groups_four_or_more_listable_jobs() -> None:
    sched: PollScheduler[JobKey] = PollScheduler(PollPolicy(jitter=0))
    watch = ListingWatch(sched)
    jobs = _watched(4)
    for job in jobs:
        sched.add(job.key, 0.0)
    listings, due = watch.plan(0.1, jobs)
    assert (listings, due) == ({}, [])  # the first listing comes a quarter second in
    assert watch.next_wake() == 0.25
    listings, due = watch.plan(0.3, jobs)
    assert list(listings) == ["import"]
    assert due == []
    missing = watch.listed("import", listings["import"], ["JOB-1", "job-2", "job-3"], now=0.3)
    assert missing == [("import", "job-0")]  # listed ids compare case-insensitively
    assert watch.next_wake() == pytest.approx(0.55)


def test_listing_watch_polls_few_or_unlisted_jobs_one_by_one() -> None:
    sched: PollScheduler[JobKey] = PollScheduler(PollPolicy(jitter=0))
    watch = ListingWatch(sched)
    jobs = _watched(3)
    for job in jobs:
        sched.add(job.key, 0.0)
    listings, due = watch.plan(1.0, jobs)
    assert listings == {}
    assert due == [("import", "job-0"), ("import", "job-1"), ("import", "job-2")]
    five = _watched(5)
    watch.not_listed_but_pending([("import", "job-0"), ("import", "job-1")])
    listings, _ = watch.plan(1.0, five)
    assert listings == {}  # three listable jobs left: too few for a listing
    assert watch.listed("import", five, None, now=1.0) == [
        ("import", "job-0"),
        ("import", "job-1"),
        ("import", "job-2"),
    ]


@pytest.mark.parametrize(
    ("initial", "typical", "floor"),
    [
        (1.0, None, 0.25),  # nothing seen yet: a quarter of the first poll
        (1.0, 0.5, 0.05),  # half-second jobs: a tenth of their duration
        (1.0, 1.0, 0.1),
        (1.0, 2.5, 0.25),  # from 2.5 s on the learned floor is the default one
        (1.0, 30.0, 0.25),  # long jobs never lengthen the floor (the age rule does that)
        (1.0, 0.1, LEARNED_FLOOR),  # never below 50 ms, however quick the jobs
        (1.0, 0.0, LEARNED_FLOOR),
        (0.2, 0.5, 0.05),  # a short first interval: its own floor (0.05) already
        (0.1, 0.5, 0.025),  # a tuned policy keeps its own, lower floor
        (5.0, 4.0, 0.4),  # a fixed 5 s policy, 4 s jobs: 0.4 s instead of 1.25 s
    ],
)
def test_group_floor_follows_the_durations_seen(
    initial: float, typical: float | None, floor: float
) -> None:
    policy = PollPolicy(initial=initial, factor=1.5, jitter=0)
    assert group_floor(policy, typical) == pytest.approx(floor)
    assert group_interval(policy, 0.0, typical=typical) == pytest.approx(floor)


def test_group_interval_with_durations_seen_still_grows_with_age() -> None:
    policy = PollPolicy(jitter=0)
    assert group_interval(policy, 0.3, typical=0.5) == pytest.approx(0.05)
    assert group_interval(policy, 0.8, typical=0.5) == pytest.approx(0.08)
    assert group_interval(policy, 50.0, typical=0.5) == 5.0  # a tenth of the age, as before
    assert group_interval(policy, 1e6, typical=0.5) == 30.0


@pytest.mark.parametrize(
    ("seen", "typical"),
    [
        ([], None),
        ([0.5, 0.6], None),  # too few to go by
        ([0.5, 0.6, 0.7], 0.6),
        ([0.5, 0.6, 0.7, 0.9], 0.65),  # the median of an even count
        ([0.1, 40.0, 50.0], 40.0),  # one quick failure among long jobs does not count
        ([60.0] * 16 + [0.5] * 9, 0.5),  # only the latest 16 count
        ([-1.0, float("nan"), 0.5, 0.5], None),  # clock glitches are ignored
    ],
)
def test_observed_durations_typical_is_the_median_of_the_latest(
    seen: list[float], typical: float | None
) -> None:
    durations = ObservedDurations()
    for seconds in seen:
        durations.observe("import", seconds)
    assert durations.typical("import") == (None if typical is None else pytest.approx(typical))
    assert durations.typical("export") is None  # by kind


def test_listing_watch_learns_from_jobs_seen_finishing() -> None:
    """A first wave of half-second jobs is listed every 0.25 s; the next wave every 0.05 s."""
    sched: PollScheduler[JobKey] = PollScheduler(PollPolicy(jitter=0))
    watch = ListingWatch(sched)
    first = _watched(4)
    listings, _ = watch.plan(0.0, first)
    assert listings == {}
    assert watch.next_wake() == 0.25
    listings, _ = watch.plan(0.5, first)
    assert list(listings) == ["import"]
    assert watch.listed("import", first, [], now=0.5) == [j.key for j in first]
    for job in first:
        watch.finished(job, 0.55)  # seen final 0.55 s after creation
    assert watch.plan(0.55, []) == ({}, [])  # the first wave is over
    second = [Watched(f"next-{i}", "import", True, 0.6) for i in range(4)]
    listings, _ = watch.plan(0.6, second)
    assert listings == {}
    assert watch.next_wake() == pytest.approx(0.6 + 0.055)
    listings, _ = watch.plan(0.66, second)
    assert list(listings) == ["import"]
    watch.listed("import", second, [j.id for j in second], now=0.66)
    assert watch.next_wake() == pytest.approx(0.66 + 0.055)


def test_listing_watch_does_not_learn_from_resumed_handles() -> None:
    """A resumed handle's job may have run for an hour: its time to finish here is no
    duration, and long jobs keep the default spacing."""
    sched: PollScheduler[JobKey] = PollScheduler(PollPolicy(jitter=0))
    watch = ListingWatch(sched)
    for i in range(5):
        watch.finished(Watched(f"r-{i}", "import", True, 0.0, timed=False), 0.2)
    assert watch.durations.typical("import") is None
    for i in range(5):
        watch.finished(Watched(f"l-{i}", "import", True, 0.0), 30.0)
    jobs = _watched(4, created=100.0)
    watch.plan(100.0, jobs)
    assert watch.next_wake() == 100.25
