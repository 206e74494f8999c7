"""Fault injection, rate limiting and request counters for LocalCarto.

Request faults are rules matched against *route groups*: ``imports.create``, ``imports.show``,
``imports.list`` and ``sql.query`` (the route table in ``_http/app.py`` names them). A rule for
``imports`` matches every ``imports.*`` group and ``*`` matches all of them. Job faults
(``stuck``, ``fail``) match *job groups*: ``jobs.import``, ``jobs.sync``, ``jobs.export`` and
``jobs.batch``, or ``jobs`` for every kind. Every rule draws from its own random generator
seeded from the :class:`Faults` seed, so a sequential client sees the same faults on every run.
"""

from __future__ import annotations

import collections
import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from carto_async.testing._jobclock import JobInfo

__all__ = [
    "Counters",
    "CountersSnapshot",
    "Fault",
    "Faults",
    "RateLimit",
    "RateLimitDecision",
    "group_matches",
]

_FAULT_KINDS = ("latency", "error", "drop_before", "drop_after", "slow_body", "stuck", "fail")


def group_matches(pattern: str, group: str) -> bool:
    """True when a rule for ``pattern`` applies to a request of route group ``group``."""
    return pattern in ("*", group) or group.startswith(pattern + ".")


def _job_group(kind: str) -> str:
    from carto_async.testing._jobclock import JOB_KINDS  # noqa: PLC0415 - import cycle

    if kind == "*":
        return "jobs"
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}; expected one of {sorted(JOB_KINDS)} or '*'")
    return JOB_KINDS[kind].fault_group


@attrs.frozen
class RateLimit:
    """A CARTO rate limit: ``requests`` per ``period`` seconds, bursting up to ``burst``.

    CARTO enforces these with redis-cell (GCRA). ``burst`` defaults to ``requests``, as in the
    documented plans (e.g. SQL queries on Enterprise: 15 per second, burst 15), and the
    ``Carto-Rate-Limit-Limit`` header says ``burst + 1``.

    >>> RateLimit(6, period=1.0)
    RateLimit(requests=6, period=1.0, burst=6)
    """

    requests: int = attrs.field(validator=attrs.validators.gt(0))
    period: float = attrs.field(default=1.0, validator=attrs.validators.gt(0))
    burst: int = attrs.field(
        default=attrs.Factory(lambda self: self.requests, takes_self=True),
        validator=attrs.validators.ge(0),
    )


@attrs.frozen
class RateLimitDecision:
    """One redis-cell answer: allowed or not, and the values of the rate-limit headers."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: float
    reset_after: float

    def headers(self) -> dict[str, str]:
        """``Carto-Rate-Limit-*`` headers, plus ``Retry-After`` only when blocked."""
        out = {
            "Carto-Rate-Limit-Limit": str(self.limit),
            "Carto-Rate-Limit-Remaining": str(self.remaining),
            "Carto-Rate-Limit-Reset": str(int(self.reset_after)),
        }
        if not self.allowed:
            # The services send redis-cell's whole seconds plus one.
            out["Retry-After"] = str(int(self.retry_after) + 1)
        return out


class _Bucket:
    """GCRA as redis-cell computes it (throttled's algorithm)."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.emission = limit.period / limit.requests
        self.tolerance = self.emission * (limit.burst + 1)
        self.tat: float | None = None

    def take(self, now: float) -> RateLimitDecision:
        tat = now if self.tat is None else self.tat
        new_tat = max(tat, now) + self.emission
        diff = now - (new_tat - self.tolerance)
        # A hair of slack: on a frozen clock the sums above round either way.
        if diff < -1e-9:
            allowed, retry_after, ttl = False, -diff, tat - now
        else:
            allowed, retry_after, ttl = True, -1.0, new_tat - now
            self.tat = new_tat
        spare = self.tolerance - ttl
        remaining = math.floor(spare / self.emission + 1e-9) if spare > -self.emission else 0
        return RateLimitDecision(
            allowed=allowed,
            limit=self.limit.burst + 1,
            remaining=max(remaining, 0),
            retry_after=retry_after,
            reset_after=max(ttl, 0.0),
        )


@attrs.define(eq=False)
class Fault:
    """One fault rule; returned by the :class:`Faults` methods so a test can remove it.

    ``fired`` counts how often it triggered; ``count`` (if set) is how many more times it may.
    """

    kind: str
    group: str
    rate: float
    count: int | None = None
    statuses: tuple[int, ...] = ()
    seconds: float = 0.0
    jitter: float = 0.0
    error_code: int | None = None
    predicate: Callable[[JobInfo], bool] | None = None
    fired: int = 0
    _rng: random.Random = attrs.field(factory=random.Random, repr=False)


class Faults:
    """Seeded, deterministic fault injection for :class:`~carto_async.testing.LocalCarto`.

    Configure it before starting the server or change it while the server runs; every method
    is thread-safe. ``rate`` is a probability per matching request and ``count`` caps how many
    times a rule fires (``None``: no cap).

    >>> faults = Faults(seed=7, latency=0.01, rate_limits={"sql": RateLimit(6)})
    >>> rule = faults.error("imports.create", rate=0.5, status=(502, 503))
    >>> _ = faults.drop_connection("imports.create", after=True, count=1)
    >>> faults.remove(rule)
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        latency: float = 0.0,
        error_rates: Mapping[str, float] | None = None,
        rate_limits: Mapping[str, RateLimit] | None = None,
        stuck_imports: float = 0.0,
    ) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self._rules: list[Fault] = []
        self._buckets: dict[str, _Bucket] = {}
        self._made = 0
        # The rate limits' clock; LocalCarto points it at its own, which tests can advance.
        self.clock: Callable[[], float] = time.monotonic
        if latency:
            self.latency(latency)
        for group, rate in (error_rates or {}).items():
            self.error(group, rate=rate)
        for group, limit in (rate_limits or {}).items():
            self.rate_limit(group, limit)
        if stuck_imports:
            self.stuck_imports(rate=stuck_imports)

    def __repr__(self) -> str:
        rules, limits = len(self._rules), len(self._buckets)
        return f"<Faults seed={self.seed} rules={rules} rate_limits={limits}>"

    # -- configuration ---------------------------------------------------------------------

    def _add(self, kind: str, group: str, rate: float, count: int | None, **kw: object) -> Fault:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, got {rate!r}")
        if count is not None and count < 0:
            raise ValueError(f"count must be >= 0, got {count!r}")
        with self._lock:
            self._made += 1
            rng = random.Random(f"{self.seed}:{self._made}:{kind}:{group}")
            rule = Fault(kind, group, rate, count, rng=rng, **kw)  # type: ignore[arg-type]
            self._rules.append(rule)
        return rule

    def latency(self, seconds: float, *, group: str = "*", jitter: float = 0.0) -> Fault:
        """Delay every matching request by ``seconds`` plus up to ``jitter`` more."""
        return self._add("latency", group, 1.0, None, seconds=seconds, jitter=jitter)

    def error(
        self,
        group: str = "*",
        *,
        rate: float = 1.0,
        status: int | Sequence[int] = (500, 502, 503),
        count: int | None = None,
    ) -> Fault:
        """Answer matching requests with a 5xx instead of processing them.

        With several statuses each firing picks one. Bodies are what production sends: the
        nginx page for 502/503/504, the service's own error for 500.
        """
        statuses = (status,) if isinstance(status, int) else tuple(status)
        if not statuses or any(not 500 <= s <= 599 for s in statuses):
            raise ValueError(f"status must be 5xx, got {status!r}")
        return self._add("error", group, rate, count, statuses=statuses)

    def drop_connection(
        self, group: str = "*", *, after: bool = False, rate: float = 1.0, count: int | None = None
    ) -> Fault:
        """Close the TCP connection without an answer.

        ``after=False`` drops it before the request is processed (nothing happened on the
        server); ``after=True`` processes the request first (an import job exists) and then
        drops the connection instead of sending the response.
        """
        return self._add("drop_after" if after else "drop_before", group, rate, count)

    def slow_body(
        self, group: str = "*", *, seconds: float, rate: float = 1.0, count: int | None = None
    ) -> Fault:
        """Send the headers at once, then trickle the body over ``seconds``."""
        return self._add("slow_body", group, rate, count, seconds=seconds)

    def rate_limit(self, group: str, limit: RateLimit | None) -> None:
        """Rate-limit ``group`` (one bucket for all its routes); ``None`` lifts the limit."""
        with self._lock:
            if limit is None:
                self._buckets.pop(group, None)
            else:
                self._buckets[group] = _Bucket(limit)

    def stuck_jobs(
        self,
        kind: str = "*",
        *,
        rate: float = 1.0,
        predicate: Callable[[JobInfo], bool] | None = None,
        count: int | None = None,
    ) -> Fault:
        """Make new jobs of ``kind`` stall as if their worker died (``"*"``: every kind).

        Kinds are ``"import"``, ``"sync"``, ``"export"`` and ``"batch"``. A stuck job stops in
        its kind's working state (imports: ``unpacking``) and never does its work; a stuck
        import keeps its slot until it is older than the server's stale threshold, then
        reading it flips it to failure 6671, as the real server does.
        """
        return self._add("stuck", _job_group(kind), rate, count, predicate=predicate)

    def fail_jobs(
        self,
        error_code: int,
        kind: str = "*",
        *,
        rate: float = 1.0,
        predicate: Callable[[JobInfo], bool] | None = None,
        count: int | None = None,
    ) -> Fault:
        """Make new jobs of ``kind`` end in failure with ``error_code`` instead of working."""
        group = _job_group(kind)
        return self._add("fail", group, rate, count, error_code=error_code, predicate=predicate)

    def stuck_imports(
        self,
        *,
        rate: float = 1.0,
        predicate: Callable[[JobInfo], bool] | None = None,
        count: int | None = None,
    ) -> Fault:
        """:meth:`stuck_jobs` for imports: they stall in ``unpacking``."""
        return self.stuck_jobs("import", rate=rate, predicate=predicate, count=count)

    def fail_imports(
        self,
        error_code: int,
        *,
        rate: float = 1.0,
        predicate: Callable[[JobInfo], bool] | None = None,
        count: int | None = None,
    ) -> Fault:
        """:meth:`fail_jobs` for imports: they end in ``failure`` with ``error_code``."""
        return self.fail_jobs(error_code, "import", rate=rate, predicate=predicate, count=count)

    def remove(self, rule: Fault) -> None:
        """Remove one rule (no error if it is already gone)."""
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def clear(self) -> None:
        """Remove every rule and rate limit."""
        with self._lock:
            self._rules.clear()
            self._buckets.clear()

    @property
    def empty(self) -> bool:
        """True when no rule or rate limit is configured (the server's fast path)."""
        return not self._rules and not self._buckets

    @property
    def rules(self) -> list[Fault]:
        """The active rules, oldest first."""
        with self._lock:
            return list(self._rules)

    # -- decisions (called by the server) --------------------------------------------------

    def fire(self, kind: str, group: str, info: JobInfo | None = None) -> Fault | None:
        """The first rule of ``kind`` that fires for this request, counting it as fired."""
        assert kind in _FAULT_KINDS
        with self._lock:
            for rule in self._rules:
                if rule.kind != kind or not group_matches(rule.group, group):
                    continue
                if rule.count is not None and rule.fired >= rule.count:
                    continue
                if rule.predicate is not None and (info is None or not rule.predicate(info)):
                    continue
                if rule.rate < 1.0 and rule._rng.random() >= rule.rate:
                    continue
                rule.fired += 1
                return rule
        return None

    def delay_for(self, group: str) -> float:
        """Total added latency for one request of ``group``."""
        total = 0.0
        with self._lock:
            for rule in self._rules:
                if rule.kind == "latency" and group_matches(rule.group, group):
                    total += rule.seconds + (rule._rng.random() * rule.jitter if rule.jitter else 0)
                    rule.fired += 1
        return total

    def pick_status(self, rule: Fault) -> int:
        """One of the rule's statuses, from its own generator."""
        with self._lock:
            return rule._rng.choice(rule.statuses)

    def throttle(self, group: str) -> RateLimitDecision | None:
        """Take one token from the most specific bucket matching ``group``, if any."""
        with self._lock:
            patterns = [p for p in self._buckets if group_matches(p, group)]
            if not patterns:
                return None
            pattern = max(patterns, key=lambda p: (p != "*", len(p)))
            return self._buckets[pattern].take(self.clock())


@attrs.frozen
class CountersSnapshot:
    """Counters at one moment (see :class:`Counters`)."""

    requests: dict[str, int]
    responses: dict[int, int]
    jobs_created: int
    connections_dropped: int
    jobs_by_kind: dict[str, int] = attrs.Factory(dict)


class Counters:
    """What the server saw, so a test can prove nothing was duplicated or lost.

    ``requests`` is keyed by method and route template (``"POST /api/v1/imports"``; paths no
    route matches count as ``"GET (unmatched)"``), ``responses`` by HTTP status sent.
    ``jobs_created`` counts the jobs of every kind (``jobs_by_kind`` each kind's, e.g.
    ``{"import": 3}``); ``connections_dropped`` counts injected drops, whose requests have no
    entry in ``responses``.

    >>> counters = Counters()
    >>> counters.requests
    {}
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: collections.Counter[str] = collections.Counter()
        self._responses: collections.Counter[int] = collections.Counter()
        self._jobs: collections.Counter[str] = collections.Counter()
        self._dropped = 0

    def __repr__(self) -> str:
        snap = self.snapshot()
        return (
            f"<Counters requests={sum(snap.requests.values())} jobs_created={snap.jobs_created} "
            f"connections_dropped={snap.connections_dropped}>"
        )

    def count_request(self, key: str) -> None:
        """Count one request of ``"METHOD /template"``."""
        with self._lock:
            self._requests[key] += 1

    def count_response(self, status: int) -> None:
        """Count one response sent with ``status``."""
        with self._lock:
            self._responses[status] += 1

    def count_job(self, kind: str = "import") -> None:
        """Count one job of ``kind`` created."""
        with self._lock:
            self._jobs[kind] += 1

    def count_drop(self) -> None:
        """Count one connection dropped on purpose."""
        with self._lock:
            self._dropped += 1

    @property
    def requests(self) -> dict[str, int]:
        """Requests per ``"METHOD /template"``."""
        with self._lock:
            return dict(self._requests)

    @property
    def responses(self) -> dict[int, int]:
        """Responses per status."""
        with self._lock:
            return dict(self._responses)

    @property
    def jobs_created(self) -> int:
        """Jobs created, of every kind."""
        with self._lock:
            return sum(self._jobs.values())

    @property
    def jobs_by_kind(self) -> dict[str, int]:
        """Jobs created per kind (``"import"``, ``"sync"``, ``"export"``, ``"batch"``)."""
        with self._lock:
            return dict(self._jobs)

    @property
    def connections_dropped(self) -> int:
        """Connections closed by an injected drop."""
        with self._lock:
            return self._dropped

    def snapshot(self) -> CountersSnapshot:
        """All counters, read together."""
        with self._lock:
            return CountersSnapshot(
                requests=dict(self._requests),
                responses=dict(self._responses),
                jobs_created=sum(self._jobs.values()),
                connections_dropped=self._dropped,
                jobs_by_kind=dict(self._jobs),
            )

    def reset(self) -> None:
        """Set every counter back to zero."""
        with self._lock:
            self._requests.clear()
            self._responses.clear()
            self._jobs.clear()
            self._dropped = 0
