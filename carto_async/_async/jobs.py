"""Awaitable handles of server-side jobs, and waiting on many of them at once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from carto_async._async import _concurrency as cc
from carto_async._core.jobs import Outcome, classify, dump_token
from carto_async._core.polling import GROUP_MIN_JOBS, ListingWatch, PollPolicy, Watched
from carto_async.errors import APIError, CartoError, JobFailed, JobTimeout

if TYPE_CHECKING:
    from carto_async._async.client import AsyncCarto

__all__ = ["AsyncJob", "AsyncJobs"]

S = TypeVar("S")


class AsyncJob(Generic[S]):
    """A handle on a server-side job: poll it, wait for it, or resume it later from a token.

    Nothing runs in the background: the job is polled only while something waits on it, at
    the spacing of the client's poll policy. ``snapshot`` is the last status seen (no I/O).

    Example::

        job = await carto.imports.upload("a.csv")
        status = await job.wait(timeout=600)
    """

    kind: str = "job"
    _states: Mapping[str, Outcome] = {}
    #: True when the API can list its unfinished jobs in one request (see ``_list_pending``).
    _lists_pending: bool = False

    def __init__(
        self, client: AsyncCarto, job_id: str, *, snapshot: S | None = None, resumed: bool = False
    ) -> None:
        self._client = client
        self.id = job_id
        self._snapshot = snapshot
        self._done_callbacks: list[Callable[[AsyncJob[S]], None]] = []
        self._created_at = cc.now()
        client._scheduler.add(self.id, cc.now(), poll_now=resumed and snapshot is None)

    # -- subclass hooks -------------------------------------------------------------------
    async def _fetch(self) -> S:  # pragma: no cover - abstract
        """One status request."""
        raise NotImplementedError

    def _state_of(self, snapshot: S) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _failure(self, snapshot: S) -> JobFailed:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    async def _list_pending(cls, client: AsyncCarto) -> set[str]:  # pragma: no cover
        """The ids of the unfinished jobs of this kind, in one request."""
        raise NotImplementedError

    # -- snapshot ---------------------------------------------------------------------------
    @property
    def snapshot(self) -> S | None:
        """The last status seen, or ``None`` before the first poll."""
        return self._snapshot

    @property
    def state(self) -> str | None:
        """The last state seen."""
        return None if self._snapshot is None else self._state_of(self._snapshot)

    @property
    def outcome(self) -> Outcome:
        """Pending, success or failure, from the last state seen."""
        return classify(self._states, self.state)

    @property
    def done(self) -> bool:
        """True once the job was seen in a final state."""
        return self.outcome is not Outcome.PENDING

    @property
    def result(self) -> S | None:
        """The final status of a job that succeeded, else ``None``."""
        return self._snapshot if self.outcome is Outcome.SUCCESS else None

    def token(self) -> str:
        """A small JSON string to resume waiting on this job later (it holds no secret)."""
        return dump_token(self.kind, self.id)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id!r} state={self.state!r}>"

    # -- I/O --------------------------------------------------------------------------------
    async def refresh(self) -> S:
        """Poll the job once (exactly one status request) and return its status."""
        snapshot = await self._fetch()
        self._snapshot = snapshot
        scheduler = self._client._scheduler
        if self.done:
            scheduler.discard(self.id)
            for callback in self._done_callbacks:
                callback(self)
        else:
            scheduler.polled(self.id, cc.now())
        return snapshot

    def _final(self) -> S:
        assert self._snapshot is not None
        if self.outcome is Outcome.FAILURE:
            raise self._failure(self._snapshot)
        return self._snapshot

    async def wait(self, timeout: float | None = None, *, poll: PollPolicy | None = None) -> S:
        """Wait until the job is final and return its status; raise if it failed.

        ``timeout`` (seconds) raises :class:`JobTimeout`; the job goes on on the server.
        ``poll`` overrides the client's poll policy for this job.
        """
        scheduler = self._client._scheduler
        deadline = None if timeout is None else cc.now() + timeout
        if not self.done:
            scheduler.add(self.id, cc.now())
            if poll is not None:
                scheduler.set_policy(self.id, poll, cc.now())
        while self._pending():
            due = scheduler.when(self.id)
            current = cc.now()
            if due is None:
                due = current
            if deadline is not None and due > deadline:
                # The next poll would come after the deadline: one last look at the deadline.
                await cc.sleep(deadline - current)
                await self.refresh()
                if self._pending():
                    raise JobTimeout(
                        f"{self.kind} {self.id} still {self.state!r} after {timeout:g}s; "
                        f"it goes on on the server: resume it with its token()",
                        job=self,
                        last_state=self.state,
                    )
                break
            if due > current:
                await cc.sleep(due - current)
            # Another waiter may have polled while this one slept.
            if self._pending() and (scheduler.when(self.id) or 0) <= cc.now():
                await self.refresh()
        return self._final()

    def _pending(self) -> bool:
        return self.outcome is Outcome.PENDING

    async def watch(self) -> AsyncIterator[S]:
        """Yield the status each time the state changes, ending with the final one.

        A failure is yielded like any state, not raised: check ``job.outcome``.
        """
        scheduler = self._client._scheduler
        last: str | None = None
        if self._snapshot is None:
            await self.refresh()
        while True:
            assert self._snapshot is not None
            if self.state != last:
                last = self.state
                yield self._snapshot
            if self.done:
                return
            due = scheduler.when(self.id)
            current = cc.now()
            if due is not None and due > current:
                await cc.sleep(due - current)
            await self.refresh()

    # async-only:start
    def __await__(self) -> Generator[Any, None, S]:
        return self.wait().__await__()

    # async-only:end


J = TypeVar("J", bound=AsyncJob[Any])


class AsyncJobs:
    """Wait on many jobs at once: one loop polls whichever jobs are due.

    Example::

        jobs = [await carto.imports.upload(p) for p in paths]
        results = await carto.jobs.wait_all(jobs, return_exceptions=True)
    """

    def __init__(self, client: AsyncCarto) -> None:
        self._client = client

    async def _refresh_all(self, jobs: list[Any], limit: int) -> list[tuple[Any, Exception]]:
        calls: list[Callable[[], Awaitable[Any]]] = [job.refresh for job in jobs]
        outcomes = await cc.gather(calls, limit=limit)
        return [
            (job, outcome)
            for job, outcome in zip(jobs, outcomes, strict=True)
            if isinstance(outcome, Exception)
        ]

    async def as_completed(
        self, jobs: Iterable[J], *, timeout: float | None = None, limit: int = 20
    ) -> AsyncIterator[J]:
        """Yield each job as soon as it is seen final (success or failure).

        ``await job`` (or ``job.result``) then gives its status or raises its failure. A status
        request that keeps failing after the transport's retries raises its :class:`APIError`
        here; ``timeout`` raises :class:`JobTimeout` for the jobs still pending.
        """
        pending = list(dict.fromkeys(jobs))
        deadline = None if timeout is None else cc.now() + timeout
        rounds = _Rounds(self, limit)
        for job in [j for j in pending if j.done]:
            pending.remove(job)
            yield job
        while pending:
            if deadline is not None and cc.now() >= deadline:
                raise JobTimeout(
                    f"{len(pending)} job(s) still pending after {timeout:g}s",
                    job=pending[0],
                    last_state=pending[0].state,
                )
            errors = await rounds.poll(pending)
            if errors:
                raise errors[0][1]
            for job in [j for j in pending if j.done]:
                pending.remove(job)
                yield job
            if pending:
                await rounds.sleep(pending, deadline)

    async def wait_all(
        self,
        jobs: Iterable[J],
        *,
        timeout: float | None = None,
        limit: int = 20,
        return_exceptions: bool = False,
    ) -> list[Any]:
        """Wait for every job; return their final statuses in the order given.

        ``limit`` caps the status requests in flight. With ``return_exceptions`` a failed
        job's :class:`JobFailed` (or the :class:`APIError` of its status requests, or a
        :class:`JobTimeout`) takes its place in the list; otherwise the first one is raised
        as soon as it is seen. Jobs go on on the server either way.
        """
        ordered = list(jobs)
        pending = [j for j in dict.fromkeys(ordered) if not j.done]
        errors: dict[int, BaseException] = {}
        deadline = None if timeout is None else cc.now() + timeout
        rounds = _Rounds(self, limit)
        while pending:
            if deadline is not None and cc.now() >= deadline:
                for job in pending:
                    timed_out = JobTimeout(
                        f"{job.kind} {job.id} still {job.state!r} after {timeout:g}s",
                        job=job,
                        last_state=job.state,
                    )
                    if not return_exceptions:
                        raise timed_out
                    errors[id(job)] = timed_out
                break
            for job, exc in await rounds.poll(pending):
                if not return_exceptions:
                    raise exc
                errors[id(job)] = exc
                pending.remove(job)
            for job in [j for j in pending if j.done]:
                pending.remove(job)
                if job.outcome is Outcome.FAILURE and not return_exceptions:
                    job._final()
            if pending:
                await rounds.sleep(pending, deadline)
        results: list[Any] = []
        for job in ordered:
            if id(job) in errors:
                results.append(errors[id(job)])
                continue
            try:
                results.append(job._final())
            except CartoError as exc:
                results.append(exc)
        return results


class _Rounds:
    """The polling of one ``wait_all`` / ``as_completed`` call (or of the import-slot waiter).

    :class:`~carto_async._core.polling.ListingWatch` decides what is due; this sends it.
    """

    def __init__(self, jobs: AsyncJobs, limit: int, *, min_group: int = GROUP_MIN_JOBS) -> None:
        self._jobs = jobs
        self._client = jobs._client
        self._limit = limit
        self._watch = ListingWatch(self._client._scheduler, min_group=min_group)

    async def poll(self, pending: list[Any]) -> list[tuple[Any, Exception]]:
        """Poll whatever is due; return the jobs whose status requests failed."""
        by_id = {j.id: j for j in pending}
        classes = {j.kind: type(j) for j in pending}
        watched = [Watched(j.id, j.kind, j._lists_pending, j._created_at) for j in pending]
        listings, due = self._watch.plan(cc.now(), watched)
        missing: list[str] = []
        for kind, members in listings.items():
            listed: list[str] | None
            try:
                listed = list(await classes[kind]._list_pending(self._client))
            except APIError:
                listed = None
            ids = self._watch.listed(kind, members, listed, cc.now())
            if listed is None:
                due.extend(ids)
            else:
                missing.extend(ids)
        refresh = [by_id[i] for i in dict.fromkeys(missing + due)]
        errors = await self._jobs._refresh_all(refresh, self._limit) if refresh else []
        self._watch.not_listed_but_pending(i for i in missing if not by_id[i].done)
        return errors

    def next_wake(self, pending: list[Any]) -> float | None:
        """When the next poll of ``pending`` is due, as of the last :meth:`poll`."""
        for job in pending:
            self._client._scheduler.add(job.id, cc.now())
        return self._watch.next_wake()

    async def sleep(self, pending: list[Any], deadline: float | None) -> None:
        """Sleep until the next poll is due (or the deadline)."""
        current = cc.now()
        target = self.next_wake(pending) or current
        if deadline is not None:
            target = min(target, deadline)
        if target > current:
            await cc.sleep(target - current)
