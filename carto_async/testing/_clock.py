"""LocalCarto's time: the machine's clocks plus the jumps a test makes with ``advance``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Clock"]


class Clock:
    """The time every LocalCarto part reads: job states, stale jobs, rate limits, listings.

    By default it follows the machine's clocks; :meth:`advance` moves it forward at once, so a
    test sees a 900 s sync interval or a 5 minute stale threshold pass in microseconds. A
    ``frozen`` clock moves only when advanced, which makes job states fully deterministic::

        clock = Clock(frozen=True)
        with LocalCarto(clock=clock, import_processing_time=10) as server:
            ...  # the import stays "pending" however long the test takes
            server.advance(10)  # now it completes (once its data is loaded)

    ``monotonic()`` is for durations and ``time()`` for dates (seconds since the epoch); both
    move together. Job states are computed from the clock when read, so nothing needs waking
    when it jumps; a part that must act on time passing (a scheduler starting due sync runs)
    registers with :meth:`add_listener` and is called after every jump.
    """

    def __init__(
        self,
        *,
        frozen: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._lock = threading.Lock()
        self._frozen = frozen
        self._monotonic = monotonic
        self._wall = wall
        # A frozen clock keeps the readings of its creation and adds only the jumps.
        self._mono_base = monotonic()
        self._wall_base = wall()
        self._offset = 0.0
        self._listeners: list[Callable[[float], None]] = []

    def __repr__(self) -> str:
        mode = "frozen" if self._frozen else "running"
        return f"<Clock {mode} advanced={self._offset:g}s>"

    @property
    def frozen(self) -> bool:
        """True when only :meth:`advance` moves this clock."""
        return self._frozen

    @property
    def advanced(self) -> float:
        """Seconds added by :meth:`advance` so far."""
        return self._offset

    # Readers take no lock: reading one float attribute is atomic, and these run for every
    # job on every listing.

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for durations)."""
        return (self._mono_base if self._frozen else self._monotonic()) + self._offset

    def time(self) -> float:
        """Seconds since the epoch (for creation dates and the 24 h windows)."""
        return (self._wall_base if self._frozen else self._wall()) + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (never back), then call the listeners."""
        if not seconds >= 0:
            raise ValueError(f"a clock only moves forward; got {seconds!r} seconds")
        with self._lock:
            self._offset += seconds
            listeners = list(self._listeners)
        for listener in listeners:
            listener(seconds)

    def add_listener(self, listener: Callable[[float], None]) -> None:
        """Call ``listener(seconds)`` after every :meth:`advance`, in the advancing thread."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[float], None]) -> None:
        """Stop calling ``listener`` (no error if it is not registered)."""
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)
