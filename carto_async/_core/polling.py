"""When to poll a server-side job next (sans-I/O).

Polling is separate from HTTP retries: a poll that fails is retried by the transport; the
policy here only spaces successful polls. The default starts at 1 s and grows x1.5 up to 30 s,
each interval spread by ±20 % so that hundreds of jobs never poll in lock-step.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Hashable, Iterable, Iterator, Sequence
from typing import Generic, TypeVar

import attrs

from carto_async._core.jobs import JobKey

__all__ = [
    "GROUP_FLOOR",
    "GROUP_FRACTION",
    "GROUP_MIN_JOBS",
    "LEARNED_FLOOR",
    "LEARNED_MIN_SAMPLES",
    "LEARNED_WINDOW",
    "ListingWatch",
    "ObservedDurations",
    "PollPolicy",
    "PollScheduler",
    "Watched",
    "group_floor",
    "group_interval",
]

#: From this many pending jobs of one kind, ``wait_all`` polls one listing of unfinished jobs
#: instead of each job (when the API has such a listing: ``GET /api/v1/imports``).
GROUP_MIN_JOBS = 4

#: In group mode the listing is polled every ``GROUP_FRACTION`` of the youngest job's age, so a
#: job is noticed within about that fraction of its run time, whatever its length.
GROUP_FRACTION = 0.1

#: The shortest listing interval, as a fraction of the policy's first-poll interval: one listing
#: covers every job, so it may come sooner than a job's own first poll (0.25 s by default).
GROUP_FLOOR = 0.25

#: The shortest listing interval ever, in seconds, however short the jobs seen finishing.
LEARNED_FLOOR = 0.05

#: How many jobs of a kind must have been seen finishing before their durations count.
LEARNED_MIN_SAMPLES = 3

#: How many of the latest durations of a kind are kept (their median is the typical one).
LEARNED_WINDOW = 16

K = TypeVar("K", bound=Hashable)


@attrs.frozen
class PollPolicy:
    """The spacing of status polls: ``initial`` seconds, x``factor`` each time, up to ``cap``."""

    initial: float = attrs.field(default=1.0, validator=attrs.validators.gt(0))
    factor: float = attrs.field(default=1.5, validator=attrs.validators.ge(1))
    cap: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    jitter: float = attrs.field(
        default=0.2, validator=[attrs.validators.ge(0), attrs.validators.lt(1)]
    )

    def interval(self, polls_done: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before the next poll, after ``polls_done`` polls."""
        base = min(self.initial * (self.factor**polls_done), self.cap)
        if not self.jitter:
            return base
        r = rng if rng is not None else random
        return base * (1 + r.uniform(-self.jitter, self.jitter))

    def intervals(self, rng: random.Random | None = None) -> Iterator[float]:
        """The endless sequence of intervals."""
        n = 0
        while True:
            yield self.interval(n, rng)
            n += 1


def group_interval(
    policy: PollPolicy,
    youngest_age: float,
    rng: random.Random | None = None,
    *,
    typical: float | None = None,
) -> float:
    """Seconds until the next listing poll of a group whose youngest job is this old.

    It grows with the youngest job's age, between a floor and the longest interval the policy
    itself would use. The floor is ``GROUP_FLOOR`` of the policy's first interval, unless jobs
    of this kind were seen finishing quickly (``typical``: their typical duration, from
    :class:`ObservedDurations`): then it shrinks to ``GROUP_FRACTION`` of that duration, never
    below :data:`LEARNED_FLOOR`. Jobs that take seconds or more (real imports) never lower it.
    """
    longest = policy.cap if policy.factor > 1 else min(policy.cap, policy.initial)
    base = min(max(GROUP_FRACTION * youngest_age, group_floor(policy, typical)), longest)
    if not policy.jitter:
        return base
    r = rng if rng is not None else random
    return base * (1 + r.uniform(-policy.jitter, policy.jitter))


def group_floor(policy: PollPolicy, typical: float | None = None) -> float:
    """The shortest listing interval for jobs whose typical duration is ``typical`` seconds."""
    floor = GROUP_FLOOR * policy.initial
    if typical is None:
        return floor
    return min(floor, max(LEARNED_FLOOR, GROUP_FRACTION * typical))


class ObservedDurations:
    """How long the jobs of each kind took, as this client saw them (sans-I/O).

    A duration runs from the job's creation (the create request's answer) to the moment it
    was first seen final, so it includes the detection delay: it errs long, never short. The
    typical duration of a kind is the median of its latest :data:`LEARNED_WINDOW` durations,
    once :data:`LEARNED_MIN_SAMPLES` were seen; one quick failure does not make it.
    """

    def __init__(
        self, *, window: int = LEARNED_WINDOW, min_samples: int = LEARNED_MIN_SAMPLES
    ) -> None:
        self._window = window
        self._min_samples = min_samples
        self._seen: dict[str, list[float]] = {}

    def observe(self, kind: str, seconds: float) -> None:
        """A job of ``kind`` was seen final ``seconds`` after it was created."""
        if not seconds >= 0:  # a clock glitch (negative) or NaN is not a duration
            return
        seen = self._seen.setdefault(kind, [])
        seen.append(seconds)
        del seen[: -self._window]

    def typical(self, kind: str) -> float | None:
        """The median of the latest durations of ``kind``, or ``None`` if too few were seen."""
        seen = self._seen.get(kind, [])
        if len(seen) < self._min_samples:
            return None
        ordered = sorted(seen)
        mid = len(ordered) // 2
        if len(ordered) % 2:
            return ordered[mid]
        return (ordered[mid - 1] + ordered[mid]) / 2


@attrs.define
class _Entry:
    policy: PollPolicy
    next_at: float
    polls: int = 0


class PollScheduler(Generic[K]):
    """When each of many jobs is next due for a poll.

    One scheduler per client is shared by everything that waits (``job.wait()``,
    ``wait_all``, ``as_completed``, the import-slot waiter), so a job is never polled more often
    than its policy allows however many callers wait on it. Callers refresh what :meth:`due`
    returns, report it with :meth:`polled`, and sleep until :meth:`next_due`.
    """

    def __init__(self, policy: PollPolicy, *, rng: random.Random | None = None) -> None:
        self.policy = policy
        self._rng = rng if rng is not None else random.Random()
        self._entries: dict[K, _Entry] = {}

    @property
    def rng(self) -> random.Random:
        """The random source of the jitter (seeded by the client)."""
        return self._rng

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def add(
        self, key: K, now: float, *, policy: PollPolicy | None = None, poll_now: bool = False
    ) -> None:
        """Track ``key``: due one interval from ``now``, or at once with ``poll_now``."""
        if key in self._entries:
            return
        pol = policy or self.policy
        delay = 0.0 if poll_now else pol.interval(0, self._rng)
        self._entries[key] = _Entry(pol, now + delay)

    def set_policy(self, key: K, policy: PollPolicy, now: float) -> None:
        """Space the polls of ``key`` by ``policy`` from now on."""
        entry = self._entries.get(key)
        if entry is not None and entry.policy != policy:
            entry.policy = policy
            entry.next_at = min(entry.next_at, now + policy.interval(entry.polls, self._rng))

    def polled(self, key: K, now: float) -> None:
        """``key`` was just polled and is still pending: schedule its next poll."""
        entry = self._entries.get(key)
        if entry is None:
            return
        entry.polls += 1
        entry.next_at = now + entry.policy.interval(entry.polls, self._rng)

    def expedite(self, key: K, now: float) -> None:
        """Make ``key`` due now (a cancel was just sent: look at the job soon)."""
        entry = self._entries.get(key)
        if entry is not None:
            entry.next_at = min(entry.next_at, now)

    def discard(self, key: K) -> None:
        """Stop tracking ``key`` (it finished, or nobody waits for it any more)."""
        self._entries.pop(key, None)

    def polls(self, key: K) -> int:
        """How many polls ``key`` has had."""
        entry = self._entries.get(key)
        return entry.polls if entry else 0

    def when(self, key: K) -> float | None:
        """When ``key`` is next due, or ``None`` if it is not tracked."""
        entry = self._entries.get(key)
        return entry.next_at if entry else None

    def next_due(self, keys: Iterable[K] | None = None) -> float | None:
        """The earliest due time among ``keys`` (default: all), ``None`` if none is tracked."""
        pool = self._entries if keys is None else keys
        times = [e.next_at for k in pool if (e := self._entries.get(k)) is not None]
        return min(times) if times else None

    def due(self, now: float, keys: Iterable[K] | None = None) -> list[K]:
        """The keys among ``keys`` (default: all) whose poll time has come, earliest first."""
        pool = list(self._entries) if keys is None else list(keys)
        ready = [
            (e.next_at, i, k)
            for i, k in enumerate(pool)
            if (e := self._entries.get(k)) is not None and e.next_at <= now
        ]
        return [k for _, _, k in sorted(ready, key=lambda t: (t[0], t[1]))]


@attrs.frozen
class Watched:
    """What :class:`ListingWatch` needs to know of a pending job."""

    id: str
    kind: str  # jobs of one kind ("import") share a listing
    listable: bool  # the kind's API lists its jobs in one request
    created_at: float
    #: True when ``created_at`` is the job's creation (not a resumed handle's): only then does
    #: the time it took to finish tell how long jobs of its kind run.
    timed: bool = True

    @property
    def key(self) -> JobKey:
        """The job's key in the poll scheduler."""
        return (self.kind, self.id)


class ListingWatch:
    """Which of many pending jobs to poll one by one, and which through one listing.

    Few jobs are polled one by one, each at its own policy spacing (the shared
    :class:`PollScheduler`). From ``min_group`` pending jobs of a kind whose API lists its
    jobs, one listing request per round stands in for all of them: only the jobs missing from
    it get a status request. The listing is polled at a fraction of the youngest job's age
    (:func:`group_interval`), so every job is noticed soon after it ends at a cost that does
    not grow with the number of jobs. A job missing from the listing yet still pending
    (another account's, say) goes back to being polled on its own.

    The watch learns how long jobs run (:meth:`finished`): when the jobs of a kind are seen
    finishing in well under the default floor's reach (under 2.5 s with the default policy),
    the listing of the next ones may come as soon as a tenth of that duration after the
    youngest was created; jobs of seconds or minutes keep the default spacing.
    """

    def __init__(
        self, scheduler: PollScheduler[JobKey], *, min_group: int = GROUP_MIN_JOBS
    ) -> None:
        self._scheduler = scheduler
        self._min_group = min_group
        self._group_next: dict[str, float] = {}
        self._unlisted: set[JobKey] = set()
        self._individual: list[JobKey] = []
        self._active: list[str] = []
        self.durations = ObservedDurations()

    def plan(
        self,
        now: float,
        jobs: Sequence[Watched],
        *,
        eager: Collection[str] = (),
        force: bool = False,
    ) -> tuple[dict[str, list[Watched]], list[JobKey]]:
        """The listings due now (kind -> its pending jobs) and the keys due for a status request.

        Kinds in ``eager`` are listed from one pending job on (the import-slot waiter, which
        polls few jobs often). ``force`` makes everything due now: the last look before a
        deadline.
        """
        groups: dict[str, list[Watched]] = {}
        individual: list[JobKey] = []
        for job in jobs:
            if job.listable and job.key not in self._unlisted:
                groups.setdefault(job.kind, []).append(job)
            else:
                individual.append(job.key)
        for kind in [
            k
            for k, members in groups.items()
            if len(members) < (1 if k in eager else self._min_group)
        ]:
            individual.extend(j.key for j in groups.pop(kind))
        policy, rng = self._scheduler.policy, self._scheduler.rng
        due_listings: dict[str, list[Watched]] = {}
        for kind, members in groups.items():
            typical = self.durations.typical(kind)
            first = min(j.created_at for j in members) + group_interval(
                policy, 0.0, rng, typical=typical
            )
            if force or now >= self._group_next.setdefault(kind, first):
                due_listings[kind] = members
        if not force:
            for kind in [k for k in self._group_next if k not in groups]:
                del self._group_next[kind]  # a later group of this kind starts afresh
        self._individual = individual
        self._active = list(groups)
        due = list(individual) if force else self._scheduler.due(now, individual)
        return due_listings, due

    def listed(
        self, kind: str, members: Sequence[Watched], listed: Iterable[str] | None, now: float
    ) -> list[JobKey]:
        """Take a listing's answer (``None``: it failed); return the keys to poll now."""
        youngest = max(j.created_at for j in members)
        self._group_next[kind] = now + group_interval(
            self._scheduler.policy,
            now - youngest,
            self._scheduler.rng,
            typical=self.durations.typical(kind),
        )
        if listed is None:
            # The listing failed: these jobs fall back to their own schedule this round,
            # and the listing is tried again at its spacing, not at once.
            return self._scheduler.due(now, [j.key for j in members])
        shown = {i.lower() for i in listed}
        return [j.key for j in members if j.id.lower() not in shown]

    def finished(self, job: Watched, now: float) -> None:
        """``job`` was first seen final at ``now``: learn how long its kind runs."""
        if job.timed:
            self.durations.observe(job.kind, now - job.created_at)

    def not_listed_but_pending(self, keys: Iterable[JobKey]) -> None:
        """These jobs were missing from their listing yet are pending: poll them on their own."""
        self._unlisted.update(keys)

    def forget(self, key: JobKey) -> None:
        """Nobody waits on this job any more."""
        self._unlisted.discard(key)

    def next_wake(self) -> float | None:
        """When the next listing or status request is due, as of the last :meth:`plan`."""
        times = [self._group_next[k] for k in self._active if k in self._group_next]
        nxt = self._scheduler.next_due(self._individual)
        if nxt is not None:
            times.append(nxt)
        return min(times) if times else None
