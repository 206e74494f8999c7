"""#7 Fan-out: ``select 1`` with many requests in flight, every client side by side in one run.

The clients: raw ``httpx.AsyncClient``, raw aiohttp, ``AsyncCarto`` with its default (httpx)
transport and with ``http_backend="aiohttp"``, the sync ``Carto`` on threads, and carto-python's
``SQLClient.send`` on threads (one requests session per thread). At concurrency C the async
clients keep C requests in flight from C tasks; the sync clients use C threads.

LocalCarto runs in a child process. The raw clients send the request captured from the SDK
(its URL with ``q``, its headers), with the SDK's pool size (64 connections) and timeout, and
decode the JSON. All clients are open at once and take turns in blocks of ``--fanout-block``
requests, the order rotating from block to block, on one asyncio event loop kept between
blocks (``asyncio.Runner``) and one thread pool per concurrency, so that bursts of other work on
the machine hit every client alike. Besides requests per second, the CPU time of the client
process and of the server process per request are reported: on a small machine the server's
share says how close a client is to what the server can answer at all.

    python -m benchmarks.fanout --fanout-requests 2000 --fanout-concurrency 1 50 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
import httpx
import yarl

from benchmarks import _carto_python as cp
from benchmarks._common import Table, median, quiet_warnings, ratio, verdict
from benchmarks._server import ServerProcess, local_carto_process
from benchmarks.request_overhead import QUERY, SDK_LIMITS, SDK_TIMEOUT, sdk_request
from carto_async import AsyncCarto, Carto

with quiet_warnings():
    from carto.exceptions import CartoException

__all__ = ["add_arguments", "main", "run"]

RAW_HTTPX = "raw httpx.AsyncClient"
RAW_AIOHTTP = "raw aiohttp.ClientSession"
ASYNC_HTTPX = "carto_async async (httpx, default)"
ASYNC_AIOHTTP = "carto_async async (aiohttp)"
SYNC = "carto_async sync (threads)"
CARTO_PYTHON = "carto-python SQLClient.send (threads)"
#: Table rows, in order.
CLIENTS = [RAW_HTTPX, RAW_AIOHTTP, ASYNC_HTTPX, ASYNC_AIOHTTP, SYNC, CARTO_PYTHON]
ASYNC_CLIENTS = {RAW_HTTPX, RAW_AIOHTTP, ASYNC_HTTPX, ASYNC_AIOHTTP}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of this benchmark."""
    g = parser.add_argument_group("fan-out (#5)")
    g.add_argument(
        "--fanout-requests", type=int, default=2000, help="requests per client per level (2000)"
    )
    g.add_argument(
        "--fanout-concurrency",
        type=int,
        nargs="+",
        default=[1, 50, 100],
        help="requests in flight (tasks, or threads for the sync clients) (1 50 100)",
    )
    g.add_argument(
        "--fanout-block", type=int, default=100, help="requests per client per turn (100)"
    )
    g.add_argument(
        "--fanout-warmup", type=int, default=200, help="untimed requests per client (200)"
    )
    g.add_argument("--fanout-repeat", type=int, default=3, help="runs (3)")


def _split(n: int, workers: int) -> list[int]:
    return [n // workers + (1 if i < n % workers else 0) for i in range(workers)]


def _blocks(n: int, block: int) -> list[int]:
    return [min(block, n - done) for done in range(0, n, block)]


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) of process ``pid`` so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


#: Wall seconds, client-process CPU seconds and server-process CPU seconds of one client.
Timing = tuple[float, float, float]


class _Clients:
    """Every client of one run, open at once; ``batch(name, n, c)`` sends ``n`` requests."""

    def __init__(self, srv: ServerProcess, url: str, headers: dict[str, str], c: int) -> None:
        self.srv, self.url, self.headers, self.c = srv, url, headers, c
        self.runner = asyncio.Runner()
        self.pool = ThreadPoolExecutor(max_workers=c) if c > 1 else None
        self._local = threading.local()
        self._sessions: list[Any] = []
        self._lock = threading.Lock()
        self._exit = contextlib.ExitStack()
        self.resets = 0

    # -- opening and closing ---------------------------------------------------------------

    async def _open_async(self) -> None:
        srv = self.srv
        self.raw_httpx = httpx.AsyncClient(timeout=SDK_TIMEOUT, limits=SDK_LIMITS)
        self.raw_aiohttp = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=SDK_LIMITS.max_connections or 0),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60),
        )
        self.carto_httpx = AsyncCarto(srv.username, srv.api_key, srv.base_url)
        self.carto_aiohttp = AsyncCarto(
            srv.username, srv.api_key, srv.base_url, http_backend="aiohttp"
        )

    async def _close_async(self) -> None:
        await self.raw_httpx.aclose()
        await self.raw_aiohttp.close()
        await self.carto_httpx.aclose()
        await self.carto_aiohttp.aclose()

    def __enter__(self) -> _Clients:
        self._exit.enter_context(self.runner)
        self.runner.run(self._open_async())
        self._exit.callback(lambda: self.runner.run(self._close_async()))
        self.raw_sync = self._exit.enter_context(
            httpx.Client(timeout=SDK_TIMEOUT, limits=SDK_LIMITS)
        )
        self.carto_sync = self._exit.enter_context(
            Carto(self.srv.username, self.srv.api_key, self.srv.base_url)
        )
        if self.pool is not None:
            self._exit.callback(self.pool.shutdown)
        self._exit.callback(self._close_sessions)
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit.close()

    def _close_sessions(self) -> None:
        for session in self._sessions:
            session.close()

    # -- one request per client ----------------------------------------------------------

    def _reset(self) -> None:
        with self._lock:
            self.resets += 1

    async def _raw_httpx(self) -> Any:
        try:
            r = await self.raw_httpx.get(self.url, headers=self.headers)
        except httpx.TransportError:  # see _carto_python: once more, counted
            self._reset()
            r = await self.raw_httpx.get(self.url, headers=self.headers)
        r.raise_for_status()
        return r.json()

    async def _raw_aiohttp_once(self) -> Any:
        url = yarl.URL(self.url, encoded=True)
        async with self.raw_aiohttp.get(url, headers=self.headers) as r:
            r.raise_for_status()
            return json.loads(await r.read())

    async def _raw_aiohttp(self) -> Any:
        try:
            return await self._raw_aiohttp_once()
        except aiohttp.ClientConnectionError:
            self._reset()
            return await self._raw_aiohttp_once()

    def _carto_python(self) -> Any:
        # One auth client (requests.Session) per thread: Session is not documented thread-safe.
        sql = getattr(self._local, "sql", None)
        if sql is None:
            auth = cp.new_auth_client(self.srv.base_url, self.srv.api_key)
            with self._lock:
                self._sessions.append(auth.session)
            sql = self._local.sql = cp.sql_client(auth)
        with quiet_warnings():
            try:
                return sql.send(QUERY)
            except CartoException as exc:
                # A keep-alive connection the server closed as the session reused it
                # (requests has no idle expiry of its own): it does not retry a POST; once here.
                if "Connection aborted" not in str(exc):
                    raise
                self._reset()
                return sql.send(QUERY)

    def _async_call(self, name: str) -> Callable[[], Awaitable[Any]]:
        return {
            RAW_HTTPX: self._raw_httpx,
            RAW_AIOHTTP: self._raw_aiohttp,
            ASYNC_HTTPX: lambda: self.carto_httpx.sql.query(QUERY),
            ASYNC_AIOHTTP: lambda: self.carto_aiohttp.sql.query(QUERY),
        }[name]

    def _sync_call(self, name: str) -> Callable[[], Any]:
        return {SYNC: lambda: self.carto_sync.sql.query(QUERY), CARTO_PYTHON: self._carto_python}[
            name
        ]

    # -- batches -----------------------------------------------------------------------------

    async def _async_batch(self, call: Callable[[], Awaitable[Any]], n: int, c: int) -> None:
        async def worker(count: int) -> None:
            for _ in range(count):
                await call()

        await asyncio.gather(*[worker(k) for k in _split(n, min(c, n)) if k])

    def batch(self, name: str, n: int, c: int) -> None:
        """Send ``n`` requests through client ``name`` with ``c`` in flight."""
        if name in ASYNC_CLIENTS:
            self.runner.run(self._async_batch(self._async_call(name), n, c))
            return
        call = self._sync_call(name)

        def worker(count: int) -> None:
            for _ in range(count):
                call()

        if self.pool is None or c == 1:
            worker(n)
            return
        for f in [self.pool.submit(worker, k) for k in _split(n, min(c, n)) if k]:
            f.result()

    def requests_sent(self) -> dict[str, int]:
        """What the SDK clients counted (retries would show here)."""
        return {
            ASYNC_HTTPX: self.carto_httpx.requests_sent,
            ASYNC_AIOHTTP: self.carto_aiohttp.requests_sent,
            SYNC: self.carto_sync.requests_sent,
        }


def _one_run(
    srv: ServerProcess,
    url: str,
    headers: dict[str, str],
    args: argparse.Namespace,
    c: int,
    notes: list[str],
) -> dict[str, Timing]:
    n, warmup = args.fanout_requests, args.fanout_warmup
    with _Clients(srv, url, headers, c) as clients:
        for name in CLIENTS:
            clients.batch(name, warmup, c)
        totals = dict.fromkeys(CLIENTS, (0.0, 0.0, 0.0))
        for i, size in enumerate(_blocks(n, args.fanout_block)):
            k = i % len(CLIENTS)
            for name in [*CLIENTS[k:], *CLIENTS[:k]]:
                server0, cpu0, start = (
                    _process_cpu(srv.pid),
                    time.process_time(),
                    time.perf_counter(),
                )
                clients.batch(name, size, c)
                wall, cpu, server = totals[name]
                totals[name] = (
                    wall + time.perf_counter() - start,
                    cpu + time.process_time() - cpu0,
                    server + _process_cpu(srv.pid) - server0,
                )
        for name, sent in clients.requests_sent().items():
            if sent != n + warmup:
                notes.append(f"{name} at {c}: {sent - n - warmup} retries")
        if clients.resets:
            notes.append(f"raw clients and carto-python at {c}: {clients.resets} repeated")
    return totals


def _goal(label: str, value: float, target: float, what: str) -> str:
    ok = value >= target
    gap = "" if ok else f" (missed by {(1 - value / target) * 100:.0f} %)"
    return f"goal: {label}: {value:.2f}x {what} (target >= {target:.1f}x) -> {verdict(ok)}{gap}"


def run(args: argparse.Namespace) -> str:
    """Run every level, print the table and the goals, and return that text."""
    n = args.fanout_requests
    levels = list(args.fanout_concurrency)
    timings: dict[tuple[str, int], list[Timing]] = {}
    notes: list[str] = []
    with local_carto_process() as srv:
        url, headers = sdk_request(srv)
        shown = url.split("?")[0]
        for _ in range(args.fanout_repeat):
            for c in levels:
                for name, timing in _one_run(srv, url, headers, args, c, notes).items():
                    timings.setdefault((name, c), []).append(timing)

    rate = {k: n / median([t[0] for t in ts]) for k, ts in timings.items()}
    table = Table(
        ["client", "in flight", "req/s", "min-max req/s", "x raw httpx", "x carto-python",
         "client CPU us/req", "server CPU us/req"],
        title=(
            f"#7 fan-out: {n} x sql.query({QUERY!r}) per client and level, in interleaved blocks "
            f"of {args.fanout_block}, {args.fanout_repeat} runs, medians; LocalCarto in a child "
            f"process; client and server share the machine's {os.cpu_count()} cores"
        ),
    )  # fmt: skip
    for c in levels:
        for name in CLIENTS:
            ts = timings[(name, c)]
            walls = [t[0] for t in ts]
            table.add(
                [
                    name,
                    c,
                    f"{rate[(name, c)]:.0f}",
                    f"{n / max(walls):.0f}-{n / min(walls):.0f}",
                    f"{ratio(rate[(name, c)], rate[(RAW_HTTPX, c)]):.2f}x",
                    f"{ratio(rate[(name, c)], rate[(CARTO_PYTHON, c)]):.2f}x",
                    f"{median([t[1] for t in ts]) / n * 1e6:.0f}",
                    f"{median([t[2] for t in ts]) / n * 1e6:.0f}",
                ]
            )
    lines = [
        table.render(),
        "",
        f"request: GET {shown}?q=... (captured from the SDK; the raw clients send it with the "
        "SDK's headers, pool of 64 connections and timeout, and decode the JSON); carto-python "
        "sends its default form POST with ?api_key=, one requests session per thread",
        "in flight: tasks on one asyncio loop for the async clients, threads for the sync "
        "ones; the SDK clients cap requests in flight at max_concurrent_requests=64",
        "client CPU: the benchmark process (all threads) per request; server CPU: the "
        "LocalCarto process per request",
        "retries: " + ("; ".join(notes) if notes else "none") + " (a keep-alive connection "
        "closed by the server as a client reused it: the raw clients "
        "and carto-python repeat such a request once, the SDK retries it by its own rules)",
        "",
    ]

    def has(*keys: tuple[str, int]) -> bool:
        return all(k in rate for k in keys)

    if has((ASYNC_AIOHTTP, 50), (CARTO_PYTHON, 50)):
        lines.append(
            _goal(
                "carto_async async (aiohttp) at 50 in flight vs carto-python on 50 threads",
                ratio(rate[(ASYNC_AIOHTTP, 50)], rate[(CARTO_PYTHON, 50)]),
                1.0,
                "carto-python",
            )
        )
    if has((ASYNC_AIOHTTP, 100), (RAW_HTTPX, 100)):
        lines.append(
            _goal(
                "carto_async async (aiohttp) at 100 in flight vs raw httpx.AsyncClient at 100",
                ratio(rate[(ASYNC_AIOHTTP, 100)], rate[(RAW_HTTPX, 100)]),
                3.0,
                "raw httpx",
            )
        )
    if has((ASYNC_HTTPX, 50), (RAW_HTTPX, 50)):
        lines.append(
            _goal(
                "carto_async async (default transport) at 50 in flight vs raw httpx at 50",
                ratio(rate[(ASYNC_HTTPX, 50)], rate[(RAW_HTTPX, 50)]),
                1.0,
                "raw httpx",
            )
        )
    if not any(line.startswith("goal:") for line in lines):
        lines.append("(no goal applies at these levels; reported only)")
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m benchmarks.fanout``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
