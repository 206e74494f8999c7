"""Fixtures for the command's tests: a LocalCarto over real loopback sockets, and a runner."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from carto_async.cli import cli
from carto_async.testing import LocalCarto

#: A key with characters that URL encoding changes, so both of its forms are looked for.
KEY = "cli-test-key/0123456789+abcdef"


@pytest.fixture
def server() -> Iterator[LocalCarto]:
    """A fresh LocalCarto whose imports take 50 ms."""
    with LocalCarto(api_key=KEY, import_processing_time=0.05) as running:
        yield running


@pytest.fixture
def env(server: LocalCarto) -> dict[str, str | None]:
    """The environment that points the command at ``server``."""
    return {"CARTO_USER": server.username, "CARTO_API_KEY": KEY, "CARTO_BASE_URL": server.base_url}


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of small files to import; the working directory during the test."""
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("stores", "parks", "trees"):
        (folder / f"{name}.csv").write_text(
            "name,latitude,longitude\n" + "".join(f"{name} {i},40.{i},-3.{i}\n" for i in range(5))
        )
    monkeypatch.chdir(tmp_path)
    return folder


def invoke(args: Sequence[str], env: dict[str, str | None] | None = None) -> Result:
    """Run ``carto-async ARGS`` in-process; stdout and stderr are kept apart."""
    base: dict[str, str | None] = dict.fromkeys(("CARTO_USER", "CARTO_API_KEY", "CARTO_BASE_URL"))
    return CliRunner().invoke(cli, list(args), env={**base, **(env or {})}, catch_exceptions=False)


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def relative(path: Path) -> str:
    return os.path.relpath(path)


class HeldClock:
    """A time source for LocalCarto's import jobs, held still while a test acts, then let go
    far ahead.

    While held, no import moves on from its first state, however slow the machine is: a test
    that needs imports still running when it acts does not race the wall clock. ``release``
    jumps the clock ``ahead`` seconds, which finishes every held import at once; imports made
    afterwards run in real time. Give it to a server with :func:`held_server`.
    """

    def __init__(self) -> None:
        self._held: float | None = time.monotonic()
        self._offset = 0.0

    def __call__(self) -> float:
        return self._held if self._held is not None else time.monotonic() + self._offset

    def release(self, ahead: float = 3600.0) -> None:
        if self._held is not None:
            self._offset = self._held + ahead - time.monotonic()
            self._held = None


@contextlib.contextmanager
def held_server(clock: HeldClock, **options: Any) -> Iterator[LocalCarto]:
    """A running LocalCarto whose import jobs read ``clock``."""
    try:
        from carto_async.testing import Clock  # type: ignore[attr-defined]  # noqa: PLC0415
    except ImportError:  # LocalCarto before its server clock: the jobs' own clock
        with LocalCarto(**options) as server:
            server.jobs._clock = clock
            yield server
        return
    with LocalCarto(clock=Clock(monotonic=clock), **options) as server:  # type: ignore[call-arg]
        yield server


def wait_until(
    condition: Callable[[], bool], process: subprocess.Popen[str], what: str, limit: float = 30
) -> None:
    """Poll ``condition`` (server counters, a file) while ``process`` runs; fail after
    ``limit`` seconds or if the process ends first. A bound, not a timing assumption."""
    deadline = time.monotonic() + limit
    while not condition():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the command ended before {what}: {out}\n{err}")
        if time.monotonic() > deadline:
            process.kill()
            out, err = process.communicate()
            pytest.fail(f"never saw {what}: {out}\n{err}")
        time.sleep(0.005)
