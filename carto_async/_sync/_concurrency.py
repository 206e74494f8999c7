"""Thread twin of ``carto_async/_async/_concurrency.py``: same names, blocking semantics.

Hand-written, not generated: this is the one place where the two colours differ. ``gather``
uses a thread pool (``httpx.Client`` is thread-safe), so sync callers get real concurrency.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import IO, Any, TypeVar

__all__ = [
    "Event",
    "Limiter",
    "Lock",
    "blocking",
    "gather",
    "now",
    "open_binary",
    "read_chunk",
    "sleep",
]

T = TypeVar("T")


def now() -> float:
    """Monotonic seconds."""
    return time.monotonic()


def sleep(seconds: float) -> None:
    """Sleep."""
    time.sleep(max(0.0, seconds))


class Limiter:
    """At most ``limit`` holders at once (``None``: no limit)."""

    def __init__(self, limit: int | None) -> None:
        self._sem = threading.BoundedSemaphore(limit) if limit else None

    def __enter__(self) -> None:
        if self._sem is not None:
            self._sem.acquire()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._sem is not None:
            self._sem.release()


class Lock:
    """A mutual-exclusion lock (re-entrant, since threads of one pool may nest calls)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._lock.release()


class Event:
    """A one-shot flag to wait on, with a timeout."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until set or ``timeout`` seconds passed; return whether it is set."""
        return self._event.wait(None if timeout is None else max(0.0, timeout))


def gather(
    funcs: Sequence[Callable[[], T]], *, limit: int | None = None
) -> list[T | BaseException]:
    """Run every function concurrently in a thread pool of at most ``limit`` threads.

    Results come back in order; an :class:`Exception` a function raised takes its place.
    """
    results: list[T | BaseException] = [None] * len(funcs)  # type: ignore[list-item]

    def run(i: int, func: Callable[[], T]) -> None:
        try:
            results[i] = func()
        except Exception as exc:  # handed back to the caller, in order
            results[i] = exc

    if len(funcs) == 1:
        run(0, funcs[0])
        return results
    workers = max(1, min(limit or len(funcs), len(funcs), 64))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="carto_async") as pool:
        for future in [pool.submit(run, i, f) for i, f in enumerate(funcs)]:
            future.result()
    return results


def open_binary(path: str) -> IO[bytes]:
    """Open a file for reading bytes."""
    return open(path, "rb")


def read_chunk(fileobj: IO[bytes], size: int) -> bytes:
    """Read up to ``size`` bytes."""
    return fileobj.read(size)


def blocking(func: Callable[..., T], *args: Any) -> T:
    """Run a blocking call (file I/O): here, directly."""
    return func(*args)
