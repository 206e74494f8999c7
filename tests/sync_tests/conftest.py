"""Fixtures of the generated sync suite (hand-written twin of tests/async_tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from carto_async import Carto, PollPolicy, RetryPolicy
from carto_async._sync import _concurrency
from tests.helpers import BASE_URL, KEY, FakeClock


@pytest.fixture
def sync_backend() -> str:
    return "sync"


@pytest.fixture
def carto() -> Iterator[Carto]:
    with Carto(
        "demo",
        KEY,
        BASE_URL,
        retry=RetryPolicy(backoff_base=0.001, backoff_cap=0.002),
        poll=PollPolicy(initial=0.01, factor=1.5, cap=0.05, jitter=0),
        max_concurrent_imports=None,
        seed=1,
    ) as client:
        yield client


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Virtual time for the sync layer: sleeps are recorded and return at once."""
    fake = FakeClock(_concurrency.sleep)
    monkeypatch.setattr(_concurrency, "now", fake.now)
    monkeypatch.setattr(_concurrency, "sleep", fake.sync_sleep)
    return fake
