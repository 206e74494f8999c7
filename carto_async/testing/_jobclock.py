"""The job clock: every server job (import, sync run, export, Batch query) walks its states here.

There is no thread or task per job. A job's state is computed from the server's :class:`Clock`
each time it is read, and its work (loading data, running a query) runs in a small thread
pool; the final state shows once both the clock has run out and the work has finished. Faults
make any kind of job stall (``stuck``) or end in failure (``fail``) instead of working.

    >>> from carto_async.testing._clock import Clock
    >>> from carto_async.testing._faults import Counters, Faults
    >>> clock = Clock(frozen=True)
    >>> jobs = JobClock(clock=clock, faults=Faults(), counters=Counters(), workers=1)
    >>> job = jobs.start(BATCH_QUERY, "demo", duration=2, work=lambda: JobEnd("done"))
    >>> jobs.state(job)
    'pending'
    >>> clock.advance(2)
    >>> jobs.wait_for_work(job)
    >>> jobs.state(job)
    'done'
    >>> jobs.close()
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from carto_async.testing._clock import Clock
    from carto_async.testing._faults import Counters, Faults

__all__ = [
    "BATCH_QUERY",
    "EXPORT",
    "IMPORT",
    "JOB_KINDS",
    "SYNC_RUN",
    "JobClock",
    "JobEnd",
    "JobInfo",
    "JobKind",
    "JobRecord",
]

log = logging.getLogger("carto_async.testing")

#: An error code for work that raised something unexpected (the importer's "unknown error").
UNKNOWN_ERROR = 99999


@attrs.frozen
class JobKind:
    """A kind of server job: the states it walks and the ones it ends in (reference §4-§9).

    ``phases`` are shown in turn while the job's processing time runs; ``working`` is what a
    job with no processing time shows until its work is done; a stuck job stalls in
    ``stuck_in``.
    """

    name: str
    phases: tuple[str, ...]
    succeeded: str
    failed: str
    working: str
    stuck_in: str
    cancelled: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.stuck_in not in self.phases or self.working not in self.phases:
            raise ValueError(f"{self.name}: stuck_in and working must be phases")

    @property
    def final_states(self) -> frozenset[str]:
        """States a job of this kind never leaves."""
        ends = {self.succeeded, self.failed}
        if self.cancelled is not None:
            ends.add(self.cancelled)
        return frozenset(ends)

    @property
    def fault_group(self) -> str:
        """The fault group of this kind's jobs (``"jobs.import"``, ...)."""
        return f"jobs.{self.name}"


#: Import API jobs (``enqueued`` and ``geocoding`` never show: no S3 queue, no geocoder).
IMPORT = JobKind(
    "import",
    ("pending", "uploading", "unpacking", "importing", "guessing"),
    succeeded="complete",
    failed="failure",
    working="importing",
    stuck_in="unpacking",
)
#: One run of a sync table (the object's ``state``).
SYNC_RUN = JobKind(
    "sync", ("queued", "syncing"), succeeded="success", failed="failure", working="syncing",
    stuck_in="syncing",
)  # fmt: skip
#: A visualization export.
EXPORT = JobKind(
    "export",
    ("pending", "exporting", "uploading"),
    succeeded="complete",
    failed="failure",
    working="exporting",
    stuck_in="exporting",
)
#: A SQL API Batch query job (the server spells ``cancelled`` with two l's).
BATCH_QUERY = JobKind(
    "batch",
    ("pending", "running"),
    succeeded="done",
    failed="failed",
    working="running",
    stuck_in="running",
    cancelled="cancelled",
)
#: Every kind, by name.
JOB_KINDS: Mapping[str, JobKind] = {k.name: k for k in (IMPORT, SYNC_RUN, EXPORT, BATCH_QUERY)}


@attrs.frozen
class JobInfo:
    """What LocalCarto knows about a job when it is created.

    Passed to processing-time callables and to fault predicates, so a test can pick jobs by
    name, kind or size.

    >>> info = JobInfo(id="0", kind="import", display_name="a.csv", data_type="file")
    >>> info.display_name
    'a.csv'
    """

    id: str
    kind: str
    display_name: str
    data_type: str = ""
    service_name: str = ""
    size: int | None = None
    params: Mapping[str, Any] = attrs.field(factory=dict, repr=False)


#: The name round 1 exported for what LocalCarto knows of an import: an import's JobInfo.
ImportInfo = JobInfo


@attrs.frozen
class JobEnd:
    """How a job ended: its final state, error code and what its API reports about it."""

    state: str
    error_code: int | None = None
    result: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def failed(cls, kind: JobKind, code: int, **result: Any) -> JobEnd:
        """A failure of a ``kind`` job with ``code``."""
        return cls(kind.failed, code, result)


@attrs.define(eq=False)
class JobRecord:
    """One server job: its kind, clock, work and (eventual) end."""

    id: str
    kind: JobKind
    user: str
    info: JobInfo
    created_at: float  # the clock's time(): dates and the 24 h / stale windows
    started: float  # the clock's monotonic(): the state walk
    duration: float
    payload: Any = None  # what the kind's API needs to present the job (e.g. the request)
    stuck: bool = False
    forced: JobEnd | None = None
    work: Future[JobEnd] | None = None
    extra: dict[str, Any] = attrs.Factory(dict)

    def end(self) -> JobEnd | None:
        """How the job ended, if its work is done (whatever the clock says)."""
        if self.forced is not None:
            return self.forced
        if self.work is not None and self.work.done():
            try:
                return self.work.result()
            except CancelledError:
                return JobEnd.failed(self.kind, UNKNOWN_ERROR)
        return None


class JobClock:
    """The jobs of one server: created here, walked on the server's clock, worked in a pool."""

    def __init__(self, *, clock: Clock, faults: Faults, counters: Counters, workers: int) -> None:
        self.clock = clock
        self.faults = faults
        self.counters = counters
        self._workers = workers
        self._lock = threading.Lock()
        self._jobs: dict[str, JobRecord] = {}
        # Jobs not yet seen in a final state: what slot checks and listings scan, so neither
        # slows down as finished jobs pile up in a long benchmark.
        self._active: dict[str, JobRecord] = {}
        self._pool = self._new_pool()

    def _new_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="localcarto-job")

    # -- creation --------------------------------------------------------------------------

    def start(
        self,
        kind: JobKind,
        user: str,
        *,
        display_name: str = "",
        duration: float | Callable[[JobInfo], float] = 0.0,
        work: Callable[[], JobEnd] | None = None,
        discard: Callable[[], None] | None = None,
        payload: Any = None,
        data_type: str = "",
        service_name: str = "",
        size: int | None = None,
        params: Mapping[str, Any] | None = None,
        started: float | None = None,
    ) -> JobRecord:
        """Create a job of ``kind`` and start its ``work`` (unless a fault stalls or fails it).

        ``duration`` is the processing time in seconds, or a callable of the job's
        :class:`JobInfo`. ``discard`` releases what the work would have consumed (an upload)
        when a fault means the work never runs. ``started`` (a ``clock.monotonic()`` reading,
        default now) backdates a job that should have started earlier, such as a scheduled
        run noticed only after the clock jumped past its time.
        """
        job_id = str(uuid.uuid4())
        info = JobInfo(
            id=job_id,
            kind=kind.name,
            display_name=display_name or job_id,
            data_type=data_type,
            service_name=service_name,
            size=size,
            params=params or {},
        )
        seconds = float(duration(info) if callable(duration) else duration)
        now = self.clock.monotonic()
        began = now if started is None else min(started, now)
        job = JobRecord(
            id=job_id,
            kind=kind,
            user=user,
            info=info,
            created_at=self.clock.time() - (now - began),
            started=began,
            duration=max(seconds, 0.0),
            payload=payload,
        )
        if self.faults.fire("stuck", kind.fault_group, info) is not None:
            job.stuck = True
        elif (rule := self.faults.fire("fail", kind.fault_group, info)) is not None:
            assert rule.error_code is not None
            job.forced = JobEnd.failed(kind, rule.error_code)
        if job.stuck or job.forced is not None:
            if discard is not None:
                discard()
        elif work is None:
            # Nothing to do but walk the states: done as soon as the clock runs out.
            job.work = Future()
            job.work.set_result(JobEnd(kind.succeeded))
        else:
            job.work = self._pool.submit(_guarded, kind, work, discard)
        with self._lock:
            self._jobs[job_id] = job
            self._active[job_id] = job
        self.counters.count_job(kind.name)
        return job

    # -- reading ---------------------------------------------------------------------------

    def get(self, job_id: str, kind: JobKind | None = None) -> JobRecord | None:
        """The job with ``job_id`` (of ``kind``, if given)."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or (kind is not None and job.kind is not kind):
            return None
        return job

    def state(self, job: JobRecord, now: float | None = None) -> str:
        """The state a client sees now."""
        kind = job.kind
        if job.forced is not None:
            return job.forced.state
        elapsed = (self.clock.monotonic() if now is None else now) - job.started
        count = len(kind.phases)
        phase = count if job.duration <= 0 else int(elapsed / job.duration * count)
        if job.stuck:
            return kind.phases[min(phase, kind.phases.index(kind.stuck_in))]
        end = job.end()
        if phase >= count and end is not None:
            return end.state
        # The clock ran out but the work has not: the job is still working.
        return kind.phases[min(phase, count - 1)] if job.duration > 0 else kind.working

    def is_final(self, job: JobRecord, now: float | None = None) -> bool:
        """True once the job is in one of its kind's final states."""
        return self.state(job, now) in job.kind.final_states

    def read(
        self, job: JobRecord, *, stale_after: float | None = None, stale_code: int | None = None
    ) -> tuple[str, JobEnd | None]:
        """State and end of ``job``, failing a stuck job older than ``stale_after`` first.

        That is what the real services do when a client reads a job no worker runs any more
        (imports: error 6671 after 5 minutes). A stuck job still in its first phase has not
        been picked up by a worker, so it never counts as stale.
        """
        state = self.state(job)
        if (
            stale_after is not None
            and stale_code is not None
            and job.stuck
            and state not in job.kind.final_states
            and state != job.kind.phases[0]
            and self.clock.time() - job.created_at > stale_after
        ):
            self.fail(job, stale_code)
            state = job.kind.failed
        return state, job.end() if state in job.kind.final_states else None

    def fail(self, job: JobRecord, code: int) -> None:
        """End ``job`` in failure with ``code`` now (its work, if any, is abandoned)."""
        job.forced = JobEnd.failed(job.kind, code)

    def cancel(self, job: JobRecord) -> bool:
        """Cancel an unfinished job of a kind that can be cancelled; False when it cannot."""
        if job.kind.cancelled is None or self.is_final(job):
            return False
        if job.work is not None:
            job.work.cancel()
        job.forced = JobEnd(job.kind.cancelled)
        return True

    def unfinished(self, kind: JobKind, user: str) -> list[JobRecord]:
        """``user``'s jobs of ``kind`` not yet in a final state, oldest first."""
        now = self.clock.monotonic()
        with self._lock:
            for job in list(self._active.values()):
                if self.state(job, now) in job.kind.final_states:
                    del self._active[job.id]
            return [j for j in self._active.values() if j.kind is kind and j.user == user]

    def all(self, kind: JobKind | None = None) -> list[JobRecord]:
        """Every job (of ``kind``, if given), oldest first."""
        with self._lock:
            jobs = list(self._jobs.values())
        return [j for j in jobs if kind is None or j.kind is kind]

    def wait_for_work(self, job: JobRecord, timeout: float | None = 30.0) -> None:
        """Block until the job's work has run (not its clock): for tests on a frozen clock."""
        if job.work is not None:
            with contextlib.suppress(CancelledError):
                job.work.exception(timeout=timeout)

    # -- clean-up --------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every job; work not started is cancelled, running work is waited for."""
        old = self._pool
        self._pool = self._new_pool()
        old.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            self._jobs.clear()
            self._active.clear()

    def close(self) -> None:
        """Stop the pool; work that has not started is cancelled."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def _guarded(
    kind: JobKind, work: Callable[[], JobEnd], discard: Callable[[], None] | None
) -> JobEnd:
    try:
        return work()
    except Exception:
        log.exception("a %s job failed with an unexpected error", kind.name)
        return JobEnd.failed(kind, UNKNOWN_ERROR)
    finally:
        if discard is not None:
            discard()
