"""Awaitable handles of server-side jobs of every kind, and waiting on many of them at once.

One generic handle (:class:`AsyncJob`) serves every job kind: imports, sync runs, exports,
Batch SQL jobs. A kind supplies how to fetch a snapshot, the outcome of a snapshot (a state
table by default), the failure it raises, and optionally a listing (snapshots by id), a
cancel request and how to resume it from a token. Every wait of a client goes through the
client's one watcher (:class:`_Watcher`), so many waits share listings and poll spacing; the
decisions of a wait are :class:`~carto_async._core.waiter.Waiter` steps.
"""

from __future__ import annotations

import threading
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Collection,
    Generator,
    Iterable,
    Mapping,
    Sequence,
)
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar, overload

from carto_async._async import _concurrency as cc
from carto_async._core.jobs import Account, JobKey, Outcome, classify, dump_token, load_token
from carto_async._core.polling import ListingWatch, PollPolicy, Watched
from carto_async._core.waiter import Done, Poll, Sleep, TimedOut, Waiter
from carto_async.errors import APIError, CartoError, JobFailed, JobTimeout, ValidationError

if TYPE_CHECKING:
    from carto_async._async.client import AsyncCarto

__all__ = ["AsyncJob", "AsyncJobs"]

S = TypeVar("S")


class AsyncJob(Generic[S]):
    """A handle on a server-side job: poll it, wait for it, cancel it, or resume it later.

    Nothing runs in the background: the job is polled only while something waits on it, at
    the spacing of the client's poll policy, through the client's one watcher (many waits
    share its listings). ``snapshot`` is the last status seen (no I/O).

    Example::

        job = await carto.imports.upload("a.csv")
        status = await job.wait(timeout=600)
        token = job.token()                  # later: carto.jobs.resume(token)
    """

    #: The kind's name, in tokens and in the poll scheduler's keys (``"import"``).
    kind: ClassVar[str] = "job"
    #: The kind's state table (the default outcome hook).
    _states: ClassVar[Mapping[str, Outcome]] = {}
    #: True when the kind's API lists its jobs in one request (see :meth:`_list`).
    _listable: ClassVar[bool] = False
    #: Why ``cancel()`` cannot work for this kind (kinds with a cancel request override it).
    _no_cancel: ClassVar[str] = "its API has no cancel request"
    #: Every kind by name, for ``carto.jobs.resume(token)``.
    _kinds: ClassVar[dict[str, type[AsyncJob[Any]]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            AsyncJob._kinds[cls.kind] = cls

    def __init__(
        self, client: AsyncCarto, job_id: str, *, snapshot: S | None = None, resumed: bool = False
    ) -> None:
        self._client = client
        self.id = job_id
        self._snapshot = snapshot
        self._done_callbacks: list[Callable[[AsyncJob[S]], None]] = []
        self._created_at = cc.now()
        # A resumed handle's creation says nothing of how long its job has been running.
        self._timed = not resumed
        client._scheduler.add(self._key, cc.now(), poll_now=resumed and snapshot is None)

    # -- kind hooks ---------------------------------------------------------------------------
    async def _fetch(self) -> S:  # pragma: no cover - abstract
        """One status request."""
        raise NotImplementedError

    def _state_of(self, snapshot: S) -> str | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _outcome_of(self, snapshot: S) -> Outcome:
        """The outcome of a snapshot: the state table by default."""
        return classify(self._states, self._state_of(snapshot))

    def _failure(self, snapshot: S) -> JobFailed:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    async def _list(cls, client: AsyncCarto) -> Mapping[str, S | None]:  # pragma: no cover
        """The kind's listing, in one request: snapshots by id.

        ``None`` for an id means "listed, still pending, no snapshot" (the Import API lists
        the ids of unfinished imports). A job missing from the listing gets a status request.
        """
        raise NotImplementedError

    async def _cancel(self) -> S | None:
        """Send the kind's cancel request; the snapshot it answers with, if any."""
        raise ValidationError(f"a {self.kind} job cannot be cancelled: {self._no_cancel}")

    def _token_fields(self) -> dict[str, str]:
        """Non-secret hints a token carries besides kind, id and account."""
        return {}

    @classmethod
    def _resume(cls, client: AsyncCarto, fields: Mapping[str, str]) -> AsyncJob[Any]:
        """The handle of a token's job on ``client`` (no request is sent)."""
        return cls(client, fields["id"], resumed=True)

    # -- snapshot -----------------------------------------------------------------------------
    @property
    def _key(self) -> JobKey:
        return (self.kind, self.id)

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
        """Pending, success or failure, from the last status seen."""
        return Outcome.PENDING if self._snapshot is None else self._outcome_of(self._snapshot)

    @property
    def done(self) -> bool:
        """True once the job was seen in a final state."""
        return self.outcome is not Outcome.PENDING

    @property
    def result(self) -> S | None:
        """The final status of a job that succeeded, else ``None``."""
        return self._snapshot if self.outcome is Outcome.SUCCESS else None

    def token(self) -> str:
        """A small JSON string to resume waiting on this job later, with ``carto.jobs.resume``.

        It holds the kind, the id and the account (username and host), never the key.
        """
        creds = self._client.credentials
        account = Account.of(creds.username, creds.base_url)
        return dump_token(self.kind, self.id, account=account, **self._token_fields())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id!r} state={self.state!r}>"

    # -- I/O ----------------------------------------------------------------------------------
    def _apply(self, snapshot: S, *, polled: bool = True) -> S:
        """Take a snapshot as the job's latest: from a status request, a listing, or (not
        ``polled``) another handle of the same job."""
        self._snapshot = snapshot
        scheduler = self._client._scheduler
        if self.done:
            scheduler.discard(self._key)
            for callback in self._done_callbacks:
                callback(self)
        elif polled:
            scheduler.polled(self._key, cc.now())
        return snapshot

    async def refresh(self) -> S:
        """Poll the job once (exactly one status request) and return its status."""
        return self._apply(await self._fetch())

    async def cancel(self) -> None:
        """Ask the server to cancel the job, where its API can (Batch SQL jobs).

        The job is polled again soon after (or at once takes the snapshot the cancel request
        answered with). For a kind without a cancel request (imports, exports, sync runs)
        this raises :class:`~carto_async.errors.ValidationError` before any request.
        """
        snapshot = await self._cancel()
        if snapshot is not None:
            self._apply(snapshot)
        else:
            self._client._scheduler.expedite(self._key, cc.now())

    def _final(self) -> S:
        assert self._snapshot is not None
        if self.outcome is Outcome.FAILURE:
            raise self._failure(self._snapshot)
        return self._snapshot

    async def wait(self, timeout: float | None = None, *, poll: PollPolicy | None = None) -> S:
        """Wait until the job is final and return its status; raise if it failed.

        ``timeout`` (seconds) raises :class:`JobTimeout` after one last look at the deadline;
        the job goes on on the server. ``poll`` overrides the client's poll policy for this
        job. Concurrent waits of one client share its watcher: many imports waited on one
        ``wait()`` each are watched through one listing request, as ``wait_all`` does.
        """
        if not self.done and poll is not None:
            scheduler = self._client._scheduler
            scheduler.add(self._key, cc.now())
            scheduler.set_policy(self._key, poll, cc.now())
        waiter = Waiter([self._key], now=cc.now(), timeout=timeout)
        await self._client.jobs._watcher.wait([self], waiter)
        return self._final()

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
            due = scheduler.when(self._key)
            current = cc.now()
            if due is not None and due > current:
                await cc.sleep(due - current)
            await self.refresh()

    # async-only:start
    def __await__(self) -> Generator[Any, None, S]:
        return self.wait().__await__()

    # async-only:end


J = TypeVar("J", bound=AsyncJob[Any])


class _Watcher:
    """The one poller of a client: every wait on its jobs goes through it.

    Each waiter registers its jobs here and runs :class:`Waiter` steps; a "poll" step runs
    one round over every job any waiter waits on (one listing per listable kind with enough
    pending jobs, status requests for the rest, as :class:`ListingWatch` plans), or, when
    another waiter is running that round, waits for it to end. So 500 concurrent
    ``job.wait()`` calls cost what one ``wait_all`` of 500 jobs costs.
    """

    def __init__(self, client: AsyncCarto, *, limit: int = 20) -> None:
        self._client = client
        self._watch = ListingWatch(client._scheduler)
        # Every handle waited on, by key, once per registration: two handles of one job (two
        # ``carto.imports.job(id)`` calls) are polled once and both take the snapshot.
        self._handles: dict[JobKey, list[AsyncJob[Any]]] = {}
        self._eager: dict[str, int] = {}
        self._errors: dict[JobKey, tuple[int, Exception]] = {}
        # The registry is touched by the threads of sync callers too; this lock is never held
        # while waiting, so both colours use it as it is.
        self._registry = threading.Lock()
        self._lock = cc.Lock()
        self._busy = False
        self._round_over = cc.Event()
        self._rounds = 0
        self.limit = limit
        #: When the next listing or status request is due (``None``: plan a round now).
        self.wake: float | None = None

    def add(self, jobs: Iterable[AsyncJob[Any]], *, eager: bool = False) -> None:
        """Someone waits on ``jobs``; ``eager`` lists their kind from one pending job on."""
        scheduler = self._client._scheduler
        with self._registry:
            for job in jobs:
                key = job._key
                self._handles.setdefault(key, []).append(job)
                if eager:
                    self._eager[job.kind] = self._eager.get(job.kind, 0) + 1
                if not job.done:
                    scheduler.add(key, cc.now())
                    due = scheduler.when(key)
                    if self.wake is not None and due is not None:
                        self.wake = min(self.wake, due)

    def remove(self, jobs: Iterable[AsyncJob[Any]], *, eager: bool = False) -> None:
        """Nobody waits on ``jobs`` through this registration any more."""
        with self._registry:
            for job in jobs:
                key = job._key
                handles = self._handles.get(key, [])
                if job in handles:
                    handles.remove(job)
                if eager:
                    left = self._eager.get(job.kind, 0) - 1
                    if left > 0:
                        self._eager[job.kind] = left
                    else:
                        self._eager.pop(job.kind, None)
                if handles:
                    continue
                self._handles.pop(key, None)
                self._errors.pop(key, None)
                self._watch.forget(key)

    async def round(self) -> None:
        """Poll whatever is due among the jobs being waited on (or wait for the round that
        another waiter is running)."""
        if not await self._turn():
            return
        try:
            with self._registry:
                handles = {key: list(jobs) for key, jobs in self._handles.items()}
                eager = set(self._eager)
            pending = [j for jobs in handles.values() for j in jobs[:1] if not j.done]
            scheduler = self._client._scheduler
            for job in pending:
                scheduler.add(job._key, cc.now())  # tracked while waited on, whatever happened
            await self._poll(pending, force=False, eager=eager)
            for jobs in handles.values():
                _share(jobs)
            wake = self._watch.next_wake()
            if wake is None and any(not j.done for j in pending):
                wake = cc.now() + scheduler.policy.interval(0, scheduler.rng)
            self.wake = wake
        finally:
            self._end_turn()

    async def look(self, jobs: Sequence[AsyncJob[Any]]) -> None:
        """The last look at ``jobs`` before a deadline: poll each of them now (after the
        round in progress, if any)."""
        while not await self._turn():
            pass
        try:
            with self._registry:
                eager = set(self._eager)
            await self._poll(
                list({j._key: j for j in jobs if not j.done}.values()), force=True, eager=eager
            )
            with self._registry:
                for job in jobs:
                    _share([job, *self._handles.get(job._key, [])])
        finally:
            self._end_turn()

    async def _turn(self) -> bool:
        """Take the turn to poll (True), or wait for the round in progress to end (False)."""
        async with self._lock:
            event = self._round_over
            busy = self._busy
            self._busy = True
        if busy:
            await event.wait()
            return False
        return True

    def _end_turn(self) -> None:
        # Clear the flag before swapping the event: a waiter that took the new event then
        # sees the flag clear and takes the next turn itself.
        self._busy = False
        over, self._round_over = self._round_over, cc.Event()
        over.set()

    async def _poll(
        self, jobs: list[AsyncJob[Any]], *, force: bool, eager: Collection[str]
    ) -> None:
        by_key = {j._key: j for j in jobs}
        classes = {j.kind: type(j) for j in jobs}
        watched = [Watched(j.id, j.kind, j._listable, j._created_at, j._timed) for j in jobs]
        listings, due = self._watch.plan(cc.now(), watched, eager=eager, force=force)
        missing: list[JobKey] = []
        for kind, members in listings.items():
            listed: Mapping[str, Any] | None
            try:
                listed = await classes[kind]._list(self._client)
            except APIError:
                listed = None
            if listed is not None:
                snapshots = {i.lower(): s for i, s in listed.items() if s is not None}
                for member in members:
                    snapshot = snapshots.get(member.id.lower())
                    if snapshot is not None:
                        by_key[member.key]._apply(snapshot)
            keys = self._watch.listed(kind, members, None if listed is None else listed, cc.now())
            (due if listed is None else missing).extend(keys)
        refresh = [by_key[k] for k in dict.fromkeys(missing + due) if not by_key[k].done]
        outcomes = await cc.gather([job.refresh for job in refresh], limit=self.limit)
        self._rounds += 1
        for job, outcome in zip(refresh, outcomes, strict=True):
            if isinstance(outcome, Exception):
                self._errors[job._key] = (self._rounds, outcome)
                # Tried again at the policy's spacing (the slot waiter keeps watching it).
                self._client._scheduler.polled(job._key, cc.now())
            elif isinstance(outcome, BaseException):  # pragma: no cover - gather re-raises
                raise outcome
            else:
                self._errors.pop(job._key, None)
        self._watch.not_listed_but_pending(k for k in missing if not by_key[k].done)
        seen_at = cc.now()
        for member in watched:
            if by_key[member.key].done:
                self._watch.finished(member, seen_at)

    def _collect(self, waiter: Waiter, by_key: Mapping[JobKey, AsyncJob[Any]], seen: int) -> None:
        """Report to ``waiter`` what the rounds since round ``seen`` found; raise what ends it."""
        for key in list(waiter.pending):
            job = by_key[key]
            if job.done:
                if waiter.settle(key, job.outcome):
                    job._final()
                continue
            error = self._errors.get(key)
            if error is not None and error[0] > seen and waiter.fail(key, error[1]):
                raise error[1]

    async def steps(
        self, jobs: Sequence[AsyncJob[Any]], waiter: Waiter
    ) -> AsyncGenerator[list[AsyncJob[Any]], None]:
        """Run ``waiter``'s steps; yield the jobs it settled after each (``wait`` and
        ``wait_all`` run it to the end, ``as_completed`` yields from it)."""
        by_key = {j._key: j for j in jobs}
        self.add(by_key.values())
        try:
            seen = self._rounds
            while True:
                self._collect(waiter, by_key, seen)
                seen = self._rounds
                settled = waiter.take_settled()
                if settled:
                    yield [by_key[k] for k in settled]
                step = waiter.next(cc.now(), self.wake)
                if isinstance(step, Done):
                    return
                if isinstance(step, Sleep):
                    await cc.sleep(step.seconds)
                elif isinstance(step, Poll):
                    if step.last_look:
                        await self.look([by_key[k] for k in waiter.pending])
                    else:
                        await self.round()
                elif isinstance(step, TimedOut):
                    for key in step.keys:
                        timed_out = _timeout(by_key[key], waiter.timeout)
                        if waiter.fail(key, timed_out):
                            raise timed_out
        finally:
            self.remove(by_key.values())

    async def wait(self, jobs: Sequence[AsyncJob[Any]], waiter: Waiter) -> None:
        """Run ``waiter`` to its end."""
        steps = self.steps(jobs, waiter)
        try:
            async for _ in steps:
                pass
        finally:
            await steps.aclose()


def _share(handles: Sequence[AsyncJob[Any]]) -> None:
    """Give every handle of one job the latest snapshot any of them took."""
    polled = next((h for h in handles if h.done), None) or (handles[0] if handles else None)
    if polled is None or polled.snapshot is None:
        return
    for handle in handles:
        if handle is not polled and handle.snapshot is not polled.snapshot:
            handle._apply(polled.snapshot, polled=False)


def _timeout(job: AsyncJob[Any], timeout: float | None) -> JobTimeout:
    return JobTimeout(
        f"{job.kind} {job.id} still {job.state!r} after {timeout or 0:g}s; "
        f"it goes on on the server: resume it with its token()",
        job=job,
        last_state=job.state,
    )


class AsyncJobs:
    """Jobs of every kind: wait on many at once, or resume one from its token.

    Example::

        jobs = [await carto.imports.upload(p) for p in paths]
        results = await carto.jobs.wait_all(jobs, return_exceptions=True)
        job = carto.jobs.resume(token)       # any kind of job, from job.token()
    """

    def __init__(self, client: AsyncCarto) -> None:
        self._client = client
        self._watcher = _Watcher(client)

    def resume(self, token: str) -> AsyncJob[Any]:
        """The handle of the job a ``job.token()`` names, whatever its kind (no request sent).

        A token of an unknown kind, a truncated or garbage token, or one recorded by a client
        of another account (username or host) is a :class:`ValidationError`.
        """
        creds = self._client.credentials
        fields = load_token(token, account=Account.of(creds.username, creds.base_url))
        kind = AsyncJob._kinds.get(fields["kind"])
        if kind is None:
            raise ValidationError(f"this token is for a {fields['kind']} job, a kind unknown here")
        return kind._resume(self._client, fields)

    async def as_completed(
        self, jobs: Iterable[J], *, timeout: float | None = None, limit: int = 20
    ) -> AsyncIterator[J]:
        """Yield each job as soon as it is seen final (success or failure).

        ``await job.wait()`` (or ``job.result``) then gives its status or raises its failure.
        A status request that keeps failing after the transport's retries raises its
        :class:`APIError` here; ``timeout`` raises :class:`JobTimeout` for the jobs still
        pending after a last look at the deadline.
        """
        pending = list(dict.fromkeys(jobs))
        waiter = Waiter(
            [j._key for j in pending], now=cc.now(), timeout=timeout, raise_failures=False
        )
        self._watcher.limit = limit
        by_key = {j._key: j for j in pending}
        steps = self._watcher.steps(pending, waiter)
        try:
            async for settled in steps:
                for job in settled:
                    yield by_key[job._key]
        finally:
            await steps.aclose()

    @overload
    async def wait_all(
        self,
        jobs: Iterable[AsyncJob[S]],
        *,
        timeout: float | None = ...,
        limit: int = ...,
        return_exceptions: Literal[False] = ...,
    ) -> list[S]: ...

    @overload
    async def wait_all(
        self,
        jobs: Iterable[AsyncJob[S]],
        *,
        timeout: float | None = ...,
        limit: int = ...,
        return_exceptions: bool,
    ) -> list[S | CartoError]: ...

    async def wait_all(
        self,
        jobs: Iterable[AsyncJob[S]],
        *,
        timeout: float | None = None,
        limit: int = 20,
        return_exceptions: bool = False,
    ) -> list[S] | list[S | CartoError]:
        """Wait for every job; return their final statuses in the order given.

        ``limit`` caps the status requests in flight. With ``return_exceptions`` a failed
        job's :class:`JobFailed` (or the :class:`APIError` of its status requests, or a
        :class:`JobTimeout`) takes its place in the list; otherwise the first one is raised
        as soon as it is seen. Jobs go on on the server either way.
        """
        ordered = list(jobs)
        unique = list(dict.fromkeys(ordered))
        waiter = Waiter(
            [j._key for j in unique],
            now=cc.now(),
            timeout=timeout,
            return_exceptions=return_exceptions,
            raise_failures=not return_exceptions,
        )
        self._watcher.limit = limit
        await self._watcher.wait(unique, waiter)
        results: list[S | CartoError] = []
        for job in ordered:
            error = waiter.errors.get(job._key)
            if error is not None:
                if not isinstance(error, CartoError):
                    raise error  # a bug, not a job's fate: never handed back as a result
                results.append(error)
                continue
            try:
                results.append(job._final())
            except CartoError as exc:
                results.append(exc)
        return results
