"""The retry rules of ARCHITECTURE §3, as a table."""

from __future__ import annotations

import random

import pytest

from carto_async._core.http import RequestSpec, Service, parse_rate_limit, parse_retry_after
from carto_async._core.retry import Failure, RetryPolicy, RetryState

GET = RequestSpec("GET", "/api/v1/imports/x", Service.IMPORTS)
POST_CREATE = RequestSpec("POST", "/api/v1/imports", Service.IMPORTS, creates_job=True)
POST_PLAIN = RequestSpec("POST", "/api/v2/sql", Service.SQL)
PUT = RequestSpec("PUT", "/api/v1/synchronizations/x", Service.RAILS)
DELETE = RequestSpec("DELETE", "/api/v1/synchronizations/x", Service.RAILS)
POST_MARKED = RequestSpec("POST", "/api/v2/sql", Service.SQL, idempotent=True)


def state(spec: RequestSpec, max_retries: int = 2) -> RetryState:
    return RetryState(RetryPolicy(), spec, max_retries, rng=random.Random(1))


@pytest.mark.parametrize(
    ("spec", "status", "retried"),
    [
        (GET, 429, True),
        (POST_CREATE, 429, True),
        (GET, 503, True),
        (POST_CREATE, 503, True),
        (GET, 500, True),
        (GET, 502, True),
        (GET, 504, True),
        (GET, 408, True),
        (PUT, 500, True),
        (DELETE, 502, True),
        (POST_MARKED, 500, True),
        (POST_CREATE, 500, False),
        (POST_CREATE, 502, False),
        (POST_CREATE, 504, False),
        (POST_CREATE, 408, False),
        (POST_PLAIN, 500, False),
        (GET, 400, False),
        (GET, 401, False),
        (GET, 403, False),
        (GET, 404, False),
        (POST_CREATE, 400, False),
        (GET, 501, False),
    ],
)
def test_status_retry_table(spec: RequestSpec, status: int, retried: bool) -> None:
    assert state(spec).on_status(status, retry_after=None).retry is retried


@pytest.mark.parametrize(
    ("spec", "failure", "retried"),
    [
        (GET, Failure.NOT_SENT, True),
        (POST_CREATE, Failure.NOT_SENT, True),
        (GET, Failure.AMBIGUOUS, True),
        (PUT, Failure.AMBIGUOUS, True),
        (POST_CREATE, Failure.AMBIGUOUS, False),
        (POST_PLAIN, Failure.AMBIGUOUS, False),
    ],
)
def test_failure_retry_table(spec: RequestSpec, failure: Failure, retried: bool) -> None:
    assert state(spec).on_failure(failure).retry is retried


def test_creating_post_after_ambiguous_failure_says_why() -> None:
    decision = state(POST_CREATE).on_failure(Failure.AMBIGUOUS)
    assert "could do the work twice" in decision.reason


def test_retries_stop_at_max_retries() -> None:
    s = state(GET, max_retries=2)
    assert s.on_status(503, retry_after=None).retry
    assert s.on_status(503, retry_after=None).retry
    final = s.on_status(503, retry_after=None)
    assert not final.retry
    assert "gave up after 2 retries" in final.reason


def test_zero_max_retries_never_retries() -> None:
    assert not state(GET, max_retries=0).on_failure(Failure.NOT_SENT).retry


def test_retry_after_is_honoured_with_upward_jitter_only() -> None:
    for seed in range(20):
        s = RetryState(RetryPolicy(), GET, 2, rng=random.Random(seed))
        delay = s.on_status(429, retry_after=7).delay
        assert 7 <= delay <= 8


def test_retry_after_over_the_cap_gives_up() -> None:
    decision = state(GET).on_status(429, retry_after=3600)
    assert not decision.retry
    assert "cap" in decision.reason


def test_backoff_grows_and_is_capped_with_jitter() -> None:
    policy = RetryPolicy()
    rng = random.Random(3)
    for attempt, base in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delay = policy.backoff(attempt, rng)
        assert base * 0.75 <= delay <= base * 1.25


def test_import_slot_429_is_waited_without_using_retries() -> None:
    s = state(POST_CREATE, max_retries=0)
    for _ in range(10):
        d = s.on_status(429, retry_after=None, import_slots=True)
        assert d.retry
        assert 0 < d.delay <= 15 * 1.25
    assert s.retries == 0


def test_import_slot_wait_ends_after_the_timeout() -> None:
    s = RetryState(RetryPolicy(import_slot_timeout=5), POST_CREATE, 2, rng=random.Random(1))
    decisions = [s.on_status(429, retry_after=None, import_slots=True) for _ in range(20)]
    assert not decisions[-1].retry
    assert "import slots stayed busy" in decisions[-1].reason


def test_statement_timeout_429_is_not_retried() -> None:
    assert not state(GET).on_status(429, retry_after=None, statement_timeout=True).retry


def test_a_consumed_one_shot_body_is_not_replayed() -> None:
    assert not state(POST_PLAIN).on_status(503, retry_after=None, replayable=False).retry
    assert not state(GET).on_failure(Failure.NOT_SENT, replayable=False).retry


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-1", None),
        ("", None),
        ("soon", None),
        (None, None),
        ("nan", None),
    ],
)
def test_parse_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0  # 2023-11-14T22:13:20Z
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", now=now) == pytest.approx(30)
    assert parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now=now) == 0


def test_parse_rate_limit_headers() -> None:
    info = parse_rate_limit(
        {
            "carto-rate-limit-limit": "2",
            "carto-rate-limit-remaining": "0",
            "carto-rate-limit-reset": "1",
            "retry-after": "2",
        }
    )
    assert info is not None
    assert (info.limit, info.remaining, info.reset, info.retry_after) == (2, 0, 1, 2.0)
    assert parse_rate_limit({"content-type": "application/json"}) is None
