"""The waiting of a caller on server-side jobs, as steps (sans-I/O).

Everything that decides how a wait goes lives here: when to sleep and how long, when to poll,
the last look at the deadline before :class:`~carto_async.errors.JobTimeout`, which failures
end the wait at once and which are kept in place (``wait_all``'s ``return_exceptions``), and
the client-side import-slot count with its waits. The async and sync layers run a thin loop
that executes each step::

    waiter = Waiter(keys, now=clock(), timeout=600)
    while True:
        step = waiter.next(clock(), wake)   # wake: when the client's watcher next polls
        match step:
            case Done(): break
            case Sleep(seconds): sleep(seconds)
            case Poll(): poll (or, with last_look, look at every pending job now)
            case TimedOut(keys): waiter.fail(key, JobTimeout(...)) for each key
        then report: waiter.settle(key, outcome) / waiter.fail(key, error)
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from carto_async._core.jobs import JobKey, Outcome

__all__ = [
    "RESERVATION_RECHECK",
    "Done",
    "Poll",
    "Sleep",
    "SlotPlan",
    "Step",
    "TimedOut",
    "Waiter",
]

#: Seconds between two looks of the import-slot waiter when every slot is held by an upload
#: still in flight (no job to poll yet); a finished upload wakes it sooner.
RESERVATION_RECHECK = 0.25


@attrs.frozen
class Sleep:
    """Sleep this many seconds, then ask again."""

    seconds: float


@attrs.frozen
class Poll:
    """Poll what is due; with ``last_look``, every pending job now (the deadline has come)."""

    last_look: bool = False


@attrs.frozen
class TimedOut:
    """These jobs are still pending after the deadline's last look."""

    keys: tuple[JobKey, ...]


@attrs.frozen
class Done:
    """Nothing is left to wait for."""


Step = Sleep | Poll | TimedOut | Done


class Waiter:
    """One caller's wait on some jobs (``job.wait()``, ``wait_all``, ``as_completed``).

    ``timeout`` seconds from ``now`` is the deadline: when the next poll would come after it,
    the waiter sleeps until the deadline, takes one last look at every job still pending, and
    gives up on those still pending then (:class:`TimedOut`). ``return_exceptions`` keeps a
    job's request error or timeout in place of its result instead of ending the wait;
    ``raise_failures`` ends the wait at the first job seen failed (``wait_all`` without
    ``return_exceptions``, and ``job.wait()``).
    """

    def __init__(
        self,
        keys: Iterable[JobKey],
        *,
        now: float,
        timeout: float | None = None,
        return_exceptions: bool = False,
        raise_failures: bool = True,
    ) -> None:
        self.pending: list[JobKey] = list(dict.fromkeys(keys))
        self.settled: list[JobKey] = []
        self.errors: dict[JobKey, Exception] = {}
        self.timeout = timeout
        self.deadline = None if timeout is None else now + timeout
        self.return_exceptions = return_exceptions
        self.raise_failures = raise_failures
        self._looked = False

    def next(self, now: float, wake: float | None) -> Step:
        """The next step, given when the client's watcher next polls (``None``: unknown)."""
        if not self.pending:
            return Done()
        if self.deadline is not None:
            if self._looked:
                return TimedOut(tuple(self.pending))
            if now >= self.deadline:
                self._looked = True
                return Poll(last_look=True)
            if wake is not None and wake > self.deadline:
                return Sleep(self.deadline - now)
        if wake is None or wake <= now:
            return Poll()
        return Sleep(wake - now)

    def settle(self, key: JobKey, outcome: Outcome) -> bool:
        """Note the outcome seen for ``key``; True when its failure must be raised now."""
        if outcome is Outcome.PENDING or key not in self.pending:
            return False
        self.pending.remove(key)
        self.settled.append(key)
        return outcome is Outcome.FAILURE and self.raise_failures

    def fail(self, key: JobKey, error: Exception) -> bool:
        """A job's status requests failed (or it timed out); True when ``error`` must be raised.

        With ``return_exceptions`` the error takes the job's place and the job stops being
        waited for.
        """
        if key not in self.pending:
            return False
        if not self.return_exceptions:
            return True
        self.pending.remove(key)
        self.settled.append(key)
        self.errors[key] = error
        return False

    def take_settled(self) -> list[JobKey]:
        """The keys settled since the last call, in the order they were seen."""
        settled, self.settled = self.settled, []
        return settled


class SlotPlan:
    """The client-side cap on imports in progress (CARTO allows 3 per user by default).

    A new import reserves a slot before its create request is sent (so no file is uploaded
    only to be told 429) and holds it, once created, until the import is seen final. While
    every slot is held the waiter polls the running imports (:class:`Poll`, when the client's
    watcher is due), or, when every slot is held by an upload still in flight, looks again in
    :data:`RESERVATION_RECHECK` seconds.
    """

    def __init__(self, cap: int | None) -> None:
        self.cap = cap
        self.active: set[str] = set()
        self.reserved = 0

    @property
    def limited(self) -> bool:
        """False when there is no cap (``max_concurrent_imports=None``)."""
        return bool(self.cap)

    def free(self) -> bool:
        """True when a new import may be created now."""
        return not self.cap or len(self.active) + self.reserved < self.cap

    def reserve(self) -> None:
        """A create request is about to go out."""
        if self.cap:
            self.reserved += 1

    def cancel(self) -> None:
        """The create request failed: its reservation is given back."""
        if self.cap:
            self.reserved -= 1

    def register(self, job_id: str, *, done: bool) -> bool:
        """The create request returned ``job_id``; True when it now holds a slot."""
        if not self.cap:
            return False
        self.reserved -= 1
        if done:
            return False
        self.active.add(job_id)
        return True

    def adopt(self, job_id: str, *, done: bool) -> bool:
        """Count an import this client did not create (a resumed one) until it is final.

        It holds one of the account's import slots on the server all the same. True when it
        was not counted yet.
        """
        if not self.cap or done or job_id in self.active:
            return False
        self.active.add(job_id)
        return True

    def release(self, job_id: str) -> None:
        """The import was seen final."""
        self.active.discard(job_id)

    def next(self, now: float, wake: float | None) -> Step:
        """What the slot waiter does next (``wake``: when the client's watcher next polls)."""
        if self.free():
            return Done()
        if not self.active:
            return Sleep(RESERVATION_RECHECK)
        if wake is None or wake <= now:
            return Poll()
        return Sleep(wake - now)
