"""When to retry a request, and how long to wait first (sans-I/O).

The rules, in one place:

* nothing was sent (connect error, connect or pool timeout): retry, whatever the method;
* 429 and 503: retry, POST included, honouring ``Retry-After`` up to ``retry_after_cap``;
  a longer ``Retry-After`` raises :class:`~carto_async.RateLimitError` at once;
* 408, 500, 502, 504, read timeouts and connections dropped after the request was sent: retry
  only idempotent requests (GET, HEAD, PUT, DELETE, or calls marked idempotent). A POST that
  creates a job is never repeated after such an ambiguous failure: the server may have made it;
* the Import API's "already using your allowed N import slots" 429 has no ``Retry-After``: it
  is waited out with backoff, up to ``import_slot_timeout`` seconds, without using up retries.
"""

from __future__ import annotations

import random
from enum import Enum

import attrs

from carto_async._core.http import RequestSpec

__all__ = ["Decision", "Failure", "RetryPolicy", "RetryState"]

_RETRY_ANY_METHOD = frozenset({429, 503})
_RETRY_IDEMPOTENT = frozenset({408, 500, 502, 504})


class Failure(Enum):
    """How a request failed without an HTTP response."""

    NOT_SENT = "not-sent"  # connect error / connect timeout / pool timeout
    AMBIGUOUS = "ambiguous"  # sent (maybe partly), then read timeout or dropped connection


@attrs.frozen
class RetryPolicy:
    """Retry settings of a client; every call may override ``max_retries``."""

    max_retries: int = attrs.field(default=2, validator=attrs.validators.ge(0))
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    jitter: float = 0.25
    retry_after_cap: float = 60.0
    import_slot_timeout: float = 600.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """``min(base * 2**attempt, cap)`` seconds, spread by ±``jitter``."""
        delay = min(self.backoff_base * (2.0**attempt), self.backoff_cap)
        return max(0.0, delay * (1 + rng.uniform(-self.jitter, self.jitter)))


@attrs.frozen
class Decision:
    """Retry after ``delay`` seconds, or give up (``retry`` false) giving ``reason``."""

    retry: bool
    delay: float = 0.0
    reason: str = ""


@attrs.define
class RetryState:
    """The retry bookkeeping of one logical call across its attempts."""

    policy: RetryPolicy
    spec: RequestSpec
    max_retries: int
    rng: random.Random = attrs.field(factory=random.Random)
    retries: int = 0
    slot_waits: int = 0
    slot_waited: float = 0.0

    def _retry(self, reason: str, retry_after: float | None = None) -> Decision:
        if self.retries >= self.max_retries:
            return Decision(False, reason=f"{reason}; gave up after {self.retries} retries")
        if retry_after is not None:
            if retry_after > self.policy.retry_after_cap:
                return Decision(
                    False,
                    reason=f"{reason}; Retry-After {retry_after:g}s is over the "
                    f"{self.policy.retry_after_cap:g}s cap",
                )
            # A little jitter upwards so that many waiting clients do not return together.
            delay = retry_after + self.rng.uniform(0, min(1.0, 0.1 * retry_after + 0.05))
        else:
            delay = self.policy.backoff(self.retries, self.rng)
        self.retries += 1
        return Decision(True, delay, reason)

    def on_failure(self, failure: Failure, *, replayable: bool = True) -> Decision:
        """Decide after a request got no response."""
        if failure is Failure.NOT_SENT:
            if not replayable:
                return Decision(False, reason="the request body stream cannot be replayed")
            return self._retry("connection failed before the request was sent")
        if self.spec.is_idempotent and replayable:
            return self._retry("no response to an idempotent request")
        return Decision(
            False,
            reason="the request may have reached the server; it is not repeated because "
            "repeating it could do the work twice",
        )

    def on_status(
        self,
        status_code: int,
        *,
        retry_after: float | None,
        import_slots: bool = False,
        statement_timeout: bool = False,
        replayable: bool = True,
    ) -> Decision:
        """Decide after an error status."""
        if statement_timeout:
            # A query that hit the statement timeout would only time out again.
            return Decision(False, reason="the query hit the server's statement timeout")
        if not replayable:
            return Decision(False, reason="the request body stream cannot be replayed")
        if import_slots:
            delay = min(1.0 * (1.5**self.slot_waits), 15.0)
            delay *= 1 + self.rng.uniform(-self.policy.jitter, self.policy.jitter)
            if self.slot_waited + delay > self.policy.import_slot_timeout:
                return Decision(
                    False,
                    reason=f"import slots stayed busy for {self.slot_waited:.0f}s "
                    f"(import_slot_timeout={self.policy.import_slot_timeout:g}s)",
                )
            self.slot_waits += 1
            self.slot_waited += delay
            return Decision(True, delay, "waiting for a free import slot")
        if status_code in _RETRY_ANY_METHOD:
            return self._retry(f"HTTP {status_code}", retry_after)
        if status_code in _RETRY_IDEMPOTENT and self.spec.is_idempotent:
            return self._retry(f"HTTP {status_code}", retry_after)
        return Decision(False, reason=f"HTTP {status_code} is not retried")
