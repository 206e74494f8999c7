"""The job clock and the server clock, sans I/O: every job kind on a frozen clock."""

from __future__ import annotations

import doctest
import threading
from collections.abc import Iterator

import pytest

from carto_async.testing import Clock, Counters, Faults, JobEnd, _jobclock
from carto_async.testing._http import accesslog
from carto_async.testing._jobclock import (
    BATCH_QUERY,
    EXPORT,
    IMPORT,
    JOB_KINDS,
    SYNC_RUN,
    JobClock,
    JobKind,
)

KINDS = [IMPORT, SYNC_RUN, EXPORT, BATCH_QUERY]
#: The states each kind walks, from the real services (reference §4.4, §5.6, §7, §9.2).
WALKS = {
    "import": ["pending", "uploading", "unpacking", "importing", "guessing", "complete"],
    "sync": ["queued", "syncing", "success"],
    "export": ["pending", "exporting", "uploading", "complete"],
    "batch": ["pending", "running", "done"],
}


@pytest.fixture
def clock() -> Clock:
    return Clock(frozen=True)


@pytest.fixture
def faults() -> Faults:
    return Faults(seed=1)


@pytest.fixture
def jobs(clock: Clock, faults: Faults) -> Iterator[JobClock]:
    clock_of_jobs = JobClock(clock=clock, faults=faults, counters=Counters(), workers=2)
    yield clock_of_jobs
    clock_of_jobs.close()


def _walk(jobs: JobClock, clock: Clock, kind: JobKind, **options: object) -> list[str]:
    """Every state a reader sees, advancing one phase at a time."""
    job = jobs.start(kind, "demo", duration=len(kind.phases), **options)  # type: ignore[arg-type]
    seen = []
    for _ in kind.phases:
        seen.append(jobs.state(job))
        clock.advance(1.0)
    jobs.wait_for_work(job)
    seen.append(jobs.state(job))
    return seen


# -- the walk ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_every_kind_walks_its_real_states_then_ends_when_its_work_is_done(
    jobs: JobClock, clock: Clock, kind: JobKind
) -> None:
    assert (
        _walk(jobs, clock, kind, work=lambda: JobEnd(kind.succeeded, result={"n": 1}))
        == (WALKS[kind.name])
    )
    (job,) = jobs.all(kind)
    end = job.end()
    assert end is not None
    assert end.result == {"n": 1}


def test_a_job_whose_clock_ran_out_waits_for_its_work(jobs: JobClock, clock: Clock) -> None:
    gate = threading.Event()

    def work() -> JobEnd:
        gate.wait(10)
        return JobEnd("complete")

    job = jobs.start(IMPORT, "demo", duration=5.0, work=work)
    clock.advance(100.0)
    assert jobs.state(job) == "guessing"
    gate.set()
    jobs.wait_for_work(job)
    assert jobs.state(job) == "complete"


def test_a_job_without_processing_time_shows_its_working_state_until_done(
    jobs: JobClock,
) -> None:
    gate = threading.Event()

    def work() -> JobEnd:
        gate.wait(10)
        return JobEnd("success")

    job = jobs.start(SYNC_RUN, "demo", work=work)
    assert jobs.state(job) == "syncing"
    gate.set()
    jobs.wait_for_work(job)
    assert jobs.state(job) == "success"


def test_work_that_raises_ends_the_job_in_failure_99999(
    jobs: JobClock, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> JobEnd:
        raise RuntimeError("boom")

    job = jobs.start(EXPORT, "demo", work=broken)
    jobs.wait_for_work(job)
    assert (jobs.state(job), job.end()) == ("failure", JobEnd("failure", 99999))
    assert "export job failed" in caplog.text


def test_processing_time_may_depend_on_the_job(jobs: JobClock, clock: Clock) -> None:
    def seconds(info: object) -> float:
        return 10.0 if getattr(info, "display_name", "") == "slow" else 1.0

    slow = jobs.start(BATCH_QUERY, "demo", display_name="slow", duration=seconds)
    fast = jobs.start(BATCH_QUERY, "demo", display_name="fast", duration=seconds)
    clock.advance(1.0)
    assert (jobs.state(slow), jobs.state(fast)) == ("pending", "done")


# -- faults for every kind -----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_stuck_jobs_of_every_kind_stall_and_go_stale(
    jobs: JobClock, clock: Clock, faults: Faults, kind: JobKind
) -> None:
    ran, discarded = [], []
    faults.stuck_jobs(kind.name, count=1)
    job = jobs.start(
        kind,
        "demo",
        duration=1.0,
        work=lambda: ran.append(1) or JobEnd(kind.succeeded),  # type: ignore[func-returns-value]
        discard=lambda: discarded.append(1),
    )
    clock.advance(1000.0)
    assert jobs.state(job) == kind.stuck_in
    assert jobs.read(job, stale_after=2000.0, stale_code=1) == (kind.stuck_in, None)
    assert (ran, discarded) == ([], [1])
    assert jobs.unfinished(kind, "demo") == [job]
    clock.advance(1001.0)
    state, end = jobs.read(job, stale_after=2000.0, stale_code=6671)
    assert (state, end) == (kind.failed, JobEnd(kind.failed, 6671))
    assert jobs.unfinished(kind, "demo") == []
    # The rule fired once: the next job works.
    assert _walk(jobs, clock, kind)[-1] == kind.succeeded


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_failing_jobs_of_every_kind_end_with_the_code_and_never_work(
    jobs: JobClock, clock: Clock, faults: Faults, kind: JobKind
) -> None:
    ran = []
    faults.fail_jobs(1234, kind.name)
    job = jobs.start(kind, "demo", duration=1.0, work=lambda: ran.append(1) or JobEnd("x"))  # type: ignore[func-returns-value]
    assert (jobs.state(job), job.end(), ran) == (kind.failed, JobEnd(kind.failed, 1234), [])


def test_job_faults_match_their_kind_or_every_kind(jobs: JobClock, faults: Faults) -> None:
    faults.fail_jobs(1, "batch")
    faults.stuck_jobs(predicate=lambda info: info.display_name == "any kind")
    assert jobs.state(jobs.start(IMPORT, "demo", duration=0.0)) == "complete"
    assert jobs.state(jobs.start(BATCH_QUERY, "demo", duration=0.0)) == "failed"
    stuck = jobs.start(EXPORT, "demo", display_name="any kind", duration=0.0)
    assert stuck.stuck
    assert jobs.state(stuck) == "exporting"


def test_stuck_and_fail_imports_are_the_import_kind_of_the_job_faults(
    jobs: JobClock, faults: Faults
) -> None:
    faults.fail_imports(1002)
    assert jobs.state(jobs.start(EXPORT, "demo")) == "complete"
    assert jobs.state(jobs.start(IMPORT, "demo")) == "failure"


def test_unknown_job_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown job kind 'imports'"):
        Faults().stuck_jobs("imports")


def test_a_stuck_job_not_yet_picked_up_is_never_stale(jobs: JobClock, clock: Clock) -> None:
    # The real server leaves pending imports alone: no worker has taken them yet.
    job = jobs.start(IMPORT, "demo", duration=1e9)
    job.stuck = True
    clock.advance(1e6)
    assert jobs.read(job, stale_after=1.0, stale_code=6671) == ("pending", None)


# -- cancelling, inspection, reset ---------------------------------------------------------


def test_batch_queries_can_be_cancelled_until_they_finish(jobs: JobClock, clock: Clock) -> None:
    running = jobs.start(BATCH_QUERY, "demo", duration=10.0)
    assert jobs.cancel(running)
    assert jobs.state(running) == "cancelled"
    assert not jobs.cancel(running)
    finished = jobs.start(BATCH_QUERY, "demo", duration=1.0)
    clock.advance(1.0)
    assert not jobs.cancel(finished)
    assert not jobs.cancel(jobs.start(IMPORT, "demo", duration=10.0))


def test_jobs_are_counted_by_kind_and_found_by_id_and_kind(clock: Clock) -> None:
    counters = Counters()
    jobs = JobClock(clock=clock, faults=Faults(), counters=counters, workers=1)
    try:
        first = jobs.start(IMPORT, "demo")
        jobs.start(SYNC_RUN, "demo")
        jobs.start(SYNC_RUN, "other")
        assert counters.jobs_by_kind == {"import": 1, "sync": 2}
        assert counters.jobs_created == 3
        assert counters.snapshot().jobs_by_kind == {"import": 1, "sync": 2}
        assert jobs.get(first.id) is first
        assert jobs.get(first.id, IMPORT) is first
        assert jobs.get(first.id, SYNC_RUN) is None
        assert [j.user for j in jobs.all(SYNC_RUN)] == ["demo", "other"]
        jobs.reset()
        assert jobs.all() == []
        assert jobs.get(first.id) is None
    finally:
        jobs.close()


def test_kinds_are_checked_and_listed() -> None:
    assert set(JOB_KINDS) == {"import", "sync", "export", "batch"}
    assert BATCH_QUERY.final_states == {"done", "failed", "cancelled"}
    assert IMPORT.fault_group == "jobs.import"
    with pytest.raises(ValueError, match="must be phases"):
        JobKind("x", ("a",), succeeded="ok", failed="ko", working="a", stuck_in="b")


# -- the clock -----------------------------------------------------------------------------


def test_a_frozen_clock_moves_only_when_advanced() -> None:
    ticks = iter(range(100, 10_000, 100))
    clock = Clock(frozen=True, monotonic=lambda: float(next(ticks)), wall=lambda: 1e9)
    assert clock.monotonic() == clock.monotonic() == 100.0
    clock.advance(900.0)
    assert (clock.monotonic(), clock.time(), clock.advanced) == (1000.0, 1e9 + 900, 900.0)
    assert "frozen" in repr(clock)


def test_a_running_clock_follows_its_source_plus_the_jumps() -> None:
    now = [5.0]
    clock = Clock(monotonic=lambda: now[0], wall=lambda: now[0] + 1e9)
    now[0] = 7.0
    assert clock.monotonic() == 7.0
    clock.advance(900.0)
    assert (clock.monotonic(), clock.time()) == (907.0, 1e9 + 907.0)
    assert not clock.frozen


@pytest.mark.parametrize("seconds", [-1.0, float("nan")])
def test_a_clock_never_goes_back(seconds: float) -> None:
    with pytest.raises(ValueError, match="only moves forward"):
        Clock().advance(seconds)


@pytest.mark.parametrize("module", [_jobclock, accesslog], ids=lambda m: m.__name__)
def test_docstring_examples_run(module: object) -> None:
    failures, tried = doctest.testmod(module, raise_on_error=False)  # type: ignore[arg-type]
    assert tried > 0
    assert failures == 0


def test_listeners_hear_every_jump_until_removed() -> None:
    clock = Clock(frozen=True)
    heard: list[float] = []
    clock.add_listener(heard.append)
    clock.advance(900.0)
    clock.advance(0.5)
    clock.remove_listener(heard.append)
    clock.remove_listener(heard.append)
    clock.advance(1.0)
    assert heard == [900.0, 0.5]


def test_a_job_can_be_backdated_to_when_it_was_due(jobs: JobClock, clock: Clock) -> None:
    # A scheduler noticing, after a 900 s jump, a sync run due 600 s ago starts it then.
    due = clock.monotonic()
    created = clock.time()
    clock.advance(600.0)
    run = jobs.start(SYNC_RUN, "demo", duration=100.0, started=due)
    assert (run.started, run.created_at) == (due, created)
    assert jobs.state(run) == "success"
    future = jobs.start(SYNC_RUN, "demo", duration=100.0, started=due + 1e6)
    assert future.started == clock.monotonic()
