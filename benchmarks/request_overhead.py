"""#2 Per-request overhead: ``sql.query("select 1")`` against raw httpx sending the same request.

LocalCarto runs in a child process so its CPU work does not share the client's GIL; on a
2-core machine client and server still share the cores, so at concurrency 50 the figures are
for the pair, not the client alone.

The raw httpx clients send the identical request: the URL (with its ``q`` parameter) and the
headers (Basic auth, User-Agent, httpx's defaults) are captured from one SDK call, and the pool
limits and timeout match the SDK's. Both sides decode the JSON body.

    python -m benchmarks.request_overhead --requests 2000 --concurrency 1 50
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import httpx

from benchmarks import _carto_python as cp
from benchmarks._common import Table, median, ratio, verdict
from benchmarks._server import ServerProcess, local_carto_process
from carto_async import AsyncCarto, Carto

__all__ = ["add_arguments", "main", "run"]

QUERY = "select 1"
#: The SDK's default timeout.
SDK_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
#: The SDK's pool: ``max_concurrent_requests`` (64) connections, all kept alive.
SDK_LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=64)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of this benchmark."""
    g = parser.add_argument_group("per-request overhead (#2)")
    g.add_argument("--requests", type=int, default=2000, help="requests per run (2000)")
    g.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 50], help="concurrency levels (1 50)"
    )
    g.add_argument("--warmup", type=int, default=100, help="untimed requests per run (100)")
    g.add_argument("--overhead-repeat", type=int, default=3, help="runs per case (3)")


def _split(n: int, workers: int) -> list[int]:
    return [n // workers + (1 if i < n % workers else 0) for i in range(workers)]


# -- the request the SDK sends ------------------------------------------------------------


def sdk_request(srv: ServerProcess) -> tuple[str, dict[str, str]]:
    """The URL and headers of ``sql.query(QUERY)``, captured from a real SDK call."""
    seen: list[httpx.Request] = []
    with (
        httpx.Client(event_hooks={"request": [seen.append]}) as http,
        Carto(srv.username, srv.api_key, srv.base_url, http_client=http) as carto,
    ):
        carto.sql.query(QUERY)
    request = seen[-1]
    headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host",)}
    return str(request.url), headers


# -- async drivers ----------------------------------------------------------------------------


async def _async_loop(call: Callable[[], Any], n: int, concurrency: int) -> None:
    async def worker(count: int) -> None:
        for _ in range(count):
            await call()

    async with anyio.create_task_group() as tg:
        for count in _split(n, concurrency):
            tg.start_soon(worker, count)


#: Wall seconds and client-process CPU seconds (every thread) of one timed run.
Timing = tuple[float, float]


async def _async_timed(call: Callable[[], Any], n: int, warmup: int, concurrency: int) -> Timing:
    await _async_loop(call, warmup, min(concurrency, max(warmup, 1)))
    cpu, start = time.process_time(), time.perf_counter()
    await _async_loop(call, n, concurrency)
    return time.perf_counter() - start, time.process_time() - cpu


async def _sdk_async(srv: ServerProcess, n: int, warmup: int, concurrency: int) -> Timing:
    async with AsyncCarto(srv.username, srv.api_key, srv.base_url) as carto:
        timing = await _async_timed(lambda: carto.sql.query(QUERY), n, warmup, concurrency)
        if carto.requests_sent != n + warmup:
            raise RuntimeError(f"the SDK retried: {carto.requests_sent} requests for {n + warmup}")
    return timing


async def _raw_async(
    url: str, headers: dict[str, str], n: int, warmup: int, concurrency: int
) -> Timing:
    async with httpx.AsyncClient(timeout=SDK_TIMEOUT, limits=SDK_LIMITS) as client:

        async def call() -> Any:
            r = await client.get(url, headers=headers)
            r.raise_for_status()
            return r.json()

        return await _async_timed(call, n, warmup, concurrency)


# -- sync drivers -----------------------------------------------------------------------------


def _sync_loop(call: Callable[[], Any], n: int, concurrency: int) -> None:
    if concurrency == 1:
        for _ in range(n):
            call()
        return

    def worker(count: int) -> None:
        for _ in range(count):
            call()

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for f in [pool.submit(worker, c) for c in _split(n, concurrency)]:
            f.result()


def _sync_timed(call: Callable[[], Any], n: int, warmup: int, concurrency: int) -> Timing:
    _sync_loop(call, warmup, min(concurrency, max(warmup, 1)))
    cpu, start = time.process_time(), time.perf_counter()
    _sync_loop(call, n, concurrency)
    return time.perf_counter() - start, time.process_time() - cpu


def _sdk_sync(srv: ServerProcess, n: int, warmup: int, concurrency: int) -> Timing:
    with Carto(srv.username, srv.api_key, srv.base_url) as carto:
        timing = _sync_timed(lambda: carto.sql.query(QUERY), n, warmup, concurrency)
        if carto.requests_sent != n + warmup:
            raise RuntimeError(f"the SDK retried: {carto.requests_sent} requests for {n + warmup}")
    return timing


def _raw_sync(url: str, headers: dict[str, str], n: int, warmup: int, concurrency: int) -> Timing:
    with httpx.Client(timeout=SDK_TIMEOUT, limits=SDK_LIMITS) as client:

        def call() -> Any:
            r = client.get(url, headers=headers)
            r.raise_for_status()
            return r.json()

        return _sync_timed(call, n, warmup, concurrency)


def _carto_python(srv: ServerProcess, n: int, warmup: int, concurrency: int) -> Timing:
    local = threading.local()
    sessions: list[Any] = []
    lock = threading.Lock()

    def call() -> Any:
        sql = getattr(local, "sql", None)
        if sql is None:
            with cp.quiet_warnings():
                auth = cp.APIKeyAuthClient(base_url=srv.base_url + "/", api_key=srv.api_key)
            with lock:
                sessions.append(auth.session)
            sql = local.sql = cp.sql_client(auth)
        with cp.quiet_warnings():
            return sql.send(QUERY)

    try:
        return _sync_timed(call, n, warmup, concurrency)
    finally:
        for session in sessions:
            session.close()


# -- the benchmark --------------------------------------------------------------------------


def run(args: argparse.Namespace) -> str:
    """Run every case, print the table and the goal, and return that text."""
    n, warmup = args.requests, args.warmup
    load_before = os.getloadavg()[0]
    with local_carto_process() as srv:
        url, headers = sdk_request(srv)
        shown = url.split("?")[0]
        cases: list[tuple[str, str, int, Callable[[], Timing]]] = []
        for c in args.concurrency:
            cases += [
                ("raw httpx.AsyncClient", "async", c,
                 lambda c=c: anyio.run(_raw_async, url, headers, n, warmup, c)),
                ("carto_async async", "async", c,
                 lambda c=c: anyio.run(_sdk_async, srv, n, warmup, c)),
                ("raw httpx.Client", "sync", c,
                 lambda c=c: _raw_sync(url, headers, n, warmup, c)),
                ("carto_async sync", "sync", c,
                 lambda c=c: _sdk_sync(srv, n, warmup, c)),
                ("carto-python SQLClient.send", "sync", c,
                 lambda c=c: _carto_python(srv, n, warmup, c)),
            ]  # fmt: skip
        timings: dict[int, list[Timing]] = {i: [] for i in range(len(cases))}
        # Round-robin, so drift on a shared machine hits every case alike.
        for _ in range(args.overhead_repeat):
            for i, (_, _, _, case) in enumerate(cases):
                timings[i].append(case())
    load_after = os.getloadavg()[0]

    wall = {i: median([t[0] for t in ts]) for i, ts in timings.items()}
    cpu = {i: median([t[1] for t in ts]) / n for i, ts in timings.items()}
    rps = {i: n / w for i, w in wall.items()}
    raw = {(kind, c): i for i, (name, kind, c, _) in enumerate(cases) if "raw" in name}
    table = Table(
        ["client", "concurrency", "req/s", "min-max req/s", "x raw httpx", "wall overhead",
         "client CPU us/req", "CPU overhead"],
        title=(
            f"#2 per-request overhead: {n} x sql.query({QUERY!r}), {args.overhead_repeat} runs, "
            f"medians; LocalCarto in a child process; client and server share the machine's "
            f"{os.cpu_count()} cores"
        ),
    )  # fmt: skip
    for i, (name, kind, c, _) in enumerate(cases):
        base = raw[(kind, c)]
        walls = [t[0] for t in timings[i]]
        table.add(
            [
                name,
                c,
                f"{rps[i]:.0f}",
                f"{n / max(walls):.0f}-{n / min(walls):.0f}",
                f"{ratio(rps[i], rps[base]):.2f}x",
                "-" if i == base else f"{(ratio(wall[i], wall[base]) - 1) * 100:+.1f}%",
                f"{cpu[i] * 1e6:.0f}",
                "-" if i == base else f"{(ratio(cpu[i], cpu[base]) - 1) * 100:+.1f}%",
            ]
        )
    lines = [
        table.render(),
        "",
        f"request: GET {shown}?q=... with headers {sorted(headers)} (captured from the SDK; the "
        "raw clients send exactly these, with the SDK's pool limits and timeout, and decode the "
        "JSON too); carto-python sends its default form POST with ?api_key=",
        "'x raw httpx' and the overheads compare with raw httpx of the same colour (async with "
        "httpx.AsyncClient; sync and carto-python with httpx.Client); wall overhead: extra wall "
        "time per request; client CPU: CPU time of the client process (all threads) per request",
        f"1-minute load average: {load_before:.2f} before, {load_after:.2f} after (other work on "
        "the machine shows up in the wall figures, much less in the CPU figures)",
        "",
    ]
    for kind, label in (("async", "carto_async async"), ("sync", "carto_async sync")):
        for i, (name, _, c, _) in enumerate(cases):
            if name == label and c == 1:
                base = raw[(kind, 1)]
                overhead = ratio(wall[i], wall[base]) - 1
                cpu_overhead = ratio(cpu[i], cpu[base]) - 1
                gap = "" if overhead <= 0.15 else f" (by {(overhead - 0.15) * 100:.1f} points)"
                lines.append(
                    f"goal: {label} adds <= 15 % over raw httpx at concurrency 1: wall "
                    f"{overhead * 100:+.1f} % -> {verdict(overhead <= 0.15)}{gap}; client CPU "
                    f"{cpu_overhead * 100:+.1f} % ({(cpu[i] - cpu[base]) * 1e6:.0f} us per request)"
                )
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m benchmarks.request_overhead``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
