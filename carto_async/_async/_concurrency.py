"""The colour-specific concurrency primitives of the async layer (anyio: asyncio and trio).

``carto_async/_sync/_concurrency.py`` is its hand-written thread twin with the same names, so
that the generated sync code runs the same logic with real concurrency.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import IO, Any, TypeVar

import anyio
import anyio.to_thread

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


async def sleep(seconds: float) -> None:
    """Sleep (cancellable)."""
    await anyio.sleep(max(0.0, seconds))


class Limiter:
    """At most ``limit`` holders at once (``None``: no limit)."""

    def __init__(self, limit: int | None) -> None:
        self._limiter = anyio.CapacityLimiter(limit) if limit else None

    async def __aenter__(self) -> None:
        limiter = self._limiter
        if limiter is not None:
            # Fast path: a free slot is taken without a turn of the event loop (anyio's
            # acquire() yields on every call); only a full limiter waits.
            try:
                limiter.acquire_nowait()
            except anyio.WouldBlock:
                await limiter.acquire()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._limiter is not None:
            self._limiter.release()


class Lock:
    """A mutual-exclusion lock."""

    def __init__(self) -> None:
        self._lock = anyio.Lock()

    async def __aenter__(self) -> None:
        await self._lock.acquire()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._lock.release()


class Event:
    """A one-shot flag to wait on, with a timeout."""

    def __init__(self) -> None:
        self._event = anyio.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait until set or ``timeout`` seconds passed; return whether it is set."""
        if timeout is None:
            await self._event.wait()
            return True
        with anyio.move_on_after(max(0.0, timeout)):
            await self._event.wait()
        return self._event.is_set()


async def gather(
    funcs: Sequence[Callable[[], Awaitable[T]]], *, limit: int | None = None
) -> list[T | BaseException]:
    """Run every function concurrently, at most ``limit`` at once, in a task group.

    Results come back in order; an :class:`Exception` a function raised takes its place
    (cancellation and other base exceptions propagate).
    """
    results: list[T | BaseException] = [None] * len(funcs)  # type: ignore[list-item]
    limiter = anyio.CapacityLimiter(limit) if limit else None

    async def run(i: int, func: Callable[[], Awaitable[T]]) -> None:
        if limiter is not None:
            await limiter.acquire()
        try:
            results[i] = await func()
        except Exception as exc:  # handed back to the caller, in order
            results[i] = exc
        finally:
            if limiter is not None:
                limiter.release()

    if len(funcs) == 1:
        await run(0, funcs[0])
        return results
    async with anyio.create_task_group() as tg:
        for i, func in enumerate(funcs):
            tg.start_soon(run, i, func)
    return results


async def open_binary(path: str) -> IO[bytes]:
    """Open a file for reading bytes without blocking the event loop."""
    return await anyio.to_thread.run_sync(lambda: open(path, "rb"))


async def read_chunk(fileobj: IO[bytes], size: int) -> bytes:
    """Read up to ``size`` bytes from a blocking file object in a worker thread."""
    return await anyio.to_thread.run_sync(fileobj.read, size)


async def blocking(func: Callable[..., T], *args: Any) -> T:
    """Run a blocking call (file I/O) in a worker thread; the sync twin calls it directly."""
    return await anyio.to_thread.run_sync(func, *args)
