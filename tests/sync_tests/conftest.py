"""Fixtures of the generated sync suite (hand-written twin of tests/async_tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from carto_async import Carto, PollPolicy, RetryPolicy
from carto_async._sync import _concurrency
from carto_async.testing import LocalCarto
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
def local_server() -> Iterator[LocalCarto]:
    """A fresh LocalCarto on loopback with fast import jobs."""
    with LocalCarto(import_processing_time=0.05, import_slots=8) as server:
        yield server


@pytest.fixture
def local(local_server: LocalCarto) -> Iterator[Carto]:
    """An SDK client of ``local_server``, over real sockets."""
    with local_server.client(
        poll=PollPolicy(initial=0.02, factor=1.5, cap=0.2), max_concurrent_imports=8
    ) as client:
        yield client


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Virtual time for the sync layer: sleeps are recorded and return at once."""
    fake = FakeClock(_concurrency.sleep)
    monkeypatch.setattr(_concurrency, "now", fake.now)
    monkeypatch.setattr(_concurrency, "sleep", fake.sync_sleep)
    return fake
