"""LocalCarto in a separate process, so the server's CPU work does not share the client's GIL.

The child prints one JSON line (base URL, user, key, pid) once it accepts connections, then
answers commands read line by line from its stdin: ``counters`` prints a JSON snapshot of the
request counters, ``reset`` zeroes them; end of input stops the server. Run as
``python -m benchmarks._server '<json options>'``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

import attrs

from benchmarks._common import REPO_ROOT, child_env

__all__ = ["ServerCounters", "ServerProcess", "local_carto_process", "local_carto_threaded"]

_READY_TIMEOUT = 30.0


@attrs.frozen
class ServerCounters:
    """What the server counted: requests by ``"METHOD /route"``, responses by status."""

    requests: dict[str, int]
    responses: dict[int, int]
    jobs_created: int

    @property
    def total(self) -> int:
        """Every request received."""
        return sum(self.requests.values())

    def _imports(self, method: str, *, item: bool) -> int:
        n = 0
        for key, count in self.requests.items():
            verb, _, route = key.partition(" ")
            route = route.rstrip("/")
            if verb != method or "/imports" not in route:
                continue
            if route.endswith("/imports") != item:
                n += count
        return n

    @property
    def creates(self) -> int:
        """``POST /api/v1/imports`` requests (uploads)."""
        return self._imports("POST", item=False)

    @property
    def status_polls(self) -> int:
        """``GET /api/v1/imports/:id`` requests."""
        return self._imports("GET", item=True)

    @property
    def lists(self) -> int:
        """``GET /api/v1/imports`` requests."""
        return self._imports("GET", item=False)

    @property
    def rejected_429(self) -> int:
        """Responses with status 429 (import slots or rate limits)."""
        return self.responses.get(429, 0)

    @classmethod
    def from_snapshot(
        cls, requests: Mapping[str, int], responses: Mapping[Any, int], jobs: int
    ) -> ServerCounters:
        """From the values of a :class:`carto_async.testing.CountersSnapshot`."""
        return cls(dict(requests), {int(k): v for k, v in responses.items()}, int(jobs))


class ServerProcess:
    """A running child LocalCarto: where it listens, and its counters on demand."""

    def __init__(self, proc: subprocess.Popen[str], hello: Mapping[str, Any]) -> None:
        self._proc = proc
        self.base_url: str = hello["base_url"]
        self.username: str = hello["username"]
        self.api_key: str = hello["api_key"]
        self.pid: int = hello["pid"]

    def _ask(self, command: str) -> str:
        stdin, stdout = self._proc.stdin, self._proc.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(command + "\n")
        stdin.flush()
        return stdout.readline()

    def counters(self) -> ServerCounters:
        """The server's counters now."""
        data = json.loads(self._ask("counters"))
        return ServerCounters.from_snapshot(data["requests"], data["responses"], data["jobs"])

    def reset(self) -> None:
        """Zero the server's counters."""
        self._ask("reset")


def _readline(stream: IO[str], proc: subprocess.Popen[str]) -> str:
    line = stream.readline()
    if not line:
        proc.wait(timeout=_READY_TIMEOUT)
        raise RuntimeError(f"LocalCarto child exited with {proc.returncode} before it was ready")
    return line


@contextmanager
def local_carto_process(**options: Any) -> Iterator[ServerProcess]:
    """Run ``LocalCarto(**options)`` in a child process for the ``with`` block.

    Options must be JSON values (a fixed ``import_processing_time``, not a callable).
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._server", json.dumps(options)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env=child_env(),
    )
    try:
        assert proc.stdout is not None
        hello = json.loads(_readline(proc.stdout, proc))
        yield ServerProcess(proc, hello)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=_READY_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


class _Threaded:
    """The :class:`ServerProcess` surface over an in-process LocalCarto."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.base_url: str = server.base_url
        self.username: str = server.username
        self.api_key: str = server.api_key

    def counters(self) -> ServerCounters:
        snap = self.server.counters.snapshot()
        return ServerCounters.from_snapshot(snap.requests, snap.responses, snap.jobs_created)

    def reset(self) -> None:
        self.server.counters.reset()


@contextmanager
def local_carto_threaded(**options: Any) -> Iterator[_Threaded]:
    """``LocalCarto(**options)`` in this process (when a callable option or job records are
    needed); same surface as :func:`local_carto_process` plus ``.server``."""
    from carto_async.testing import LocalCarto  # noqa: PLC0415 - optional extra

    with LocalCarto(**options) as server:
        yield _Threaded(server)


def _child(raw_options: str) -> None:
    from carto_async.testing import LocalCarto  # noqa: PLC0415 - optional extra

    options = json.loads(raw_options)
    with LocalCarto(**options) as server:
        hello = {
            "base_url": server.base_url,
            "username": server.username,
            "api_key": server.api_key,
            "pid": os.getpid(),
        }
        print(json.dumps(hello), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "counters":
                snap = server.counters.snapshot()
                out = {
                    "requests": snap.requests,
                    "responses": {str(k): v for k, v in snap.responses.items()},
                    "jobs": snap.jobs_created,
                }
                print(json.dumps(out), flush=True)
            elif command == "reset":
                server.counters.reset()
                print("{}", flush=True)
            else:
                print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)


if __name__ == "__main__":
    _child(sys.argv[1] if len(sys.argv) > 1 else "{}")
